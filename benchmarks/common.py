"""What every rhovid benchmark shares: the machine it ran on, a train step built by hand, timing, JSON.

Benchmarks on a shared machine are only comparable side by side, so each script measures the
things it compares alternately in one run and records the machine's load (`uptime`) next to its
figures. `machine_info()` is that record; `build_train_step()` builds the same jitted step the
trainer runs (rhovid.steps.make_train_step) for any config, on any list of devices, with a random
uint8 batch; `cost_flops()` reads XLA's own FLOP count of a compiled program.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np

from rhovid import config as config_lib
from rhovid import optim, presets, sharding
from rhovid.methods import build_objective
from rhovid.models.network import build_network
from rhovid.state import create_train_state
from rhovid.steps import make_train_step

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (what `uptime` prints)."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Where and when a benchmark ran: host, CPU, cores, load, versions, XLA flags, backend."""
    import flax

    devices = jax.devices()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_average(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "num_devices": len(devices),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def announce_machine() -> dict[str, Any]:
    """Cold-compile setup shared by the step benchmarks: disables JAX's persistent compilation
    cache (so compile times are real), prints one line about the machine, returns `machine_info()`."""
    jax.config.update("jax_enable_compilation_cache", False)
    info = machine_info()
    print(
        f"machine: {info['cpu']}, {info['cpu_count']} cores, load {info['load_average_at_start']}, "
        f"backend {info['backend']} ({info['device_kind']})",
        flush=True,
    )
    return info


def write_json(path: str, payload: dict[str, Any]) -> None:
    """Writes `payload` (with the load at the end of the run added) as indented JSON."""
    payload = dict(payload)
    payload.setdefault("machine", {})["load_average_at_end"] = load_average()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=float)
        f.write("\n")


def bench_config(
    method: str,
    *,
    size: str,
    videos: int,
    rho: int = 2,
    frames: int | None = None,
    crop: int | None = None,
) -> ml_collections.ConfigDict:
    """A pretraining config for benchmarking.

    Args:
      method: simclr, moco, byol or swav.
      size: "tiny" (the tests' preset: depth 14, width 8, 4×32²) or "r50" (the paper's Slow R-50
        8×8 with its heads; `crop` defaults to 224).
      videos: global batch in videos (each gives `rho` clips, or 2 views when rho = 1).
      frames, crop: override T and the crop side.
    """
    c = config_lib.base_config(method)
    if size == "tiny":
        c = presets.apply(c, "tiny")
    elif size == "r50":
        c = presets.apply(c, "")
        with c.unlocked():
            c.data.name = "synthetic"
    else:
        raise ValueError(f"size={size!r}; use 'tiny' or 'r50'.")
    with c.unlocked():
        c.data.rho = rho
        c.batch_size = videos
        if frames:
            c.data.num_frames = frames
        if crop:
            c.data.crop_size = crop
        c.data.color_on_device = False
    return c


@dataclasses.dataclass
class BuiltStep:
    """A jitted train step with a state and a batch it can be called on."""

    step: Callable  # jitted (state, batch) -> (state, metrics), state donated
    state: Any
    batch: dict
    mesh: Any
    host_batch: dict  # the same batch as host numpy arrays (this process's part)


def build_train_step(
    config: ml_collections.ConfigDict,
    devices: Sequence[Any] | None = None,
    *,
    bn_group_size: int | None = None,
    seed: int = 0,
    backbone_overrides: dict[str, Any] | None = None,
    abstract: bool = False,
) -> BuiltStep:
    """The trainer's step for `config` on a 1-D mesh of `devices`, with a random uint8 batch.

    Args:
      config: a pretraining config (see `bench_config`).
      devices: mesh devices (default: all).
      bn_group_size: BN group in clips; None = the config's (with -1 meaning per device).
      seed: for the parameters and the random clips.
      backbone_overrides: ResNet3D attributes to change (e.g. a convolution formulation).
      abstract: give the state and batch as shapes only (`jax.ShapeDtypeStruct`), allocating
        nothing: enough to lower and compile the step and read its memory analysis.
    """
    mesh = sharding.make_mesh(devices)
    c = config
    v = max(c.data.rho, 2)
    if bn_group_size is None:
        bn_group_size = c.model.bn_group_size
        if bn_group_size == -1:
            bn_group_size = c.batch_size * v // mesh.devices.size
    net = build_network(c, bn_group_size)
    if backbone_overrides:
        net = net.clone(backbone=net.backbone.clone(**backbone_overrides))
    objective = build_objective(c)
    total = 1000
    lr = optim.make_lr_schedule(optim.peak_learning_rate(c.optim, c.batch_size), total, 10)
    tx = optim.make_optimizer(c.optim, lr)
    clip_shape = (c.data.num_frames, c.data.crop_size, c.data.crop_size, 3)

    def make_state():
        return create_train_state(
            net=net,
            objective=objective,
            tx=tx,
            clip_shape=clip_shape,
            num_views=v,
            global_batch_size=c.batch_size,
            embed_dim=c.model.embed_dim,
            seed=seed,
            mesh=mesh,
        )

    state = jax.eval_shape(make_state) if abstract else make_state()
    step = make_train_step(
        c,
        net,
        objective,
        tx,
        lr_schedule=lr,
        momentum_schedule=optim.make_momentum_schedule(c.objective.momentum_base or 0.99, total),
        steps_per_epoch=100,
        mesh=mesh,
    )
    local = c.batch_size // jax.process_count()
    if abstract:
        shape = (c.batch_size, v) + clip_shape
        batch = {"clips": jax.ShapeDtypeStruct(shape, np.uint8, sharding=sharding.batch_sharding(mesh))}
        empty = {"clips": np.empty((0, v) + clip_shape, np.uint8)}  # nothing allocated
        return BuiltStep(step=step, state=state, batch=batch, mesh=mesh, host_batch=empty)
    rng = np.random.default_rng(seed + jax.process_index())
    host = {"clips": rng.integers(0, 256, (local, v) + clip_shape, dtype=np.uint8)}
    batch = sharding.to_global(host, mesh)
    return BuiltStep(step=step, state=state, batch=batch, mesh=mesh, host_batch=host)


def cost_flops(compiled: Any) -> float:
    """FLOPs of one call of a compiled program, from XLA's cost analysis (0 if unavailable)."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # backends without cost analysis
        return 0.0
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of `fn` takes, waiting for its (JAX) result."""
    t = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t


def summarize(seconds: Sequence[float]) -> dict[str, float]:
    """Median, min and count of a list of timings."""
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "n": len(seconds)}
