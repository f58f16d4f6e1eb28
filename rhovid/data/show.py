r"""A picture of what the model sees: the ρ clips of a few videos, before and after augmentation.

    python -m rhovid.data.show --config=configs/byol.py \
        --config.data.name=ucf101 --config.data.data_dir=~/tensorflow_datasets --out=clips.png

Rows come in pairs per video: the sampled clips as stored (largest centred square, no
augmentation), then the same frames as the training step receives them (crop, flip, colour,
grayscale, blur; with `color_on_device`, the device-side part is applied here with JAX). Columns
are the T frames of clip 1, a gap, the T frames of clip 2, and so on.
"""

from __future__ import annotations

import numpy as np
from absl import flags, logging
from ml_collections import config_flags

from rhovid import cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).")
_OUT = flags.DEFINE_string("out", "clips.png", "Where to write the picture (PNG).")
_NUM_VIDEOS = flags.DEFINE_integer("num_videos", 4, "Videos (row pairs) to show.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")

GAP = 4  # pixels between tiles and between clips


def sample_clips(data_cfg, num_videos: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `num_videos` pretraining samples, plain and augmented.

    Returns:
      (before, after): uint8 [N, V, T, S, S, 3] each; same videos, same frame indices.
    """
    from rhovid.data.reading import augment, streams  # TensorFlow only when used

    plain = augment.AugmentConfig(crop_size=data_cfg.crop_size, crop="center", flip=False, color=False)
    kw = dict(global_batch_size=num_videos, seed=seed, num_steps=1)
    before = _cropped(next(iter(streams.make_pretrain_source(data_cfg, augmentation=plain, **kw))), data_cfg)
    after = _cropped(next(iter(streams.make_pretrain_source(data_cfg, **kw))), data_cfg)
    if data_cfg.color_on_device:
        import jax

        from rhovid.data.reading import device_augment

        n, v = after.shape[:2]
        x = after.reshape((n * v,) + after.shape[2:]).astype(np.float32) / 255.0
        x = np.asarray(device_augment.color_augment(jax.random.key(seed), x, data_cfg))
        after = np.round(x * 255).astype(np.uint8).reshape(after.shape)
    return before, after


def _cropped(batch: dict, data_cfg) -> np.ndarray:
    """The batch's uint8 clips [N, V, T, S, S, 3], cropped here if `data.crop_on_device` left it to the step."""
    clips = batch["clips"]
    if "crop" not in batch:
        return clips
    from rhovid.data.reading import device_augment

    n, v = clips.shape[:2]
    x = device_augment.crop_resize_flip(
        clips.reshape((n * v,) + clips.shape[2:]), batch["crop"].reshape(n * v, 3), data_cfg.crop_size
    )
    s = data_cfg.crop_size
    return np.round(np.asarray(x)).astype(np.uint8).reshape((n, v, clips.shape[2], s, s, 3))


def mosaic(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Tiles [N, V, T, S, S, 3] pairs into one uint8 image (white gaps).

    Video i, clip v, frame t of `before` sits at row 2i, column v·T + t (`after`: row 2i + 1);
    tile (r, c) starts at y = r·(S + GAP), x = c·(S + GAP) + v·GAP (an extra gap between clips).
    """
    n, v, t, s = before.shape[:4]
    rows, cols = 2 * n, v * t
    out = np.full((rows * (s + GAP), cols * (s + GAP) + v * GAP, 3), 255, np.uint8)
    for i in range(n):
        for which, clips in enumerate((before, after)):
            for c in range(v):
                for f in range(t):
                    y = (2 * i + which) * (s + GAP)
                    x = (c * t + f) * (s + GAP) + c * GAP
                    out[y : y + s, x : x + s] = clips[i, c, f]
    return out


def plot_clips(before: np.ndarray, after: np.ndarray, path: str) -> None:
    """Writes the `mosaic` of `before`/`after` [N, V, T, S, S, 3] to `path` with row labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = mosaic(before, after)
    n, v, t, s = before.shape[:4]
    inches = max(1.0, 96 / s) * np.array(image.shape[1::-1]) / 100  # small crops drawn bigger
    fig, ax = plt.subplots(figsize=(inches[0] + 1.6, inches[1] + 0.5), dpi=100)
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([(c * t + t / 2) * (s + GAP) + c * GAP for c in range(v)], [f"clip {c + 1}" for c in range(v)])
    ax.xaxis.tick_top()
    ax.set_yticks(
        [(r + 0.5) * (s + GAP) for r in range(2 * n)],
        [f"video {r // 2 + 1} {'augmented' if r % 2 else 'raw'}" for r in range(2 * n)],
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str]) -> None:
    del argv
    config = _CONFIG.value
    before, after = sample_clips(config.data, _NUM_VIDEOS.value, _SEED.value)
    plot_clips(before, after, _OUT.value)
    logging.info("Wrote %s: %d videos × %d clips of %d frames.", _OUT.value, *before.shape[:3])


if __name__ == "__main__":
    flags.mark_flags_as_required(["config"])
    cli.run(main)
