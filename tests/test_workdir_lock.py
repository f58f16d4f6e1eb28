"""The workdir lock: a second real process refuses, a killed holder's lock is taken over."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from rhovid import workdir as workdir_lib
from rhovid.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A process that takes the lock, says so, and holds it until killed (or for 120 s).
_HOLDER = textwrap.dedent("""
    import sys, time
    from rhovid.workdir import WorkdirLock
    with WorkdirLock(sys.argv[1], heartbeat_s=0.2, lease_s=2.0):
        print("LOCKED", flush=True)
        time.sleep(120)
""")

# A process that tries once and reports the outcome on stdout.
_TRIER = textwrap.dedent("""
    import sys
    from rhovid.errors import UserError
    from rhovid.workdir import WorkdirLock
    try:
        with WorkdirLock(sys.argv[1]) as lock:
            print("ACQUIRED", "took_over" if lock.took_over else "fresh", flush=True)
    except UserError as e:
        print("REFUSED", e, flush=True)
        sys.exit(2)
""")


def _env():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _start_holder(workdir):
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, workdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    line = proc.stdout.readline()  # blocks until the lock is held
    assert line.strip() == "LOCKED", (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


def _try(workdir):
    return subprocess.run(
        [sys.executable, "-c", _TRIER, workdir], capture_output=True, text=True, env=_env(), timeout=120
    )


def test_second_process_refuses_then_takes_over_after_kill(tmp_path):
    workdir = str(tmp_path / "run")
    holder = _start_holder(workdir)
    try:
        second = _try(workdir)
        assert second.returncode == 2, second
        message = second.stdout.strip()
        assert message.startswith("REFUSED") and "\n" not in message
        # Names the holder: host, PID and start time.
        assert f"PID {holder.pid}" in message and socket.gethostname() in message
        assert "started 20" in message and "UTC" in message and "--workdir" in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The killed holder left its lock file behind: it is stale (same host, dead PID).
    left = workdir_lib.read_lock(workdir)
    assert left["pid"] == holder.pid
    third = _try(workdir)
    assert third.returncode == 0, third
    assert third.stdout.split() == ["ACQUIRED", "took_over"]
    assert "Took over the lock" in third.stderr and f"PID {holder.pid}" in third.stderr
    assert workdir_lib.read_lock(workdir) is None  # released on exit


def test_zombie_holder_is_stale(tmp_path):
    """A killed holder its parent has not reaped yet still has a PID; it must count as dead."""
    workdir = str(tmp_path / "run")
    holder = _start_holder(workdir)
    holder.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while workdir_lib._pid_state(holder.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with workdir_lib.WorkdirLock(workdir) as lock:
            assert lock.took_over["pid"] == holder.pid
    finally:
        holder.wait()


def test_heartbeat_renews_and_release_removes(tmp_path):
    workdir = str(tmp_path)
    lock = workdir_lib.WorkdirLock(workdir, heartbeat_s=0.05, lease_s=1.0).acquire()
    try:
        first = workdir_lib.read_lock(workdir)
        assert first["pid"] == os.getpid() and first["token"] == lock.token
        deadline = time.monotonic() + 30
        while workdir_lib.read_lock(workdir)["heartbeat_unix"] == first["heartbeat_unix"]:
            assert time.monotonic() < deadline, "heartbeat never renewed"
            time.sleep(0.02)
        assert workdir_lib.read_lock(workdir)["started_unix"] == first["started_unix"]
        with pytest.raises(UserError, match="in use by another run"):  # same host, live PID (ours)
            workdir_lib.WorkdirLock(workdir).acquire()
    finally:
        lock.release()
    assert not os.path.exists(os.path.join(workdir, workdir_lib.LOCK_FILE))


def _write_foreign(workdir, heartbeat_age_s):
    now = time.time()
    holder = {
        "host": "other-node-17",
        "pid": 4242,
        "pid_start": 1,
        "started_unix": now - 3600,
        "heartbeat_unix": now - heartbeat_age_s,
        "token": "x" * 32,
    }
    with open(os.path.join(workdir, workdir_lib.LOCK_FILE), "w") as f:
        json.dump(holder, f)


def test_other_host_fresh_heartbeat_refuses(tmp_path):
    _write_foreign(str(tmp_path), heartbeat_age_s=1.0)
    with pytest.raises(UserError, match=r"host other-node-17, PID 4242, started .* UTC") as e:
        workdir_lib.WorkdirLock(str(tmp_path), heartbeat_s=1.0, lease_s=60.0).acquire()
    assert "\n" not in str(e.value)


def test_other_host_expired_lease_is_taken_over(tmp_path):
    _write_foreign(str(tmp_path), heartbeat_age_s=600.0)
    with workdir_lib.WorkdirLock(str(tmp_path), heartbeat_s=1.0, lease_s=60.0) as lock:
        assert lock.took_over["host"] == "other-node-17"
        assert workdir_lib.read_lock(str(tmp_path))["token"] == lock.token


def test_holder_notices_takeover(tmp_path):
    """A holder whose lease was taken over (its heartbeat stalled) fails check()."""
    lock = workdir_lib.WorkdirLock(str(tmp_path), heartbeat_s=0.05, lease_s=1.0).acquire()
    try:
        _write_foreign(str(tmp_path), heartbeat_age_s=0.0)  # what a takeover leaves behind
        deadline = time.monotonic() + 30
        while lock.lost is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(UserError, match="taken over by another run .*other-node-17"):
            lock.check()
    finally:
        lock.release()
    assert workdir_lib.read_lock(str(tmp_path))["host"] == "other-node-17"  # not ours to remove


def test_wait_until_holder_releases(tmp_path):
    first = workdir_lib.WorkdirLock(str(tmp_path), heartbeat_s=0.05, lease_s=1.0).acquire()
    import threading

    threading.Timer(0.5, first.release).start()
    with workdir_lib.WorkdirLock(str(tmp_path), heartbeat_s=0.05, lease_s=1.0, wait_s=60) as second:
        assert second.took_over is None and second.held


def test_object_store_is_a_noop_with_warning():
    lock = workdir_lib.WorkdirLock("gs://bucket/run")
    assert not lock.enabled
    with lock:
        lock.check()


def test_workdir_that_is_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        workdir_lib.WorkdirLock(str(path)).acquire()
