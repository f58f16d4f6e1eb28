"""The recipe a workdir was trained with: recorded once, compared on every resume, changes logged.

A workdir holds
    config.json              the resolved config the run started with (written once, by process 0)
    config_history.jsonl     one line per resume that changed the config: the step, what changed

`check_compatible` compares a config with the recorded one before anything is resumed: a
difference outside `RESUMABLE_FIELDS` (step counts, cadences, evaluation settings, data location)
is refused naming every changed field, unless the user allows it explicitly
(`--config.allow_config_change=True`); `save_config` then appends the change to the history, and
`load_config` replays the history over config.json.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
from typing import Any

import jax
import ml_collections
from absl import logging

from rhovid.errors import UserError

CONFIG_FILE = "config.json"
CONFIG_HISTORY_FILE = "config_history.jsonl"

# The config fields a resumed run may change (fnmatch patterns): how long to train, how often to log,
# checkpoint and evaluate, where the data lives, and settings that change speed or memory but not
# the numbers computed. Any other difference from the recorded recipe is refused on resume unless
# the user allows it explicitly (`check_compatible(..., allow_changes=True)`), and then recorded.
RESUMABLE_FIELDS = (
    "num_steps",
    "num_epochs",
    "allow_config_change",
    "log_every_steps",
    "checkpoint_every_steps",
    "keep_checkpoints",
    "knn.*",
    "eval.*",
    "pretrained",
    "data.data_dir",
    "data.num_parallel_calls",
    "data.eval_split",
    "data.eval_short_side",
    "data.eval_crop_size",
    "data.num_test_clips",
    "data.num_test_crops",
    "model.remat",
    "model.matmul_forms",
    "model.fold_temporal",
)


def _as_json(config: ml_collections.ConfigDict | dict) -> dict:
    """`config` as plain JSON values (lists, not tuples), the form config.json stores."""
    if isinstance(config, ml_collections.ConfigDict):
        return json.loads(config.to_json_best_effort(sort_keys=True))
    return json.loads(json.dumps(config, sort_keys=True, default=str))


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"optim": {"base_lr": 1}} -> {"optim.base_lr": 1}; an empty dict stays a leaf."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _set(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        if not isinstance(tree.get(part), dict):
            tree[part] = {}
        tree = tree[part]
    tree[leaf] = value


def _write_json(path: str, payload: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def save_config(config: ml_collections.ConfigDict, workdir: str, *, step: int | None = None) -> None:
    """Records the config of a run that starts or resumes in `workdir` (process 0 only).

    The first run writes config.json; it is never overwritten. A resume whose config differs from
    the recorded one (fields of `RESUMABLE_FIELDS`, or any field after `allow_changes=True`)
    appends one line to config_history.jsonl: the time, the step it resumed at and every change as
    `field: [old, new]`. `load_config` replays the history over config.json.
    """
    if jax.process_index() != 0:
        return
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        _write_json(path, _as_json(config))
        return
    changes, _ = config_changes(load_config(workdir), config)
    if not changes:
        return
    record = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "step": step,
        "changes": {f: [old, new] for f, (old, new) in changes.items()},
    }
    with open(os.path.join(workdir, CONFIG_HISTORY_FILE), "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def replace_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes config.json anew and drops the history (process 0 only): a re-imported checkpoint."""
    if jax.process_index() != 0:
        return
    os.makedirs(workdir, exist_ok=True)
    _write_json(os.path.join(workdir, CONFIG_FILE), _as_json(config))
    if os.path.exists(os.path.join(workdir, CONFIG_HISTORY_FILE)):
        os.remove(os.path.join(workdir, CONFIG_HISTORY_FILE))


def load_config(workdir: str, *, original: bool = False) -> ml_collections.ConfigDict:
    """The config a run saved in its workdir: config.json with config_history.jsonl replayed over it.

    Args:
      workdir: the run's directory.
      original: the config the run started with, ignoring later recorded changes.
    """
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No {CONFIG_FILE} in {workdir!r}: is it a rhovid workdir?")
    with open(path) as f:
        tree = json.load(f)
    history = os.path.join(workdir, CONFIG_HISTORY_FILE)
    if not original and os.path.exists(history):
        with open(history) as f:
            for line in f:
                if line.strip():
                    for field, (_, new) in json.loads(line)["changes"].items():
                        _set(tree, field, new)
    return ml_collections.ConfigDict(tree)


def config_changes(
    saved: ml_collections.ConfigDict | dict, config: ml_collections.ConfigDict | dict
) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
    """Every field whose value differs: ({field: (saved, new)}, fields only one side has).

    Fields only one side has come from a different rhovid version (a field added or removed), not
    from the user: they are returned apart and never refused.
    """
    a, b = _flatten(_as_json(saved)), _flatten(_as_json(config))
    changes = {f: (a[f], b[f]) for f in sorted(a.keys() & b.keys()) if a[f] != b[f]}
    return changes, sorted(a.keys() ^ b.keys())


def may_change_on_resume(field: str) -> bool:
    """Whether `field` is in `RESUMABLE_FIELDS` (bookkeeping a resumed run may change)."""
    return any(fnmatch.fnmatchcase(field, pattern) for pattern in RESUMABLE_FIELDS)


def check_compatible(
    config: ml_collections.ConfigDict, workdir: str, *, allow_changes: bool = False
) -> dict[str, tuple[Any, Any]]:
    """Compares `config` with the recipe recorded in `workdir`; returns every changed field.

    A change outside `RESUMABLE_FIELDS` raises `UserError` naming every such field with both
    values, unless `allow_changes` (the user's explicit `--config.allow_config_change=True`); the caller then
    records the changes with `save_config(config, workdir, step=...)`. Nothing to compare (a new
    workdir) returns {}.
    """
    if not os.path.exists(os.path.join(workdir, CONFIG_FILE)):
        return {}
    changes, unmatched = config_changes(load_config(workdir), config)
    if unmatched:
        logging.warning(
            "Fields recorded on one side only (another rhovid version), not compared: %s.", ", ".join(unmatched)
        )
    refused = {f: v for f, v in changes.items() if not may_change_on_resume(f)}
    if refused and not allow_changes:
        listed = "; ".join(f"{f}: checkpoint has {a!r}, config has {b!r}" for f, (a, b) in refused.items())
        raise UserError(
            f"The workdir {workdir!r} holds a run with a different config ({listed}). Use a new "
            "--workdir, the same config to resume, or --config.allow_config_change=True to continue with the "
            f"change (recorded in {CONFIG_HISTORY_FILE})."
        )
    if refused:
        logging.warning(
            "Resuming %s with a changed recipe (allow_config_change): %s.",
            workdir,
            "; ".join(f"{f}: {a!r} -> {b!r}" for f, (a, b) in refused.items()),
        )
    return changes
