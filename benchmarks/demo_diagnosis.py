r"""What a demo run's features hold, clip by clip: the digit, its speed, and where it is.

The demo's probes report the digit (appearance) and the motion (speed) labels. This script adds
the third property two clips of one video can share, the digit's *position*, and probes all three
from single clips (no view averaging): for each workdir, and for the same network at a fresh
random initialisation, it embeds K clips of rendered demo videos exactly as the evaluation cuts
them (`rhovid.embed`), then fits on train videos and scores on test videos:

  digit     logistic regression, accuracy (%)
  motion    logistic regression, accuracy (%)
  position  ridge regression of the digit's mean (x, y) centre over the clip's frames, R² on the
            test clips (1 = the features say where the digit is, 0 = they do not)

A probe says what can be read out; kNN and the contrastive losses see the geometry instead. So it
also reports how the test clips' (L2-normalised, centred) features are organised: the share of
their variance that lies between the groups of each factor (η², summed over dimensions): the 10
digits, the 3 speeds, the 4×4 cells of the digit's position.

The videos come straight from the generator (`render_video`, with its per-frame centres), from
the same splits and source digits as the prepared dataset.

    python benchmarks/demo_diagnosis.py --workdirs=/tmp/rhovid-demo,/tmp/other \
        --out=benchmarks/results/demo_diagnosis.json
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time

import common
import jax
import numpy as np
from absl import app, flags
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rhovid import embed
from rhovid.data.preparation.builders import demo as demo_data

_WORKDIRS = flags.DEFINE_list("workdirs", [], "Demo (pretraining) workdirs to diagnose.")
_NUM_TRAIN = flags.DEFINE_integer("num_train", 600, "Train videos rendered (multiple of 30).")
_NUM_TEST = flags.DEFINE_integer("num_test", 300, "Test videos rendered (multiple of 30).")
_CLIPS = flags.DEFINE_integer("clips", 4, "Clips per video, evenly spaced (each probed on its own).")
COLUMNS = ("digit %", "motion %", "position R²", "digit η²", "motion η²", "position η²")
_OUT = flags.DEFINE_string("out", "", "JSON output path (default: print only).")


def render_clips(data_cfg, split: str, count: int, clips: int) -> dict[str, np.ndarray]:
    """Clips [N·K, T, C, C, 3] of `count` videos of `split` with per-clip digit, motion, position."""
    config = demo_data.DEFAULT_CONFIG
    plan = demo_data.video_plan(config, split)[:count]
    out = {"clips": [], "digit": [], "motion": [], "position": []}
    for i in range(count):
        frames, info = demo_data.render_video(config, split, i, plan)  # [F, 64, 64, 3]
        indices = embed.clip_indices(len(frames), config.fps, data_cfg, num_clips=clips)  # [K, T]
        out["clips"].append(embed.crop_clips(frames, indices, data_cfg))
        out["digit"] += [info["digit"]] * clips
        out["motion"] += [info["motion"]] * clips
        out["position"] += [info["centre"][row].mean(0) for row in indices]  # [2] (x, y), 64-px frame
    return {k: np.concatenate(v) if k == "clips" else np.asarray(v) for k, v in out.items()}


def probe(train_x, test_x, train: dict, test: dict) -> dict[str, float]:
    """Digit and motion accuracy (%), position R², from features [N, D]."""
    scores = {}
    for label in ("digit", "motion"):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        clf.fit(train_x, train[label])
        scores[label] = round(100.0 * float(np.mean(clf.predict(test_x) == test[label])), 1)
    reg = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(train_x, train["position"])
    scores["position_r2"] = round(float(r2_score(test["position"], reg.predict(test_x))), 3)
    return scores


def variance_share(features: np.ndarray, groups: np.ndarray) -> float:
    """η²: the share of the (normalised, centred) features' total variance between `groups`."""
    x = features / np.linalg.norm(features, axis=1, keepdims=True)
    x = x - x.mean(0)
    between = sum(np.sum(groups == g) * np.sum(x[groups == g].mean(0) ** 2) for g in np.unique(groups))
    return float(between / np.sum(x**2))


def organisation(test_x: np.ndarray, test: dict) -> dict[str, float]:
    """η² of the digit, the speed and the position cell (4×4 grid of the 64-px frame)."""
    cell = np.clip((test["position"] // 16).astype(int), 0, 3)
    return {
        "digit_eta2": round(variance_share(test_x, test["digit"]), 3),
        "motion_eta2": round(variance_share(test_x, test["motion"]), 3),
        "position_eta2": round(variance_share(test_x, cell[:, 0] * 4 + cell[:, 1]), 3),
    }


def random_embedder(trained: embed.Embedder, seed: int = 0) -> embed.Embedder:
    """The same network at a fresh random initialisation (its BN statistics at init: 0 and 1)."""
    d = trained.data_cfg
    dummy = np.zeros((1, d.num_frames, d.crop_size, d.crop_size, 3), np.float32)
    variables = trained.model.init(jax.random.PRNGKey(seed), dummy, train=False)
    fresh = copy.copy(trained)
    fresh.variables = {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}
    return fresh


def main(argv):
    del argv
    if not _WORKDIRS.value:
        raise app.UsageError("--workdirs=DIR[,DIR...] is required.")
    first = embed.load(_WORKDIRS.value[0])
    start = time.time()
    train = render_clips(first.data_cfg, "train", _NUM_TRAIN.value, _CLIPS.value)
    test = render_clips(first.data_cfg, "test", _NUM_TEST.value, _CLIPS.value)
    print(f"Rendered {len(train['clips'])} train and {len(test['clips'])} test clips in {time.time() - start:.0f} s.")
    print("| run | " + " | ".join(COLUMNS) + " |")
    rows = []
    for name, embedder in [("random init", random_embedder(first))] + [
        (os.path.basename(w.rstrip("/")), embed.load(w)) for w in _WORKDIRS.value
    ]:
        train_x, test_x = embedder.embed_clips(train["clips"]), embedder.embed_clips(test["clips"])
        scores = {**probe(train_x, test_x, train, test), **organisation(test_x, test)}
        rows.append({"run": name, **scores})
        print("| " + " | ".join(str(v) for v in [name, *scores.values()]) + " |", flush=True)
    record = {
        "benchmark": "demo_diagnosis",
        "command": "python " + " ".join(sys.argv),
        "machine": common.machine_info(),
        "workdirs": _WORKDIRS.value,
        "clips_per_video": _CLIPS.value,
        "rows": rows,
    }
    if _OUT.value:
        with open(_OUT.value, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    app.run(main)
