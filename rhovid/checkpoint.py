"""Checkpoints: a thin wrapper over orbax's CheckpointManager, plus loading pretrained weights.

A workdir holds (besides the run's recorded config, `rhovid.run_config`)
    checkpoints/<step>/      orbax steps, each with two items:
        model                {params, batch_stats, target_params, target_batch_stats}
        train                {step, opt_state, method_state, rng}
Saves are atomic (orbax writes to a temporary directory and renames it), so a process killed at
any moment leaves the last complete step restorable. Evaluation reads only the `model` item;
imported checkpoints (`rhovid.tools.convert`) write the same layout with only `model`. The input
position needs no item: the input pipeline is a deterministic function of (seed, step).
No pickles anywhere.

A step that no longer restores (a truncated data file, garbage in `_METADATA`, a missing
`manifest.ocdbt` or item: a disk or copy went wrong) is reported in one line naming the step folder
and why, moved to `damaged_checkpoints/<step>-<time>/` (outside the orbax directory, so orbax no
longer sees it, but kept for inspection), and the next older step is restored instead; only when
every step is damaged does resuming stop, with an error, rather than silently starting over.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import shutil
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

from rhovid import run_config
from rhovid.errors import UserError
from rhovid.state import TrainState

CHECKPOINT_DIR = "checkpoints"
DAMAGED_DIR = "damaged_checkpoints"  # beside CHECKPOINT_DIR, so orbax never lists what is in it
ITEMS = ("model", "train")


def _model_tree(state: TrainState) -> dict:
    return {
        "params": state.params,
        "batch_stats": state.batch_stats,
        "target_params": state.target_params,
        "target_batch_stats": state.target_batch_stats,
    }


def _train_tree(state: TrainState) -> dict:
    return {"step": state.step, "opt_state": state.opt_state, "method_state": state.method_state, "rng": state.rng}


def _abstract(tree: Any) -> Any:
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


# What a failed write raises through orbax: OSError from Python file I/O, ValueError from
# tensorstore's writers (e.g. "RESOURCE_EXHAUSTED: ... No space left on device").
SAVE_ERRORS = (OSError, ValueError)


class Checkpointer:
    """Saves every `every_steps` steps, keeps the newest `keep`, restores the latest."""

    def __init__(self, workdir: str, *, every_steps: int, keep: int, async_save: bool = True):
        self.directory = os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)
        self.every_steps = max(int(every_steps), 1)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=async_save, cleanup_tmp_directories=True
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=("model", "train"))
        self._pending: tuple[int, int | None] | None = None  # (step, previous step) of a save in flight

    @property
    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def maybe_save(self, step: int, state: TrainState, *, force: bool = False) -> bool:
        """Saves `state` as `step` if due (or `force`); returns whether a save started."""
        if not force and step % self.every_steps:
            return False
        if step in self.manager.all_steps():
            return False
        previous = self.latest_step
        try:
            self.wait()  # an earlier async save must have landed (or failed) before a new one starts
            self.manager.save(
                step,
                args=ocp.args.Composite(
                    model=ocp.args.StandardSave(_model_tree(state)), train=ocp.args.StandardSave(_train_tree(state))
                ),
                force=True,
            )
        except SAVE_ERRORS as e:
            raise self._save_failed(step, previous, e) from e
        self._pending = (step, previous)
        return True

    def restore(self, state: TrainState, step: int | None = None) -> TrainState:
        """Restores `step` (default latest) into the shapes and shardings of `state`."""
        step = self.latest_step if step is None else step
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(
                model=ocp.args.StandardRestore(_abstract(_model_tree(state))),
                train=ocp.args.StandardRestore(_abstract(_train_tree(state))),
            ),
        )
        return dataclasses.replace(state, **restored["model"], **restored["train"])

    def restore_latest(self, state: TrainState) -> tuple[TrainState, int]:
        """Restores the newest step that restores; returns (state, step), or (`state`, 0) if none.

        A newer step that fails to restore because its files are damaged is reported (one warning
        line: which folder, why), moved aside to `damaged_checkpoints/` and skipped. A failure that
        is not damage (the files read, but do not fit `state`: a different model) is raised as is.
        Raises `UserError` when checkpoints exist but every one is damaged: never a silent step 0.
        """
        damaged = []
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                restored = self.restore(state, step)
            except Exception:  # tensorstore raises bare Exception for unreadable data
                reason = diagnose_step(os.path.join(self.directory, str(step)), ITEMS)
                if reason is None:
                    raise  # the files are fine: the state does not fit them
                moved = _move_aside(self.directory, step)
                logging.warning(
                    "Checkpoint %s is damaged (%s); moved it to %s; trying the previous step.",
                    os.path.join(self.directory, str(step)),
                    reason,
                    moved,
                )
                damaged.append(f"{step}: {reason}")
                self.manager.reload()  # forget the moved step (latest_step, all_steps)
                continue
            if damaged:
                logging.warning("Resuming from step %d, the newest intact checkpoint in %s.", step, self.directory)
            return restored, step
        if damaged:
            raise UserError(
                f"Every checkpoint in {self.directory} is damaged ({'; '.join(damaged)}); they were moved "
                f"to {os.path.join(os.path.dirname(self.directory), DAMAGED_DIR)}. Restore the workdir "
                "from a backup, or rerun to start again from step 0."
            )
        return state, 0

    def wait(self) -> None:
        """Blocks until pending async saves are on disk; a failed one raises `_save_failed`'s error."""
        pending, self._pending = self._pending, None
        try:
            self.manager.wait_until_finished()
        except SAVE_ERRORS as e:
            if pending is None:
                raise
            raise self._save_failed(*pending, e) from e

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.manager.close()

    def _save_failed(self, step: int, previous: int | None, error: Exception) -> OSError:
        """The error a failed save raises: what failed, why, and that the previous step is intact.

        Orbax writes a step into a temporary directory and renames it only once complete, so a
        save that fails (a full disk shows up as OSError ENOSPC, or as tensorstore's
        RESOURCE_EXHAUSTED ValueError from the async writer) leaves the previous step untouched.
        """
        text = str(error)
        full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
            m in text for m in ("No space left", "RESOURCE_EXHAUSTED", "ENOSPC", "quota")
        )
        fix = (
            "Free disk space and restart"
            if full
            else "Fix the cause and restart (a file vanishing mid-save means another process used this workdir)"
        )
        return OSError(
            f"Saving checkpoint {step} to {self.directory} failed ({type(error).__name__}: {error}); the "
            f"previous checkpoint ({previous}) is intact. {fix}: the run resumes from it."
        )


# ---------------------------------------------------------------------------------------------
# Damaged steps: why a step folder does not read, and moving it out of orbax's sight.


def _short(error: BaseException, limit: int = 160) -> str:
    text = str(error).split("\n", 1)[0].split(" See full TensorStore details", 1)[0].strip()
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def diagnose_step(step_dir: str, items: tuple[str, ...] = ITEMS) -> str | None:
    """Why the orbax step folder `step_dir` cannot be read, whatever it is restored into; or None.

    Checks, per item: the folder exists, `_METADATA` is JSON, `manifest.ocdbt` exists, and every
    array reads back (a restore without a target, so only the files are judged).
    """
    for item in items:
        item_dir = os.path.join(step_dir, item)
        if not os.path.isdir(item_dir):
            return f"item '{item}' is missing"
        metadata = os.path.join(item_dir, "_METADATA")
        try:
            with open(metadata, encoding="utf-8") as f:
                json.load(f)
        except FileNotFoundError:
            return f"'{item}/_METADATA' is missing"
        except (ValueError, OSError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return f"'{item}/_METADATA' is not valid JSON ({_short(e, 80)})"
        if not os.path.exists(os.path.join(item_dir, "manifest.ocdbt")):
            return f"'{item}/manifest.ocdbt' is missing"
        try:
            with ocp.StandardCheckpointer() as reader:
                reader.restore(item_dir)
        except Exception as e:  # tensorstore raises bare Exception for a truncated data file
            return f"the arrays of '{item}' do not read, a data file is truncated or corrupt ({_short(e)})"
    return None


def _move_aside(directory: str, step: int) -> str:
    """Moves `directory/<step>` to `<workdir>/damaged_checkpoints/<step>-<UTC time>/` (process 0)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = os.path.join(os.path.dirname(directory), DAMAGED_DIR, f"{step}-{stamp}")
    if jax.process_index() == 0:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        suffix = 0
        while os.path.exists(target):
            suffix += 1
            target = os.path.join(os.path.dirname(directory), DAMAGED_DIR, f"{step}-{stamp}-{suffix}")
        shutil.move(os.path.join(directory, str(step)), target)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"rhovid-damaged-{step}")
    return target


# ---------------------------------------------------------------------------------------------
# Pretrained weights for evaluation.


@dataclasses.dataclass
class Pretrained:
    """The backbone of a pretraining run (or an imported checkpoint) at one step."""

    config: ml_collections.ConfigDict
    step: int
    params: dict  # backbone params
    batch_stats: dict  # backbone BN statistics
    heads: dict  # the remaining online params (projector, predictor, prototypes), may be {}


def load_pretrained(path: str, step: int | None = None) -> Pretrained:
    """Loads the online backbone of a rhovid workdir (latest step, or `step`).

    Args:
      path: a pretraining workdir, or a directory written by `rhovid.tools.convert`.
      step: which checkpoint; default the latest.
    """
    config = run_config.load_config(path)
    directory = os.path.join(os.path.abspath(path), CHECKPOINT_DIR)
    manager = ocp.CheckpointManager(
        directory, item_names=("model", "train"), options=ocp.CheckpointManagerOptions(read_only=True)
    )
    steps = manager.all_steps()
    if not steps:
        raise FileNotFoundError(f"No checkpoint under {directory!r}.")
    if step is not None and step not in steps:
        raise FileNotFoundError(f"No checkpoint for step {step} in {directory!r}; have {sorted(steps)}.")
    damaged = []
    for candidate in [step] if step is not None else sorted(steps, reverse=True):
        try:
            model = manager.restore(candidate, args=ocp.args.Composite(model=ocp.args.StandardRestore()))
        except Exception:  # tensorstore raises bare Exception for unreadable data
            reason = diagnose_step(os.path.join(directory, str(candidate)), ("model",))
            if reason is None:
                raise
            # Read-only here: report and use the previous step; training moves it aside.
            logging.warning(
                "Checkpoint %s is damaged (%s); using the previous step.",
                os.path.join(directory, str(candidate)),
                reason,
            )
            damaged.append(f"{candidate}: {reason}")
            continue
        step, model = candidate, model["model"]
        break
    else:
        manager.close()
        raise UserError(
            f"No checkpoint in {directory} reads ({'; '.join(damaged)}); pick another run "
            "or restore the workdir from a backup."
        )
    manager.close()
    params, stats = model["params"], model.get("batch_stats") or {}
    logging.info("Loaded pretrained backbone from %s at step %d.", path, step)
    return Pretrained(
        config=config,
        step=int(step),
        params=params["backbone"],
        batch_stats=stats.get("backbone", {}),
        heads={k: v for k, v in params.items() if k != "backbone"},
    )


def write_imported(
    workdir: str, config: ml_collections.ConfigDict, params: dict, batch_stats: dict, step: int = 0
) -> None:
    """Writes imported weights in the workdir layout so every evaluation config accepts them."""
    run_config.replace_config(config, workdir)  # a re-import replaces weights and config, history included
    directory = os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)
    manager = ocp.CheckpointManager(directory, item_names=("model", "train"))
    tree = {"params": params, "batch_stats": batch_stats, "target_params": {}, "target_batch_stats": {}}
    manager.save(step, args=ocp.args.Composite(model=ocp.args.StandardSave(tree)), force=True)
    manager.wait_until_finished()
    manager.close()
