"""One run per workdir: an exclusive lock file with a heartbeat.

Two processes training into one workdir (a re-submitted cluster job, a second shell) would resume
from each other's checkpoints, delete each other's in-flight saves and splice their logs. A run
therefore takes `WorkdirLock(workdir)` before it reads or cleans anything there:

    with WorkdirLock(workdir):
        ...  # resume, train, save

How it works. The lock is the file `<workdir>/.rhovid.lock`, created with `O_CREAT | O_EXCL`, which
is atomic on local disks and on network filesystems (NFSv3 and later, Lustre, GPFS, CephFS: the
server decides which create wins). It holds JSON naming the holder: host, PID, the PID's start time
(so a reused PID is not mistaken for the holder), when the run started, and a heartbeat time that a
background thread rewrites every `heartbeat_s` seconds (write a temporary file, then an atomic
rename over the lock). A second process finds the file and

  - refuses at once with a one-line `UserError` naming the holder, when the holder is alive: on the
    same host, its PID exists with the same start time; on another host, its heartbeat is younger
    than `lease_s`;
  - takes the lock over, with a warning, when the holder is gone: on the same host, its PID is dead
    (or a zombie, or reused by another program); on another host, its heartbeat is older than
    `lease_s`. Comparing heartbeats across hosts assumes their clocks agree to well within `lease_s`
    (NTP does). A takeover is serialised by a second O_EXCL file, so two newcomers cannot both win.

With `wait_s > 0` a refused process polls until the holder releases or goes stale instead of
refusing at once (a re-queued job whose previous node died waits out the lease).

A holder whose lock was taken over (its heartbeat stalled past the lease: a suspended process, a
network partition) notices at its next heartbeat; `check()` then raises, so the loop can stop before
it writes into a workdir that is no longer its own.

Object stores. A `scheme://` workdir (`gs://`, `s3://`) has no exclusive create through the POSIX
calls used here; the lock logs a warning there and does nothing (`enabled` is False), so the user
must make sure one job runs per workdir (a cluster scheduler's job name or dependency). Cloud
Storage offers create-if-absent through generation preconditions (`ifGenerationMatch=0`), which a
future version could use; this one does not.

Multi-host jobs: only process 0 should take the lock (pass `enabled=jax.process_index() == 0`); the
other processes of the same job share the workdir legitimately.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import sys
import threading
import time
import uuid
from typing import Any

from absl import logging

from rhovid.errors import UserError

LOCK_FILE = ".rhovid.lock"
_TAKEOVER_SUFFIX = ".takeover"
_TAKEOVER_STALE_S = 30.0  # a takeover file older than this was left by a process killed mid-takeover
_UNREADABLE_GRACE_S = 5.0  # an empty lock file this young is being written by its creator


def _pid_start(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot (Linux /proc), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19]) if len(fields) > 19 else None  # field 22 of stat(5); [0] is field 3


def _pid_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int, start: int | None) -> bool:
    """Whether `pid` on this host is running and is the process that wrote the lock."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    if _pid_state(pid) in ("Z", "X"):
        return False  # killed, not yet reaped by its parent
    now_start = _pid_start(pid)
    return start is None or now_start is None or now_start == start


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(holder: dict[str, Any]) -> str:
    """'host h, PID 12, started 2026-01-01 10:00:00 UTC' for a lock's contents."""
    started = holder.get("started_unix")
    return (
        f"host {holder.get('host', '?')}, PID {holder.get('pid', '?')}, started "
        f"{_iso(started) if isinstance(started, (int, float)) else '?'}"
    )


def read_lock(workdir: str) -> dict[str, Any] | None:
    """The holder recorded in `workdir`'s lock file; None if there is none; {} if unreadable."""
    try:
        with open(os.path.join(workdir, LOCK_FILE)) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


class WorkdirLock:
    """An exclusive, heartbeat-renewed lock on a workdir (see the module docstring).

    Args:
      workdir: the run's directory; created if missing.
      heartbeat_s: how often the holder renews its heartbeat.
      lease_s: a holder on another host whose heartbeat is older than this is considered dead.
      wait_s: how long to wait for a live holder before refusing (0: refuse at once).
      enabled: False makes every method a no-op (processes other than 0 of a multi-host job).
    """

    def __init__(
        self,
        workdir: str,
        *,
        heartbeat_s: float = 15.0,
        lease_s: float = 120.0,
        wait_s: float = 0.0,
        enabled: bool = True,
    ):
        if lease_s <= 2 * heartbeat_s:
            raise ValueError(f"lease_s={lease_s} must exceed two heartbeats (heartbeat_s={heartbeat_s}).")
        self.workdir = workdir
        self.heartbeat_s, self.lease_s, self.wait_s = float(heartbeat_s), float(lease_s), float(wait_s)
        self.enabled = enabled
        if enabled and "://" in workdir:
            logging.warning(
                "No workdir lock on %s: object stores have no exclusive create through POSIX calls. "
                "Make sure only one job writes into this workdir.",
                workdir,
            )
            self.enabled = False
        self.path = os.path.join(workdir, LOCK_FILE)
        self.token = uuid.uuid4().hex
        self.took_over: dict[str, Any] | None = None  # the stale holder replaced, if any
        self.lost: dict[str, Any] | None = None  # who holds the lock now, once ours was taken over
        self._held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- public API ----------------------------------------------------------------------------

    def acquire(self) -> WorkdirLock:
        """Takes the lock, or raises `UserError` naming the live holder."""
        if not self.enabled or self._held:
            return self
        if os.path.exists(self.workdir) and not os.path.isdir(self.workdir):
            raise UserError(f"--workdir={self.workdir} is a file, not a directory; pass a directory.")
        os.makedirs(self.workdir, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        while True:
            if self._try_create():
                break
            holder = self._read_settled()
            if holder is None:
                continue  # released between our create and our read: try again
            if self._is_stale(holder):
                if self._take_over(holder):
                    break
                continue
            if time.monotonic() >= deadline:
                raise UserError(self._refusal(holder))
            time.sleep(min(1.0, self.heartbeat_s / 2))
        self._held = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat_loop, name="rhovid-workdir-lock", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Stops the heartbeat and removes the lock file if it is still ours."""
        if not self._held:
            return
        self._held = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        holder = read_lock(self.workdir)
        if holder and holder.get("token") == self.token:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass

    def check(self) -> None:
        """Raises `UserError` if another process took this lock over (ours had gone stale)."""
        if self.lost is not None:
            raise UserError(
                f"The lock on {self.workdir} was taken over by another run ({describe(self.lost)}) "
                f"because this run's heartbeat stalled for over {self.lease_s:.0f} s; stop one of them."
            )

    @property
    def held(self) -> bool:
        return self._held

    def __enter__(self) -> WorkdirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    # ---- internals -----------------------------------------------------------------------------

    def _contents(self, started: float | None = None) -> dict[str, Any]:
        now = time.time()
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pid_start": _pid_start(os.getpid()),
            "started_unix": started if started is not None else now,
            "heartbeat_unix": now,
            "token": self.token,
            "command": " ".join(sys.argv)[:500],
        }

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        self._started = time.time()
        with os.fdopen(fd, "w") as f:
            json.dump(self._contents(self._started), f)
            f.flush()
            os.fsync(f.fileno())
        return True

    def _read_settled(self) -> dict[str, Any] | None:
        """The lock's contents; an unreadable file is re-read while its creator may be writing it."""
        for _ in range(20):
            holder = read_lock(self.workdir)
            if holder != {}:
                return holder
            try:
                age = time.time() - os.path.getmtime(self.path)
            except FileNotFoundError:
                return None
            if age > _UNREADABLE_GRACE_S:
                return {"unreadable": True, "mtime": time.time() - age}
            time.sleep(0.25)
        return {"unreadable": True, "mtime": time.time()}

    def _is_stale(self, holder: dict[str, Any]) -> bool:
        if holder.get("unreadable"):
            return time.time() - holder["mtime"] > self.lease_s
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
            return not _pid_alive(holder["pid"], holder.get("pid_start"))
        beat = holder.get("heartbeat_unix")
        return not isinstance(beat, (int, float)) or time.time() - beat > self.lease_s

    def _take_over(self, stale: dict[str, Any]) -> bool:
        """Replaces a stale lock with ours; False if another process changed it meanwhile."""
        guard = self.path + _TAKEOVER_SUFFIX
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - os.path.getmtime(guard) > _TAKEOVER_STALE_S:
                    os.remove(guard)  # left by a process killed mid-takeover
            except FileNotFoundError:
                pass
            time.sleep(0.1)
            return False
        os.close(fd)
        try:
            current = read_lock(self.workdir)
            if current is not None and current.get("token") != stale.get("token"):
                return False  # someone else replaced it meanwhile: judge the new holder afresh
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
            if not self._try_create():
                return False
        finally:
            os.remove(guard)
        self.took_over = stale
        why = (
            "its PID is no longer running"
            if stale.get("host") == socket.gethostname()
            else f"its heartbeat is older than {self.lease_s:.0f} s"
        )
        logging.warning(
            "Took over the lock on %s from a run that is gone (%s; %s).",
            self.workdir,
            describe(stale) if not stale.get("unreadable") else "unreadable lock file",
            why,
        )
        return True

    def _refusal(self, holder: dict[str, Any]) -> str:
        if holder.get("unreadable"):
            who = "a process that is writing its lock file right now"
        else:
            beat = holder.get("heartbeat_unix")
            age = f", heartbeat {time.time() - beat:.0f} s ago" if isinstance(beat, (int, float)) else ""
            who = describe(holder) + age
        return (
            f"The workdir {self.workdir} is in use by another run ({who}). Wait for it to finish "
            f"or stop it, or use another --workdir; if that run is gone, delete {self.path}."
        )

    def _heartbeat_loop(self) -> None:
        tmp = f"{self.path}.{self.token}.tmp"
        while not self._stop.wait(self.heartbeat_s):
            holder = read_lock(self.workdir)
            if holder is None or holder.get("token") != self.token:
                if holder:
                    self.lost = holder
                    logging.error("The lock on %s was taken over by %s.", self.workdir, describe(holder))
                    return
                continue  # unreadable for a moment (another process's takeover check): retry
            try:
                with open(tmp, "w") as f:
                    json.dump(self._contents(self._started), f)
                os.replace(tmp, self.path)
            except OSError as e:  # a full disk or a network blip: the lease tolerates a few misses
                logging.warning("Could not renew the lock on %s (%s).", self.workdir, e)
