"""An evaluation follows its pretrained run: clip settings and dataset come from the run's config.

The eval configs describe the paper's protocols on Kinetics-400 (8 frames × 8, 224² crops). A run
pretrained with other clips (the demo's 4 × 2 frames at 32², a `:tiny` run, 16 × 4 frames) must be
evaluated with its own clips, and a linear probe or kNN on the run's own dataset. So, before the
evaluation starts, every key in `config.eval.inherit` that the user did not set (no `--config.*`
override, no preset changed it) is copied from the pretrained workdir's `config.json`, and one log
line lists what was taken. Fine-tuning inherits the clip settings and `data_dir`, not the dataset
(it transfers to UCF101 / HMDB51).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import ml_collections
from absl import logging

CONFIG_FILE = "config.json"  # what every rhovid workdir holds (rhovid.run_config.CONFIG_FILE)

# The clips a backbone was trained on: the evaluation must cut the same ones.
CLIP_KEYS = ("data.num_frames", "data.frame_stride", "data.target_fps", "data.crop_size",
             "data.eval_short_side", "data.eval_crop_size", "data.mean", "data.std")  # fmt: skip
# The run's dataset: linear probe and kNN evaluate on it (the paper's K400 protocol).
DATASET_KEYS = ("data.name", "data.data_dir", "data.train_split", "data.eval_split")


def get_path(config: Any, dotted: str) -> Any:
    """config['a']['b'] for 'a.b', or KeyError."""
    for part in dotted.split("."):
        if not isinstance(config, dict | ml_collections.ConfigDict) or part not in config:
            raise KeyError(dotted)
        config = config[part]
    return config


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{'data.num_frames': 8, ...}: every leaf of a (nested) config."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict | ml_collections.ConfigDict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed_keys(config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict) -> set[str]:
    """Leaves whose value differs from the config file's defaults (what presets and flags set)."""
    base = flatten(defaults)
    return {k for k, v in flatten(config).items() if k not in base or base[k] != v}


def inherit_from_pretrained(config: ml_collections.ConfigDict, explicit: Iterable[str] = ()) -> dict[str, tuple]:
    """Copies `config.eval.inherit` keys from the pretrained run's config, except `explicit` ones.

    Args:
      config: an evaluation config (changed in place; it is unlocked for the copy).
      explicit: dotted keys the user set (command-line overrides, presets); they win.

    Returns:
      {key: (eval config's value, the run's value)} for every key that changed.
    """
    keys = tuple(config.get("eval", {}).get("inherit", ()))
    path = config.get("pretrained", "")
    if not keys or not path or path == "random":
        return {}
    config_path = os.path.join(os.path.expanduser(path), CONFIG_FILE)
    if not os.path.isfile(config_path):
        return {}  # the loader reports a missing run with its own message
    with open(config_path) as f:
        saved = json.load(f)
    explicit = set(explicit)
    taken = {}
    for key in keys:
        if key in explicit:
            continue
        try:
            value = get_path(saved, key)
        except KeyError:
            continue
        old = get_path(config, key)
        if isinstance(old, tuple) and isinstance(value, list):
            value = tuple(value)
        if value == old:
            continue
        *parents, leaf = key.split(".")
        node = config
        for p in parents:
            node = node[p]
        with config.unlocked():
            node[leaf] = value
        taken[key] = (old, value)
    if taken:
        listed = ", ".join(f"{k.removeprefix('data.')}={v!r}" for k, (_, v) in taken.items())
        logging.info("From the pretrained run %s: %s (set --config.data.* to override).", path, listed)
    return taken
