"""The embedded demo: pretrain on moving digits, then probe against the same network at random init.

    python -m rhovid.main --config=configs/mocov.py:demo --workdir=/tmp/rhovid-demo

The `demo` task is the pretraining task (`rhovid.pretrain`) plus what follows it:
1. the dataset (`rhovid_demo`: moving handwritten digits, two labels, digit and motion) is built
   on first use, as the pretraining source asks for it;
2. pretraining with the config's ρ method, through the shared loop (resumable, SIGTERM-safe);
3. backbone features (BN in inference mode, view-averaged) of the train and test splits, for the
   pretrained network as training left it, and for the identical network at its random init;
4. the fast linear probe and a weighted kNN on each label; `results.json` and `results.md` in the
   workdir: the gain of self-supervision over random init, per label.
The demo's settings, and the measurements behind each, are the `demo` preset (`rhovid.presets`).
"""

from __future__ import annotations

import functools
import json
import os
import time

import jax
import ml_collections
import numpy as np
from absl import logging

from rhovid import pretrain, sharding
from rhovid.eval import features as features_lib
from rhovid.eval import knn, multiview, probe
from rhovid.eval.metrics import topk_accuracy
from rhovid.models.resnet3d import build_backbone
from rhovid.state import init_variables

LABELS = ("digit", "motion")


def _features(config, variables, model, mesh, split: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """View-averaged backbone features [N, D] and both labels [N] of one split (every host)."""
    feature_fn = features_lib.make_feature_fn(model.apply, config.data)
    batch_size = max(jax.device_count(), 64 // jax.device_count() * jax.device_count())
    batches = features_lib.eval_batches(
        config.data, split, batch_size=batch_size, num_clips=config.eval.num_clips, num_crops=1, label_keys=LABELS
    )
    out = multiview.run_views(
        lambda clips: feature_fn(variables, clips), batches, functools.partial(sharding.to_global, mesh=mesh)
    )
    return multiview.average_view_features(out["features"]), out["label"]


def _scores(train_x, train_y, test_x, test_y, k: int, name: str = "") -> dict[str, float]:
    """Fast linear probe and weighted-kNN top-1 (%) for one label (`name`: label, network)."""
    fitted = probe.fit_logistic_probe(train_x, train_y, name=name)
    votes = knn.knn_predict(train_x, train_y, test_x, k=k)
    return {
        "linear": 100 * float(np.mean(fitted.logits(test_x).argmax(1) == test_y)),
        "knn": 100 * topk_accuracy(votes, test_y, 1),
    }


def evaluate(config: ml_collections.ConfigDict, variables, mesh, network: str = "") -> dict[str, dict[str, float]]:
    """Probe and kNN accuracy on each label for one set of backbone variables."""
    model = build_backbone(config.model)
    variables = jax.device_put(variables, sharding.replicated(mesh))
    train_x, train_y = _features(config, variables, model, mesh, config.data.train_split)
    test_x, test_y = _features(config, variables, model, mesh, config.data.eval_split)
    return {
        label: _scores(train_x, train_y[label], test_x, test_y[label], config.eval.knn_k, name=f"{label}, {network}")
        for label in LABELS
    }


def render_table(rows: list[dict]) -> str:
    """Markdown: one row per (method, ρ) with SSL and random-init accuracies per label."""
    lines = [
        "| method | ρ | steps | digit linear | digit kNN | motion linear | motion kNN |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for name, res in (("ρ" + r["method"], r["ssl"]), ("random init", r["random"])):
            lines.append(
                f"| {name} | {r['rho']} | {r['steps'] if res is r['ssl'] else 0} | "
                f"{res['digit']['linear']:.1f} | {res['digit']['knn']:.1f} | "
                f"{res['motion']['linear']:.1f} | {res['motion']['knn']:.1f} |"
            )
    return "\n".join(lines)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Pretrains (or resumes), evaluates SSL vs random init, writes and prints the table."""
    start = time.time()
    trained = pretrain.train(config, workdir)  # raises loop.Preempted on SIGTERM: no half-trained probe
    mesh = sharding.make_mesh()
    d = config.data
    net_init = init_variables(config, (d.num_frames, d.crop_size, d.crop_size, 3))
    random_vars = {"params": net_init["params"]["backbone"], "batch_stats": net_init["batch_stats"]["backbone"]}
    state = trained.state
    ssl_vars = {"params": state.params["backbone"], "batch_stats": state.batch_stats["backbone"]}
    evaluate_fn = functools.partial(evaluate, config, mesh=mesh)
    row = {
        "method": config.method,
        "rho": d.rho,
        "steps": int(jax.device_get(state.step)),
        "ssl": evaluate_fn(ssl_vars, network="ρ" + config.method),
        "random": evaluate_fn(random_vars, network="random init"),
        "seconds": round(time.time() - start, 1),
    }
    table = render_table([row])
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump(row, f, indent=2)
        with open(os.path.join(workdir, "results.md"), "w") as f:
            f.write(table + "\n")
    print(table, flush=True)  # the demo's product is this table
    logging.info("Demo finished in %.0f s; table in %s/results.md", row["seconds"], workdir)
    return row
