"""One-call accelerator benchmark: step time, MFU, memory, largest batch, and the host's input rate.

    python benchmarks/accelerator.py                     # one GPU or TPU host, under 8 minutes
    python benchmarks/accelerator.py --dtype=float32     # the same in float32
    python benchmarks/accelerator.py --smoke             # the same code on the CPU, tiny net, < 2 min

Measures the step the trainer runs (`rhovid.steps.make_train_step`, built by
benchmarks/common.py) on the first device, for each case of `--cases` (default: every method at
ρ = 2 and ρBYOL at ρ = 4, Slow R-50 8×224², `--videos` videos per device, bf16 compute, colour
augmentation on the device), each in a fresh process so that its peak memory is its own:

  compile       lowering and XLA compilation, cold (the persistent compilation cache is off)
  step          steady state: `--steps` calls dispatched back to back, then waited for, in
                `--windows` windows after `--warmup` calls; the best window (the median beside it).
                The batch stays on the device, so this is the step alone, without host→device
  clip-views/s  videos × views per step / step time
  FLOPs         XLA's own count for the compiled step (`compiled.cost_analysis()`), forward and
                backward of the online network plus the momentum network's forward
  MFU           FLOPs / step time / the device's peak (PEAK_TFLOPS below, dense, by device kind)
  memory        the device's peak bytes in use (`device.memory_stats()`, where the backend has
                it) and XLA's compiled memory analysis (arguments, outputs, temporaries, aliases)
  donation      the state is donated to the step: XLA must alias (reuse) all of its buffers for
                the new state; `donated_fraction` = aliased bytes / state bytes (1.0 = no second
                copy of the state)

then, where time is left: ρBYOL ρ = 2 again with `model.remat` (every residual block
rematerialised in the backward pass; its MFU counts the model's FLOPs, not the recomputation);
the largest per-device batch that fits (`--search_case`: doubling, then bisection, each size
compiled on shapes alone and kept when XLA's memory analysis fits the device's memory, the
largest then run for real — a RESOURCE_EXHAUSTED anywhere counts as "does not fit"; bounded by
`--search_max_videos` and `--search_budget_s`); and the input pipeline on this host's cores
(rhovid's reader on generated TFDS records of real JPEG frames, ρ = 2, colour left to the device,
tf.data's default parallelism; needs TensorFlow, skipped with the reason where it is missing).
A total `--budget_s` (470 s) keeps the run under 8 minutes: a case that would not fit in the time left
is recorded as skipped, never silently dropped.

Writes `<out_dir>/accelerator-<device kind>.json` (`accelerator-smoke.json` with --smoke) with
the device, the software versions, the command and the date, and prints a table.
`--smoke` runs the same code path on the CPU with the `tiny` network and the GPU's convolution
formulation (`model.matmul_forms=none`, what "auto" resolves to on accelerators);
tests/test_accelerator_smoke.py runs it.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

from absl import app, flags

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)  # common.py and jpeg_records.py, also when imported as a module

# Peak dense TFLOP/s per chip: (name, substrings of `device_kind`, lower case, bf16, fp32).
# fp32 on these GPUs is the TF32 tensor-core rate, at which JAX's default matmul precision runs
# float32 convolutions; TPUs run float32 matmuls as one bf16 pass at default precision.
PEAK_TFLOPS = (
    ("NVIDIA H200", ("h200",), 989.4, 494.7),
    ("NVIDIA H100 PCIe", ("h100 pcie",), 756.0, 378.0),
    ("NVIDIA H100 SXM", ("h100",), 989.4, 494.7),
    ("NVIDIA A100", ("a100",), 312.0, 156.0),
    ("NVIDIA L4", ("nvidia l4",), 121.0, 60.0),
    ("TPU v4", ("tpu v4",), 275.0, 275.0),
    ("TPU v5e", ("tpu v5 lite", "tpu v5e"), 197.0, 197.0),
    ("TPU v5p", ("tpu v5p", "tpu v5"), 459.0, 459.0),
    ("TPU v6e", ("tpu v6 lite", "tpu v6e", "tpu v6"), 918.0, 918.0),
)

DEFAULT_CASES = ("byol:2", "simclr:2", "moco:2", "swav:2", "byol:4")  # the target case first
SMOKE_CASES = ("byol:2",)  # with --smoke and no --cases: the remat case, the search and the pipeline follow

# Defaults that differ between a full run and --smoke: name -> (full, smoke).
_DEFAULTS = {
    "videos": (8, 2),
    "warmup": (2, 1),
    "steps": (10, 2),
    "windows": (2, 1),
    "budget_s": (470, 170),
    "search_max_videos": (128, 4),
    "search_budget_s": (120, 45),
    "pipeline_videos": (16, 3),
    "pipeline_seconds": (4.0, 3.0),
    "pipeline_size": ("320x256", "80x64"),
    "pipeline_batch": (16, 4),
    "pipeline_batches": (12, 3),
    "pipeline_budget_s": (90, 30),
}

flags.DEFINE_bool("smoke", False, "CPU, tiny network, small budgets: the same code path in < 2 min.")
flags.DEFINE_list(
    "cases",
    None,
    f"method:rho[:remat] cases, in this order. Default {','.join(DEFAULT_CASES)} "
    f"({','.join(SMOKE_CASES)} with --smoke).",
)
flags.DEFINE_bool("remat_case", True, "Also measure byol:2 with model.remat (if time is left).")
flags.DEFINE_enum("dtype", "bfloat16", ["bfloat16", "float32"], "model.dtype (compute dtype).")
flags.DEFINE_bool("color_on_device", True, "Colour augmentation inside the step, as on accelerators.")
flags.DEFINE_integer("frames", None, "Frames per clip (default: 8; 4 with --smoke).")
flags.DEFINE_integer("crop", None, "Crop side (default: 224; 32 with --smoke).")
flags.DEFINE_integer("videos", None, "Videos per device (each gives ρ clip-views). Default 8 (2).")
flags.DEFINE_integer("warmup", None, "Untimed steps after compiling. Default 2 (1).")
flags.DEFINE_integer("steps", None, "Steps per timing window. Default 10 (2).")
flags.DEFINE_integer("windows", None, "Timing windows. Default 2 (1).")
flags.DEFINE_float("budget_s", None, "Wall-clock budget of the whole run. Default 470 (170).")
flags.DEFINE_bool("search", True, "Search the largest per-device batch that fits.")
flags.DEFINE_string("search_case", "byol:2", "The case whose batch is searched.")
flags.DEFINE_integer("search_max_videos", None, "Largest batch tried. Default 128 (4).")
flags.DEFINE_float("search_budget_s", None, "Time reserved for the search. Default 120 (45).")
flags.DEFINE_float("memory_limit_mb", 0, "Memory a batch must fit in (0: the device's own limit).")
flags.DEFINE_bool("pipeline", True, "Measure the input pipeline on this host's cores.")
flags.DEFINE_integer("pipeline_videos", None, "Generated videos. Default 16 (3).")
flags.DEFINE_float("pipeline_seconds", None, "Length of each generated video. Default 4 (3).")
flags.DEFINE_string("pipeline_size", None, "WxH of the generated frames. Default 320x256 (80x64).")
flags.DEFINE_integer("pipeline_batch", None, "Videos per pipeline batch. Default 16 (4).")
flags.DEFINE_integer("pipeline_batches", None, "Timed pipeline batches. Default 12 (3).")
flags.DEFINE_float("pipeline_budget_s", None, "Time reserved for the pipeline. Default 90 (30); 0 without TensorFlow.")
flags.DEFINE_string("out_dir", os.path.join(_HERE, "results"), "Where the JSON goes.")
flags.DEFINE_string("child", None, "(internal) the JSON spec of one measurement, run in this process.")
FLAGS = flags.FLAGS


def opt(name: str) -> Any:
    """A flag's value, or its full-run / smoke default when unset."""
    value = getattr(FLAGS, name)
    if value is not None:
        return value
    return _DEFAULTS[name][1 if FLAGS.smoke else 0]


def peak_tflops(device_kind: str, dtype: str) -> tuple[str, float] | None:
    """(table name, peak TFLOP/s) for a device kind and "bfloat16"/"float32"; None if unknown."""
    kind = device_kind.lower()
    for name, keys, bf16, fp32 in PEAK_TFLOPS:
        if any(k in kind for k in keys):
            return name, bf16 if dtype == "bfloat16" else fp32
    return None


def parse_case(text: str) -> dict:
    """ "byol:2" or "byol:2:remat" -> {"method", "rho", "remat"}."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "remat"):
        raise app.UsageError(f"case {text!r}: use method:rho or method:rho:remat, e.g. byol:2.")
    return {"method": parts[0], "rho": int(parts[1]), "remat": len(parts) == 3}


def case_name(spec: dict) -> str:
    return f"{spec['method']}:{spec['rho']}" + (":remat" if spec.get("remat") else "")


# ---------------------------------------------------------------------------------------------
# Children: each measurement in a fresh process.


def case_config(spec: dict, videos: int):
    """The pretraining config of one case at `videos` videos per (single) device."""
    import common

    size = "tiny" if FLAGS.smoke else "r50"
    c = common.bench_config(
        spec["method"], size=size, videos=videos, rho=spec["rho"], frames=FLAGS.frames, crop=FLAGS.crop
    )
    with c.unlocked():
        c.model.dtype = FLAGS.dtype
        c.model.remat = bool(spec.get("remat"))
        c.data.color_on_device = FLAGS.color_on_device
        if FLAGS.smoke:
            c.model.matmul_forms = "none"  # what "auto" resolves to on GPUs and TPUs
        if spec["method"] == "moco":  # the queue must hold a whole number of steps' keys
            keys = videos * max(spec["rho"], 2)
            c.objective.queue_size = max(1, c.objective.queue_size // keys) * keys
    return c


def _memory(compiled) -> dict:
    """XLA's compiled memory analysis in bytes (empty where the backend has none)."""
    try:
        m = compiled.memory_analysis()
    except Exception:
        return {}
    if m is None:
        return {}
    out = {k: int(getattr(m, f"{k}_size_in_bytes", 0)) for k in ("argument", "output", "alias", "temp")}
    out["predicted_peak"] = out["argument"] + out["output"] - out["alias"] + out["temp"]
    return out


def _device_memory(device) -> dict:
    try:
        stats = device.memory_stats() or {}
    except Exception:
        stats = {}
    return {k: int(stats[k]) for k in ("peak_bytes_in_use", "bytes_limit", "bytes_in_use") if k in stats}


def _is_oom(e: BaseException) -> bool:
    text = str(e)
    return "RESOURCE_EXHAUSTED" in text or "Out of memory" in text or "out of memory" in text


def _tree_bytes(tree) -> int:
    import jax

    return int(sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree)))


def _time_steps(compiled, state, batch) -> tuple[Any, dict, list[float]]:
    """Warm-up, then `windows` windows of `steps` back-to-back steps; seconds per step of each."""
    import jax

    metrics = None
    for _ in range(opt("warmup")):
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
    per_step = []
    for _ in range(opt("windows")):
        t = time.perf_counter()
        for _ in range(opt("steps")):
            state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
        per_step.append((time.perf_counter() - t) / opt("steps"))
    return state, metrics, per_step


def measure_case(spec: dict) -> dict:
    """Compile, time and size one case on the first device."""
    import common
    import jax

    videos = spec.get("videos") or opt("videos")
    config = case_config(spec, videos)
    device = jax.devices()[0]
    t0 = time.perf_counter()
    built = common.build_train_step(config, [device])
    jax.block_until_ready(built.state)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lowered = built.step.lower(built.state, built.batch)
    lower_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - t0
    memory = _memory(compiled)
    state_bytes = _tree_bytes(built.state)
    _, metrics, per_step = _time_steps(compiled, built.state, built.batch)
    step_s = min(per_step)
    views = max(spec["rho"], 2)
    clip_views = videos * views
    flops = common.cost_flops(compiled)
    peak = peak_tflops(device.device_kind, FLAGS.dtype)
    loss = float(metrics["loss"])
    return {
        "case": case_name(spec),
        **spec,
        "videos": videos,
        "views": views,
        "clip_views": clip_views,
        "frames": config.data.num_frames,
        "crop": config.data.crop_size,
        "depth": config.model.depth,
        "width": config.model.width,
        "dtype": FLAGS.dtype,
        "color_on_device": FLAGS.color_on_device,
        "init_s": init_s,
        "lower_s": lower_s,
        "compile_s": compile_s,
        "step_s": step_s,
        "step_s_windows": per_step,
        "clip_views_per_s": clip_views / step_s,
        "flops_per_step": flops,
        "flops_per_clip_view": flops / clip_views,
        "achieved_tflops": flops / step_s / 1e12,
        "peak_tflops": peak[1] if peak else None,
        "mfu": flops / step_s / (peak[1] * 1e12) if peak and flops else None,
        "memory_analysis": memory,
        "device_memory": _device_memory(device),
        "state_bytes": state_bytes,
        "donated_fraction": memory["alias"] / state_bytes if memory and state_bytes else None,
        "loss": loss,
        "loss_finite": math.isfinite(loss),
        "machine": _machine(),
    }


def search_batch(spec: dict) -> dict:
    """The largest per-device batch (videos) of `spec` that fits, within a time budget."""
    import common
    import jax

    t_start = time.perf_counter()
    budget = spec["budget_s"]
    device = jax.devices()[0]
    limit = int(FLAGS.memory_limit_mb * 2**20) or _device_memory(device).get("bytes_limit")
    base = spec["videos"]
    cfg = case_config(spec, base)
    views = max(spec["rho"], 2)
    group = cfg.model.bn_group_size
    grain = group // math.gcd(group, views) if group > 0 else 1  # videos per BN group multiple
    probes, compiled_of = [], {}

    def probe(videos: int) -> bool:
        row = {"videos": videos, "clip_views": videos * views}
        t = time.perf_counter()
        try:
            built = common.build_train_step(case_config(spec, videos), [device], abstract=True)
            compiled = built.step.lower(built.state, built.batch).compile()
            row["memory_analysis"] = _memory(compiled)
            need = row["memory_analysis"].get("predicted_peak")
            row["fits"] = not (limit and need and need > limit)
            if not row["fits"]:
                row["reason"] = "XLA's memory analysis exceeds the limit"
            else:
                compiled_of[videos] = compiled
        except Exception as e:
            if not _is_oom(e):
                raise
            row.update(fits=False, reason=f"RESOURCE_EXHAUSTED while compiling: {str(e)[:200]}")
        row["seconds"] = time.perf_counter() - t
        probes.append(row)
        return row["fits"]

    def time_left() -> float:
        return budget - (time.perf_counter() - t_start)

    lo, hi = base, None  # lo: largest known to fit (the measured case itself), hi: smallest that does not
    cost = 0.0
    while hi is None and 2 * lo <= opt("search_max_videos") and time_left() > 2 * cost:
        t = time.perf_counter()
        if probe(2 * lo):
            lo = 2 * lo
        else:
            hi = 2 * lo
        cost = time.perf_counter() - t
    while hi is not None and hi - lo > max(grain, lo // 8) and time_left() > 2 * cost:
        mid = (lo + hi) // 2 // grain * grain
        if mid <= lo:
            break
        t = time.perf_counter()
        if probe(mid):
            lo = mid
        else:
            hi = mid
        cost = time.perf_counter() - t
    result = {
        "case": case_name(spec),
        "base_videos": base,
        "limit_bytes": limit,
        "probes": probes,
        "max_videos_tried": opt("search_max_videos"),
    }
    # Run the largest fitting batch for real: the memory analysis is XLA's estimate.
    while lo > base and lo in compiled_of:
        try:
            built = common.build_train_step(case_config(spec, lo), [device])
            _, metrics, per_step = _time_steps(compiled_of[lo], built.state, built.batch)
            step_s = min(per_step)
            result.update(
                verified=True,
                step_s=step_s,
                clip_views_per_s=lo * views / step_s,
                loss_finite=math.isfinite(float(metrics["loss"])),
            )
            break
        except Exception as e:
            if not _is_oom(e):
                raise
            probes.append({"videos": lo, "fits": False, "reason": "RESOURCE_EXHAUSTED when run"})
            del compiled_of[lo]
            lo = max([v for v in compiled_of if v < lo] + [base])
    bounded = hi is None
    result.update(
        largest_videos=lo,
        largest_clip_views=lo * views,
        smallest_failing_videos=hi,
        bound=("search_max_videos or time budget" if bounded else "memory"),
        device_memory=_device_memory(device),
        seconds=time.perf_counter() - t_start,
    )
    return result


def measure_pipeline(spec: dict) -> dict:
    """clip-views/s of rhovid's reader on generated JPEG-frame records, on all of this host's cores."""
    try:
        import tensorflow as tf
    except ImportError:
        return {"skipped": "tensorflow is not installed in this environment (pip install -e .)"}
    import jpeg_records  # benchmarks/jpeg_records.py

    from rhovid import config as config_lib
    from rhovid.data.reading import streams

    tf.config.set_visible_devices([], "GPU")
    width, height = (int(x) for x in spec["size"].split("x"))
    work = tempfile.mkdtemp(prefix="rhovid_accel_")
    t0 = time.perf_counter()
    jpeg_records.write_frame_records(os.path.join(work, "tfds"), spec["videos"], spec["seconds"], width, height)
    prepare_s = time.perf_counter() - t0
    cfg = config_lib.base_config("byol").data
    cfg.name, cfg.data_dir, cfg.rho, cfg.color_on_device = "bench", os.path.join(work, "tfds"), 2, True
    cfg.num_frames, cfg.frame_stride, cfg.crop_size = spec["frames"], spec["stride"], spec["crop"]
    cfg.shuffle_buffer = 16
    warm, n = 2, spec["batches"]
    src = streams.make_pretrain_source(cfg, global_batch_size=spec["batch"], seed=0, num_steps=warm + n)
    it = iter(src.dataset.as_numpy_iterator())
    for _ in range(warm):
        next(it)
    wall, cpu, clip_views = time.perf_counter(), time.process_time(), 0
    for _ in range(n):
        b = next(it)["clips"]
        clip_views += b.shape[0] * b.shape[1]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "videos": spec["videos"],
        "seconds": spec["seconds"],
        "frame_size": [width, height],
        "jpeg_quality": 90,
        "rho": 2,
        "frames": spec["frames"],
        "stride": spec["stride"],
        "crop": spec["crop"],
        "batch": spec["batch"],
        "color": "device",
        "prepare_s": prepare_s,
        "clip_views": clip_views,
        "wall_s": wall,
        "cpu_s": cpu,
        "clip_views_per_wall_s": clip_views / wall,
        "clip_views_per_cpu_s": clip_views / cpu,
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "tensorflow": tf.__version__,
    }


def _cpu_model() -> str:
    import common

    return common.cpu_model()


def _machine() -> dict:
    import common
    import jax
    import jaxlib
    import numpy
    import optax

    info = common.machine_info()
    info.update(jaxlib=jaxlib.__version__, optax=optax.__version__, numpy=numpy.__version__)
    try:
        info["platform_version"] = jax.devices()[0].client.platform_version
    except Exception:
        pass
    return info


def run_child_here(spec: dict) -> dict:
    import jax

    jax.config.update("jax_enable_compilation_cache", False)  # cold compile times
    kind = spec["kind"]
    if kind == "case":
        return measure_case(spec)
    if kind == "search":
        return search_batch(spec)
    return measure_pipeline(spec)


# ---------------------------------------------------------------------------------------------
# The parent: runs each measurement in a fresh process within the budget, writes the JSON.


def run_child(spec: dict, timeout: float) -> dict:
    """One measurement in a fresh process; its JSON result, or {"error": ...}."""
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # peak memory is what the step uses
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if FLAGS.smoke or spec["kind"] == "pipeline":
        env["JAX_PLATFORMS"] = "cpu"
    if spec["kind"] == "pipeline":
        env["CUDA_VISIBLE_DEVICES"] = ""
    args = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], f"--child={json.dumps(spec)}"]
    t = time.perf_counter()
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=max(timeout, 1), check=False)
    except subprocess.TimeoutExpired:
        return {
            "error": f"timed out after {timeout:.0f} s (the time left in --budget_s)",
            "wall_s": time.perf_counter() - t,
        }
    wall = time.perf_counter() - t
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr[-2000:]}", "wall_s": wall}
    return {**json.loads(lines[-1]), "wall_s": wall}


def device_slug(kind: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "unknown"


def main(argv):
    del argv
    if FLAGS.child:
        print(json.dumps(run_child_here(json.loads(FLAGS.child)), default=float))
        return
    t_start = time.perf_counter()
    budget = opt("budget_s")
    has_tf = importlib.util.find_spec("tensorflow") is not None  # else the pipeline is skipped at once
    pipeline_reserve = opt("pipeline_budget_s") if FLAGS.pipeline and has_tf else 0
    reserve = (opt("search_budget_s") if FLAGS.search else 0) + pipeline_reserve
    left = lambda: budget - (time.perf_counter() - t_start)

    specs = [parse_case(c) for c in FLAGS.cases or (SMOKE_CASES if FLAGS.smoke else DEFAULT_CASES)]
    if FLAGS.remat_case:
        specs.append({"method": "byol", "rho": 2, "remat": True})
    rows, walls = [], []
    for i, spec in enumerate(specs):
        need = max(walls) if walls else 0.0
        room = left() - reserve
        if i and need > room:  # the first case always runs: it is the one the search starts from
            skipped = f"time budget ({room:.0f} s left, ~{need:.0f} s needed)"
            rows.append({"case": case_name(spec), **spec, "skipped": skipped})
            print(f"{case_name(spec)}: skipped (time budget)", flush=True)
            continue
        row = run_child({"kind": "case", **spec}, timeout=left() - reserve if i else left())
        rows.append({"case": case_name(spec), **spec, **row})
        walls.append(row["wall_s"])
        print(_format(rows[-1]), flush=True)

    model_flops = {r["case"]: r["flops_per_step"] for r in rows if "flops_per_step" in r}
    for r in rows:  # remat recomputes activations: its MFU counts the model's FLOPs, its HFU all
        base = r["case"].removesuffix(":remat")
        if r.get("remat") and "step_s" in r and base in model_flops and r.get("peak_tflops"):
            r["hfu"] = r["mfu"]
            r["mfu"] = model_flops[base] / r["step_s"] / (r["peak_tflops"] * 1e12)

    search = None
    if FLAGS.search:
        spec = parse_case(FLAGS.search_case)
        base = next((r for r in rows if r["case"] == case_name(spec) and "step_s" in r), None)
        if base is None:
            search = {"case": case_name(spec), "skipped": "its case was not measured"}
        else:
            room = min(opt("search_budget_s"), left() - pipeline_reserve)
            search = run_child(
                {"kind": "search", **spec, "videos": base["videos"], "budget_s": room - 15}, timeout=room + 30
            )
        print(
            f"largest batch: {search.get('largest_videos', '-')} videos "
            f"({search.get('bound', search.get('skipped', search.get('error', '')))})",
            flush=True,
        )

    pipeline = None
    if FLAGS.pipeline:
        frames = FLAGS.frames or (4 if FLAGS.smoke else 8)
        pspec = {
            "kind": "pipeline",
            "videos": opt("pipeline_videos"),
            "seconds": opt("pipeline_seconds"),
            "size": opt("pipeline_size"),
            "frames": frames,
            "stride": 2 if FLAGS.smoke else 8,
            "crop": FLAGS.crop or (32 if FLAGS.smoke else 224),
            "batch": opt("pipeline_batch"),
            "batches": opt("pipeline_batches"),
        }
        pipeline = run_child(pspec, timeout=max(left(), 30))
        print(
            f"input pipeline: {pipeline.get('clip_views_per_wall_s', float('nan')):.1f} clip-views/s on "
            f"{pipeline.get('cpu_count', '?')} cores "
            f"({pipeline.get('clip_views_per_cpu_s', float('nan')):.1f} per CPU-second) "
            f"{pipeline.get('skipped', pipeline.get('error', ''))}",
            flush=True,
        )

    machine = next((r["machine"] for r in rows if "machine" in r), {})
    for r in rows:
        r.pop("machine", None)
    kind = machine.get("device_kind", "unknown")
    peak = peak_tflops(kind, FLAGS.dtype)
    target = next((r for r in rows if r["case"] == "byol:2" and "clip_views_per_s" in r), None)
    if pipeline and target and pipeline.get("clip_views_per_cpu_s"):
        pipeline["host_cores_per_device_for_byol2"] = target["clip_views_per_s"] / pipeline["clip_views_per_cpu_s"]
    result = {
        "benchmark": "accelerator",
        "smoke": FLAGS.smoke,
        "command": " ".join(
            [os.path.relpath(sys.argv[0]) if os.path.exists(sys.argv[0]) else sys.argv[0], *sys.argv[1:]]
        ),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": {
            "kind": kind,
            "platform": machine.get("backend"),
            "count": machine.get("num_devices"),
            "peak_table_entry": peak[0] if peak else None,
            "peak_tflops": peak[1] if peak else None,
            "dtype": FLAGS.dtype,
        },
        "software": {
            k: machine.get(k) for k in ("python", "jax", "jaxlib", "flax", "optax", "numpy", "platform_version")
        },
        "machine": machine,
        "host_python": platform.python_version(),
        "budget_s": budget,
        "wall_s": time.perf_counter() - t_start,
        "cases": rows,
        "batch_search": search,
        "input_pipeline": pipeline,
    }
    name = "accelerator-smoke.json" if FLAGS.smoke else f"accelerator-{device_slug(kind)}.json"
    path = os.path.join(FLAGS.out_dir, name)
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1, default=float)
        f.write("\n")
    print()
    print(_HEADER)
    print("-" * len(_HEADER))
    for r in rows:
        print(_format(r))
    print(f"device {kind}, peak {peak[1] if peak else '?'} TFLOP/s ({FLAGS.dtype}); wall {result['wall_s']:.0f} s")
    print(f"wrote {path}")


_HEADER = (
    f"{'case':13s} {'batch':>16s} {'compile s':>9s} {'step s':>8s} {'clip-v/s':>9s} {'GFLOP/cv':>9s} "
    f"{'TFLOP/s':>8s} {'MFU':>6s} {'peak GiB':>8s} {'donated':>7s}"
)


def _format(r: dict) -> str:
    if "step_s" not in r:
        return f"{r['case']:13s} {r.get('skipped') or r.get('error', '')[:200]}"
    batch = f"{r['videos']}×{r['views']}×{r['frames']}×{r['crop']}²"
    mfu = f"{100 * r['mfu']:5.1f}%" if r.get("mfu") is not None else f"{'-':>6s}"
    mem = r["device_memory"].get("peak_bytes_in_use") or r["memory_analysis"].get("predicted_peak", 0)
    don = f"{r['donated_fraction']:.2f}" if r.get("donated_fraction") is not None else "-"
    return (
        f"{r['case']:13s} {batch:>16s} {r['compile_s']:9.1f} {r['step_s']:8.4f} {r['clip_views_per_s']:9.1f} "
        f"{r['flops_per_clip_view'] / 1e9:9.2f} {r['achieved_tflops']:8.3f} {mfu} {mem / 2**30:8.2f} {don:>7s}"
    )


if __name__ == "__main__":
    app.run(main)
