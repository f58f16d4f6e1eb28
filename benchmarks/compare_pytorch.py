"""rhovid vs PyTorch (pytorchvideo's Slow R-50) on the same ρBYOL step, side by side, fp32 on the CPU.

    python benchmarks/compare_pytorch.py                         # tiny + Slow R-50 8×112² + parts: ~15 min
    python benchmarks/compare_pytorch.py --noparts               # the two steps: ~6 min
    python benchmarks/compare_pytorch.py --sizes=tiny --noparts --variants=default   # ~2 min

Every side runs in its own worker process, and this process asks them in turn, case by case and
round by round (the order reversed every other round), so that all see the same machine load:

  torch            benchmarks/pytorch_byol.py under `--torch_python` (torch + pytorchvideo)
  rhovid:VARIANT   this file with --rhovid_worker=VARIANT, one per `--variants` entry (VARIANTS:
                   the convolution formulations of rhovid.models.layers and XLA flags)

Each worker reports wall-clock and process-CPU seconds per call. Ratios are rhovid / PyTorch of
the medians; on a shared machine the CPU-time ratio is the steadier one.

Cases, at each `--sizes` entry (B videos × ρ = 2 clips of T×S²):
  step       the whole ρBYOL train step (rhovid: rhovid.steps.make_train_step with LARS and the
             EMA target; PyTorch: the same written as a PyTorch user would, see pytorch_byol.py)
and with `--parts`, at `--parts_size`:
  forward    the backbone's forward pass in train mode (batch-statistics BN), no gradient
  fwd_bwd    forward + backward of the summed pooled features w.r.t. the backbone's parameters
  conv ...   single convolutions of the network's shapes: forward + backward w.r.t. the weight and
             (except the stem, whose input is the video) the input, for a random cotangent

Results: benchmarks/results/compare_pytorch.json and a table on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))

flags.DEFINE_list("sizes", ["tiny", "r50_112"], "Sizes of the step comparison (see SIZES).")
flags.DEFINE_bool("parts", True, "Also time the backbone and single convolutions.")
flags.DEFINE_string("parts_size", "r50_112", "Size whose shapes the parts use.")
flags.DEFINE_list("variants", ["plain", "default", "default_ynn"], "rhovid variants (see VARIANTS).")
flags.DEFINE_integer("rounds", 3, "Alternating rounds; each side runs every case once per round.")
flags.DEFINE_integer("calls", 1, "Timed calls per case per round (4× this at the tiny size).")
flags.DEFINE_string(
    "torch_python",
    os.environ.get("RHOVID_TORCH_PYTHON", "/tmp/torchenv/bin/python"),
    "A Python interpreter with torch and pytorchvideo.",
)
flags.DEFINE_string("out", os.path.join(HERE, "results", "compare_pytorch.json"), "JSON output.")
flags.DEFINE_string("rhovid_worker", "", "Internal: serve timing requests as this rhovid variant.")
FLAGS = flags.FLAGS

# width, frames, crop, videos; heads as the paper's BYOL (tiny: the tests' tiny heads).
SIZES = {
    "tiny": dict(width=8, frames=4, crop=32, videos=4, mlp_dim=64, embed_dim=32, predictor_dim=64),
    "r50_112": dict(width=64, frames=8, crop=112, videos=2, mlp_dim=4096, embed_dim=256, predictor_dim=4096),
    "r50_224": dict(width=64, frames=8, crop=224, videos=2, mlp_dim=4096, embed_dim=256, predictor_dim=4096),
}
RHO = 2
YNN_ELTWISE = "--xla_cpu_experimental_ynn_fusion_type=eltwise"
# name -> (ResNet3D attribute overrides, extra XLA_FLAGS).
VARIANTS = {
    "plain": (dict(matmul_forms="none"), ""),  # the core's first version: folded 2-D convs only
    "pointwise": (dict(matmul_forms="pointwise"), ""),
    "default": ({}, ""),  # the library's defaults on this backend
    "default_ynn": ({}, YNN_ELTWISE),  # ... with XLA:CPU's YNNPACK elementwise fusions
}
# name, (side, C_in) of the input at 8×112² (scaled for other crops), C_out, kernel, strides.
CONVS = [
    ("stem 1x7x7/2", (112, 3), 64, (1, 7, 7), (1, 2, 2)),
    ("res2 conv_c 1x1", (28, 64), 256, (1, 1, 1), (1, 1, 1)),
    ("res2 conv_b 1x3x3", (28, 64), 64, (1, 3, 3), (1, 1, 1)),
    ("res3 conv_b 1x3x3/2", (28, 128), 128, (1, 3, 3), (1, 2, 2)),
    ("res3 shortcut 1x1/2", (28, 256), 512, (1, 1, 1), (1, 2, 2)),
    ("res4 conv_a 3x1x1", (14, 512), 256, (3, 1, 1), (1, 1, 1)),
    ("res4 conv_b 1x3x3/2", (14, 256), 256, (1, 3, 3), (1, 2, 2)),
    ("res5 conv_a 3x1x1", (7, 1024), 512, (3, 1, 1), (1, 1, 1)),
]


def make_cases(size: str, parts: bool) -> list[tuple[str, dict]]:
    """(label, case) pairs in the workers' request format (see pytorch_byol.py)."""
    s = SIZES[size]
    cases = [(f"{size} step", dict(kind="step", size=size, rho=RHO, **s))]
    if not parts:
        return cases
    clips = s["videos"] * RHO
    shape = dict(width=s["width"], frames=s["frames"], crop=s["crop"], clips=clips)
    cases += [(f"{size} forward", dict(kind="forward", **shape)), (f"{size} fwd_bwd", dict(kind="fwd_bwd", **shape))]
    for name, (side, c_in), c_out, kernel, strides in CONVS:
        stem = name.startswith("stem")
        h = s["crop"] if stem else max(1, round(side * s["crop"] / 112))
        c_in = c_in if stem else c_in * s["width"] // 64
        cases.append(
            (
                f"{size} conv {name}",
                dict(
                    kind="conv",
                    x=[clips, s["frames"], h, h, c_in],
                    features=c_out * s["width"] // 64,
                    kernel=list(kernel),
                    strides=list(strides),
                    input_grad=not stem,
                ),
            )
        )
    return cases


# ------------------------------------------------------------------------------------------------
# The rhovid worker (runs in its own process, with its variant's XLA_FLAGS).


def rhovid_runner(case: dict, variant: str) -> Callable[[], Any]:
    """A no-argument callable running `case` in rhovid, compiled (not yet warmed up)."""
    import common  # imports JAX: only in workers
    import jax

    from rhovid.models.layers import Conv3D
    from rhovid.models.resnet3d import ResNet3D

    overrides = VARIANTS[variant][0]
    if case["kind"] == "step":
        c = common.bench_config(
            "byol", size="r50", videos=case["videos"], rho=RHO, frames=case["frames"], crop=case["crop"]
        )
        with c.unlocked():
            c.model.width = case["width"]
            c.model.mlp_dim, c.model.embed_dim = case["mlp_dim"], case["embed_dim"]
            c.model.predictor_dim = case["predictor_dim"]
        built = common.build_train_step(c, jax.devices()[:1], backbone_overrides=overrides)
        compiled = built.step.lower(built.state, built.batch).compile()
        box = {"state": built.state}

        def run():
            box["state"], metrics = compiled(box["state"], built.batch)
            return metrics

        return run
    if case["kind"] in ("forward", "fwd_bwd"):
        net = ResNet3D(depth=50, width=case["width"], **overrides)
        x = jax.random.normal(jax.random.PRNGKey(0), (case["clips"], case["frames"], case["crop"], case["crop"], 3))
        variables = jax.jit(lambda x: net.init(jax.random.PRNGKey(1), x, train=True))(x)

        def features(params, x):
            out, _ = net.apply(
                {"params": params, "batch_stats": variables["batch_stats"]}, x, train=True, mutable=["batch_stats"]
            )
            return out

        fn = features if case["kind"] == "forward" else jax.grad(lambda p, x: features(p, x).sum())
        compiled = jax.jit(fn).lower(variables["params"], x).compile()
        return lambda: compiled(variables["params"], x)
    conv = Conv3D(
        case["features"],
        tuple(case["kernel"]),
        tuple(case["strides"]),
        **{k: v for k, v in overrides.items() if k in ("fold_temporal", "matmul_forms")},
    )
    kx, kd = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, tuple(case["x"]))
    params = conv.init(jax.random.PRNGKey(1), x)
    dy = jax.random.normal(kd, jax.eval_shape(conv.apply, params, x).shape)
    n_grads = 2 if case["input_grad"] else 1
    fn = lambda p, x, dy: jax.vjp(conv.apply, p, x)[1](dy)[:n_grads]
    compiled = jax.jit(fn).lower(params, x, dy).compile()
    return lambda: compiled(params, x, dy)


def serve_rhovid(variant: str) -> None:
    """The rhovid worker loop: the same protocol as pytorch_byol.serve, plus build requests."""
    import common
    import jax

    built: dict[str, Callable[[], Any]] = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("info"):
            print(json.dumps(common.machine_info()), flush=True)
            continue
        key = json.dumps(req["case"], sort_keys=True)
        if key not in built:
            t0 = time.perf_counter()
            built[key] = rhovid_runner(req["case"], variant)
            compile_s = time.perf_counter() - t0
            jax.block_until_ready(built[key]())  # warm-up: first-touch allocations
        else:
            compile_s = 0.0
        times, cpu = [], []
        for _ in range(req["n"]):
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(built[key]())
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        print(json.dumps({"times": times, "cpu": cpu, "compile_s": compile_s}), flush=True)


# ------------------------------------------------------------------------------------------------
# The driver.


class Worker:
    """A timing worker subprocess speaking JSON lines on stdin/stdout."""

    def __init__(self, name: str, cmd: list[str], xla_flags: str = ""):
        env = dict(os.environ, PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="3")
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + xla_flags).strip()
        env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=HERE)
        self.info = self.ask({"info": True})

    def ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"The {self.name} worker exited (code {self.proc.wait()}); its stderr is above.")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=120)


def main(argv):
    del argv
    if FLAGS.rhovid_worker:
        serve_rhovid(FLAGS.rhovid_worker)
        return
    unknown = set(FLAGS.variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"--variants names {sorted(unknown)}; choose from {sorted(VARIANTS)}.")
    workers = {"torch": Worker("torch", [FLAGS.torch_python, os.path.join(HERE, "pytorch_byol.py")])}
    for v in FLAGS.variants:
        workers[v] = Worker(
            f"rhovid:{v}", [sys.executable, os.path.abspath(__file__), f"--rhovid_worker={v}"], VARIANTS[v][1]
        )
    info = workers[FLAGS.variants[0]].info
    info["torch"] = workers["torch"].info
    info.pop("xla_flags", None)
    print(
        f"machine: {info['cpu']}, {info['cpu_count']} cores, load {info['load_average_at_start']}; "
        f"jax {info['jax']}, torch {info['torch']['torch']} ({info['torch']['threads']} threads)",
        flush=True,
    )

    cases = [
        (size, label, case)
        for size in FLAGS.sizes
        for label, case in make_cases(size, FLAGS.parts and size == FLAGS.parts_size)
    ]
    rows = {
        label: {"case": case, **{w: {"wall": [], "cpu": [], "compile_s": 0.0} for w in workers}}
        for _, label, case in cases
    }
    for _, label, case in cases:  # build and warm up everything before timing anything
        for name, w in workers.items():
            rows[label][name]["compile_s"] = w.ask({"case": case, "n": 0}).get("compile_s", 0.0)
        print(f"built {label}", flush=True)

    order = list(workers)
    for r in range(FLAGS.rounds):
        for size, label, case in cases:
            n = FLAGS.calls * (4 if size == "tiny" else 1)
            for name in order if r % 2 == 0 else order[::-1]:
                out = workers[name].ask({"case": case, "n": n})
                rows[label][name]["wall"] += out["times"]
                rows[label][name]["cpu"] += out["cpu"]
        print(f"round {r + 1}/{FLAGS.rounds} done, load {[round(x, 2) for x in os.getloadavg()]}", flush=True)
    for w in workers.values():
        w.close()

    results = []
    for label, row in rows.items():
        t_wall, t_cpu = float(np.median(row["torch"]["wall"])), float(np.median(row["torch"]["cpu"]))
        entry = {
            "case": label,
            "spec": row["case"],
            "torch": {
                "wall_s": row["torch"]["wall"],
                "cpu_s": row["torch"]["cpu"],
                "median_wall_s": t_wall,
                "median_cpu_s": t_cpu,
            },
            "rhovid": {},
        }
        for v in FLAGS.variants:
            w, c = float(np.median(row[v]["wall"])), float(np.median(row[v]["cpu"]))
            entry["rhovid"][v] = {
                "wall_s": row[v]["wall"],
                "cpu_s": row[v]["cpu"],
                "median_wall_s": w,
                "median_cpu_s": c,
                "compile_s": row[v]["compile_s"],
                "ratio_wall": w / t_wall,
                "ratio_cpu": c / t_cpu,
            }
        results.append(entry)
    print_table(results)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(
            {
                "benchmark": "compare_pytorch",
                "command": " ".join(sys.argv),
                "machine": info,
                "rho": RHO,
                "sizes": {s: SIZES[s] for s in FLAGS.sizes},
                "variants": {v: {"overrides": VARIANTS[v][0], "xla_flags": VARIANTS[v][1]} for v in FLAGS.variants},
                "rounds": FLAGS.rounds,
                "results": results,
            },
            f,
            indent=1,
        )
        f.write("\n")
    print(f"wrote {FLAGS.out}")


def print_table(results: list[dict]) -> None:
    """Median seconds per call, and rhovid / PyTorch ratios of wall and CPU time."""
    variants = list(results[0]["rhovid"])
    head = f"{'case':30s} {'torch s':>8s}" + "".join(f" | {v + ' s':>15s} {'×wall':>6s} {'×cpu':>6s}" for v in variants)
    print(head)
    print("-" * len(head))
    for e in results:
        line = f"{e['case']:30s} {e['torch']['median_wall_s']:8.3f}"
        for v in variants:
            r = e["rhovid"][v]
            line += f" | {r['median_wall_s']:15.3f} {r['ratio_wall']:6.2f} {r['ratio_cpu']:6.2f}"
        print(line)


if __name__ == "__main__":
    app.run(main)
