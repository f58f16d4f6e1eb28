"""The tf.data reader: per-host shards, seeded epochs, ρ clips per video, only their frames decoded.

Three sources, all yielding numpy batches of uint8 clips (normalisation happens in the step):

    make_pretrain_source    endless, ρ augmented clips per video            [B, V, T, S, S, 3]
    make_supervised_source  endless, one jittered clip per video + label    [B, 1, T, S, S, 3]
    make_eval_source        one pass, K clips × S crops per video + mask    [B, K·S, T, S, S, 3]

How a training stream is made deterministic and resumable. Each process reads a contiguous,
disjoint slice of the split's examples (TFDS file instructions, so any number of hosts works and
every example is read by exactly one host). Epoch e of a host is its files in an order drawn from
(seed, process, e), interleaved, then a shuffle buffer seeded the same way. Stream position p (the
p-th record this host ever reads) picks every random choice of that example from the stateless
seed (seed, process, p), so the output is independent of parallelism and thread timing. Resuming at
step k starts at position k·B_local: whole epochs before it are never read, and the examples of the
current epoch before it are skipped as serialized records, before any parsing or JPEG decoding.

Per video, `sampling` chooses the frame indices and `augment` the crop window before decoding; only
those ρ×T frames are decoded, each straight into its window (`tf.io.decode_and_crop_jpeg`).

A broken record never stops training. A corrupt or truncated TFRecord shard ends that shard's
slice at its first unreadable record (TFRecord has no index to resynchronise on); that record and
the rest of the slice come out as empty placeholders, so stream positions, and with them resuming
and the per-example seeds, do not depend on what could be read. Those placeholders, records that do
not parse and sampled frames that are not valid JPEGs are then dropped from training streams, each
logged as a warning naming the shard file and record and counted (`Source.skipped_records`, logged
by the trainer as `data/skipped_records`). Good data streams exactly as before; with dropped records
a stream stays deterministic, but a run resumed at step k (stream position k·B_local) repeats as
many records as were dropped before step k. Evaluation sources fail instead (an unreadable record
with its shard file and index): every example must count there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from rhovid.data import augment, records, sampling, segments

_FOREVER = 2**62
_READ_BUFFER = 8 << 20  # bytes per open TFRecord file: a video record is a few MB
# libjpeg's fast integer IDCT: ~15% more clips per core than the accurate one, for differences of
# a gray level or two that no augmented clip will notice (used for training and test alike).
_DCT_METHOD = "INTEGER_FAST"
_plain = tf.autograph.experimental.do_not_convert  # our dataset functions use tf.cond explicitly
_COUNTERS: list[DecodeCount] = []  # set by `count_decodes` (tests, benchmarks)


# ----------------------------------------------------------------------------------------------
# Finding and slicing the data.


def open_dataset(data_cfg: Any) -> tfds.core.DatasetBuilder:
    """The prepared TFDS dataset `data_cfg.data_dir/data_cfg.name[/config]/<version>`.

    A directory holding `dataset_info.json` is used as is; otherwise the newest version directory
    below it (or below its single config directory) is.

    Raises:
      FileNotFoundError: nothing prepared there (the message gives the prepare command).
      ValueError: several configs, or a dataset that is not in rhovid's records format.
    """
    root = os.path.expanduser(data_cfg.data_dir or "~/tensorflow_datasets")
    path = os.path.join(root, data_cfg.name)
    found = _find_prepared(path)
    if not found:
        raise FileNotFoundError(
            f"No prepared dataset at {path} (config.data.name={data_cfg.name!r}, "
            f"config.data.data_dir={data_cfg.data_dir!r}). Prepare it first, e.g.\n"
            f"  python -m rhovid.data.prepare --dataset={data_cfg.name.split('/')[0]} "
            f"--source=/path/to/videos --out={root}"
        )
    if len(found) > 1:
        names = sorted(os.path.relpath(os.path.dirname(f), root) for f in found)
        raise ValueError(f"{path} holds several datasets {names}; set config.data.name to one of them.")
    builder = tfds.builder_from_directory(found[0])
    keys = set(builder.info.features.keys())
    missing = {records.VIDEO, records.NUM_FRAMES, records.FPS} - keys
    if missing or builder.info.file_format != tfds.core.FileFormat.TFRECORD:
        raise ValueError(
            f"{found[0]} is not a rhovid records dataset (missing features {sorted(missing)}, "
            f"file format {builder.info.file_format}); prepare it with `python -m rhovid.data.prepare`."
        )
    return builder


def _find_prepared(path: str) -> list[str]:
    """Directories at `path`, `path/<version>` or `path/<config>/<version>` with dataset_info.json."""
    if tf.io.gfile.exists(os.path.join(path, "dataset_info.json")):
        return [path]
    if not tf.io.gfile.isdir(path):
        return []
    newest = _newest_version(path)
    if newest:
        return [newest]
    subdirs = [os.path.join(path, d.rstrip("/")) for d in tf.io.gfile.listdir(path)]
    return [v for v in map(_newest_version, filter(tf.io.gfile.isdir, subdirs)) if v]


def _newest_version(path: str) -> str | None:
    versions = [
        d.rstrip("/")
        for d in tf.io.gfile.listdir(path)
        if re.fullmatch(r"\d+\.\d+\.\d+/?", d)
        and tf.io.gfile.exists(os.path.join(path, d.rstrip("/"), "dataset_info.json"))
    ]
    if not versions:
        return None
    return os.path.join(path, max(versions, key=lambda v: tuple(map(int, v.split(".")))))


@dataclasses.dataclass(frozen=True)
class _HostSplit:
    """One process's part of a split: `num_local` examples starting at global index `first`."""

    num_examples: int  # in the whole split
    first: int
    num_local: int
    read: Callable[[tf.Tensor | None, int], tf.data.Dataset]  # (epoch key | None, buffer) -> `_records`
    parse: Callable[[tf.Tensor], dict[str, tf.Tensor]]  # raw -> example


def _host_split(data_cfg: Any, split: str, process_index: int, process_count: int) -> _HostSplit:
    if data_cfg.name == "synthetic":
        raise ValueError("config.data.name='synthetic' has no files; use rhovid.data.sources.")
    builder = open_dataset(data_cfg)
    try:
        info = builder.info.splits[split]
    except (KeyError, ValueError) as e:
        raise ValueError(
            f"Split {split!r} not in {data_cfg.name}; it has {sorted(builder.info.splits.keys())}."
        ) from e
    n = info.num_examples
    lo, hi = _host_range(n, process_index, process_count, f"{data_cfg.name}/{split}")
    files, skips, takes = _slice_instructions(info.file_instructions, lo, hi)
    parse = _example_parser(builder.info.features)
    skips, takes = tf.constant(skips, tf.int64), tf.constant(takes, tf.int64)

    def read(key: tf.Tensor | None, buffer: int) -> tf.data.Dataset:
        order = tf.range(len(files))
        if key is not None:  # this epoch's file order
            order = tf.argsort(tf.random.stateless_uniform([len(files)], sampling.fold_in(key, 0)))
        d = tf.data.Dataset.from_tensor_slices(
            (tf.gather(files, order), tf.gather(skips, order), tf.gather(takes, order))
        )
        d = d.interleave(
            _plain(_records),
            cycle_length=1 if key is None else min(len(files), 16),
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if key is not None and buffer > 1:
            # tf.data mixes TF's global seed (tf.random.set_seed) into a shuffle's seed; clearing
            # it on this traced function's graph makes the order depend on our seed alone.
            tf.compat.v1.get_default_graph().seed = None
            d = d.shuffle(buffer, seed=_int_seed(sampling.fold_in(key, 1)))
        return d

    return _HostSplit(n, lo, hi - lo, read, parse)


def _records(file: tf.Tensor, skip: tf.Tensor, take: tf.Tensor) -> tf.data.Dataset:
    """Records [skip, skip + take) of one TFRecord file: dict(file, index=int64, record=string).

    Exactly `take` elements, whatever the file holds. TFRecordDataset stops at the first record it
    cannot read (a DataLossError: bad checksum, or a file cut short; or a missing file), and
    `ignore_errors` turns that into the end of the file; the records read before it are kept, and
    every index from it on comes out with an empty `record`, which `_decode_or_skip` reports.
    """
    good = tf.data.TFRecordDataset(file, buffer_size=_READ_BUFFER).skip(skip).take(take)
    padded = good.ignore_errors(log_warning=True).concatenate(tf.data.Dataset.from_tensors(b"").repeat())
    return tf.data.Dataset.zip({
        "file": tf.data.Dataset.from_tensors(file).repeat(),
        "index": tf.data.Dataset.range(skip, skip + take),  # ends the zip after `take` elements
        "record": padded,
    })


def _example_parser(features: tfds.features.FeaturesDict) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    """Parses a serialized example into scalars and the [num_frames] JPEG strings, undecoded.

    Equivalent to `features.deserialize_example(raw, decoders={'video': SkipDecoding()})` for the
    records format, but 9× faster on a video of 300 frames (one ragged parse, no per-frame work).
    """
    spec, dtypes = {}, {}
    for key, info in features.get_serialized_info().items():
        dtype = info.tf_dtype
        wire = tf.int64 if (dtype.is_integer or dtype.is_bool) else dtype
        if info.shape == ():
            spec[key] = tf.io.FixedLenFeature([], wire)
        elif tuple(info.shape) == (None,):
            spec[key] = tf.io.RaggedFeature(wire)
        else:
            continue  # not part of the records format; the reader does not need it
        dtypes[key] = dtype

    def parse(raw: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(raw[None], spec)
        return {k: tf.cast(v[0], dtypes[k]) for k, v in parsed.items()}

    return parse


def _host_range(n: int, process_index: int, process_count: int, what: str) -> tuple[int, int]:
    if n < process_count:
        raise ValueError(
            f"{what} has {n} examples, fewer than the {process_count} processes reading it; "
            f"every process needs at least one. Use fewer hosts or more data."
        )
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index={process_index} not in [0, {process_count}).")
    return n * process_index // process_count, n * (process_index + 1) // process_count


def _slice_instructions(instructions, lo: int, hi: int) -> tuple[list[str], list[int], list[int]]:
    """The (file, skip, take) triples covering examples [lo, hi) of a split."""
    files, skips, takes, start = [], [], [], 0
    for ins in instructions:
        a, b = max(lo - start, 0), min(hi - start, ins.take)
        if a < b:
            files.append(os.fspath(ins.filename))
            skips.append(ins.skip + a)
            takes.append(b - a)
        start += ins.take
    return files, skips, takes


def _int_seed(key: tf.Tensor) -> tf.Tensor:
    return tf.random.stateless_uniform([], key, minval=0, maxval=2**31 - 1, dtype=tf.int64)


# ----------------------------------------------------------------------------------------------
# Decoding only what is used.


@dataclasses.dataclass(frozen=True)
class DecodeCount:
    """JPEG frames decoded, and frames delivered in clips, by pipelines built under `count_decodes`."""

    decoded: tf.Variable
    delivered: tf.Variable

    def ratio(self) -> float:
        """Frames decoded per frame delivered (1.0: nothing decoded in vain)."""
        return float(self.decoded.numpy()) / max(1, int(self.delivered.numpy()))


@contextlib.contextmanager
def count_decodes() -> Iterator[DecodeCount]:
    """Counts the JPEG decodes of pipelines *built* inside the block (tests, benchmarks)."""
    count = DecodeCount(*(tf.Variable(0, dtype=tf.int64, trainable=False) for _ in range(2)))
    _COUNTERS.append(count)
    try:
        yield count
    finally:
        _COUNTERS.remove(count)


def _counted(out: tf.Tensor, field: str, num: int) -> tf.Tensor:
    """`out`, after adding `num` to the active counter's `field` (no-op when not counting)."""
    if not _COUNTERS:
        return out
    with tf.control_dependencies([getattr(_COUNTERS[-1], field).assign_add(num)]):
        return tf.identity(out)


def decode_frames(strings: tf.Tensor, indices: tf.Tensor, window: tf.Tensor | None, num: int) -> tf.Tensor:
    """JPEG-decode frames `indices` [num] of `strings` [N], only inside `window` (y, x, h, w).

    Returns:
      uint8 [num, h, w, 3] (the full frames when `window` is None).
    """
    frames = []
    for t in range(num):
        s = strings[indices[t]]
        if window is None:
            frames.append(tf.io.decode_jpeg(s, channels=3, dct_method=_DCT_METHOD))
        else:
            frames.append(tf.io.decode_and_crop_jpeg(s, window, channels=3, dct_method=_DCT_METHOD))
    return _counted(tf.stack(frames), "decoded", num)


def _frame_hw(strings: tf.Tensor, index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.io.extract_jpeg_shape(strings[index])  # header only; all frames share a size
    return shape[0], shape[1]


def _views(
    key: tf.Tensor, ex: dict[str, tf.Tensor], indices: tf.Tensor, num_views: int, cfg: augment.AugmentConfig
) -> tf.Tensor:
    """The augmented uint8 views [num_views, T, S, S, 3] of clips `indices` [C, T] (C = 1 or V).

    With one clip and several views (ρ=1), the clip's frames are decoded once and each view cuts
    its own window; otherwise each clip decodes its own window only. The views run as one
    `tf.map_fn`, so the graph (and its tracing time) does not grow with ρ.
    """
    strings, n = ex[records.VIDEO], ex[records.NUM_FRAMES]
    num_clips, t_len = indices.shape
    h, w = _frame_hw(strings, indices[0, 0])
    shared = decode_frames(strings, indices[0], None, t_len) if num_clips < num_views else None
    photometric = augment.photometric_on_host(cfg)

    def one_view(v: tf.Tensor) -> tf.Tensor:
        k_crop, k_diff, k_aug = sampling.split_key(sampling.fold_in(key, v), 3)
        if cfg.crop == "inception":
            window = augment.inception_crop_window(k_crop, h, w, cfg.area_range, cfg.aspect_range)
        elif cfg.crop == "vgg":
            window = augment.vgg_crop_window(k_crop, h, w, cfg.crop_size, cfg.short_side_range)
        else:  # "center": the largest centred square (no spatial augmentation)
            window = augment.eval_crop_windows(h, w, cfg.crop_size, cfg.crop_size, 1)[0]
        idx = indices[tf.minimum(v, num_clips - 1)]

        def frames_at(i, unit=True):  # decoded, cropped, resized: float [T, S, S, 3]
            if shared is not None:
                frames, crop = decode_frames(strings, i, None, t_len), window
            else:
                frames, crop = decode_frames(strings, i, window, t_len), None
            return augment.crop_and_resize(frames, crop, cfg.crop_size, unit)

        if shared is not None:
            first = lambda unit: augment.crop_and_resize(shared, window, cfg.crop_size, unit)  # noqa: E731
        else:
            first = lambda unit: frames_at(idx, unit)  # noqa: E731
        if not photometric:  # uint8 straight through: resize, flip, round
            return augment.flip_only(k_aug, tf.cast(first(False) + 0.5, tf.uint8), cfg)  # rounded
        clip = first(True)
        if cfg.time_diff_prob > 0:  # difference with the next stored frame (looping)
            nxt = tf.math.floormod(idx + 1, tf.maximum(n, 1))
            diff = tf.random.stateless_uniform([], k_diff) < cfg.time_diff_prob
            clip = tf.cond(diff, lambda: augment.time_difference(clip, frames_at(nxt)), lambda: clip)
        return augment.to_uint8(augment.augment_clip(k_aug, clip, cfg))

    spec = tf.TensorSpec([t_len, cfg.crop_size, cfg.crop_size, 3], tf.uint8)
    views = tf.map_fn(one_view, tf.range(num_views), fn_output_signature=spec)
    return _counted(views, "delivered", num_views * t_len)


# ----------------------------------------------------------------------------------------------
# Sources.


@dataclasses.dataclass
class Source:
    """An iterable of numpy batches, and what the caller needs to know about it.

    Attributes:
      dataset: the batched tf.data pipeline (dicts of tensors).
      num_examples: videos in the whole split (all processes): steps per epoch = this / batch.
      num_batches: batches per pass for evaluation sources; None for endless streams.
      skips: what a training stream dropped (None for evaluation sources, which fail instead).
    """

    dataset: tf.data.Dataset
    num_examples: int
    num_batches: int | None = None
    skips: SkipReport | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.dataset.as_numpy_iterator())

    @property
    def skipped_records(self) -> int | None:
        """Broken records this process's stream has dropped so far (read ahead of training)."""
        return None if self.skips is None else self.skips.count


class SkipReport:
    """Counts and logs the records a training stream drops; fails when nothing is readable.

    `keep` is the stream's filter predicate. It lets good elements through; for a broken one it
    logs a warning naming the shard file, the record and why (the first, second, fourth, eighth...
    of each file, so that a shard cut in half does not flood the log every epoch) and adds one to
    `count`. Without a guard a stream whose every record is broken would spin forever looking for
    a good one, so `max_in_a_row` broken records in a row raise an InvalidArgumentError instead.
    """

    def __init__(self, max_in_a_row: int, what: str):
        self.count = 0  # records dropped so far by this source's iterators (from tf.data's threads)
        self.max_in_a_row, self.what = max_in_a_row, what
        self._per_file: dict[str, int] = {}
        self._in_a_row = tf.Variable(0, dtype=tf.int64, trainable=False)

    def keep(self, out: Any, ok: tf.Tensor, meta: dict[str, tf.Tensor]) -> tf.Tensor:
        """True for a good element; for a broken one False, after counting and logging it."""

        def good():
            with tf.control_dependencies([self._in_a_row.assign(0)]):
                return tf.constant(True)

        def broken():
            check = tf.debugging.Assert(self._in_a_row.assign_add(1) < self.max_in_a_row, [
                f"{self.max_in_a_row} records in a row of {self.what} could not be read or decoded "
                "(see the warnings above); the dataset looks broken: prepare it again."])
            with tf.control_dependencies([check]):
                logged = tf.py_function(self._log, [meta["file"], meta["index"], meta["unreadable"]], tf.bool)
            return tf.reshape(logged, [])

        return tf.cond(ok, good, broken)

    def _log(self, file: tf.Tensor, index: tf.Tensor, unreadable: tf.Tensor) -> bool:
        self.count += 1
        name = file.numpy().decode()
        n = self._per_file[name] = self._per_file.get(name, 0) + 1
        if n & (n - 1) == 0:  # 1, 2, 4, 8, ...
            why = ("unreadable: the shard is corrupt or cut short at or before it, and TFRecord cannot "
                   "resynchronise, so the rest of the shard is skipped too" if unreadable else
                   "it does not parse as an example, or a sampled frame is not a valid JPEG")
            logging.warning("Skipped record %d of %s: %s (skipped so far: %d in this file, %d in all).",
                            int(index), name, why, n, self.count)
        return False


def _decode_or_skip(ds: tf.data.Dataset, fn: Callable, parallel: int, skips: SkipReport) -> tf.data.Dataset:
    """`ds.map(fn)` over (position, `_records` element) pairs, without the broken records.

    A tf.data function has no try/except, but `ignore_errors` drops an element whose computation
    raises: applied to a one-element dataset per record, it turns a record that does not parse or
    a frame that does not decode (and the empty placeholder of an unreadable one) into a fallback
    element, which `skips.keep` counts, logs and filters out. Every inner dataset yields exactly one
    element, so the deterministic interleave keeps the input order (as `map` would).
    """

    def attempt(p, raw):
        readable = tf.strings.length(raw["record"]) > 0
        meta = {"file": raw["file"], "index": raw["index"], "unreadable": tf.logical_not(readable)}
        one = tf.data.Dataset.from_tensors(p).filter(_plain(lambda _: readable))
        done = one.map(_plain(lambda q: fn(q, raw["record"]))).ignore_errors()
        fallback = tf.nest.map_structure(lambda spec: tf.zeros(spec.shape, spec.dtype), done.element_spec)
        done = done.map(_plain(lambda out: (out, tf.constant(True, tf.bool), meta)))
        return done.concatenate(tf.data.Dataset.from_tensors((fallback, tf.constant(False, tf.bool), meta))).take(1)

    ds = ds.interleave(_plain(attempt), cycle_length=parallel, block_length=1, num_parallel_calls=parallel,
                       deterministic=True)
    return ds.filter(_plain(skips.keep)).map(_plain(lambda out, ok, meta: out))


PretrainSource = Source


def _options() -> tf.data.Options:
    opts = tf.data.Options()
    opts.deterministic = True
    opts.experimental_optimization.map_parallelization = True
    return opts


def _parallel(data_cfg: Any) -> int:
    return tf.data.AUTOTUNE if data_cfg.num_parallel_calls < 0 else int(data_cfg.num_parallel_calls)


def _local_batch(global_batch_size: int, process_count: int) -> int:
    if global_batch_size % process_count:
        raise ValueError(
            f"global batch {global_batch_size} is not divisible by process_count={process_count}."
        )
    return global_batch_size // process_count


def _stream(
    data_cfg: Any, split: str, fn: Callable, *, global_batch_size: int, seed: int, start_step: int,
    process_index: int, process_count: int, num_steps: int | None,
) -> Source:
    """Seeded epochs of one host's slice from step `start_step`, mapped by fn(key, ex)."""
    local = _local_batch(global_batch_size, process_count)
    part = _host_split(data_cfg, split, process_index, process_count)
    base = sampling.make_key(seed, process_index)
    start = start_step * local
    epoch, offset = divmod(start, part.num_local)

    def one_epoch(e):
        return part.read(sampling.fold_in(sampling.fold_in(base, 1), e), data_cfg.shuffle_buffer)

    raw = tf.data.Dataset.range(epoch, _FOREVER).flat_map(_plain(one_epoch)).skip(offset)  # skip, undecoded
    if num_steps is not None:
        raw = raw.take(num_steps * local)
    ds = tf.data.Dataset.zip(tf.data.Dataset.range(start, _FOREVER), raw)
    # Between two good records there are at most 2·(num_local − 1) broken ones (end of one epoch,
    # start of the next): more in a row means nothing is readable.
    skips = SkipReport(2 * part.num_local, f"{data_cfg.name}/{split}")
    ds = _decode_or_skip(
        ds, lambda p, r: fn(sampling.fold_in(sampling.fold_in(base, 2), p), part.parse(r)),
        _parallel(data_cfg), skips,
    )
    ds = ds.batch(local, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return Source(ds.with_options(_options()), part.num_examples, skips=skips)


def make_pretrain_source(
    data_cfg: Any, *, global_batch_size: int, seed: int, start_step: int = 0,
    process_index: int = 0, process_count: int = 1, num_steps: int | None = None,
    augmentation: augment.AugmentConfig | None = None,
) -> PretrainSource:
    """The endless pretraining stream: dict(clips=uint8 [B_local, V, T, S, S, 3]).

    V = ρ clips per video, or 2 views of one clip when ρ=1. Crop and flip are applied here, and
    colour jitter, grayscale and blur too unless `data_cfg.color_on_device` (then the train step
    calls `device_augment.color_augment`). Batches from `start_step` are exactly those an
    uninterrupted run with the same seed produces at that step. `num_steps` ends the stream after
    that many batches (None: endless); `augmentation` replaces the one `data_cfg` describes (the
    frame indices stay those of the seed, e.g. to show clips before augmentation).
    """
    cfg = augmentation or augment.AugmentConfig.pretrain(data_cfg)
    rho = int(data_cfg.rho)
    if rho < 1:
        raise ValueError(f"config.data.rho must be >= 1; got {rho}.")

    def fn(key, ex):
        k_idx, k_views = sampling.split_key(key, 2)
        indices = sampling.sample_clips(
            k_idx, ex[records.NUM_FRAMES], ex[records.FPS], num_clips=rho,
            clip_len=data_cfg.num_frames, frame_stride=data_cfg.frame_stride,
            target_fps=data_cfg.target_fps, min_distance_s=data_cfg.min_clip_distance_s,
            max_distance_s=data_cfg.max_clip_distance_s, fps_jitter=data_cfg.fps_jitter,
        )  # [ρ, T]
        return {"clips": _views(k_views, ex, indices, max(rho, 2), cfg)}

    return _stream(
        data_cfg, data_cfg.train_split, fn, global_batch_size=global_batch_size, seed=seed,
        start_step=start_step, process_index=process_index, process_count=process_count,
        num_steps=num_steps,
    )


def make_supervised_source(
    data_cfg: Any, split: str, *, global_batch_size: int, seed: int, start_step: int = 0,
    process_index: int = 0, process_count: int = 1, color: bool = False, num_steps: int | None = None,
) -> Source:
    """Endless labelled training views: dict(clips=uint8 [B_local, 1, T, S, S, 3], label=int32).

    One random clip per video, short side U[256, 320]·S/224, random S² crop, flip (SPEC.md §5);
    with `color`, jitter (0.4, 0.4, 0.4, 0.1) and grayscale p=0.2 (UCF101 fine-tuning).
    """
    cfg = augment.AugmentConfig.supervised(data_cfg, color)
    label_key = data_cfg.label_key
    segmented = data_cfg.get("temporal_sampling", "clips") == segments.SEGMENTS  # SSv2 (data/segments.py)

    def fn(key, ex):
        k_idx, k_views = sampling.split_key(key, 2)
        indices = sampling.sample_clips(
            k_idx, ex[records.NUM_FRAMES], ex[records.FPS], num_clips=1,
            clip_len=data_cfg.num_frames, frame_stride=data_cfg.frame_stride,
            target_fps=data_cfg.target_fps,
        ) if not segmented else segments.segment_indices(k_idx, ex[records.NUM_FRAMES], data_cfg.num_frames, train=True)
        return {"clips": _views(k_views, ex, indices, 1, cfg), "label": _label(ex, label_key)}

    return _stream(
        data_cfg, split, fn, global_batch_size=global_batch_size, seed=seed,
        start_step=start_step, process_index=process_index, process_count=process_count,
        num_steps=num_steps,
    )


def _label(ex: dict[str, tf.Tensor], key: str) -> tf.Tensor:
    if key not in ex:
        raise ValueError(f"Label {key!r} not in the dataset; it has {sorted(ex)}.")
    return tf.cast(ex[key], tf.int32)


def make_eval_source(
    data_cfg: Any, split: str, *, batch_size: int, num_clips: int, num_crops: int,
    process_index: int = 0, process_count: int = 1, label_keys: Sequence[str] | None = None,
) -> Source:
    """Deterministic test views, every example exactly once over all processes.

    Yields dict(clips=uint8 [B, K·S, T, C, C, 3] (view k·S+s = clip k, crop s), label=int32 [B]
    (or a dict {key: int32 [B]} for `label_keys`), index=int64 [B] (example index in the split,
    −1 for padding), mask=bool [B]). K clips evenly spaced over the video (K=1: centre clip),
    S crops of C = crop_size after resizing the short side to eval_short_side·C/224, spaced along
    the long side (S=1: centre). The last batches are padded (mask False) so that every process
    yields `num_batches` batches.
    """
    part = _host_split(data_cfg, split, process_index, process_count)
    size, t_len = data_cfg.crop_size, data_cfg.num_frames
    short = augment.scale_to_crop(data_cfg.eval_short_side, size)
    keys = tuple(label_keys) if label_keys else (data_cfg.label_key,)
    segmented = data_cfg.get("temporal_sampling", "clips") == segments.SEGMENTS
    if segmented and num_clips != 1:
        raise ValueError(f"Segment sampling has one view per video; set data.num_test_clips=1, not {num_clips}.")

    def fn(index, raw):
        readable = tf.debugging.Assert(tf.strings.length(raw["record"]) > 0, [
            "Unreadable record (the shard is corrupt or truncated there): record", raw["index"], "of",
            raw["file"]])
        with tf.control_dependencies([readable]):
            ex = part.parse(tf.identity(raw["record"]))
        strings = ex[records.VIDEO]
        indices = sampling.uniform_clips(
            ex[records.NUM_FRAMES], ex[records.FPS], num_clips=num_clips, clip_len=t_len,
            frame_stride=data_cfg.frame_stride, target_fps=data_cfg.target_fps,
        ) if not segmented else segments.segment_indices(None, ex[records.NUM_FRAMES], t_len, train=False)  # [K, T]
        h, w = _frame_hw(strings, indices[0, 0])
        windows = augment.eval_crop_windows(h, w, size, short, num_crops)  # [S, 4]

        def crops_of_clip(clip_indices):  # [T] -> uint8 [S, T, C, C, 3]
            frames = decode_frames(strings, clip_indices, None, t_len)
            crops = [augment.crop_and_resize(frames, windows[s], size) for s in range(num_crops)]
            return augment.to_uint8(tf.stack(crops))

        spec = tf.TensorSpec([num_crops, t_len, size, size, 3], tf.uint8)
        views = tf.map_fn(crops_of_clip, indices, fn_output_signature=spec)  # [K, S, T, C, C, 3]
        labels = {k: _label(ex, k) for k in keys}
        return {
            "clips": _counted(
                tf.reshape(views, [num_clips * num_crops, t_len, size, size, 3]),
                "delivered", num_clips * num_crops * t_len,
            ),
            "label": labels if label_keys else labels[keys[0]],
            "index": index, "mask": tf.constant(True),
        }

    per_host = math.ceil(part.num_examples / process_count)
    num_batches = math.ceil(per_host / batch_size)
    pad = num_batches * batch_size - part.num_local
    ds = tf.data.Dataset.zip(tf.data.Dataset.range(part.first, part.first + part.num_local), part.read(None, 0))
    ds = ds.map(_plain(fn), num_parallel_calls=_parallel(data_cfg), deterministic=True)
    filler = {
        "clips": tf.zeros([num_clips * num_crops, t_len, size, size, 3], tf.uint8),
        "label": {k: tf.constant(0, tf.int32) for k in keys} if label_keys else tf.constant(0, tf.int32),
        "index": tf.constant(-1, tf.int64), "mask": tf.constant(False),
    }
    ds = ds.concatenate(tf.data.Dataset.from_tensors(filler).repeat(pad))
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return Source(ds.with_options(_options()), part.num_examples, num_batches)
