"""Embed your own videos with a pretrained backbone: a video file in, one feature per clip out.

    from rhovid import embed
    embedder = embed.load("/tmp/rhovid-demo")           # a pretraining workdir or imported checkpoint
    out = embedder.embed_file("my_video.mp4")           # out.features [K, D], out.starts_s [K]
    sim = embed.cosine_similarity(out.features)         # [K, K] clip-to-clip similarity

A file goes through the same steps as the evaluation data, so that its features are comparable to
those of a prepared dataset's clips:

1. decoding (`rhovid.data.preparation.decode.decode_video`, as `rhovid.data.prepare` does): frames at
   min(source fps, `data.target_fps`), JPEG-stored, with the short side resized once, by default
   to the size evaluation resizes stored frames to (`data.eval_short_side`, scaled by
   crop_size/224);
2. clips of `data.num_frames` frames, `data.frame_stride` apart (counted at `target_fps`), either
   back to back over the whole video (retrieval within a video) or `num_clips` evenly spaced ones
   (`rhovid.data.reading.sampling.uniform_clips`, the test views);
3. the centre crop of the evaluation's test-crop size (`data.eval_crop_size`, scaled like
   `eval_short_side`; `rhovid.data.reading.augment.eval_crop_windows`, one crop);
4. the backbone in inference mode (BN running statistics) on clips normalised as the train step
   normalises them (`rhovid.eval.features.make_feature_fn`): pooled features [D].

Steps 2–3 call the TensorFlow functions of the evaluation reader on the decoded frames, so a clip
cut here from a dataset's stored frames is identical, pixel for pixel, to the reader's.
"""

from __future__ import annotations

import dataclasses
import fractions
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import av
import jax
import ml_collections
import numpy as np

from rhovid import checkpoint
from rhovid import config as config_lib
from rhovid.data.preparation import decode
from rhovid.errors import UserError
from rhovid.eval import features as features_lib
from rhovid.models.resnet3d import build_backbone

# Config keys the embedder reads from a run's `data` block.
DATA_KEYS = ("num_frames", "frame_stride", "target_fps", "crop_size", "eval_short_side", "mean", "std")
_DCT_METHOD = "INTEGER_FAST"  # the JPEG decoder of rhovid.data.reading.streams, so stored frames decode alike


@dataclasses.dataclass
class ClipFeatures:
    """The clips of one video and their features.

    Attributes:
      features: float32 [K, D] backbone features, one row per clip.
      starts_s: float64 [K] start time of each clip in seconds from the first decoded frame.
      clips: uint8 [K, T, C, C, 3] what the network saw (centre crops, before normalisation).
      fps: the frame rate the clips were cut at (min(source fps, data.target_fps)).
    """

    features: np.ndarray
    starts_s: np.ndarray
    clips: np.ndarray
    fps: float


class SplitFeatures(NamedTuple):
    """View-averaged features of a prepared split: features [N, D], labels {key: int [N]}."""

    features: np.ndarray
    labels: dict[str, np.ndarray]


def eval_short_side(data_cfg: Any) -> int:
    """The short side (pixels) evaluation resizes frames to before the centre crop."""
    from rhovid.data.reading import augment  # TensorFlow only when used

    return round(augment.scale_to_crop(data_cfg.eval_short_side, data_cfg.crop_size))


def read_video(path: str, *, max_fps: float, short_side: int) -> tuple[list[bytes], float]:
    """Decodes `path` as `rhovid.data.prepare` would store it.

    Args:
      path: any file FFmpeg reads (mp4, webm, avi, mkv, ...).
      max_fps: cap on the frame rate (frames of faster sources are dropped by timestamp).
      short_side: the stored short side in pixels (0 keeps the source size).

    Returns:
      (JPEG-encoded frames, their frame rate).

    Raises:
      rhovid.data.preparation.decode.VideoError: a missing, unreadable or frameless file.
    """
    decoded = decode.decode_video(os.fspath(path), decode.DecodeOptions(max_fps=max_fps, short_side=short_side))
    return decoded.frames, decoded.fps


def clip_indices(
    num_frames: int, fps: float, data_cfg: Any, *, num_clips: int | None = None, hop_s: float | None = None
) -> np.ndarray:
    """Frame indices of the clips of a video of `num_frames` frames at `fps`.

    Args:
      num_frames: frames in the video.
      fps: their frame rate.
      data_cfg: the run's `config.data` (num_frames, frame_stride, target_fps).
      num_clips: K evenly spaced clips, as the evaluation reader places them (the first clip starts
        the video, the last ends it; one clip is centred). None: clips every `hop_s` seconds.
      hop_s: with `num_clips=None`, seconds between clip starts; None = the clip's own span (back to
        back, no overlap). A video shorter than one clip gives one clip (it loops, as in training).

    Returns:
      int32 [K, T], indices into the video's frames.
    """
    import tensorflow as tf

    from rhovid.data.reading import sampling

    t_len = data_cfg.num_frames
    if num_clips is not None:
        return sampling.uniform_clips(
            num_frames,
            fps,
            num_clips=num_clips,
            clip_len=t_len,
            frame_stride=data_cfg.frame_stride,
            target_fps=data_cfg.target_fps,
        ).numpy()
    stride = float(sampling.stored_stride(data_cfg.frame_stride, fps, data_cfg.target_fps))
    span = stride * t_len  # stored frames covered by one clip
    hop = span if hop_s is None else hop_s * fps
    if hop <= 0:
        raise UserError(f"hop_s={hop_s} must be > 0.")
    count = 1 + max(int(np.floor((num_frames - span) / hop + 1e-6)), 0)
    starts = np.arange(count, dtype=np.float32) * np.float32(hop)
    return sampling.clip_frame_indices(tf.constant(starts), tf.fill([count], stride), num_frames, t_len).numpy()


def crop_clips(frames: Sequence[bytes] | np.ndarray, indices: np.ndarray, data_cfg: Any) -> np.ndarray:
    """Centre-cropped evaluation clips of `frames` at `indices`.

    Args:
      frames: JPEG-encoded frames, or uint8 [N, H, W, 3].
      indices: int [K, T] from `clip_indices`.
      data_cfg: the run's `config.data` (crop_size, eval_short_side).

    Returns:
      uint8 [K, T, C, C, 3]: each frame's centre crop of side C·min(H, W)/short_side, resized to
      C = `augment.eval_crop_size(data_cfg)` (bilinear), exactly as `rhovid.data.reading.streams.make_eval_source`
      with one crop.
    """
    import tensorflow as tf

    from rhovid.data.reading import augment

    size = augment.eval_crop_size(data_cfg)
    cache: dict[int, np.ndarray] = {}

    def frame(i: int) -> np.ndarray:  # each frame decoded once, with the reader's JPEG decoder
        if i not in cache:
            f = frames[i]
            cache[i] = (
                tf.io.decode_jpeg(f, channels=3, dct_method=_DCT_METHOD).numpy()
                if isinstance(f, bytes)
                else np.asarray(f, np.uint8)
            )
        return cache[i]

    first = frame(int(indices[0, 0]))
    window = augment.eval_crop_windows(
        first.shape[0], first.shape[1], size, augment.scale_to_crop(data_cfg.eval_short_side, size), 1
    )[0]
    clips = []
    for row in np.asarray(indices):
        clip = tf.constant(np.stack([frame(int(i)) for i in row]))  # [T, H, W, 3]
        clips.append(augment.to_uint8(augment.crop_and_resize(clip, window, size)).numpy())
    return np.stack(clips)


def cosine_similarity(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity [N, M] between the rows of `a` [N, D] and `b` [M, D] (default: `a`)."""
    a = np.asarray(a, np.float64)
    b = a if b is None else np.asarray(b, np.float64)
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return unit(a) @ unit(b).T


def nearest_neighbours(similarity: np.ndarray, k: int, *, exclude_self: bool = False) -> np.ndarray:
    """The `k` most similar columns of each row of `similarity` [N, M], best first: int [N, k].

    `exclude_self` drops the diagonal (a query's own row, when `similarity` is square).
    """
    s = np.array(similarity, np.float64)
    if exclude_self:
        np.fill_diagonal(s, -np.inf)
    k = min(k, s.shape[1] - (1 if exclude_self else 0))
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def write_video(path: str, frames: np.ndarray, fps: float, codec: str = "libx264") -> str:
    """Encodes uint8 frames [T, H, W, 3] into a video file with PyAV (e.g. to try `embed_file`).

    H and W must be even for the yuv420p pixel format that players expect. Returns `path`.
    """
    frames = np.asarray(frames, np.uint8)
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=fractions.Fraction(fps).limit_denominator(1001))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class Embedder:
    """A frozen backbone and the data settings of the run that trained it.

    Attributes:
      model: the flax backbone (`rhovid.models.resnet3d.ResNet3D`).
      variables: {'params', 'batch_stats'} of the backbone.
      data_cfg: the run's `config.data` (clip length, stride, crop, normalisation; for
        `embed_split` also the dataset name and directory).
      step: the checkpoint's training step (None when not from a checkpoint).
    """

    def __init__(
        self,
        model_cfg: ml_collections.ConfigDict,
        data_cfg: ml_collections.ConfigDict,
        variables: Any,
        step: int | None = None,
    ):
        missing = [k for k in DATA_KEYS if k not in data_cfg]
        if missing:
            raise UserError(f"config.data lacks {missing}: is it a rhovid run's config?")
        self.model = build_backbone(model_cfg)
        self.data_cfg = data_cfg
        self.variables = {"params": variables["params"], "batch_stats": variables.get("batch_stats") or {}}
        self.step = step
        self._feature_fn = features_lib.make_feature_fn(self.model.apply, data_cfg)

    @property
    def num_features(self) -> int:
        return self.model.num_features

    def embed_clips(self, clips: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Features float32 [K, D] of uint8 clips [K, T, C, C, 3] (BN in inference mode).

        Clips run in batches of min(`batch_size`, K rounded up to a power of two), the last one
        padded, so that a handful of compiled programs serve videos of any length.
        """
        clips = np.asarray(clips)
        if clips.ndim != 5 or clips.dtype != np.uint8:
            raise ValueError(f"Expected uint8 clips [K, T, H, W, 3]; got {clips.dtype} {clips.shape}.")
        n = len(clips)
        size = min(batch_size, 1 << max(n - 1, 0).bit_length())
        out = []
        for lo in range(0, n, size):
            chunk = clips[lo : lo + size]
            pad = size - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
            feats = self._feature_fn(self.variables, chunk)["features"]
            out.append(np.asarray(jax.device_get(feats))[: size - pad])
        return np.concatenate(out) if out else np.zeros((0, self.num_features), np.float32)

    def embed_file(
        self,
        path: str,
        *,
        num_clips: int | None = None,
        hop_s: float | None = None,
        short_side: int | None = None,
        batch_size: int = 64,
    ) -> ClipFeatures:
        """Decodes `path`, cuts it into clips (see `clip_indices`) and embeds every clip.

        Args:
          path: a video file.
          num_clips: K evenly spaced clips (the evaluation's placement); None: every `hop_s`.
          hop_s: seconds between clip starts; None = back-to-back clips.
          short_side: decode to this short side. None: the evaluation's (`eval_short_side`), so the
            source is resampled once and the centre crop needs no resize. Pass the short side a
            dataset was prepared at (256; the demo's 64) to resample twice exactly as its reader does.
          batch_size: clips per forward pass.
        """
        d = self.data_cfg
        short_side = eval_short_side(d) if short_side is None else short_side
        frames, fps = read_video(path, max_fps=d.target_fps, short_side=short_side)
        indices = clip_indices(len(frames), fps, d, num_clips=num_clips, hop_s=hop_s)
        clips = crop_clips(frames, indices, d)
        return ClipFeatures(
            features=self.embed_clips(clips, batch_size), starts_s=indices[:, 0] / fps, clips=clips, fps=float(fps)
        )

    def embed_split(
        self,
        split: str,
        *,
        label_keys: Sequence[str] | None = None,
        num_clips: int = 1,
        batch_size: int = 32,
        data_cfg: ml_collections.ConfigDict | None = None,
    ) -> SplitFeatures:
        """Features of every video of a prepared split (mean over `num_clips` evaluation clips).

        Args:
          split: e.g. "test".
          label_keys: labels to return (default `data.label_key`), e.g. ("digit", "motion").
          num_clips: evenly spaced clips per video, averaged.
          batch_size: videos per batch.
          data_cfg: read this dataset instead of the run's (`name`, `data_dir`); clip settings
            still come from the run.
        """
        from rhovid.data.reading import streams  # TensorFlow only when used

        d = self.data_cfg if data_cfg is None else data_cfg
        keys = tuple(label_keys) if label_keys else (d.label_key,)
        source = streams.make_eval_source(
            d, split, batch_size=batch_size, num_clips=num_clips, num_crops=1, label_keys=keys
        )
        feats, labels = [], {k: [] for k in keys}
        for batch in source:
            clips, mask = batch["clips"], np.asarray(batch["mask"])  # [B, V, T, C, C, 3], [B]
            b, v = clips.shape[:2]
            out = self.embed_clips(clips.reshape((b * v,) + clips.shape[2:]), batch_size=b * v)
            feats.append(out.reshape(b, v, -1).mean(1)[mask])
            for k in keys:
                labels[k].append(np.asarray(batch["label"][k])[mask])
        return SplitFeatures(np.concatenate(feats), {k: np.concatenate(x) for k, x in labels.items()})


def load(path: str, step: int | None = None) -> Embedder:
    """The backbone of a rhovid workdir (latest checkpoint, or `step`) with its run's data settings.

    Args:
      path: a pretraining workdir, or a directory written by `rhovid.tools.convert`.
      step: which checkpoint; default the latest.
    """
    pretrained = checkpoint.load_pretrained(path, step=step)
    saved = pretrained.config
    # Keys added to the schema after the run was saved take their defaults.
    # An imported checkpoint's method may be "supervised" or "unknown": the model and data blocks
    # do not depend on it, so any method's defaults fill them.
    method = saved.get("method")
    default = config_lib.base_config(method if method in config_lib.METHODS else "byol")
    merged = {
        block: ml_collections.ConfigDict(
            {**default[block].to_dict(), **(saved[block].to_dict() if block in saved else {})}
        )
        for block in ("model", "data")
    }
    return Embedder(
        merged["model"],
        merged["data"],
        {"params": pretrained.params, "batch_stats": pretrained.batch_stats},
        pretrained.step,
    )
