"""The two pictures every evaluation leaves in its workdir: a confusion matrix and a t-SNE map.

Both return PNG bytes (so the caller can write them anywhere, gs:// included) and use matplotlib's
object API with the Agg canvas, never pyplot's global state, so they are safe in a training process.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Above this many classes, tick labels are unreadable and are left out.
_MAX_TICK_LABELS = 60


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    return buf.getvalue()


def confusion_png(confusion: np.ndarray, class_names: Sequence[str] | None = None, title: str = "") -> bytes:
    """Row-normalised confusion matrix (row = true class) as a PNG.

    Args:
      confusion: [C, C] counts from `metrics.confusion_matrix`.
      class_names: C names for the ticks (dropped when C > 60).
      title: figure title (e.g. protocol, dataset and top-1).

    Returns:
      PNG bytes.
    """
    cm = np.asarray(confusion, np.float64)
    c = cm.shape[0]
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)  # [C, C] fractions per true class
    size = float(np.clip(c * 0.18, 5, 16))
    fig = Figure(figsize=(size + 1, size), dpi=100)
    ax = fig.add_subplot()
    im = ax.imshow(rows, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if class_names is not None and c <= _MAX_TICK_LABELS:
        ax.set_xticks(range(c), labels=list(class_names), rotation=90, fontsize=6)
        ax.set_yticks(range(c), labels=list(class_names), fontsize=6)
    ax.set_title(title or f"confusion matrix ({c} classes)")
    return _png(fig)


def tsne_embedding(features: np.ndarray, *, max_points: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D t-SNE embedding of (a random subsample of) the features.

    Args:
      features: [N, D].
      max_points: subsample size (t-SNE is quadratic-ish in N).
      seed: for the subsample and t-SNE.

    Returns:
      (embedding [n, 2], indices [n] of the rows used).
    """
    from sklearn.manifold import TSNE

    features = np.asarray(features, np.float32)
    n = features.shape[0]
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
    x = features[idx]
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # cosine geometry
    perplexity = float(min(30.0, max(2.0, (len(idx) - 1) / 3.0)))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    return emb, idx


def tsne_png(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str] | None = None,
    *,
    max_points: int = 2000,
    seed: int = 0,
    title: str = "",
) -> bytes | None:
    """t-SNE of test features coloured by class, as a PNG; None when there are too few points.

    Args:
      features: [N, D] (view-averaged backbone features).
      labels: [N] class of each row.
      class_names: names for the legend (shown when there are at most 20 classes).
      max_points: subsample size.
      seed: subsample / t-SNE seed.
      title: figure title.

    Returns:
      PNG bytes, or None when N < 5.
    """
    labels = np.asarray(labels)
    if len(labels) < 5:
        return None
    emb, idx = tsne_embedding(features, max_points=max_points, seed=seed)
    lab = labels[idx]
    classes = np.unique(lab)
    fig = Figure(figsize=(7, 6), dpi=100)
    ax = fig.add_subplot()
    cmap = "tab10" if len(classes) <= 10 else ("tab20" if len(classes) <= 20 else "hsv")
    sc = ax.scatter(emb[:, 0], emb[:, 1], c=lab, cmap=cmap, s=6, alpha=0.8, linewidths=0)
    if len(classes) <= 20:
        handles = [
            ax.scatter(
                [], [], color=sc.cmap(sc.norm(c)), s=12, label=class_names[c] if class_names is not None else str(c)
            )
            for c in classes
        ]
        ax.legend(handles=handles, fontsize=7, markerscale=1.5, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"t-SNE of {len(idx)} test videos, {len(classes)} classes")
    return _png(fig)
