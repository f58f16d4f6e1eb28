"""Compile time, step time, clips/s and achieved FLOP/s of rhovid's train step, for every method.

    python benchmarks/train_step.py                               # tiny + Slow R-50 8×112², ~8 min on 2 cores
    python benchmarks/train_step.py --sizes=r50 --r50_crop=224    # the paper's crop (slower)
    python benchmarks/train_step.py --methods=byol --sizes=tiny   # seconds

For each method (simclr, moco, byol, swav) and size, the step the trainer runs
(`rhovid.steps.make_train_step`, built by benchmarks/common.py) is lowered and compiled on the
first device of the default backend, then called `--warmup` times untimed and `--steps` times
timed (waiting for the result each time). Sizes:

  tiny   the `tiny` preset (depth 14, width 8, 4×32², 16 videos, tiny heads)
  r50    Slow R-50 8×8 with the paper's heads, a reduced batch of `--r50_videos` videos × ρ clips
         at `--r50_crop`² (112 by default to keep the run short on a CPU)

FLOPs are XLA's own count for the compiled step (`compiled.cost_analysis()['flops']`); achieved
FLOP/s = FLOPs / median step time. clips/s counts clip-views (videos × ρ, or × 2 when ρ = 1).
The persistent compilation cache is disabled so that compile times are cold.
Results: benchmarks/results/train_step.json, and a table on stdout.
"""

from __future__ import annotations

import statistics
import sys
import time

import common
import jax
from absl import app, flags

flags.DEFINE_list("methods", ["simclr", "moco", "byol", "swav"], "Methods to time.")
flags.DEFINE_list("sizes", ["tiny", "r50"], "tiny and/or r50.")
flags.DEFINE_integer("rho", 2, "Clips per video.")
flags.DEFINE_integer("tiny_videos", 16, "Videos per batch at the tiny size.")
flags.DEFINE_integer("r50_videos", 2, "Videos per batch at the r50 size.")
flags.DEFINE_integer("r50_frames", 8, "Frames per clip at the r50 size.")
flags.DEFINE_integer("r50_crop", 112, "Crop side at the r50 size (the paper trains at 224).")
flags.DEFINE_integer("warmup", 1, "Untimed calls after compiling.")
flags.DEFINE_integer("steps", 3, "Timed steps (the r50 size uses max(2, steps - 1)).")
flags.DEFINE_string("out", f"{common.RESULTS_DIR}/train_step.json", "JSON output.")
FLAGS = flags.FLAGS


def run_case(method: str, size: str) -> dict:
    """Builds, compiles and times one method at one size; returns its row."""
    if size == "tiny":
        config = common.bench_config(method, size="tiny", videos=FLAGS.tiny_videos, rho=FLAGS.rho)
        steps = FLAGS.steps
    else:
        config = common.bench_config(
            method, size="r50", videos=FLAGS.r50_videos, rho=FLAGS.rho, frames=FLAGS.r50_frames, crop=FLAGS.r50_crop
        )
        steps = max(2, FLAGS.steps - 1)
    t0 = time.perf_counter()
    built = common.build_train_step(config, jax.devices()[:1])
    jax.block_until_ready(built.state)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lowered = built.step.lower(built.state, built.batch)
    lower_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - t0
    flops = common.cost_flops(compiled)

    state = built.state
    for _ in range(FLAGS.warmup):
        state, metrics = compiled(state, built.batch)
        jax.block_until_ready(metrics)
    wall, cpu = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        state, metrics = compiled(state, built.batch)
        jax.block_until_ready(metrics)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    step_s = statistics.median(wall)
    views = built.host_batch["clips"].shape[1]
    clips = config.batch_size * views
    return {
        "method": method,
        "size": size,
        "videos": config.batch_size,
        "views": views,
        "frames": config.data.num_frames,
        "crop": config.data.crop_size,
        "depth": config.model.depth,
        "width": config.model.width,
        "init_s": init_s,
        "lower_s": lower_s,
        "compile_s": compile_s,
        "step_wall_s": wall,
        "step_cpu_s": cpu,
        "median_step_s": step_s,
        "clips_per_s": clips / step_s,
        "flops_per_step": flops,
        "flops_per_clip": flops / clips,
        "achieved_flop_per_s": flops / step_s,
        "loss": float(metrics["loss"]),
        "load_average": common.load_average(),
    }


def main(argv):
    del argv
    info = common.announce_machine()
    rows = []
    for size in FLAGS.sizes:
        for method in FLAGS.methods:
            row = run_case(method, size)
            rows.append(row)
            print(_format(row), flush=True)
    print()
    print(_HEADER)
    print("-" * len(_HEADER))
    for row in rows:
        print(_format(row))
    common.write_json(
        FLAGS.out, {"benchmark": "train_step", "command": " ".join(sys.argv), "machine": info, "rows": rows}
    )
    print(f"wrote {FLAGS.out}")


_HEADER = (
    f"{'method':7s} {'size':5s} {'batch':>14s} {'compile s':>9s} {'step s':>8s} {'clips/s':>8s} "
    f"{'GFLOP/step':>10s} {'GFLOP/s':>8s}"
)


def _format(r: dict) -> str:
    batch = f"{r['videos']}×{r['views']}×{r['frames']}×{r['crop']}²"
    return (
        f"{r['method']:7s} {r['size']:5s} {batch:>14s} {r['compile_s']:9.1f} {r['median_step_s']:8.3f} "
        f"{r['clips_per_s']:8.2f} {r['flops_per_step'] / 1e9:10.2f} {r['achieved_flop_per_s'] / 1e9:8.2f}"
    )


if __name__ == "__main__":
    app.run(main)
