"""Command line entry point: `python -m rhovid.main --config=configs/mocov.py[:arg] --workdir=DIR`.

Parses flags, starts JAX's multi-process runtime when launched as one of several processes, and
dispatches on `config.task` through the task registry (`rhovid.tasks`).
"""

from __future__ import annotations

import os

from absl import app, flags, logging
from ml_collections import config_flags

from rhovid import cli, tasks
from rhovid.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/byol.py:tiny.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
_MULTIPROCESS = flags.DEFINE_bool(
    "multiprocess",
    None,
    "Call jax.distributed.initialize() (default: auto-detect from the "
    "environment: TPU pods, SLURM, or JAX_COORDINATOR_ADDRESS).",
)
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address",
    None,
    "host:port of process 0 for a manual multi-process launch "
    "(with --num_processes and --process_id); TPU pods and SLURM need none of the three.",
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes of a manual launch.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in a manual launch.")
_PRINT_CONFIG = flags.DEFINE_bool(
    "print_config",
    False,
    "Print the resolved config (presets, overrides and, for evaluations, what "
    "it takes from the pretrained run) and exit; --workdir is then not needed.",
)
flags.mark_flags_as_required(["config"])


def _should_initialize_distributed() -> bool:
    if _MULTIPROCESS.value is not None:
        return _MULTIPROCESS.value
    env = os.environ
    return (
        _COORDINATOR.value is not None
        or "JAX_COORDINATOR_ADDRESS" in env
        or int(env.get("SLURM_NTASKS", "1")) > 1
        or "TPU_WORKER_HOSTNAMES" in env
        and "," in env["TPU_WORKER_HOSTNAMES"]
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config, workdir = _CONFIG.value, _WORKDIR.value
    if config.task not in tasks.TASKS:
        raise UserError(f"config.task={config.task!r}; use one of {', '.join(tasks.TASKS)}.")
    if config.task in ("linear", "finetune", "knn"):
        from rhovid.eval import inherit

        inherit.inherit_from_pretrained(config, explicit_keys(config))
    if _PRINT_CONFIG.value:
        print(config)
        return
    _check_workdir(workdir)
    with cli.quiet_native_startup():
        import jax  # after absl has parsed XLA-related flags
        import tensorflow  # noqa: F401 (its start-up lines filtered here, once)

    from rhovid.writers import quiet_libraries

    quiet_libraries()

    if _should_initialize_distributed():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts; no-op elsewhere
        jax.distributed.initialize(
            coordinator_address=_COORDINATOR.value, num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value
        )
    logging.info(
        "JAX process %d/%d, %d local / %d global devices (%s).",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
        jax.devices()[0].platform,
    )
    from rhovid import loop

    if config.task in ("pretrain", "demo"):
        from rhovid import config as config_lib

        config_lib.validate(config, jax.device_count())  # before anything compiles
    try:
        tasks.get(config.task)(config, workdir)
    except loop.Preempted as stopped:  # SIGTERM: checkpoint saved, exit 0 (not a failure)
        logging.warning("%s", stopped)


def explicit_keys(config) -> set[str]:
    """The config keys the user set: `--config.*` overrides and what the `:presets` changed."""
    from rhovid.eval import inherit

    flag = flags.FLAGS["config"]
    explicit = set(flag.override_values)
    path, _, arg = flag.config_filename.partition(":")
    if arg:
        defaults = config_flags.config_flags.ConfigFileFlagParser(name="config").parse(path)
        explicit |= inherit.changed_keys(config, defaults)
    return explicit


def _check_workdir(workdir: str | None) -> None:
    """--workdir must be given and be a directory (or not exist yet)."""
    if not workdir:
        raise UserError("--workdir is required: the directory for checkpoints, logs and results.")
    path = os.path.expanduser(workdir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"--workdir={workdir} is a file, not a directory; pass a new or existing directory.")


if __name__ == "__main__":
    cli.run(main)
