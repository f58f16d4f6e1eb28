"""The fast linear probe: multinomial logistic regression on features extracted once.

The paper's linear protocol trains a linear layer for 60 epochs over augmented clips (`linear.py`).
To compare checkpoints quickly, this path extracts view-averaged features once and fits an
L2-regularised multinomial logistic regression on them; the L2 strength is chosen on a held-out
part of the training features, then the model is refit on all of them. Numbers are close to, but
not the same as, the paper protocol's (no training augmentation), so results are labelled
`linear_fast`.

Two solvers minimise the same objective, mean cross-entropy + (l2 / 2)·||W||² (bias not
penalised) on standardised features: full-batch L-BFGS in JAX (default: seconds on an accelerator
even for Kinetics-400's 240k × 2048 features) and scikit-learn's `LogisticRegression` with
C = 1 / (l2 · N) (exact same optimum; handy on a CPU and as a cross-check).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from rhovid.errors import UserError

DEFAULT_L2_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)


@dataclasses.dataclass
class LogisticProbe:
    """A fitted probe. `predict_proba(x)` gives [N, C] class probabilities.

    Attributes:
      weights: [D, C]; bias: [C] (on standardised features).
      mean, scale: [D] standardisation fitted on the training features.
      l2: the chosen L2 strength; val_accuracy: held-out top-1 of each grid value.
    """

    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    l2: float
    val_accuracy: dict

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float32) - self.mean) / self.scale
        return z @ self.weights + self.bias  # [N, C]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = self.logits(x)
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@functools.partial(jax.jit, static_argnames=("num_classes", "max_iter"))
def _fit_lbfgs(
    x: jax.Array, y: jax.Array, weights: jax.Array, l2: float, num_classes: int, max_iter: int, tol: float
) -> tuple[jax.Array, jax.Array]:
    """Full-batch L-BFGS on weighted-mean CE + l2/2 ||W||².

    x [N, D] standardised, y [N] int, weights [N] in {0, 1}: rows with weight 0 are left out, so
    the held-out fits and the final fit share one shape and compile once.
    """
    params = {"w": jnp.zeros((x.shape[1], num_classes), jnp.float32), "b": jnp.zeros((num_classes,), jnp.float32)}

    def loss_fn(p):
        logits = jnp.matmul(x, p["w"], precision=jax.lax.Precision.HIGHEST) + p["b"]  # [N, C]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)  # [N]
        ce = jnp.sum(weights * ce) / jnp.sum(weights)
        return ce + 0.5 * l2 * jnp.sum(jnp.square(p["w"]))

    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss_fn)

    def step(carry):
        p, state = carry
        value, grad = value_and_grad(p, state=state)
        updates, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=loss_fn)
        return optax.apply_updates(p, updates), state

    def keep_going(carry):
        _, state = carry
        count = optax.tree_utils.tree_get(state, "count")
        grad = optax.tree_utils.tree_get(state, "grad")
        return (count == 0) | ((count < max_iter) & (optax.tree_utils.tree_norm(grad) >= tol))

    params, _ = jax.lax.while_loop(keep_going, step, (params, opt.init(params)))
    return params["w"], params["b"]


def _fit_sklearn(
    x: np.ndarray, y: np.ndarray, l2: float, num_classes: int, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's multinomial LogisticRegression with C = 1 / (l2 · N)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1.0 / (l2 * len(y)), max_iter=max_iter, tol=tol)
    clf.fit(x, y)
    w = np.zeros((x.shape[1], num_classes), np.float32)
    b = np.full((num_classes,), -1e9, np.float32)  # classes absent from training never win
    classes = clf.classes_.astype(int)
    if len(classes) == 2:  # sklearn stores one row for two classes: logit(c1) - logit(c0)
        w[:, classes[1]], b[classes[1]] = clf.coef_[0], clf.intercept_[0]
        b[classes[0]] = 0.0
    else:
        w[:, classes], b[classes] = clf.coef_.T, clf.intercept_
    return w, b


def _fit(x, y, l2, num_classes, solver, max_iter, tol, rows=None):
    """Fits on `x[rows]`, `y[rows]` (all rows when None); returns (W [D, C], b [C])."""
    if solver == "jax":
        weights = np.ones(len(y), np.float32)
        if rows is not None:
            weights = np.zeros(len(y), np.float32)
            weights[rows] = 1.0
        w, b = _fit_lbfgs(
            jnp.asarray(x),
            jnp.asarray(y, jnp.int32),
            jnp.asarray(weights),
            float(l2),
            num_classes,
            max_iter,
            float(tol),
        )
        return np.asarray(w), np.asarray(b)
    if solver == "sklearn":
        if rows is not None:
            x, y = x[rows], y[rows]
        return _fit_sklearn(x, y, l2, num_classes, max_iter, tol)
    raise UserError(f"eval.solver={solver!r} is not a probe solver; use 'jax' or 'sklearn'.")


def held_out_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train_idx, val_idx) with `fraction` of the rows held out (at least one)."""
    n = len(labels)
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise UserError(
            f"Cannot hold out {fraction:.0%} of only {n} training examples; use more training "
            "videos or change --config.eval.held_out_fraction."
        )
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def fit_logistic_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    *,
    num_classes: int | None = None,
    l2_grid: Sequence[float] = DEFAULT_L2_GRID,
    held_out_fraction: float = 0.1,
    solver: str = "jax",
    max_iter: int = 500,
    tol: float = 1e-5,
    seed: int = 0,
    name: str = "",
) -> LogisticProbe:
    """Chooses the L2 strength on a held-out part of train, then refits on all of train.

    Args:
      train_features: [N, D] (view-averaged) backbone features.
      train_labels: [N] integer labels.
      num_classes: C; defaults to max label + 1.
      l2_grid: candidate L2 strengths (objective: mean CE + l2/2·||W||²).
      held_out_fraction: share of the training rows used to pick the L2 strength.
      solver: "jax" (full-batch L-BFGS) or "sklearn".
      max_iter, tol: solver stopping rule (gradient norm for jax, sklearn's tol otherwise).
      seed: for the held-out split.
      name: what is probed, for the log line (e.g. "motion, ρMoCo").

    Returns:
      the fitted LogisticProbe.
    """
    x = np.asarray(train_features, np.float32)  # [N, D]
    y = np.asarray(train_labels, np.int64)  # [N]
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"Expected features [N, D] and labels [N]; got {x.shape} and {y.shape}.")
    num_classes = int(num_classes or y.max() + 1)
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), 1e-6)
    z = (x - mean) / scale
    tr, va = held_out_split(y, held_out_fraction, seed)
    val_accuracy = {}
    for l2 in l2_grid:
        w, b = _fit(z, y, l2, num_classes, solver, max_iter, tol, rows=tr)
        val_accuracy[float(l2)] = float(np.mean(np.argmax(z[va] @ w + b, axis=1) == y[va]))
    best = max(sorted(val_accuracy, reverse=True), key=lambda l: val_accuracy[l])  # ties: larger l2
    logging.info(
        "Fast probe%s: held-out top-1 %s; l2=%g chosen.",
        f" ({name})" if name else "",
        ", ".join(f"{a:.3f} at l2={l2:g}" for l2, a in val_accuracy.items()),
        best,
    )
    w, b = _fit(z, y, best, num_classes, solver, max_iter, tol)
    return LogisticProbe(weights=w, bias=b, mean=mean, scale=scale, l2=best, val_accuracy=val_accuracy)
