"""The on-disk format of every rhovid video dataset: one TFDS dataset of JPEG frames per video.

A video is stored once, decoded at preparation time, as a sequence of JPEG-encoded frames at a fixed
frame rate and short side (DMVR-style). The reader loads the encoded strings without decoding them
(`tfds.decode.SkipDecoding()` on the `video` feature), picks the ρ×T frames a batch needs, and
JPEG-decodes only those.

Keys of one example:
    video       Video of JPEG frames; with SkipDecoding, a tf.string tensor [num_frames]
    num_frames  int32, frames actually decoded and stored (never the container's header value)
    fps         float32, frame rate of the stored frames
    video_id    text, a stable id (file stem, or YouTube id + time span for Kinetics)
    label       ClassLabel (only in labelled datasets; the demo adds `digit` and `motion`)
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_datasets as tfds

VIDEO = "video"
NUM_FRAMES = "num_frames"
FPS = "fps"
VIDEO_ID = "video_id"
LABEL = "label"
LABELS = "labels"  # multi-label datasets (Charades): a sequence of class indices

DEFAULT_SHORT_SIDE = 256
DEFAULT_MAX_FPS = 30.0
JPEG_QUALITY = 90


def features(
    class_names: Sequence[str] | None = None,
    extra_labels: dict[str, Sequence[str]] | None = None,
    multi_label: bool = False,
) -> tfds.features.FeaturesDict:
    """The TFDS feature spec: video + metadata, a `label` if `class_names`, and named extra labels."""
    spec = {
        VIDEO: tfds.features.Video(shape=(None, None, None, 3), encoding_format="jpeg"),
        NUM_FRAMES: tfds.features.Scalar(dtype=tf.int32),
        FPS: tfds.features.Scalar(dtype=tf.float32),
        VIDEO_ID: tfds.features.Text(),
    }
    if class_names is not None and multi_label:
        spec[LABELS] = tfds.features.Sequence(tfds.features.ClassLabel(names=list(class_names)))
    elif class_names is not None:
        spec[LABEL] = tfds.features.ClassLabel(names=list(class_names))
    for key, names in (extra_labels or {}).items():
        spec[key] = tfds.features.ClassLabel(names=list(names))
    return tfds.features.FeaturesDict(spec)
