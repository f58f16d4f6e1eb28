"""Command line entry point: `python -m rhovid.main --config=configs/mocov.py[:arg] --workdir=DIR`.

Parses flags, starts JAX's multi-process runtime when launched as one of several processes, and
dispatches on `config.task` through the task registry (`rhovid.tasks`).
"""

from __future__ import annotations

import os
import signal

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/byol.py:tiny.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
_MULTIPROCESS = flags.DEFINE_bool(
    "multiprocess", None, "Call jax.distributed.initialize() (default: auto-detect from the "
    "environment: TPU pods, SLURM, or JAX_COORDINATOR_ADDRESS).")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0 for a manual multi-process launch "
    "(with --num_processes and --process_id); TPU pods and SLURM need none of the three.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes of a manual launch.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in a manual launch.")
flags.mark_flags_as_required(["config", "workdir"])


def _should_initialize_distributed() -> bool:
    if _MULTIPROCESS.value is not None:
        return _MULTIPROCESS.value
    env = os.environ
    return (_COORDINATOR.value is not None or "JAX_COORDINATOR_ADDRESS" in env or int(env.get("SLURM_NTASKS", "1")) > 1
            or "TPU_WORKER_HOSTNAMES" in env and "," in env["TPU_WORKER_HOSTNAMES"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import jax  # noqa: PLC0415 (after absl has parsed XLA-related flags)

    from rhovid.writers import quiet_libraries  # noqa: PLC0415

    quiet_libraries()

    if _should_initialize_distributed():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts; no-op elsewhere
        jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                                   num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
    logging.info("JAX process %d/%d, %d local / %d global devices (%s).", jax.process_index(),
                 jax.process_count(), jax.local_device_count(), jax.device_count(),
                 jax.devices()[0].platform)
    config, workdir = _CONFIG.value, _WORKDIR.value
    from rhovid import loop, tasks  # noqa: PLC0415

    try:
        tasks.get(config.task)(config, workdir)
    except loop.Preempted as stopped:  # SIGTERM: checkpoint saved, exit 0 (not a failure)
        logging.warning("%s", stopped)


def _exit_before_training(signum, frame):
    """SIGTERM before the training loop has taken over: nothing to save, a clean exit (status 0)."""
    logging.warning("SIGTERM before training started: nothing to save; exiting.")
    raise SystemExit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_before_training)  # the loop installs its own while it runs
    app.run(main)
