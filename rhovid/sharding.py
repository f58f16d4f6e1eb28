"""The device mesh, the two shardings rhovid uses, and host-local -> global arrays.

One mesh axis, `data`, over every device of every process. Batches are sharded on their leading
(video) axis; parameters and optimiser state are replicated. The axis type is `Auto` so that XLA's
sharding propagation handles reshapes that merge the video and view axes ([B, V] -> [B·V]).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices: list | None = None) -> Mesh:
    """A 1-D mesh over `devices` (default: all devices of all processes)."""
    devices = np.asarray(devices if devices is not None else jax.devices())
    return Mesh(devices, (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over `data`, the rest replicated."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def to_global(batch: Any, mesh: Mesh) -> Any:
    """Host-local numpy arrays (this process's slice of the batch) -> global sharded jax.Arrays."""
    sharding = batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def check_divisible(global_batch_size: int, mesh: Mesh) -> None:
    """Fails early, naming the numbers, when the batch cannot be split evenly over the devices."""
    n = mesh.devices.size
    if global_batch_size % n:
        raise ValueError(
            f"batch_size={global_batch_size} is not divisible by the {n} devices; use a multiple "
            f"of {n}, e.g. --config.batch_size={max(n, global_batch_size // n * n)}."
        )
    if global_batch_size % jax.process_count():
        raise ValueError(f"batch_size={global_batch_size} is not divisible by the {jax.process_count()} processes.")
