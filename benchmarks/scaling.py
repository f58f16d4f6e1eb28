"""Weak scaling of the train step on 1, 2, 4, 8 simulated CPU devices and on 2 processes on localhost.

    python benchmarks/scaling.py                     # tiny model, ~4 min on 2 cores
    python benchmarks/scaling.py --method=simclr --videos_per_device=4

Each configuration runs in its own subprocess (XLA_FLAGS=--xla_force_host_platform_device_count=N;
the 2-process case is two subprocesses joined by `jax.distributed.initialize` with the coordinator
on 127.0.0.1 and gloo CPU collectives, 4 devices each). The per-device batch is fixed, so the global
batch grows with the device count. Per training iteration we time, as the trainer does them:

  transfer   host numpy batch -> global sharded array (`rhovid.sharding.to_global`)
  step       the jitted step, from the call until its metrics are ready
  fetch      metrics -> host floats (`jax.device_get`)

and report the step time, the share of the iteration spent outside the step (transfer + fetch),
and `work_ratio` = step(N) / (N · step(1)): all simulated devices share this machine's cores, so
N devices do N times the work on the same cores, and a ratio above 1 is the cost of sharding
(collectives, BN statistics across devices, partitioning) rather than a lack of speedup.
Results: benchmarks/results/scaling.json.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time

from absl import app, flags

flags.DEFINE_string("method", "byol", "Method whose step is timed.")
flags.DEFINE_string("size", "tiny", "tiny or r50 (see common.bench_config).")
flags.DEFINE_integer("videos_per_device", 2, "Videos per device (fixed: weak scaling).")
flags.DEFINE_list("devices", ["1", "2", "4", "8"], "Simulated device counts (one process).")
flags.DEFINE_bool("multiprocess", True, "Also run 2 processes × 4 devices on localhost.")
flags.DEFINE_integer("iterations", 6, "Timed iterations per configuration (after 2 untimed).")
flags.DEFINE_string(
    "out", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "scaling.json"), "JSON output."
)
# Worker-only flags.
flags.DEFINE_integer("worker_devices", 0, "Internal: run as a worker with this many local devices.")
flags.DEFINE_integer("process_id", 0, "Internal: this worker's process index.")
flags.DEFINE_integer("num_processes", 1, "Internal: processes in the run.")
flags.DEFINE_string("coordinator", "", "Internal: host:port of the coordinator.")
FLAGS = flags.FLAGS


def worker() -> dict:
    """Runs inside a subprocess whose XLA_FLAGS fix the device count; returns its timings."""
    import jax  # after XLA_FLAGS are set by the parent

    if FLAGS.num_processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=FLAGS.coordinator, num_processes=FLAGS.num_processes, process_id=FLAGS.process_id
        )
    import common

    from rhovid import sharding

    n = jax.device_count()
    config = common.bench_config(
        FLAGS.method, size=FLAGS.size, videos=FLAGS.videos_per_device * n, crop=112 if FLAGS.size == "r50" else None
    )
    t0 = time.perf_counter()
    built = common.build_train_step(config)
    compiled = built.step.lower(built.state, built.batch).compile()
    compile_s = time.perf_counter() - t0
    state = built.state
    transfer, step, fetch = [], [], []
    for i in range(FLAGS.iterations + 2):
        t0 = time.perf_counter()
        batch = sharding.to_global(built.host_batch, built.mesh)
        jax.block_until_ready(batch)
        t1 = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
        t2 = time.perf_counter()
        host_metrics = jax.device_get(metrics)
        t3 = time.perf_counter()
        if i >= 2:
            transfer.append(t1 - t0)
            step.append(t2 - t1)
            fetch.append(t3 - t2)
    med = statistics.median
    total = med(transfer) + med(step) + med(fetch)
    return {
        "processes": jax.process_count(),
        "devices": n,
        "local_devices": jax.local_device_count(),
        "global_videos": config.batch_size,
        "clip_shape": list(built.host_batch["clips"].shape[1:]),
        "compile_s": compile_s,
        "transfer_s": transfer,
        "step_s": step,
        "fetch_s": fetch,
        "median_transfer_s": med(transfer),
        "median_step_s": med(step),
        "median_fetch_s": med(fetch),
        "outside_step_share": (med(transfer) + med(fetch)) / total,
        "batch_mb_per_process": built.host_batch["clips"].nbytes / 2**20,
        "loss": float(host_metrics["loss"]),
    }


def _spawn(devices: int, process_id: int = 0, num_processes: int = 1, coordinator: str = "") -> subprocess.Popen:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}").strip()
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        f"--worker_devices={devices}",
        f"--method={FLAGS.method}",
        f"--size={FLAGS.size}",
        f"--videos_per_device={FLAGS.videos_per_device}",
        f"--iterations={FLAGS.iterations}",
        f"--process_id={process_id}",
        f"--num_processes={num_processes}",
        f"--coordinator={coordinator}",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"scaling worker exited with {proc.returncode}; its stderr is above.")
    return json.loads(out.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv):
    del argv
    if FLAGS.worker_devices:
        print(json.dumps(worker()), flush=True)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import common

    info = common.machine_info()
    rows = []
    for n in map(int, FLAGS.devices):
        row = _result(_spawn(n))
        row["label"] = f"1 process × {n}"
        rows.append(row)
        print(_format(row, rows[0]), flush=True)
    if FLAGS.multiprocess:
        coordinator = f"127.0.0.1:{_free_port()}"
        procs = [_spawn(4, i, 2, coordinator) for i in range(2)]
        results = [_result(p) for p in procs]
        row = results[0]
        row["label"] = "2 processes × 4"
        row["process_1"] = {k: results[1][k] for k in ("median_transfer_s", "median_step_s", "median_fetch_s")}
        rows.append(row)
        print(_format(row, rows[0]), flush=True)
    base = rows[0]["median_step_s"] / rows[0]["devices"]
    for row in rows:
        row["work_ratio"] = row["median_step_s"] / (row["devices"] * base)
    print()
    print(_HEADER)
    print("-" * len(_HEADER))
    for row in rows:
        print(_format(row, rows[0]))
    common.write_json(
        FLAGS.out,
        {
            "benchmark": "scaling",
            "command": " ".join(sys.argv),
            "machine": info,
            "method": FLAGS.method,
            "size": FLAGS.size,
            "videos_per_device": FLAGS.videos_per_device,
            "rows": rows,
        },
    )
    print(f"wrote {FLAGS.out}")


_HEADER = (
    f"{'configuration':18s} {'videos':>6s} {'compile s':>9s} {'transfer ms':>11s} {'step s':>8s} "
    f"{'fetch ms':>8s} {'outside %':>9s} {'work ratio':>10s}"
)


def _format(r: dict, first: dict) -> str:
    ratio = r["median_step_s"] / (r["devices"] * first["median_step_s"] / first["devices"])
    return (
        f"{r['label']:18s} {r['global_videos']:6d} {r['compile_s']:9.1f} {1e3 * r['median_transfer_s']:11.2f} "
        f"{r['median_step_s']:8.3f} {1e3 * r['median_fetch_s']:8.2f} {100 * r['outside_step_share']:9.2f} "
        f"{ratio:10.2f}"
    )


if __name__ == "__main__":
    app.run(main)
