"""What every evaluation leaves in its workdir: results.json, results.md and two plots.

`results.json` is the machine-readable record `rhovid.eval.report` gathers into the paper-style
table. It says what was measured (protocol, dataset, split, views), the numbers (top-1, top-5,
mean per-class accuracy, or mAP for multi-label data; 3-split mean and std where several splits
ran) and where the weights came
from (the pretraining run's path, step, method, ρ, epochs and full config), so a number can always
be traced to the run that produced it.

Schema (version 1):
    {"schema": 1, "protocol": "linear" | "linear_fast" | "finetune" | "knn",
     "dataset": str, "split": int | null, "splits": [int] | null, "train_split": str,
     "eval_split": str, "views": {"clips": K, "crops": S},
     "metrics": {"top1", "top5", "mean_class_accuracy", "num_examples"[, "top1_std", "top5_std"]}
                or, multi-label (Charades), {"mAP", "num_examples"},
     "per_split": {"1": metrics, ...} | null, "per_class_accuracy": {class: acc} | null,
     ["per_class_ap": {class: AP | null} (multi-label only)],
     "pretrained": {"path", "step", "method", "rho", "num_epochs", "num_frames", "frame_stride",
                    "depth", "width", "config"},
     "eval": {protocol hyper-parameters, "config": the full eval config},
     "plots": {"confusion": file, "tsne": file}, "created": iso}
"""

from __future__ import annotations

import datetime
import io
import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from rhovid.eval import metrics as metrics_lib
from rhovid.eval import plots

SCHEMA_VERSION = 1
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
CONFUSION_PNG = "confusion.png"
TSNE_PNG = "tsne.png"
SCORES_NPZ = "test_scores.npz"  # multi-label runs: per-video scores and targets, to recompute mAP
_SUMMARY_METRICS = ("top1", "top5", "mean_class_accuracy", "mAP")


def _config_dict(config: Any) -> dict | None:
    if config is None:
        return None
    if isinstance(config, ml_collections.ConfigDict):
        return config.to_dict()
    return dict(config)


def provenance(pretrained: Any | None, path: str) -> dict:
    """Where the evaluated weights came from: path, step and the pretraining run's key settings.

    Args:
      pretrained: a `rhovid.checkpoint.Pretrained` (fields `config`, `step`), or None for a
        random-init baseline.
      path: the `config.pretrained` string the user gave.

    Returns:
      a JSON-serialisable dict.
    """
    if pretrained is None:
        return {"path": path, "step": 0, "method": "random init", "rho": None, "num_epochs": 0, "config": None}
    cfg = _config_dict(pretrained.config) or {}
    data, model = cfg.get("data", {}), cfg.get("model", {})
    return {
        "path": path,
        "step": None if pretrained.step is None else int(pretrained.step),
        "method": cfg.get("method"),
        "rho": data.get("rho"),
        "num_epochs": cfg.get("num_epochs"),
        "num_steps": cfg.get("num_steps"),
        "batch_size": cfg.get("batch_size"),
        "dataset": data.get("name"),
        "num_frames": data.get("num_frames"),
        "frame_stride": data.get("frame_stride"),
        "depth": model.get("depth"),
        "width": model.get("width"),
        "config": cfg,
    }


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _write(path: str, data: bytes | str) -> None:
    mode = "wb" if isinstance(data, bytes) else "w"
    with tf.io.gfile.GFile(path, mode) as f:
        f.write(data)


def summary_metrics(metrics: dict) -> dict:
    """The scalar metrics of a `metrics.classification_metrics` dict."""
    return {k: metrics[k] for k in _SUMMARY_METRICS + ("num_examples",) if k in metrics}


def make_record(
    config: ml_collections.ConfigDict,
    pretrained: Any | None,
    *,
    protocol: str,
    metrics: dict,
    class_names: Sequence[str] | None = None,
    split: int | None = None,
    splits: Sequence[int] | None = None,
    per_split: dict | None = None,
    extra: dict | None = None,
    plot_files: dict | None = None,
) -> dict:
    """The results.json record (see the module docstring for the schema)."""
    per_class = _by_class(metrics.get("per_class_accuracy"), class_names)
    per_class_ap = _by_class(metrics.get("per_class_ap"), class_names)
    return {
        "schema": SCHEMA_VERSION,
        "protocol": protocol,
        "dataset": config.data.name,
        "split": split,
        "splits": list(splits) if splits else None,
        "train_split": config.data.train_split,
        "eval_split": config.data.eval_split,
        "views": {"clips": int(config.data.num_test_clips), "crops": int(config.data.num_test_crops)},
        "metrics": summary_metrics(metrics) | {k: v for k, v in metrics.items() if k.endswith("_std")},
        "per_split": per_split,
        "per_class_accuracy": per_class,
        **({"per_class_ap": per_class_ap} if per_class_ap is not None else {}),
        "pretrained": provenance(pretrained, config.pretrained),
        "eval": (extra or {}) | {"config": _config_dict(config)},
        "plots": plot_files or {},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _by_class(values: Sequence | None, class_names: Sequence[str] | None) -> dict | None:
    """[C] per-class values -> {class name: value} (names "0", "1", ... without class names)."""
    if values is None:
        return None
    names = class_names or [str(i) for i in range(len(values))]
    return dict(zip(names, values))


def headline(metrics: dict) -> tuple[str, float]:
    """The record's main number: ("mAP", value) for multi-label results, else ("top-1", value)."""
    return ("mAP", metrics["mAP"]) if "mAP" in metrics else ("top-1", metrics["top1"])


def render_markdown(record: dict) -> str:
    """A human-readable results.md for one record."""
    p = record["pretrained"]
    m = record["metrics"]
    split = (
        record["split"]
        if record.get("split") is not None
        else ("mean of " + ", ".join(map(str, record["splits"])) if record.get("splits") else "-")
    )
    length = f"{p['num_steps']} steps" if p.get("num_steps") else f"{p.get('num_epochs')} epochs"
    averaged = "features averaged" if record["protocol"] in ("knn", "linear_fast") else "softmax averaged"
    if "mAP" in m:
        averaged = f"sigmoid, {record['eval'].get('view_pooling', 'max')} over views"
    lines = [
        f"# {record['protocol']} on {record['dataset']}",
        "",
        f"- pretrained: `{p['path']}` (step {p.get('step')}, method {p.get('method')}, "
        f"ρ={p.get('rho')}, {length}, T×τ={p.get('num_frames')}×{p.get('frame_stride')}, "
        f"depth {p.get('depth')}, width {p.get('width')})",
        f"- dataset split: {split}; trained on `{record['train_split']}`, tested on "
        f"`{record['eval_split']}` with {record['views']['clips']} clips × "
        f"{record['views']['crops']} crops ({averaged})",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in _SUMMARY_METRICS:
        if key in m:
            std = m.get(f"{key}_std")
            value = f"{100 * m[key]:.2f} %" + (f" ± {100 * std:.2f}" if std is not None else "")
            lines.append(f"| {key} | {value} |")
    lines.append(f"| test videos | {m.get('num_examples')} |")
    if record.get("per_split"):
        top5 = all("top5" in sm for sm in record["per_split"].values())
        name = headline(next(iter(record["per_split"].values())))[0]
        lines += ["", f"| split | {name} |" + (" top-5 |" if top5 else ""), "|---|---|" + ("---|" if top5 else "")]
        for s, sm in record["per_split"].items():
            lines.append(f"| {s} | {100 * headline(sm)[1]:.2f} |" + (f" {100 * sm['top5']:.2f} |" if top5 else ""))
    per_class = record.get("per_class_accuracy") or record.get("per_class_ap") or {}
    present = sorted(((a, n) for n, a in per_class.items() if a is not None))
    if len(present) >= 2:
        worst = ", ".join(f"{n} {100 * a:.0f}%" for a, n in present[:5])
        best = ", ".join(f"{n} {100 * a:.0f}%" for a, n in present[::-1][:5])
        lines += ["", f"- best classes: {best}", f"- worst classes: {worst}"]
    for name, file in (record.get("plots") or {}).items():
        lines += ["", f"![{name}]({file})"]
    return "\n".join(lines) + "\n"


def write_record(workdir: str, record: dict) -> None:
    """Writes results.json and results.md into `workdir` (process 0 only)."""
    if jax.process_index() != 0:
        return
    tf.io.gfile.makedirs(workdir)
    _write(os.path.join(workdir, RESULTS_JSON), json.dumps(record, indent=2, default=_json_default) + "\n")
    _write(os.path.join(workdir, RESULTS_MD), render_markdown(record))
    m = record["metrics"]
    top5 = f", top-5 {100 * m['top5']:.2f} %" if "top5" in m else ""
    name, value = headline(m)
    logging.info(
        "Wrote %s (%s on %s): %s %.2f %%%s.",
        os.path.join(workdir, RESULTS_JSON),
        record["protocol"],
        record["dataset"],
        name,
        100 * value,
        top5,
    )
    write_tensorboard(workdir, record)


def write_tensorboard(workdir: str, record: dict) -> None:
    """The record's scalars as TensorBoard summaries in `workdir` (`eval/<protocol>/top1`, ...).

    The step is the pretrained checkpoint's, so evaluations of several checkpoints of one run line
    up on one curve.
    """
    step = int((record.get("pretrained") or {}).get("step") or 0)
    writer = tf.summary.create_file_writer(workdir)
    with writer.as_default():
        for key, value in record["metrics"].items():
            if isinstance(value, int | float) and key != "num_examples":
                tf.summary.scalar(f"eval/{record['protocol']}/{key}", float(value), step=step)
    writer.close()


def read_record(workdir: str) -> dict:
    """Reads `workdir`/results.json."""
    with tf.io.gfile.GFile(os.path.join(workdir, RESULTS_JSON), "r") as f:
        return json.load(f)


def finish_evaluation(
    workdir: str,
    config: ml_collections.ConfigDict,
    pretrained: Any | None,
    *,
    protocol: str,
    scores: np.ndarray,
    labels: np.ndarray,
    test_features: np.ndarray | None,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    split: int | None = None,
    extra: dict | None = None,
) -> dict:
    """Metrics, plots, results.json and results.md of one evaluation; returns the record.

    Args:
      workdir: output directory.
      config: the eval config.
      pretrained: the loaded pretrained checkpoint (provenance), or None.
      protocol: "linear", "linear_fast", "finetune" or "knn".
      scores: [N, C] view-pooled class scores.
      labels: [N] true labels, or multi-hot [N, C] targets of multi-label data (then the record
        holds mAP instead of top-1, and the scores and targets are saved in test_scores.npz).
      test_features: [N, D] view-averaged backbone features for the t-SNE plot (None: no plot).
      num_classes: C.
      class_names: C names (ticks, legend, per-class table).
      split: the dataset split number (UCF101 / HMDB51), if any.
      extra: protocol hyper-parameters to record.
    """
    if np.ndim(labels) == 2:
        return _finish_multi_label(workdir, config, pretrained, protocol=protocol, scores=scores, labels=labels,
                                   class_names=class_names, split=split, extra=extra)  # fmt: skip
    metrics = metrics_lib.classification_metrics(scores, labels, num_classes)
    title = f"{protocol} on {config.data.name}: top-1 {100 * metrics['top1']:.1f} %"
    plot_files = {}
    if jax.process_index() == 0 and config.eval.get("plots", True):
        tf.io.gfile.makedirs(workdir)
        _write(os.path.join(workdir, CONFUSION_PNG), plots.confusion_png(metrics["confusion"], class_names, title))
        plot_files["confusion"] = CONFUSION_PNG
        if test_features is not None:
            png = plots.tsne_png(
                test_features,
                labels,
                class_names,
                title=f"t-SNE: {title}",
                max_points=config.eval.get("tsne_points", 2000),
                seed=config.seed,
            )
            if png is not None:
                _write(os.path.join(workdir, TSNE_PNG), png)
                plot_files["tsne"] = TSNE_PNG
    record = make_record(
        config,
        pretrained,
        protocol=protocol,
        metrics=metrics,
        class_names=class_names,
        split=split,
        extra=extra,
        plot_files=plot_files,
    )
    write_record(workdir, record)
    return record


def _finish_multi_label(
    workdir: str,
    config: ml_collections.ConfigDict,
    pretrained: Any | None,
    *,
    protocol: str,
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str] | None,
    split: int | None,
    extra: dict | None,
) -> dict:
    """`finish_evaluation` of multi-label data: mAP over the classes, per-class AP, no plots.

    The confusion matrix and the t-SNE colouring need one class per video, so neither is drawn;
    the scores [N, C] and multi-hot targets [N, C] go to test_scores.npz instead.
    """
    metrics = metrics_lib.multilabel_metrics(scores, labels)
    if jax.process_index() == 0:
        tf.io.gfile.makedirs(workdir)
        buffer = io.BytesIO()  # np.savez seeks, which a GFile opened for writing refuses
        np.savez(buffer, scores=np.asarray(scores, np.float32), labels=np.asarray(labels, np.float32))
        _write(os.path.join(workdir, SCORES_NPZ), buffer.getvalue())
    record = make_record(config, pretrained, protocol=protocol, metrics=metrics, class_names=class_names,
                         split=split, extra=extra)  # fmt: skip
    write_record(workdir, record)
    return record


def combine_splits(
    workdir: str,
    config: ml_collections.ConfigDict,
    pretrained: Any | None,
    split_records: dict[int, dict],
    *,
    protocol: str,
    extra: dict | None = None,
) -> dict:
    """The record of a multi-split evaluation: per-split metrics, their mean and std.

    Args:
      workdir: output directory of the combined record.
      config, pretrained: as for `finish_evaluation`.
      split_records: split number -> that split's record (from `finish_evaluation`).
      protocol: the protocol name.
      extra: protocol hyper-parameters to record.

    Returns:
      the combined record (also written to `workdir`).
    """
    splits = sorted(split_records)
    metrics: dict[str, Any] = {}
    for key in _SUMMARY_METRICS:
        if any(key not in split_records[s]["metrics"] for s in splits):
            continue  # top5 of a dataset with 5 classes or fewer
        mean, std = metrics_lib.mean_and_std([split_records[s]["metrics"][key] for s in splits])
        metrics[key], metrics[f"{key}_std"] = mean, std
    metrics["num_examples"] = int(sum(split_records[s]["metrics"]["num_examples"] for s in splits))
    per_split = {str(s): summary_metrics(split_records[s]["metrics"]) for s in splits}
    record = make_record(
        config,
        pretrained,
        protocol=protocol,
        metrics=metrics,
        split=splits[0] if len(splits) == 1 else None,
        splits=splits,
        per_split=per_split,
        extra=extra,
        plot_files={f"confusion split {s}": f"split_{s}/{CONFUSION_PNG}" for s in splits},
    )
    write_record(workdir, record)
    return record
