"""Prepared datasets on disk: each process's slice of a split, its raw records, the broken ones skipped.

How a training stream is made deterministic and resumable. Each process reads a contiguous,
disjoint slice of the split's examples (TFDS file instructions, so any number of hosts works and
every example is read by exactly one host). Epoch e of a host is its files in an order drawn from
(seed, process, e), interleaved, then a shuffle buffer seeded the same way (`host_split`). The
streams (`rhovid.data.reading.streams`) then seed every random choice of the p-th record a host
reads from (seed, process, p), so a run resumed at step k starts at position k·B_local and skips
the records before it undecoded.

A broken record never stops training. A corrupt or truncated TFRecord shard ends that shard's
slice at its first unreadable record (TFRecord has no index to resynchronise on); that record and
the rest of the slice come out as empty placeholders, so stream positions, and with them resuming
and the per-example seeds, do not depend on what could be read. Those placeholders, records that do
not parse and sampled frames that are not valid JPEGs are then dropped from training streams, each
logged as a warning naming the shard file and record and counted (`SkipReport`, logged by the loop
as `data/skipped_records`). Good data streams exactly as before; with dropped records a stream stays
deterministic, but a run resumed at step k repeats as many records as were dropped before step k.
Evaluation streams fail instead (an unreadable record with its shard file and index): every example
must count there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from rhovid.data import registry
from rhovid.data.reading import sampling

_READ_BUFFER = 8 << 20  # bytes per open TFRecord file: a video record is a few MB
_plain = tf.autograph.experimental.do_not_convert  # our dataset functions use tf.cond explicitly


@dataclasses.dataclass(frozen=True)
class HostSplit:
    """One process's part of a split: `num_local` examples starting at global index `first`."""

    num_examples: int  # in the whole split
    first: int
    num_local: int
    read: Callable[[tf.Tensor | None, int], tf.data.Dataset]  # (epoch key | None, buffer) -> `_records`
    parse: Callable[[tf.Tensor], dict[str, tf.Tensor]]  # raw -> example


def host_split(data_cfg: Any, split: str, process_index: int, process_count: int) -> HostSplit:
    if registry.kind(data_cfg) == "synthetic":
        raise ValueError("config.data.name='synthetic' has no files; use rhovid.data.reading.sources.")
    builder = registry.open_dataset(data_cfg)
    try:
        info = builder.info.splits[split]
    except (KeyError, ValueError) as e:
        raise ValueError(f"Split {split!r} not in {data_cfg.name}; it has {sorted(builder.info.splits.keys())}.") from e
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

    return HostSplit(n, lo, hi - lo, read, parse)


def _records(file: tf.Tensor, skip: tf.Tensor, take: tf.Tensor) -> tf.data.Dataset:
    """Records [skip, skip + take) of one TFRecord file: dict(file, index=int64, record=string).

    Exactly `take` elements, whatever the file holds. TFRecordDataset stops at the first record it
    cannot read (a DataLossError: bad checksum, or a file cut short; or a missing file), and
    `ignore_errors` turns that into the end of the file; the records read before it are kept, and
    every index from it on comes out with an empty `record`, which `decode_or_skip` reports.
    """
    good = tf.data.TFRecordDataset(file, buffer_size=_READ_BUFFER).skip(skip).take(take)
    padded = good.ignore_errors(log_warning=True).concatenate(tf.data.Dataset.from_tensors(b"").repeat())
    return tf.data.Dataset.zip(
        {
            "file": tf.data.Dataset.from_tensors(file).repeat(),
            "index": tf.data.Dataset.range(skip, skip + take),  # ends the zip after `take` elements
            "record": padded,
        }
    )


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
            check = tf.debugging.Assert(
                self._in_a_row.assign_add(1) < self.max_in_a_row,
                [
                    f"{self.max_in_a_row} records in a row of {self.what} could not be read or decoded "
                    "(see the warnings above); the dataset looks broken: prepare it again."
                ],
            )
            with tf.control_dependencies([check]):
                logged = tf.py_function(self._log, [meta["file"], meta["index"], meta["unreadable"]], tf.bool)
            return tf.reshape(logged, [])

        return tf.cond(ok, good, broken)

    def _log(self, file: tf.Tensor, index: tf.Tensor, unreadable: tf.Tensor) -> bool:
        self.count += 1
        name = file.numpy().decode()
        n = self._per_file[name] = self._per_file.get(name, 0) + 1
        if n & (n - 1) == 0:  # 1, 2, 4, 8, ...
            why = (
                "unreadable: the shard is corrupt or cut short at or before it, and TFRecord cannot "
                "resynchronise, so the rest of the shard is skipped too"
                if unreadable
                else "it does not parse as an example, or a sampled frame is not a valid JPEG"
            )
            logging.warning(
                "Skipped record %d of %s: %s (skipped so far: %d in this file, %d in all).",
                int(index),
                name,
                why,
                n,
                self.count,
            )
        return False


def decode_or_skip(ds: tf.data.Dataset, fn: Callable, parallel: int, skips: SkipReport) -> tf.data.Dataset:
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

    ds = ds.interleave(
        _plain(attempt), cycle_length=parallel, block_length=1, num_parallel_calls=parallel, deterministic=True
    )
    return ds.filter(_plain(skips.keep)).map(_plain(lambda out, ok, meta: out))
