"""Classification metrics shared by every evaluation protocol (kNN, linear probe, fine-tuning).

All functions are plain NumPy on host arrays: evaluation sets are small enough (K400 validation is
20k videos) that metrics never need the accelerator, and NumPy keeps the definitions easy to audit.
Accuracies are fractions in [0, 1]; `results.md` and the report print them as percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rhovid.errors import UserError


def topk_correct(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Whether each label is among the `k` highest scores of its row.

    Ties are broken towards the lower class index (a stable sort of the negated scores), so the
    result is deterministic.

    Args:
      scores: [N, C] class scores (probabilities, logits or kNN votes).
      labels: [N] integer labels in [0, C).
      k: how many top classes count as a hit; clipped to C.

    Returns:
      [N] bool.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(f"Expected scores [N, C] and labels [N]; got {scores.shape} and {labels.shape}.")
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # [N, k]
    return np.any(top == labels[:, None], axis=1)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose label is among the `k` highest scores (see `topk_correct`)."""
    if len(labels) == 0:
        raise UserError("topk_accuracy got an empty evaluation set; check the eval split name.")
    return float(np.mean(topk_correct(scores, labels, k)))


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[C, C] counts; row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(labels), np.asarray(predictions)), 1)
    return cm


def per_class_accuracy(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[C] top-1 accuracy of each class; NaN for classes with no test example."""
    cm = confusion_matrix(predictions, labels, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def classification_metrics(scores: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> dict:
    """The metrics every protocol reports.

    Args:
      scores: [N, C] class scores (view-averaged softmax, or kNN votes).
      labels: [N] integer labels.
      num_classes: C; defaults to the score width.

    Returns:
      dict with `top1`, `top5` (fractions; top-5 only with more than 5 classes),
      `mean_class_accuracy` (mean over classes present in the
      test set), `num_examples`, `per_class_accuracy` ([C] list, None where a class is absent),
      and `confusion` ([C, C] int array, not JSON-serialisable: the caller plots or drops it).
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    num_classes = num_classes or scores.shape[1]
    predictions = np.argmax(scores, axis=1)
    per_class = per_class_accuracy(predictions, labels, num_classes)
    top5 = {"top5": topk_accuracy(scores, labels, 5)} if num_classes > 5 else {}  # else always 100 %
    return {
        "top1": topk_accuracy(scores, labels, 1),
        **top5,
        "mean_class_accuracy": float(np.nanmean(per_class)),
        "num_examples": int(len(labels)),
        "per_class_accuracy": [None if np.isnan(a) else float(a) for a in per_class],
        "confusion": confusion_matrix(predictions, labels, num_classes),
    }


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (ddof=0) over splits, as papers report 3-split results.

    The population form is used because the three splits are the whole population of official
    splits, not a sample; with one value the std is 0.
    """
    if len(values) == 0:
        raise ValueError("mean_and_std needs at least one value.")
    arr = np.asarray(values, np.float64)
    return float(arr.mean()), float(arr.std(ddof=0))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of one class: Σ_n (R_n − R_{n−1}) P_n over the distinct score thresholds, high to low.

    The definition of scikit-learn's `average_precision_score` (no interpolation; tied scores form
    one threshold). NaN when the class has no positive example.

    Args:
      scores: [N] scores of the class.
      labels: [N] 0/1 ground truth.
    """
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels) > 0
    if not labels.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last position of each distinct score
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    precision, recall = tp / (tp + fp), tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def multilabel_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    """Multi-label metrics (Charades): mean AP over the classes with a positive test example.

    Args:
      scores: [N, C] class scores (sigmoid outputs, max-pooled over the views of each video).
      labels: [N, C] multi-hot ground truth.

    Returns:
      dict with `mAP` (fraction), `per_class_ap` ([C] list, None for classes without positives),
      `num_examples`.
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or labels.shape != scores.shape:
        raise ValueError(f"Expected scores and multi-hot labels [N, C]; got {scores.shape} and {labels.shape}.")
    ap = np.array([average_precision(scores[:, c], labels[:, c]) for c in range(scores.shape[1])])
    if np.all(np.isnan(ap)):
        raise ValueError("multilabel_metrics: no class has a positive test example; check the labels.")
    return {
        "mAP": float(np.nanmean(ap)),
        "per_class_ap": [None if np.isnan(a) else float(a) for a in ap],
        "num_examples": int(len(scores)),
    }


def max_over_views(view_scores: np.ndarray) -> np.ndarray:
    """[N, V, C] scores of the V = clips × crops views of each video -> [N, C], max-pooled
    (the spatio-temporal max the multi-label protocols use instead of averaging)."""
    view_scores = np.asarray(view_scores)
    if view_scores.ndim != 3:
        raise ValueError(f"Expected view scores [N, V, C]; got {view_scores.shape}.")
    return view_scores.max(axis=1)
