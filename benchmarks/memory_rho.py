"""Peak memory and step time vs ρ: ρSimCLR and ρSwAV, one pass vs memory-flat (gradient caching).

    python benchmarks/memory_rho.py                                  # simclr + swav, ρ ∈ {2, 4, 8}
    python benchmarks/memory_rho.py --methods=simclr --rhos=2,4 --videos=8

For each method and ρ, the trainer's step (`rhovid.steps.make_train_step`) is compiled twice on
the first device of the default backend: `plain` (model.views_per_chunk = 0: all B·ρ clips in one
forward and backward) and `flat` (model.views_per_chunk = `--views_per_chunk`: chunks of k views
encoded one after another, rhovid/grad_cache.py). Memory is XLA's own account of the compiled
program (`compiled.memory_analysis()`): `temp` is the scratch the program allocates (activations
kept for the backward pass live here), `args` the state and batch it is called with; peak ≈ args +
temp (outputs alias the donated state). The plain step's temp grows linearly with ρ; the flat
step's holds one chunk's activations, so it stays about flat while the input batch grows.
For ρ in `--time_rhos` both programs are compiled optimised and run: step time is the median of
`--steps` calls after one untimed call (the flat step does one extra forward pass, the
recomputation, about a third more work). The others are compiled from shapes only, with LLVM
optimisation off, which leaves XLA's buffer assignment, and so the memory account, unchanged.

Size: the `tiny` preset (depth 14, width 8, 4×32² clips, tiny heads) with `--videos` videos, so
that twelve programs compile in minutes on a CPU; activations dominate its memory, as they do at
full scale. The persistent compilation cache is off. Results: benchmarks/results/memory_rho.json,
and a table on stdout.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time

import common
import jax
import numpy as np
import optax
from absl import app, flags

from rhovid import optim, sharding
from rhovid.methods import build_objective
from rhovid.models.network import build_network
from rhovid.state import create_train_state
from rhovid.steps import make_train_step

flags.DEFINE_list("methods", ["simclr", "swav"], "Methods (the two whose loss couples all clips).")
flags.DEFINE_list("rhos", ["2", "4", "8"], "Clips per video.")
flags.DEFINE_integer("videos", 16, "Videos per batch.")
flags.DEFINE_integer("views_per_chunk", 1, "Views per chunk in the memory-flat step.")
flags.DEFINE_string("matmul_forms", "auto", "model.matmul_forms (auto = the CPU default).")
flags.DEFINE_list("time_rhos", ["4"], "ρ values whose steps are also compiled optimised, run and timed.")
flags.DEFINE_integer("steps", 3, "Timed steps per program.")
flags.DEFINE_string("out", f"{common.RESULTS_DIR}/memory_rho.json", "JSON output.")
FLAGS = flags.FLAGS

MIB = 2**20


def _config(method: str, rho: int, views_per_chunk: int):
    c = common.bench_config(method, size="tiny", videos=FLAGS.videos, rho=rho)
    with c.unlocked():
        c.model.views_per_chunk = views_per_chunk
        c.model.matmul_forms = FLAGS.matmul_forms
    return c


def _make_state(c, tx, mesh, abstract: bool):
    """The state at step 0 (replicated on `mesh`), or only its shapes (nothing compiled or run)."""
    clip_shape = (c.data.num_frames, c.data.crop_size, c.data.crop_size, 3)
    make = functools.partial(
        create_train_state,
        net=build_network(c),
        objective=build_objective(c),
        tx=tx,
        clip_shape=clip_shape,
        num_views=max(c.data.rho, 2),
        global_batch_size=c.batch_size,
        embed_dim=c.model.embed_dim,
        seed=0,
        mesh=mesh,
    )
    return jax.eval_shape(make) if abstract else make()


def run_case(method: str, rho: int, views_per_chunk: int, mesh, timed: bool) -> dict:
    """Compiles one step and reads XLA's memory account; if `timed`, also times a few calls.

    Untimed programs are compiled from shapes alone with LLVM optimisation off
    (xla_backend_optimization_level=0): XLA assigns buffers before code generation, so the memory
    account is the same as the optimised program's, in a third of the compile time.
    """
    c = _config(method, rho, views_per_chunk)
    net, objective = build_network(c), build_objective(c)
    tx = optim.make_optimizer(c.optim, optax.constant_schedule(0.1))
    step = make_train_step(
        c,
        net,
        objective,
        tx,
        lr_schedule=optax.constant_schedule(0.1),
        momentum_schedule=None,
        steps_per_epoch=100,
        mesh=mesh,
    )
    clip_shape = (c.data.num_frames, c.data.crop_size, c.data.crop_size, 3)
    shape = (c.batch_size, rho) + clip_shape
    if timed:
        clips = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        batch = sharding.to_global({"clips": clips}, mesh)
    else:
        batch = {"clips": jax.ShapeDtypeStruct(shape, np.uint8, sharding=sharding.batch_sharding(mesh))}
    state = _make_state(c, tx, mesh, abstract=not timed)
    t0 = time.perf_counter()
    options = {} if timed else {"xla_backend_optimization_level": 0}
    compiled = step.lower(state, batch).compile(compiler_options=options)
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    wall, loss = [], None
    if timed:
        state, metrics = compiled(state, batch)  # untimed
        jax.block_until_ready(metrics)
        for _ in range(FLAGS.steps):  # the state is donated: each call gets the last one's
            t = time.perf_counter()
            state, metrics = compiled(state, batch)
            jax.block_until_ready(metrics)
            wall.append(time.perf_counter() - t)
        loss = float(metrics["loss"])
    return {
        "method": method,
        "rho": rho,
        "mode": "flat" if views_per_chunk else "plain",
        "views_per_chunk": views_per_chunk,
        "videos": c.batch_size,
        "clips": c.batch_size * rho,
        "frames": c.data.num_frames,
        "crop": c.data.crop_size,
        "depth": c.model.depth,
        "width": c.model.width,
        "temp_bytes": mem.temp_size_in_bytes,
        "argument_bytes": mem.argument_size_in_bytes,
        "output_bytes": mem.output_size_in_bytes,
        "alias_bytes": mem.alias_size_in_bytes,
        "peak_bytes": mem.argument_size_in_bytes + mem.temp_size_in_bytes,
        "timed": timed,
        "compile_s": compile_s,
        "step_wall_s": wall,
        "median_step_s": statistics.median(wall) if wall else None,
        "loss": loss,
        "load_average": common.load_average(),
    }


_HEADER = (
    f"{'method':7s} {'ρ':>2s} {'mode':5s} {'clips':>5s} {'temp MiB':>9s} {'args MiB':>9s} "
    f"{'peak MiB':>9s} {'vs plain':>8s} {'compile s':>9s} {'step s':>7s}"
)


def _format(r: dict, plain: dict | None) -> str:
    ratio = f"{r['peak_bytes'] / plain['peak_bytes']:.2f}×" if plain else ""
    step = f"{r['median_step_s']:7.3f}" if r["timed"] else f"{'-':>7s}"
    return (
        f"{r['method']:7s} {r['rho']:2d} {r['mode']:5s} {r['clips']:5d} {r['temp_bytes'] / MIB:9.1f} "
        f"{r['argument_bytes'] / MIB:9.1f} {r['peak_bytes'] / MIB:9.1f} {ratio:>8s} {r['compile_s']:9.1f} "
        f"{step}"
    )


def main(argv):
    del argv
    info = common.announce_machine()
    mesh = sharding.make_mesh(jax.devices()[:1])
    rows, lines = [], []
    for method in FLAGS.methods:
        for rho in map(int, FLAGS.rhos):
            timed = str(rho) in FLAGS.time_rhos
            plain = run_case(method, rho, 0, mesh, timed)
            flat = run_case(method, rho, FLAGS.views_per_chunk, mesh, timed)
            rows += [plain, flat]
            lines += [_format(plain, None), _format(flat, plain)]
            print(lines[-2] + "\n" + lines[-1], flush=True)
    print("\n" + _HEADER + "\n" + "-" * len(_HEADER) + "\n" + "\n".join(lines))
    common.write_json(
        FLAGS.out, {"benchmark": "memory_rho", "command": " ".join(sys.argv), "machine": info, "rows": rows}
    )
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
