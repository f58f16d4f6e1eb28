"""rhovid vs PyTorch (pytorchvideo's Slow R-50) on the same ρBYOL step, side by side, fp32 on the CPU.

    python benchmarks/compare_pytorch.py                       # tiny + Slow R-50 8×112², parts: ~10 min
    python benchmarks/compare_pytorch.py --sizes=tiny --noparts  # a minute

The PyTorch side (benchmarks/pytorch_byol.py) runs in a worker subprocess started from
`--torch_python` (a Python with torch and pytorchvideo); this process is the rhovid side. Both are
asked in turn, case by case and round by round (the order flipped every round), so that both see
the same machine load, and each reports wall-clock and process-CPU seconds per call. Ratios are
rhovid / PyTorch of the medians; the CPU-time ratio is the steadier one on a shared machine.

Cases, at each `--sizes` entry (B videos × ρ = 2 clips, T×S² crops):
  step       the whole ρBYOL train step (rhovid: rhovid.steps.make_train_step, LARS, EMA target)
and with `--parts`, at `--parts_size`:
  forward    the backbone's forward pass in train mode (batch-statistics BN), no gradient
  fwd_bwd    forward + backward of the summed pooled features w.r.t. the backbone's parameters
  conv:...   single convolutions of the network's shapes: forward + backward w.r.t. the weight and
             (except the stem, whose input is the video) the input, given a random cotangent

rhovid runs in each formulation of `--variants` (see VARIANTS): `plain` is the core's first
version (temporal-kernel-1 convs folded to 2-D, 1×1 convs as convolutions); `default` is the
library's current default on this backend. Results: benchmarks/results/compare_pytorch.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import common
import jax
import numpy as np
from absl import app, flags

from rhovid.models.layers import Conv3D
from rhovid.models.resnet3d import ResNet3D

HERE = os.path.dirname(os.path.abspath(__file__))

flags.DEFINE_list("sizes", ["tiny", "r50_112"], "Sizes of the step comparison (see SIZES).")
flags.DEFINE_bool("parts", True, "Also time the backbone and single convolutions.")
flags.DEFINE_string("parts_size", "r50_112", "Size whose shapes the parts use.")
flags.DEFINE_list("variants", ["plain", "default"], "rhovid formulations to time (see VARIANTS).")
flags.DEFINE_integer("rounds", 3, "Alternating rounds; each side runs every case once per round.")
flags.DEFINE_integer("calls", 1, "Timed calls per case per round (more for the tiny size).")
flags.DEFINE_string("torch_python", os.environ.get("RHOVID_TORCH_PYTHON", "/tmp/torchenv/bin/python"),
                    "A Python interpreter with torch and pytorchvideo.")
flags.DEFINE_string("out", os.path.join(common.RESULTS_DIR, "compare_pytorch.json"), "JSON output.")
FLAGS = flags.FLAGS

# width, frames, crop, videos; heads as the paper's BYOL (tiny: the tests' tiny heads).
SIZES = {
    "tiny": dict(width=8, frames=4, crop=32, videos=4, mlp_dim=64, embed_dim=32, predictor_dim=64),
    "r50_112": dict(width=64, frames=8, crop=112, videos=2, mlp_dim=4096, embed_dim=256,
                    predictor_dim=4096),
    "r50_224": dict(width=64, frames=8, crop=224, videos=2, mlp_dim=4096, embed_dim=256,
                    predictor_dim=4096),
}
RHO = 2
VARIANTS = {
    "plain": dict(fold_temporal=True, pointwise_as_matmul=False),
    "default": {},
}
# name, x [N, T, H, W, C] at N = 4 clips of 8×112² (scaled for other sizes), features, kernel, strides.
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


def torch_cases(size: str, parts: bool) -> list[tuple[str, dict]]:
    """(label, case) pairs in the PyTorch worker's request format."""
    s = SIZES[size]
    cases = [(f"{size} step", dict(kind="step", rho=RHO, **s))]
    if parts:
        clips = s["videos"] * RHO
        common_kw = dict(width=s["width"], frames=s["frames"], crop=s["crop"], clips=clips)
        cases += [(f"{size} forward", dict(kind="forward", **common_kw)),
                  (f"{size} fwd_bwd", dict(kind="fwd_bwd", **common_kw))]
        scale = s["crop"] / 112
        for name, (side, c_in), c_out, kernel, strides in CONVS:
            h = side if name.startswith("stem") else max(1, round(side * scale))
            h = s["crop"] if name.startswith("stem") else h
            c_in = c_in if name.startswith("stem") else c_in * s["width"] // 64
            cases.append((f"{size} conv {name}", dict(
                kind="conv", x=[clips, s["frames"], h, h, c_in], features=c_out * s["width"] // 64,
                kernel=list(kernel), strides=list(strides), input_grad=not name.startswith("stem"))))
    return cases


class TorchWorker:
    """The PyTorch side: a subprocess answering timing requests (benchmarks/pytorch_byol.py)."""

    def __init__(self, python: str):
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen([python, os.path.join(HERE, "pytorch_byol.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.info = self._ask({"info": True})

    def _ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"The PyTorch worker ({FLAGS.torch_python}) exited; see its stderr above.")
        return json.loads(line)

    def time(self, case: dict, n: int) -> tuple[list[float], list[float]]:
        out = self._ask({"case": case, "n": n})
        return out["times"], out["cpu"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def rhovid_runner(size: str, case: dict, variant: str) -> tuple[Callable[[], Any], float]:
    """A no-argument callable running `case` in rhovid, compiled and warmed up; and compile seconds."""
    overrides = VARIANTS[variant]
    t0 = time.perf_counter()
    if case["kind"] == "step":
        s = SIZES[size]
        c = common.bench_config("byol", size="r50", videos=s["videos"], rho=RHO, frames=s["frames"],
                                crop=s["crop"])
        with c.unlocked():
            c.model.width = s["width"]
            c.model.mlp_dim, c.model.embed_dim = s["mlp_dim"], s["embed_dim"]
            c.model.predictor_dim = s["predictor_dim"]
        built = common.build_train_step(c, jax.devices()[:1], backbone_overrides=overrides)
        compiled = built.step.lower(built.state, built.batch).compile()
        box = {"state": built.state}

        def run():
            box["state"], metrics = compiled(box["state"], built.batch)
            return metrics
    elif case["kind"] in ("forward", "fwd_bwd"):
        net = ResNet3D(depth=50, width=case["width"], **overrides)
        x = jax.random.normal(jax.random.PRNGKey(0), (case["clips"], case["frames"], case["crop"], case["crop"], 3))
        variables = jax.jit(lambda x: net.init(jax.random.PRNGKey(1), x, train=True))(x)

        def features(params, x):
            out, _ = net.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, train=True,
                               mutable=["batch_stats"])
            return out

        fn = features if case["kind"] == "forward" else jax.grad(lambda p, x: features(p, x).sum())
        compiled = jax.jit(fn).lower(variables["params"], x).compile()
        run = lambda: compiled(variables["params"], x)  # noqa: E731
    else:
        conv = Conv3D(case["features"], tuple(case["kernel"]), tuple(case["strides"]), **{
            k: v for k, v in overrides.items() if k in ("fold_temporal", "pointwise_as_matmul")})
        kx, kd = jax.random.split(jax.random.PRNGKey(0))
        x = jax.random.normal(kx, tuple(case["x"]))
        params = conv.init(jax.random.PRNGKey(1), x)
        dy = jax.random.normal(kd, jax.eval_shape(conv.apply, params, x).shape)
        wrt = (0, 1) if case["input_grad"] else (0,)
        fn = lambda p, x, dy: jax.vjp(lambda *a: conv.apply(*a), p, x)[1](dy)[:len(wrt)]  # noqa: E731
        compiled = jax.jit(fn).lower(params, x, dy).compile()
        run = lambda: compiled(params, x, dy)  # noqa: E731
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(run())  # warm-up: first-touch allocations
    return run, compile_s


def time_rhovid(run: Callable[[], Any], n: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(run())
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def main(argv):
    del argv
    info = common.machine_info()
    worker = TorchWorker(FLAGS.torch_python)
    info["torch"] = worker.info
    print(f"machine: {info['cpu']}, {info['cpu_count']} cores, load {info['load_average_at_start']}; "
          f"jax {info['jax']}, torch {worker.info['torch']} ({worker.info['threads']} threads)", flush=True)

    cases = []
    for size in FLAGS.sizes:
        cases += [(size, label, case) for label, case in torch_cases(size, FLAGS.parts and size == FLAGS.parts_size)]
    rows = {}
    for size, label, case in cases:  # build (compile) everything before timing anything
        row = rows[label] = {"case": case, "rhovid": {}, "torch": {"wall": [], "cpu": []}}
        variants = FLAGS.variants if case["kind"] != "conv" or _variant_matters(case) else FLAGS.variants[-1:]
        for v in variants:
            run, compile_s = rhovid_runner(size, case, v)
            row["rhovid"][v] = {"run": run, "compile_s": compile_s, "wall": [], "cpu": []}
        compiles = ", ".join(f"{v}: {r['compile_s']:.0f} s" for v, r in row["rhovid"].items())
        print(f"built {label} (compile {compiles})", flush=True)

    for r in range(FLAGS.rounds):
        for size, label, case in cases:
            row = rows[label]
            n = FLAGS.calls * (4 if size == "tiny" else 1)
            sides = ["torch"] + list(row["rhovid"])
            for side in (sides if r % 2 == 0 else sides[::-1]):
                if side == "torch":
                    wall, cpu = worker.time(case, n)
                    dst = row["torch"]
                else:
                    dst = row["rhovid"][side]
                    wall, cpu = time_rhovid(dst["run"], n)
                dst["wall"] += wall
                dst["cpu"] += cpu
        print(f"round {r + 1}/{FLAGS.rounds} done, load {common.load_average()}", flush=True)
    worker.close()

    results = []
    for label, row in rows.items():
        t_wall, t_cpu = np.median(row["torch"]["wall"]), np.median(row["torch"]["cpu"])
        entry = {"case": label, "spec": row["case"], "torch_wall_s": row["torch"]["wall"],
                 "torch_cpu_s": row["torch"]["cpu"], "torch_median_wall_s": t_wall, "torch_median_cpu_s": t_cpu,
                 "rhovid": {}}
        for v, rr in row["rhovid"].items():
            w, c = np.median(rr["wall"]), np.median(rr["cpu"])
            entry["rhovid"][v] = {"wall_s": rr["wall"], "cpu_s": rr["cpu"], "median_wall_s": w,
                                  "median_cpu_s": c, "compile_s": rr["compile_s"],
                                  "ratio_wall": w / t_wall, "ratio_cpu": c / t_cpu}
        results.append(entry)
    _print_table(results)
    common.write_json(FLAGS.out, {
        "benchmark": "compare_pytorch", "command": " ".join(sys.argv), "machine": info,
        "rho": RHO, "sizes": {s: SIZES[s] for s in FLAGS.sizes}, "variants": {v: VARIANTS[v] for v in FLAGS.variants},
        "rounds": FLAGS.rounds, "results": results,
    })
    print(f"wrote {FLAGS.out}")


def _variant_matters(case: dict) -> bool:
    """Whether the rhovid formulations differ for this convolution (only 1×1×1 kernels do now)."""
    return tuple(case["kernel"]) == (1, 1, 1)


def _print_table(results: list[dict]) -> None:
    variants = sorted({v for e in results for v in e["rhovid"]}, key=list(VARIANTS).index)
    head = f"{'case':34s} {'torch s':>9s}" + "".join(f" {'rhovid ' + v + ' s':>18s} {'×wall':>6s} {'×cpu':>6s}"
                                                      for v in variants)
    print(head)
    print("-" * len(head))
    for e in results:
        line = f"{e['case']:34s} {e['torch_median_wall_s']:9.3f}"
        for v in variants:
            r = e["rhovid"].get(v)
            line += (f" {r['median_wall_s']:18.3f} {r['ratio_wall']:6.2f} {r['ratio_cpu']:6.2f}" if r
                     else f" {'(same)':>18s} {'':6s} {'':6s}")
        print(line)


if __name__ == "__main__":
    app.run(main)
