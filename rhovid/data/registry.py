"""Which kind of dataset a `data.name` names, and what the rest of rhovid reads from its info.

    kind(data_cfg)            "synthetic" | "demo" | "prepared"
    ensure_built(data_cfg)    builds the embedded demo on first use (process 0); no-op otherwise
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

from typing import Any

import jax
import ml_collections

from rhovid.errors import UserError

SYNTHETIC = "synthetic"
DEMO = "rhovid_demo"  # data.name "rhovid_demo/<size config>"
SYNTHETIC_NUM_CLASSES = 10  # the synthetic reader labels video i with i % 10


def kind(data_cfg: ml_collections.ConfigDict) -> str:
    """"synthetic", "demo" or "prepared"."""
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
    from rhovid.data.preparation.builders import demo  # noqa: PLC0415 (TensorFlow, only for the demo)

    if data_cfg.name == demo.dataset_name() and jax.process_index() == 0:
        demo.ensure_demo_dataset(data_cfg.data_dir)


def _info(data_cfg: ml_collections.ConfigDict):
    from rhovid.data.reading import tfrecords  # noqa: PLC0415 (imports TensorFlow)

    ensure_built(data_cfg)
    return tfrecords.open_dataset(data_cfg).info


def num_examples(data_cfg: ml_collections.ConfigDict, split: str) -> int:
    """Videos in `split` (all processes together), from the dataset's info."""
    if kind(data_cfg) == "synthetic":
        return int(data_cfg.num_train_videos)
    splits = _info(data_cfg).splits
    if split not in splits:
        raise UserError(f"Dataset {data_cfg.name!r} has no split {split!r}; it has {sorted(splits.keys())}: "
                        "set --config.data.train_split / --config.data.eval_split.")
    return int(splits[split].num_examples)


def _label_feature(data_cfg: ml_collections.ConfigDict) -> Any | None:
    """The dataset's label feature (a TFDS ClassLabel), or None for synthetic data."""
    if kind(data_cfg) == "synthetic":
        return None
    features = _info(data_cfg).features
    if data_cfg.label_key not in features:
        raise UserError(f"Dataset {data_cfg.name!r} has no label {data_cfg.label_key!r}; it has "
                        f"{sorted(features.keys())}. Set --config.data.label_key.")
    return features[data_cfg.label_key]


def num_classes(data_cfg: ml_collections.ConfigDict) -> int:
    """Classes of `data.label_key`."""
    feature = _label_feature(data_cfg)
    return SYNTHETIC_NUM_CLASSES if feature is None else int(feature.num_classes)


def class_names(data_cfg: ml_collections.ConfigDict) -> list[str] | None:
    """Class names of `data.label_key`, or None for synthetic data."""
    feature = _label_feature(data_cfg)
    return None if feature is None else list(feature.names)
