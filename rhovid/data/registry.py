"""Which kind of dataset a `data.name` names, and what the rest of rhovid reads from its info.

    kind(data_cfg)            "synthetic" | "demo" | "prepared"
    ensure_built(data_cfg)    builds the embedded demo on first use (process 0); no-op otherwise
    open_dataset(data_cfg)    the TFDS builder of a prepared dataset in `data.data_dir`
    num_examples(data_cfg, split), num_classes(data_cfg), class_names(data_cfg)

Three kinds of dataset reach the readers:
  - "synthetic": random smooth videos generated from the seed (`rhovid.data.reading.synthetic`), for tests
    and benchmarks; `data.num_train_videos` is its epoch length and video i has label i % 10;
  - "demo": the embedded moving-digits dataset (`rhovid.data.preparation.builders.demo`), built into
    `data.data_dir` the first time it is asked for, then read like any prepared dataset;
  - "prepared": a TFDS dataset of JPEG frames written by `python -m rhovid.data.prepare`.
Code that must treat them differently asks `kind()`, never compares names itself.
"""

from __future__ import annotations

import os
import re
from typing import Any

import ml_collections

from rhovid.errors import UserError

SYNTHETIC = "synthetic"
DEMO = "rhovid_demo"  # data.name "rhovid_demo/<size config>"
SYNTHETIC_NUM_CLASSES = 10  # the synthetic reader labels video i with i % 10


def kind(data_cfg: ml_collections.ConfigDict) -> str:
    """ "synthetic", "demo" or "prepared"."""
    if data_cfg.name == SYNTHETIC:
        return "synthetic"
    if data_cfg.name.split("/")[0] == DEMO:
        return "demo"
    return "prepared"


def ensure_built(data_cfg: ml_collections.ConfigDict) -> None:
    """Builds the default-size demo dataset into `data.data_dir` if it is not there yet.

    Other demo sizes are built explicitly with `rhovid.data.preparation.builders.demo.ensure_demo_dataset`.
    Only process 0 builds; the others find it on the shared `data_dir` when they open it.
    """
    if kind(data_cfg) != "demo":
        return
    import jax  # the registry itself stays light: configs import it

    from rhovid.data.preparation.builders import demo  # TensorFlow, only for the demo

    if data_cfg.name == demo.dataset_name() and jax.process_index() == 0:
        demo.ensure_demo_dataset(data_cfg.data_dir)


def _info(data_cfg: ml_collections.ConfigDict):
    ensure_built(data_cfg)
    return open_dataset(data_cfg).info


def open_dataset(data_cfg: Any):
    """The prepared TFDS dataset `data_cfg.data_dir/data_cfg.name[/config]/<version>`.

    A directory holding `dataset_info.json` is used as is; otherwise the newest version directory
    below it (or below its single config directory) is.

    Raises:
      FileNotFoundError: nothing prepared there (the message gives the prepare command).

    Returns:
      the `tfds.core.DatasetBuilder` of the prepared directory.
      ValueError: several configs, or a dataset that is not in rhovid's records format.
    """
    import tensorflow_datasets as tfds  # only when a prepared dataset is opened

    from rhovid.data import records

    root = os.path.expanduser(data_cfg.data_dir or "~/tensorflow_datasets")
    path = os.path.join(root, data_cfg.name)
    found = _find_prepared(path)
    if not found:
        raise FileNotFoundError(
            f"No prepared dataset at {path} (config.data.name={data_cfg.name!r}, "
            f"config.data.data_dir={data_cfg.data_dir!r}). Prepare it first, e.g.\n"
            f"  python -m rhovid.data.prepare --dataset={data_cfg.name.split('/')[0]} "
            f"--source=/path/to/videos --out={root}"
        )
    if len(found) > 1:
        names = sorted(os.path.relpath(os.path.dirname(f), root) for f in found)
        raise ValueError(f"{path} holds several datasets {names}; set config.data.name to one of them.")
    builder = tfds.builder_from_directory(found[0])
    keys = set(builder.info.features.keys())
    missing = {records.VIDEO, records.NUM_FRAMES, records.FPS} - keys
    if missing or builder.info.file_format != tfds.core.FileFormat.TFRECORD:
        raise ValueError(
            f"{found[0]} is not a rhovid records dataset (missing features {sorted(missing)}, "
            f"file format {builder.info.file_format}); prepare it with `python -m rhovid.data.prepare`."
        )
    stored = (builder.info.metadata or {}).get("decode_options", {}).get("short_side") or 0  # 0: source size
    if 0 < stored < data_cfg.crop_size:
        raise UserError(
            f"data.crop_size={data_cfg.crop_size} is larger than the stored frames of {found[0]} (short side "
            f"{stored}), so every crop would be upscaled; use --config.data.crop_size<={stored}, or prepare "
            f"again with --short_side>={data_cfg.crop_size}."
        )
    return builder


def _find_prepared(path: str) -> list[str]:
    """Directories at `path`, `path/<version>` or `path/<config>/<version>` with dataset_info.json."""
    import tensorflow as tf

    if tf.io.gfile.exists(os.path.join(path, "dataset_info.json")):
        return [path]
    if not tf.io.gfile.isdir(path):
        return []
    newest = _newest_version(path)
    if newest:
        return [newest]
    subdirs = [os.path.join(path, d.rstrip("/")) for d in tf.io.gfile.listdir(path)]
    return [v for v in map(_newest_version, filter(tf.io.gfile.isdir, subdirs)) if v]


def _newest_version(path: str) -> str | None:
    import tensorflow as tf

    versions = [
        d.rstrip("/")
        for d in tf.io.gfile.listdir(path)
        if re.fullmatch(r"\d+\.\d+\.\d+/?", d)
        and tf.io.gfile.exists(os.path.join(path, d.rstrip("/"), "dataset_info.json"))
    ]
    if not versions:
        return None
    return os.path.join(path, max(versions, key=lambda v: tuple(map(int, v.split(".")))))


def num_examples(data_cfg: ml_collections.ConfigDict, split: str) -> int:
    """Videos in `split` (all processes together), from the dataset's info."""
    if kind(data_cfg) == "synthetic":
        return int(data_cfg.num_train_videos)
    splits = _info(data_cfg).splits
    if split not in splits:
        raise UserError(
            f"Dataset {data_cfg.name!r} has no split {split!r}; it has {sorted(splits.keys())}: "
            "set --config.data.train_split / --config.data.eval_split."
        )
    return int(splits[split].num_examples)


def _label_feature(data_cfg: ml_collections.ConfigDict) -> Any | None:
    """The dataset's label feature (a TFDS ClassLabel), or None for synthetic data."""
    if kind(data_cfg) == "synthetic":
        return None
    features = _info(data_cfg).features
    if data_cfg.label_key not in features:
        raise UserError(
            f"Dataset {data_cfg.name!r} has no label {data_cfg.label_key!r}; it has "
            f"{sorted(features.keys())}. Set --config.data.label_key."
        )
    return features[data_cfg.label_key]


def num_classes(data_cfg: ml_collections.ConfigDict) -> int:
    """Classes of `data.label_key`."""
    feature = _label_feature(data_cfg)
    return SYNTHETIC_NUM_CLASSES if feature is None else int(feature.num_classes)


def class_names(data_cfg: ml_collections.ConfigDict) -> list[str] | None:
    """Class names of `data.label_key`, or None for synthetic data."""
    feature = _label_feature(data_cfg)
    return None if feature is None else list(feature.names)
