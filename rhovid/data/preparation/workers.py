"""A process pool in which a crash, a hang or an exception costs one task, never the whole run.

Decoding hostile video files can segfault inside FFmpeg or loop forever. `concurrent.futures`
cannot say which task killed a worker (every pending future fails with BrokenProcessPool), so
rhovid runs its own small pool: each worker process holds exactly one task at a time over its own
pipe, so when a worker dies the parent knows the task, reports it as `crashed` (with the signal),
starts a fresh worker and carries on; a task that runs past `timeout_s` has its worker killed and is
reported as `timeout`.

Workers are fresh interpreters (`python -c`, talking pickles over two pipes), not
multiprocessing's fork / spawn / forkserver children: those would fork a parent that has
TensorFlow's threads, or re-import the parent's `__main__` (the whole CLI with TensorFlow, in every
worker; impossible from stdin). A worker that cannot even start fails the run loudly instead of
turning every task into a "crash".
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing.connection
import os
import pickle
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

CRASHED = "crashed"
TIMEOUT = "timeout"
ERROR = "error"


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why a task produced no result.

    Attributes:
      reason: `crashed`, `timeout`, the `reason` attribute of the raised exception (e.g. the
        VideoError reasons of rhovid.data.preparation.decode), or `error` for any other exception.
      detail: a human-readable explanation (signal, exception text).
    """

    reason: str
    detail: str


def _worker_main(read_fd: int, write_fd: int) -> None:
    """Worker loop: receive an argument, send (True, result) or (False, Failure); None stops.

    The first message is the parent's sys.path, the second the pickled `fn` (it may live in a
    module only the parent's sys.path reaches, e.g. a test helper).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn_in = multiprocessing.connection.Connection(read_fd, writable=False)
    conn = multiprocessing.connection.Connection(write_fd, readable=False)
    sys.path[:] = conn_in.recv()
    fn = pickle.loads(conn_in.recv_bytes())
    conn.send("ready")
    while True:
        try:
            arg = conn_in.recv()
        except (EOFError, OSError):
            return
        if arg is None:
            return
        try:
            message = (True, fn(arg))
        except Exception as e:
            reason = getattr(e, "reason", None) or ERROR
            detail = getattr(e, "detail", None) or "".join(traceback.format_exception_only(type(e), e)).strip()
            message = (False, Failure(str(reason), str(detail)))
        try:
            conn.send(message)
        except Exception as e:  # e.g. an unpicklable result
            conn.send((False, Failure(ERROR, f"result could not be sent: {e!r}")))


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"worker killed by signal {-exitcode}"
    return f"worker exited with code {exitcode}"


@dataclasses.dataclass
class _Slot:
    process: subprocess.Popen
    conn: Any  # results from the worker
    send_conn: Any  # arguments to the worker
    key: Hashable | None = None
    started: float = 0.0

    @property
    def busy(self) -> bool:
        return self.started > 0.0


class IsolatedPool:
    """Runs `fn` over arguments in `workers` processes; yields a result or a Failure for each.

    Usage:
        with IsolatedPool(functools.partial(decode_video, options=opts), workers=8) as pool:
            for key, result in pool.map_unordered((item.id, item.path) for item in items):
                ...  # result is fn's return value or a Failure

    `fn` and its arguments and results must be picklable (a module-level function or a
    functools.partial of one).
    """

    def __init__(self, fn: Callable[[Any], Any], workers: int, timeout_s: float | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}.")
        self._fn = fn
        self._workers = workers
        self._timeout_s = timeout_s
        self._fn_pickle = pickle.dumps(fn)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self._env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        )
        self._slots: list[_Slot] = []
        self.restarts = 0  # workers replaced after a crash or timeout

    def __enter__(self) -> IsolatedPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self, n: int = 1) -> list[_Slot]:
        """Starts `n` workers and waits until each has loaded `fn`."""
        slots = []
        for _ in range(n):
            to_child_r, to_child_w = os.pipe()
            from_child_r, from_child_w = os.pipe()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from rhovid.data.preparation.workers import _worker_main; "
                    f"_worker_main({to_child_r}, {from_child_w})",
                ],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                env=self._env,
            )
            os.close(to_child_r)
            os.close(from_child_w)
            send_conn = multiprocessing.connection.Connection(to_child_w, readable=False)
            conn = multiprocessing.connection.Connection(from_child_r, writable=False)
            slots.append(_Slot(process=process, conn=conn, send_conn=send_conn))
            try:
                send_conn.send(sys.path)
                send_conn.send_bytes(self._fn_pickle)
            except OSError:
                pass  # died at once: reported below
        for slot in slots:
            try:
                ready = slot.conn.poll(300) and slot.conn.recv() == "ready"
            except (EOFError, OSError):
                ready = False
            if not ready:
                for s in slots:
                    s.process.kill()
                    s.process.wait()
                raise RuntimeError(
                    f"A worker process failed to start ({_describe_exit(slot.process.poll())}); "
                    f"its error is printed above. Check that {self._fn!r} can be imported by "
                    "name (a module-level function, not one defined in __main__ or a notebook)."
                )
        return slots

    @staticmethod
    def _stop(slot: _Slot) -> None:
        if slot.process.poll() is None:
            slot.process.kill()
        slot.process.wait()
        slot.conn.close()
        slot.send_conn.close()

    def _replace(self, slot: _Slot) -> _Slot:
        self._stop(slot)
        self.restarts += 1
        (new,) = self._start()
        self._slots[self._slots.index(slot)] = new
        return new

    @staticmethod
    def _receive(slot: _Slot) -> tuple[bool, Any]:
        """(True, result) if the worker sent one; else (False, None), its process reaped if dead."""
        try:
            if slot.conn.poll():
                _, value = slot.conn.recv()
                return True, value
        except (EOFError, OSError):
            pass
        try:
            slot.process.wait(timeout=5)  # the pipe closed: the process is exiting
        except subprocess.TimeoutExpired:
            pass
        return False, None

    def map_unordered(self, tasks: Iterable[tuple[Hashable, Any]]) -> Iterator[tuple[Hashable, Any]]:
        """Yields (key, fn(arg) or Failure) for each (key, arg) of `tasks`, in completion order."""
        pending = iter(tasks)
        try:
            first = next(pending)
        except StopIteration:
            return
        pending = itertools.chain([first], pending)
        exhausted = False
        if not self._slots:
            self._slots = self._start(self._workers)
        try:
            while True:
                # Hand a task to every idle worker.
                for slot in [s for s in self._slots if not s.busy]:
                    try:
                        key, arg = next(pending)
                    except StopIteration:
                        exhausted = True
                        break
                    try:
                        slot.send_conn.send(arg)
                    except (BrokenPipeError, OSError):  # died while idle: replace, resend
                        slot = self._replace(slot)
                        slot.send_conn.send(arg)
                    slot.key, slot.started = key, time.monotonic()
                busy = [s for s in self._slots if s.busy]
                if not busy:
                    return
                wait_s = None
                if self._timeout_s:
                    oldest = min(s.started for s in busy)
                    wait_s = max(0.0, oldest + self._timeout_s - time.monotonic())
                ready = multiprocessing.connection.wait([s.conn for s in busy], timeout=wait_s)
                now = time.monotonic()
                for slot in busy:
                    if slot.conn in ready:
                        got, value = self._receive(slot)
                        if got:
                            key = slot.key
                            slot.key, slot.started = None, 0.0
                            yield key, value
                        elif slot.process.poll() is not None:
                            key = slot.key
                            failure = Failure(CRASHED, _describe_exit(slot.process.returncode))
                            self._replace(slot)
                            yield key, failure
                    elif self._timeout_s and now - slot.started > self._timeout_s:
                        key = slot.key
                        self._replace(slot)
                        yield key, Failure(TIMEOUT, f"no result after {self._timeout_s:.0f} s")
        finally:
            if not exhausted or any(s.busy for s in self._slots):
                self.close(kill=True)

    def close(self, kill: bool = False) -> None:
        """Stops all workers (asks them to exit, or kills them when `kill`)."""
        for slot in self._slots:
            try:
                if kill:
                    slot.process.kill()
                else:
                    slot.send_conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for slot in self._slots:
            try:
                slot.process.wait(timeout=None if kill else 10)
            except subprocess.TimeoutExpired:
                pass
            self._stop(slot)
        self._slots = []
