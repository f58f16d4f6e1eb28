"""The embedded demo dataset: synthetic videos of real handwritten digits, built on first use.

Each video shows one of scikit-learn's bundled UCI handwritten digits (1797 grey 8×8 images, no
download), rendered smoothly at ~32 px, moving over a background shared by every video. A video
carries two labels, so that probes can measure what a representation holds:

  digit   the digit's class (appearance), 10 classes; also stored as `label`.
  motion  the digit's speed, 3 classes: `slow`, `medium`, `fast` (0.4, 1.2 and 3.6 px per frame
          at 64 px, ×3 apart so that crop-scale augmentation, which changes apparent speed by up
          to ~2×, cannot turn one into another). The start is uniform, and the heading is drawn
          afresh (uniform) every 8 frames, so neither a frame nor the direction of motion (which
          a random network reads easily, and which would otherwise be a per-video constant)
          says anything about it; it needs ≥2 frames and a speed estimate.
          Measured with benchmarks/demo_task_check.py: a tiny 3-D CNN learns it from 4-frame
          clips (90 %), not from single frames (33 %), and at random initialisation a linear
          probe on its features, or a ResNet3D-18's, reads it at chance (34 %, 32 %): a gain on
          it must be learnt. (A linear probe on four raw frames reads it slightly: ~39 %.)

Shortcut-free by construction (issue 5): train, validation and test draw on disjoint sets of
source images; positions start uniformly and the digit bounces off the edges; nothing is constant within a
video yet different between videos except the digit and its speed (the heading changes): the
background texture and colours are shared by all videos, the noise is fresh in every frame, and
the nuisances (the digit's rotation wobble, scale pulse, elastic deformation, a drifting lighting
gradient and gain, an occluding band sweeping down) follow periods common to all videos with
per-video random phases. Those nuisances change a video over time in ways spatial augmentation
cannot imitate, which is what gives temporal persistence (ρ > 1) something to teach. The digit's
ink is normalised across source images, so total brightness does not reveal the class.

The data is written by a TFDS `GeneratorBasedBuilder` in the standard records format
(`rhovid.data.records`), and read back exactly like real data. Use `ensure_demo_dataset`. The
default size (1800 train + 600 test videos of 32 frames at 64 px, 183 MB) takes about a minute
of one CPU core to build (~25 ms a video: rendering, JPEG, TFDS).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging
from scipy import ndimage
from sklearn import datasets as sk_datasets

from rhovid.data import records

DIGIT_NAMES = tuple(str(d) for d in range(10))
MOTION_NAMES = ("slow", "medium", "fast")
SOURCE_INDEX = "source_index"  # extra int feature: row of sklearn's load_digits() per video
SPLITS = ("train", "validation", "test")
# Disjoint shares of each digit class's source images, per split.
SOURCE_FRACTIONS = {"train": 0.6, "validation": 0.15, "test": 0.25}

# Rendering constants, in pixels of a 64-px frame (scaled with the frame size) and in frames.
_SPEEDS = (0.4, 1.2, 3.6)  # px / frame of each motion class
_TURN_EVERY = 8  # frames between fresh uniform headings (at a per-video random offset)
_WOBBLE_DEG, _WOBBLE_PERIOD = 25.0, 20.0  # in-plane rotation of the digit
_SCALE_AMP, _SCALE_PERIOD = 0.12, 28.0  # relative size pulse of the digit
_DEFORM_AMP, _DEFORM_PERIOD = 0.35, 14.0  # elastic wave, in source (8×8) pixels
_GAIN_AMP, _GAIN_PERIOD = 0.2, 26.0  # global lighting gain
_GRADIENT_AMP, _GRADIENT_PERIOD = 0.25, 36.0  # lighting gradient whose direction turns
_BAND_HEIGHT, _BAND_SPEED = 6.0, 1.0  # occluding horizontal band sweeping down (px, px/frame)
_NOISE_STD = 0.05  # fresh per pixel and frame; grey, since JPEG (4:2:0) would drop colour noise
_DIGIT_RGB = np.array([0.95, 0.9, 0.8], np.float32)
_BAND_RGB = np.array([0.2, 0.22, 0.25], np.float32)
_UPSAMPLE = 4  # the sprite's cubic upsampling, before bilinear sampling per frame
_INK = 18.0  # total ink of every source image (the raw ones span 11.6 to 27.1, median 19.6)


class DemoConfig(tfds.core.BuilderConfig):
    """Sizes of the demo dataset; a non-default config is stored under its own name."""

    def __init__(
        self,
        *,
        num_train: int = 1800,
        num_validation: int = 0,
        num_test: int = 600,
        num_frames: int = 32,
        size: int = 64,
        digit_size: int = 32,
        fps: float = 10.0,
        seed: int = 0,
        nuisance: float = 0.5,
        name: str | None = None,
    ):
        """Creates a config.

        Args:
          num_train: videos in `train`; the other two likewise (0 drops the split). Multiples of 30
            balance both labels exactly (see video_plan).
          num_validation: videos in `validation`.
          num_test: videos in `test`.
          num_frames: frames per video.
          size: height = width of the frames, in pixels.
          digit_size: side of the rendered digit at rest, in pixels (8 source pixels).
          fps: the frame rate recorded in the `fps` feature.
          seed: the seed of every random choice (source split, labels, nuisances, noise).
          nuisance: a factor on every nuisance's strength (rotation wobble, scale pulse,
            deformation, lighting gain and gradient, occluding band height, noise): 0 gives plain
            moving digits, 0.5 the default. Lower makes the digit easier to learn, higher harder
            (measured: at 1 with 24-px digits, self-supervision did not lift the digit probe
            of the `:demo` network above random init in 336 steps).
          name: the config name; derived from the values when None.
        """
        counts = {"train": num_train, "validation": num_validation, "test": num_test}
        for key, value in counts.items():
            if value < 0:
                raise ValueError(f"num_{key}={value} must be >= 0.")
        if num_frames < 2 or size < 16 or not 4 <= digit_size <= size // 2 or not 0 <= nuisance <= 2:
            raise ValueError(
                f"Need num_frames >= 2, size >= 16, 4 <= digit_size <= size // 2 and "
                f"0 <= nuisance <= 2; got num_frames={num_frames}, size={size}, "
                f"digit_size={digit_size}, nuisance={nuisance}."
            )
        self.counts = counts
        self.num_frames, self.size, self.digit_size = num_frames, size, digit_size
        self.fps, self.seed, self.nuisance = float(fps), seed, float(nuisance)
        if name is None:
            name = (
                f"tr{num_train}_va{num_validation}_te{num_test}_f{num_frames}_s{size}"
                f"_d{digit_size}_fps{fps:g}_seed{seed}_n{nuisance:g}"
            )
            if name == _DEFAULT_SIZES_NAME:
                name = "default"
        super().__init__(name=name, description="Moving handwritten digits, two labels.")


_DEFAULT_SIZES_NAME = "tr1800_va0_te600_f32_s64_d32_fps10_seed0_n0.5"
DEFAULT_CONFIG = DemoConfig()


@functools.lru_cache(maxsize=1)
def _sources() -> tuple[np.ndarray, np.ndarray]:
    """Returns the ink-normalised source digits [1797, 8, 8] in [0, 1] and their classes [1797]."""
    digits = sk_datasets.load_digits()
    images = digits.images.astype(np.float32) / 16.0  # [N, 8, 8]
    # Equal total ink per image (up to clipping, mean error 0.07): brightness says nothing.
    ink = images.sum(axis=(1, 2), keepdims=True)
    images = np.clip(images * (_INK / ink), 0.0, 1.0)
    return images, digits.target.astype(np.int64)


def split_sources(seed: int = 0) -> dict[str, np.ndarray]:
    """Splits the 1797 source images into disjoint, class-stratified sets per split.

    Args:
      seed: the permutation seed.

    Returns:
      {split: sorted indices into `sklearn.datasets.load_digits().images`}, disjoint.
    """
    _, targets = _sources()
    rng = np.random.default_rng([seed, 7])
    parts = {split: [] for split in SPLITS}
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(targets == digit))
        cuts = np.cumsum([round(SOURCE_FRACTIONS[s] * len(members)) for s in SPLITS[:-1]])
        for split, chunk in zip(SPLITS, np.split(members, cuts)):
            parts[split].append(chunk)
    return {split: np.sort(np.concatenate(chunks)) for split, chunks in parts.items()}


def video_plan(config: DemoConfig, split: str) -> list[tuple[int, int, int]]:
    """The (digit, motion, source_index) of every video of `split`, balanced over both labels.

    Video i gets digit i % 10 and motion (i // 10) % 3, so that counts are equal per class whenever
    the split size is a multiple of 30 (and differ by at most one otherwise). Source images of a
    class are used in a seeded random order, cycling, so each is used about equally often.

    Args:
      config: the dataset config.
      split: one of SPLITS.

    Returns:
      A list of `config.counts[split]` triples.
    """
    _, targets = _sources()
    pool = split_sources(config.seed)[split]
    rng = np.random.default_rng([config.seed, SPLITS.index(split), 11])
    per_class = [rng.permutation(pool[targets[pool] == d]) for d in range(10)]
    plan = []
    for i in range(config.counts[split]):
        digit, motion = i % 10, (i // 10) % len(MOTION_NAMES)
        # Each run of 30 videos holds every (digit, motion) pair once.
        members = per_class[digit]
        plan.append((digit, motion, int(members[(i // 10) % len(members)])))
    return plan


@functools.cache
def _sprite(source_index: int) -> np.ndarray:
    """Source digit `source_index`, zero-padded by 3 (so it fades out) and cubic-spline upsampled
    `_UPSAMPLE`× once, for cheap bilinear sampling per frame. Returns float32 [14F, 14F]."""
    padded = np.pad(_sources()[0][source_index], 3)  # [14, 14]
    grid = (np.arange(14 * _UPSAMPLE, dtype=np.float32) + 0.5) / _UPSAMPLE - 0.5  # in source indices
    sprite = ndimage.map_coordinates(
        padded, np.meshgrid(grid, grid, indexing="ij"), order=3, mode="constant", output=np.float32
    )
    sprite.setflags(write=False)
    return sprite


@functools.lru_cache(maxsize=4)
def _background(size: int, seed: int) -> np.ndarray:
    """The texture shared by every video: smooth, periodic, low contrast. Returns [S, S, 3]."""
    rng = np.random.default_rng([seed, 3])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) * (2 * np.pi / size)
    texture = np.zeros((size, size, 3), np.float32)
    for _ in range(6):
        fx, fy = rng.integers(-3, 4, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        texture += np.sin(fx * xx + fy * yy + phase)[..., None] * rng.uniform(0.5, 1.0, size=3)
    texture /= np.abs(texture).max()
    return (np.array([0.32, 0.34, 0.36], np.float32) + 0.07 * texture).astype(np.float32)


def render_video(
    config: DemoConfig, split: str, index: int, plan: list[tuple[int, int, int]] | None = None
) -> tuple[np.ndarray, dict]:
    """Renders video `index` of `split`, deterministically from (config.seed, split, index).

    Args:
      config: the dataset config.
      split: one of SPLITS.
      index: the video's position in `video_plan(config, split)`.
      plan: `video_plan(config, split)`, if already computed (saves recomputing it per video).

    Returns:
      (frames, info): frames uint8 [T, S, S, 3]; info {'digit', 'motion', 'source_index',
      'centre', 'path'}: the digit's (x, y) centre per frame in the frame, in pixels, float64
      [T, 2], and the same path unfolded (before the reflections off the edges: its steps have
      the class's speed).
    """
    digit, motion, source_index = (plan or video_plan(config, split))[index]
    num_frames, size = config.num_frames, config.size
    k = size / 64.0  # pixel quantities are given for 64-px frames
    rng = np.random.default_rng([config.seed, SPLITS.index(split), index, 5])
    t = np.arange(num_frames, dtype=np.float32)[:, None, None]  # [T, 1, 1]
    phase = lambda: rng.uniform(0, 2 * np.pi)

    # Digit centre: the class's speed along a path with a fresh uniform heading every _TURN_EVERY
    # frames, reflected off the frame's edges (a margin keeps the whole digit in view: a digit
    # wrapped across the border, as on a torus, is cut in two pieces on opposite sides, which
    # measurably hid the digit from every probe). The start is uniform over the reachable square.
    a = config.nuisance  # strength of every nuisance
    segment = (np.arange(num_frames) + rng.integers(_TURN_EVERY)) // _TURN_EVERY  # [T]
    heading = rng.uniform(0, 2 * np.pi, size=segment[-1] + 1)[segment]  # [T]
    steps = _SPEEDS[motion] * k * np.stack([np.cos(heading), np.sin(heading)], axis=-1)  # [T, 2] (x, y)
    margin = 0.5 * config.digit_size * (1 + a * _SCALE_AMP)
    room = size - 2 * margin  # side of the square the centre moves in
    path = rng.uniform(0, 2 * room, size=2) + np.concatenate([[[0, 0]], np.cumsum(steps[:-1], 0)])
    centre = margin + room - np.abs(np.mod(path, 2 * room) - room)  # [T, 2], reflected into the square

    # Digit window: a W×W square anchored at the centre's pixel (what falls outside is cut); it holds
    # every pixel whose source coordinates fall within ±5 source pixels (ink, spline, deformation).
    half = min(size // 2, int(np.ceil(5 * np.sqrt(2) * config.digit_size / 8 * (1 + a * _SCALE_AMP))))
    anchor = np.floor(centre).astype(np.int64)  # [T, 2]
    frac = (centre - anchor).astype(np.float32)  # [T, 2]
    offsets = np.arange(-half, half, dtype=np.float32) + 0.5  # [W], pixel centres from the anchor
    dx = offsets[None, None, :] - frac[:, 0, None, None]  # [T, 1, W]
    dy = offsets[None, :, None] - frac[:, 1, None, None]  # [T, W, 1]
    # Frame offsets -> digit-source coordinates: un-rotate, un-scale, deform.
    angle = a * np.deg2rad(_WOBBLE_DEG) * np.sin(2 * np.pi * t / _WOBBLE_PERIOD + phase())
    scale = 1.0 + a * _SCALE_AMP * np.sin(2 * np.pi * t / _SCALE_PERIOD + phase())
    px_per_source = (config.digit_size / 8.0 * scale).astype(np.float32)  # [T, 1, 1]
    cos, sin = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    u = (cos * dx + sin * dy) / px_per_source  # [T, W, W], source pixels from the digit centre
    v = (-sin * dx + cos * dy) / px_per_source
    wave = (2 * np.pi * t / _DEFORM_PERIOD).astype(np.float32)
    u, v = (
        u + a * _DEFORM_AMP * np.sin(np.float32(2 * np.pi / 8) * v + wave + np.float32(phase())),
        v + a * _DEFORM_AMP * np.sin(np.float32(2 * np.pi / 8) * u + wave + np.float32(phase())),
    )
    # Source coordinate c (pixel centres 0..7 at c = -3.5..3.5) is fine-sprite index (c + 7)·F − 0.5.
    fine = [(v + 7.0) * _UPSAMPLE - 0.5, (u + 7.0) * _UPSAMPLE - 0.5]
    window = ndimage.map_coordinates(
        _sprite(source_index), fine, order=1, mode="constant", prefilter=False, output=np.float32
    )  # [T, W, W]
    span = np.arange(-half, half)
    rows = anchor[:, 1, None] + span + half  # [T, W], in a canvas padded by `half` on each side
    cols = anchor[:, 0, None] + span + half
    canvas = np.zeros((num_frames, size + 2 * half, size + 2 * half), np.float32)
    canvas[np.arange(num_frames)[:, None, None], rows[:, :, None], cols[:, None, :]] = window
    alpha = np.clip(canvas[:, half : half + size, half : half + size], 0.0, 1.0)[..., None]  # [T, S, S, 1]

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5  # [S, S]
    # Lighting: a global gain and a gradient whose direction turns, both with random phases.
    gain = 1.0 + a * _GAIN_AMP * np.sin(2 * np.pi * t / _GAIN_PERIOD + phase())
    direction = 2 * np.pi * t / _GRADIENT_PERIOD + phase()
    ramp = ((xx - size / 2) * np.cos(direction) + (yy - size / 2) * np.sin(direction)) / (size / 2)
    light = (gain * (1.0 + a * _GRADIENT_AMP * ramp)).astype(np.float32)[..., None]  # [T, S, S, 1]

    # Occluding band, in front of the digit, sweeping down with wrap-around.
    band_top = (rng.uniform(0, size) + _BAND_SPEED * k * t) % size  # [T, 1, 1]
    in_band = ((yy[None, :, :1] - band_top) % size < a * _BAND_HEIGHT * k)[..., None]  # [T, S, 1, 1]

    background = _background(size, config.seed)  # [S, S, 3]
    scene = alpha * (_DIGIT_RGB - background) + background  # [T, S, S, 3]
    scene = np.where(in_band, _BAND_RGB, scene)
    scene *= light
    scene += a * _NOISE_STD * rng.standard_normal(size=alpha.shape, dtype=np.float32)  # grey noise
    frames = np.clip(scene * 255.0 + 0.5, 0, 255).astype(np.uint8)
    info = {"digit": digit, "motion": motion, "source_index": source_index, "centre": centre, "path": path}
    return frames, info


# ----------------------------------------------------------------------------------------------
# The TFDS builder.


@tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)], autograph=False)
def _encode_jpeg(frames: tf.Tensor) -> tf.Tensor:
    """JPEG-encodes frames [T, H, W, 3] at the records quality. Returns tf.string [T]."""
    return tf.map_fn(
        lambda frame: tf.io.encode_jpeg(frame, quality=records.JPEG_QUALITY),
        frames,
        fn_output_signature=tf.string,
    )


def features() -> tfds.features.FeaturesDict:
    """The demo's features: the records format, `label` = `digit`, `motion`, `source_index`."""
    spec = records.features(class_names=DIGIT_NAMES, extra_labels={"digit": DIGIT_NAMES, "motion": MOTION_NAMES})
    return tfds.features.FeaturesDict({**dict(spec.items()), SOURCE_INDEX: tfds.features.Scalar(dtype=tf.int32)})


class RhovidDemo(tfds.core.GeneratorBasedBuilder):
    """Moving handwritten digits with a digit and a motion label; see the module docstring."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "The digit bounces off the edges instead of wrapping; default digit 32 px, nuisance 0.5.",
    }
    BUILDER_CONFIGS = [DEFAULT_CONFIG]

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> None:
        """No checksums file to look for; TFDS's lookup would import the undeclared importlib_resources."""
        return None

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=features(),
            supervised_keys=None,
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # nothing to download: the digits ship with scikit-learn
        counts = self.builder_config.counts
        return {split: self._generate_examples(split) for split in SPLITS if counts[split]}

    def _generate_examples(self, split: str):
        config = self.builder_config
        plan = video_plan(config, split)
        for i in range(len(plan)):
            frames, info = render_video(config, split, i, plan)  # [T, S, S, 3]
            yield (
                i,
                {
                    records.VIDEO: list(_encode_jpeg(frames).numpy()),
                    records.NUM_FRAMES: frames.shape[0],
                    records.FPS: config.fps,
                    records.VIDEO_ID: f"demo_{split}_{i:05d}",
                    records.LABEL: info["digit"],
                    "digit": info["digit"],
                    "motion": info["motion"],
                    SOURCE_INDEX: info["source_index"],
                },
            )


def demo_config(**size_kwargs) -> DemoConfig:
    """The `DemoConfig` of `size_kwargs` (see DemoConfig); the registered default when empty."""
    config = DemoConfig(**size_kwargs)
    return DEFAULT_CONFIG if config.name == DEFAULT_CONFIG.name else config


def dataset_name(**size_kwargs) -> str:
    """The `config.data.name` that reads this demo config: `rhovid_demo/<config name>`."""
    return f"{RhovidDemo.name}/{demo_config(**size_kwargs).name}"


def ensure_demo_dataset(data_dir: str | None, **size_kwargs) -> str:
    """Builds the demo dataset under `data_dir` unless it is already there.

    Idempotent, and deterministic: the same sizes give the same bytes. Each size config lives in
    its own directory, `<data_dir>/rhovid_demo/<config name>/1.0.0`, so configs never overwrite
    each other; `dataset_name(**size_kwargs)` is the `config.data.name` that reads it.

    Args:
      data_dir: the TFDS data directory (`config.data.data_dir`); None for ~/tensorflow_datasets.
      **size_kwargs: DemoConfig arguments (num_train, num_validation, num_test, num_frames, size,
        digit_size, fps, seed, nuisance); the defaults when empty.

    Returns:
      The dataset directory, for `tfds.builder_from_directory`.
    """
    data_dir = os.path.expanduser(data_dir or "~/tensorflow_datasets")
    builder = RhovidDemo(data_dir=data_dir, config=demo_config(**size_kwargs))
    if not tf.io.gfile.exists(os.path.join(os.fspath(builder.data_dir), "dataset_info.json")):
        logging.info("Building the demo dataset %s in %s.", builder.builder_config.name, data_dir)
        builder.download_and_prepare(
            download_dir=os.path.join(data_dir, "downloads"),
            download_config=tfds.download.DownloadConfig(try_download_gcs=False),
        )
    return os.fspath(builder.data_dir)
