"""Tiny datasets in rhovid's records format, written directly for the reader's tests.

The preparation tool (`rhovid.data.prepare`) is tested on its own; the reader's tests need datasets
whose every byte they control: frames whose colour encodes their index (so a decoded pixel says
which frame it came from), deliberately corrupt JPEG bytes, several shards. `write_dataset` writes
TFRecord shards with the `records.features()` spec and the TFDS metadata, so that
`tfds.builder_from_directory` reads them exactly like a prepared dataset.

Frame colour code (`coded_frames`): R = 4·(frame index), G = 8·(video number mod 32), B = 128 (or,
with `gradient`, B rising from 0 at the left edge to 200 at the right); flat frames survive JPEG to
within ±2, so `frame_index_of(pixel)` and `video_of(pixel)` recover them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from rhovid.data import records

CORRUPT = b"\xff\xd8\xff\xe0 this is not a jpeg"


def coded_frames(video: int, num_frames: int, height: int = 24, width: int = 32, gradient: bool = False) -> np.ndarray:
    """uint8 [num_frames, height, width, 3]: frames whose colour encodes (video, frame)."""
    if num_frames > 64:
        raise ValueError("coded_frames encodes at most 64 frames (R = 4·index).")
    f = np.zeros((num_frames, height, width, 3), np.uint8)
    f[..., 0] = (4 * np.arange(num_frames))[:, None, None]
    f[..., 1] = 8 * (video % 32)
    f[..., 2] = np.round(200 * np.arange(width) / (width - 1)) if gradient else 128
    return f


def frame_index_of(pixels: np.ndarray) -> np.ndarray:
    """Frame index from the R channel of `pixels` [..., 3] (inverse of `coded_frames`)."""
    return np.round(pixels[..., 0].astype(np.float64) / 4).astype(int)


def video_of(pixels: np.ndarray) -> np.ndarray:
    """Video number (mod 32) from the G channel of `pixels` [..., 3]."""
    return np.round(pixels[..., 1].astype(np.float64) / 8).astype(int)


def encode(frames: np.ndarray, quality: int = 95) -> list[bytes]:
    """JPEG-encode frames [N, H, W, 3] uint8."""
    return [tf.io.encode_jpeg(f, quality=quality).numpy() for f in frames]


def example(
    frames: np.ndarray | Sequence[bytes],
    *,
    fps: float = 30.0,
    video_id: str = "v",
    label: int | None = None,
    corrupt: Sequence[int] = (),
    **extra_labels: int,
) -> dict:
    """One example dict; `frames` as pixels (encoded here) or already-encoded bytes.

    Frames listed in `corrupt` are replaced by bytes that no JPEG decoder accepts.
    """
    encoded = encode(frames) if isinstance(frames, np.ndarray) else list(frames)
    for i in corrupt:
        encoded[i] = CORRUPT
    ex = {
        records.VIDEO: encoded,
        records.NUM_FRAMES: len(encoded),
        records.FPS: fps,
        records.VIDEO_ID: video_id,
    }
    if label is not None:
        ex[records.LABEL] = label
    ex.update(extra_labels)
    return ex


def write_dataset(
    data_dir: str,
    name: str,
    splits: dict[str, list[dict]],
    *,
    num_shards: int | dict[str, int] = 1,
    class_names: Sequence[str] | None = None,
    extra_labels: dict[str, Sequence[str]] | None = None,
    version: str = "1.0.0",
) -> str:
    """Writes `splits` (name -> examples) as TFDS `data_dir/name/version`; returns that directory.

    Example i of a split goes to shard i·num_shards // len(examples), so shards are contiguous.
    """
    out = os.path.join(data_dir, name, version)
    os.makedirs(out, exist_ok=True)
    features = records.features(class_names=class_names, extra_labels=extra_labels)
    split_infos = []
    for split, examples in splits.items():
        shards = num_shards if isinstance(num_shards, int) else num_shards[split]
        template = tfds.core.ShardedFileTemplate(
            data_dir=out, dataset_name=name, split=split, filetype_suffix="tfrecord"
        )
        lengths = [0] * shards
        writers = [tf.io.TFRecordWriter(os.fspath(p)) for p in template.sharded_filepaths(shards)]
        for i, ex in enumerate(examples):
            s = i * shards // len(examples)
            writers[s].write(features.serialize_example(ex))
            lengths[s] += 1
        for w in writers:
            w.close()
        split_infos.append(
            tfds.core.SplitInfo(name=split, shard_lengths=lengths, num_bytes=0, filename_template=template)
        )
    tfds.folder_dataset.write_metadata(data_dir=out, features=features, split_infos=split_infos, check_data=False)
    return out


def coded_dataset(
    data_dir: str,
    name: str = "coded",
    *,
    num_videos: int = 12,
    num_frames: int | Sequence[int] = 40,
    fps: float = 30.0,
    num_shards: int = 3,
    num_classes: int = 3,
    height: int = 24,
    width: int = 32,
    corrupt: dict[int, Sequence[int]] | None = None,
    gradient: bool = False,
) -> str:
    """A labelled train/validation dataset of `coded_frames` videos (label = video mod classes)."""
    lengths = [num_frames] * num_videos if isinstance(num_frames, int) else list(num_frames)
    examples = [
        example(
            coded_frames(v, lengths[v], height, width, gradient),
            fps=fps,
            video_id=f"video{v}",
            label=v % num_classes,
            corrupt=(corrupt or {}).get(v, ()),
        )
        for v in range(num_videos)
    ]
    return write_dataset(
        data_dir,
        name,
        {"train": examples, "validation": examples},
        num_shards=num_shards,
        class_names=[f"class{c}" for c in range(num_classes)],
    )
