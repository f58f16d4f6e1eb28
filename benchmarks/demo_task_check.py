r"""Checks that the demo dataset's labels are learnable, and which ones need time.

Trains a tiny 3-D CNN (flax) with supervision on each label of the demo videos, once on clips
(T frames at a stride, like the pretraining samples) and once on single frames, and probes the
same network, and rhovid's ResNet3D, at random initialisation (logistic regression on pooled
features). The motion label should be learnable from a clip but not from one frame; the digit
from either. A random network's probe shows how much of each label is free (no learning needed).

The videos come straight from the generator (`rhovid.data.preparation.builders.demo.render_video`), not
through TFDS: this checks the task, not the pipeline.

    python benchmarks/demo_task_check.py --num_train=900 --num_test=300 --steps=600 \
        --out=/tmp/demo_task_check.json

Measured on a shared 2-core CPU (900 train / 300 test videos of 32 frames, frames pooled to
32×32, clips of 4 frames at stride 2, test accuracy on unseen source digits):

    random init, linear probe    tiny CNN   digit  9.7 %  motion 33.7 %   (chance 10 / 33.3)
                                 ResNet3D-18 (width 16)  digit 11.3 %  motion 32.0 %
    supervised, 4-frame clips    motion 90.3 % (600 steps)   digit 70.7 % (1500 steps; 12 % at 600)
    supervised, single frames    motion 33.0 % (600 steps)   digit 12.3 % (600 steps)

So the motion (speed) label is in the clips, absent from single frames and not free at random
init; the digit is learnable but takes this tiny net a long plateau (nuisances: lower them with
--nuisance to make it easier).
"""

from __future__ import annotations

import json
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rhovid.data.preparation.builders import demo
from rhovid.models import resnet3d

_NUM_TRAIN = flags.DEFINE_integer("num_train", 900, "Training videos (multiple of 30).")
_NUM_TEST = flags.DEFINE_integer("num_test", 300, "Test videos (multiple of 30).")
_STEPS = flags.DEFINE_integer("steps", 300, "Supervised training steps per run (0: probes only).")
_BATCH = flags.DEFINE_integer("batch", 32, "Clips per step.")
_CLIP = flags.DEFINE_integer("clip_frames", 4, "Frames per clip.")
_STRIDE = flags.DEFINE_integer("stride", 2, "Frame stride within a clip.")
_DOWNSAMPLE = flags.DEFINE_integer("downsample", 2, "Spatial average-pooling of the frames.")
_SINGLE = flags.DEFINE_bool("single_frame", True, "Also train and probe on single frames.")
_LABELS = flags.DEFINE_list("labels", ["digit", "motion"], "Labels to check.")
_NUISANCE = flags.DEFINE_float("nuisance", 1.0, "DemoConfig.nuisance: strength of the nuisances.")
_LR = flags.DEFINE_float("lr", 3e-3, "Peak Adam learning rate (cosine decay).")
_RESNET_DEPTH = flags.DEFINE_integer(
    "resnet_depth", 18, "Also probe rhovid's ResNet3D of this depth at random init (0: skip)."
)
_RESNET_WIDTH = flags.DEFINE_integer("resnet_width", 16, "Stem width of that ResNet3D.")
_OUT = flags.DEFINE_string("out", "", "Optional JSON path for the results.")


class TinyNet(nn.Module):
    """Three 3-D convolutions, global pooling, a linear head.

    A 3-D convolution with temporal kernel 3 is written as a 2-D convolution over the channel
    concatenation of frames t-1, t, t+1 (zero-padded in time): the same function, and ~17x faster
    than XLA's CPU conv3d here (0.15 s vs 2.7 s for a gradient at batch 32 of 4x32x32 clips).
    """

    num_classes: int

    @nn.compact
    def __call__(self, x: jnp.ndarray, features_only: bool = False) -> jnp.ndarray:
        for width, kt, k in ((16, 1, 5), (32, 3, 3), (64, 3, 3)):
            b, t = x.shape[:2]  # x: [B, T, H, W, C]
            if kt == 3:
                padded = jnp.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0), (0, 0)))
                x = jnp.concatenate([padded[:, i : i + t] for i in range(3)], axis=-1)  # [B, T, H, W, 3C]
            y = nn.Conv(width, (k, k), strides=2, padding="SAME")(x.reshape((b * t,) + x.shape[2:]))
            x = nn.relu(nn.LayerNorm()(y)).reshape((b, t) + y.shape[1:])
        # Max over space (the digit is small and anywhere), mean over time: [B, 64].
        x = x.max(axis=(2, 3)).mean(axis=1)
        return x if features_only else nn.Dense(self.num_classes)(x)


def _load(split: str, config: demo.DemoConfig) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    plan = demo.video_plan(config, split)
    videos, labels = [], {"digit": [], "motion": []}
    for i in range(len(plan)):
        frames, info = demo.render_video(config, split, i, plan)
        f = _DOWNSAMPLE.value
        t, s = frames.shape[0], frames.shape[1] // f
        videos.append(frames.reshape(t, s, f, s, f, 3).mean((2, 4)).astype(np.float16))
        for key in labels:
            labels[key].append(info[key])
    videos = (np.stack(videos).astype(np.float32) / 255.0 - 0.45) / 0.225  # [N, T, S, S, 3]
    return videos, {k: np.array(v) for k, v in labels.items()}


def _clips(videos: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """One clip per video at a random start. Returns [N, frames, S, S, 3]."""
    span = (frames - 1) * _STRIDE.value + 1
    starts = rng.integers(0, videos.shape[1] - span + 1, size=len(videos))
    idx = starts[:, None] + _STRIDE.value * np.arange(frames)[None]  # [N, frames]
    return videos[np.arange(len(videos))[:, None], idx]


def _random_probe(train, test, labels_tr, labels_te, frames: int, resnet: bool = False) -> dict[str, float]:
    """Logistic regression on the pooled features of a randomly initialised network."""
    rng = np.random.default_rng(1)
    xtr, xte = _clips(train, frames, rng), _clips(test, frames, rng)
    if resnet:
        model = resnet3d.ResNet3D(depth=_RESNET_DEPTH.value, width=_RESNET_WIDTH.value)
        variables = model.init(jax.random.key(0), xtr[:2], train=False)
        feat = jax.jit(lambda x: model.apply(variables, x, train=False))
    else:
        model = TinyNet(num_classes=1)
        params = model.init(jax.random.key(0), xtr[:2])
        feat = jax.jit(lambda x: model.apply(params, x, features_only=True))
    ftr = np.concatenate([feat(xtr[i : i + 64]) for i in range(0, len(xtr), 64)])
    fte = np.concatenate([feat(xte[i : i + 64]) for i in range(0, len(xte), 64)])
    out = {}
    for key in labels_tr:
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
        out[key] = float(clf.fit(ftr, labels_tr[key]).score(fte, labels_te[key]))
    return out


def _train(train, test, y_tr, y_te, num_classes: int, frames: int) -> float:
    """Supervised training on random clips; returns test accuracy averaged over 4 clips a video."""
    model = TinyNet(num_classes=num_classes)
    rng = np.random.default_rng(0)
    params = model.init(jax.random.key(0), _clips(train[:2], frames, rng))
    tx = optax.adam(optax.cosine_decay_schedule(_LR.value, _STEPS.value))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits = model.apply(p, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    for _ in range(_STEPS.value):
        pick = rng.integers(0, len(train), size=_BATCH.value)
        x = _clips(train[pick], frames, rng)
        # Random spatial shift on the torus: position must not matter.
        x = np.roll(x, tuple(rng.integers(0, x.shape[2], size=2)), axis=(2, 3))
        params, opt_state, _ = step(params, opt_state, x, y_tr[pick])

    logits = jax.jit(model.apply)
    total = 0.0
    for _ in range(4):
        x = _clips(test, frames, rng)
        total += np.concatenate([logits(params, x[i : i + 64]) for i in range(0, len(x), 64)])
    return float((total.argmax(-1) == y_te).mean())


def main(argv):
    del argv
    config = demo.DemoConfig(num_train=_NUM_TRAIN.value, num_test=_NUM_TEST.value, nuisance=_NUISANCE.value)
    start = time.time()
    train, labels_tr = _load("train", config)
    test, labels_te = _load("test", config)
    print(f"generated {len(train)}+{len(test)} videos in {time.time() - start:.1f}s", flush=True)
    results = {"config": config.name, "steps": _STEPS.value, "clip_frames": _CLIP.value}
    labels = ({k: labels_tr[k] for k in _LABELS.value}, {k: labels_te[k] for k in _LABELS.value})
    if _RESNET_DEPTH.value:
        key = f"random_init_probe/resnet3d_{_RESNET_DEPTH.value}_w{_RESNET_WIDTH.value}/{_CLIP.value}_frames"
        results[key] = _random_probe(train, test, *labels, _CLIP.value, resnet=True)
        print(key, results[key], flush=True)
    for frames in (_CLIP.value, 1) if _SINGLE.value else (_CLIP.value,):
        name = f"{frames}_frames"
        results[f"random_init_probe/{name}"] = _random_probe(train, test, *labels, frames)
        print(name, "random-init probe", results[f"random_init_probe/{name}"], flush=True)
        for key in _LABELS.value if _STEPS.value else ():  # --steps=0: random-init probes only
            classes = len(demo.DIGIT_NAMES if key == "digit" else demo.MOTION_NAMES)
            start = time.time()
            acc = _train(train, test, labels_tr[key], labels_te[key], classes, frames)
            results[f"supervised/{name}/{key}"] = acc
            print(f"{name} supervised {key}: {acc:.3f} ({time.time() - start:.0f}s)", flush=True)
    if _OUT.value:
        with open(_OUT.value, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    app.run(main)
