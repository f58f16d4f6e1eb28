"""A broken record never stops training: it is skipped, counted and logged, and nothing good is lost.

Tiny coded datasets (tests/dataset_fixtures.py: a decoded pixel tells which video it came from) are
damaged on disk: bytes overwritten in the middle of a shard, a shard cut short, a record that is
not an example, a video whose frames are not JPEGs. The videos a training stream delivers over an
epoch are compared with an independent count of the good records, read straight from the shards
with tf.data.TFRecordDataset and tf.train.Example.
"""

import os
import struct

import dataset_fixtures as fx
import pytest
import tensorflow as tf

from rhovid import config
from rhovid.data.reading import streams

NUM_VIDEOS, NUM_SHARDS, CROP = 12, 3, 16


def shard(data_dir, name, i):
    return os.path.join(data_dir, name, "1.0.0", f"{name}-train.tfrecord-{i:05d}-of-{NUM_SHARDS:05d}")


def record_spans(path):
    """(start, end) byte offsets of each record's payload: TFRecord framing is
    [length u64][crc u32][payload][crc u32]."""
    data, spans, pos = open(path, "rb").read(), [], 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        spans.append((pos + 12, pos + 12 + length))
        pos += 12 + length + 4
    return spans


def overwrite_middle(path):
    """Overwrites 16 bytes in the middle of the payload of the record at the middle of the file."""
    data = bytearray(open(path, "rb").read())
    start, end = next(s for s in record_spans(path) if s[1] > len(data) // 2)
    mid = (start + end) // 2
    data[mid : mid + 16] = b"\x00" * 16
    open(path, "wb").write(bytes(data))


def replace_record(path, index, payload):
    """Rewrites the shard with record `index` replaced by `payload` (valid framing and checksums)."""
    recs = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    recs[index] = payload
    with tf.io.TFRecordWriter(path) as w:
        for r in recs:
            w.write(r)


def readable_videos(data_dir, name):
    """Video numbers of the train records that TFRecordDataset reads and that parse as examples."""
    videos = []
    for i in range(NUM_SHARDS):
        for raw in tf.data.TFRecordDataset(shard(data_dir, name, i)).ignore_errors():
            try:
                ex = tf.train.Example.FromString(raw.numpy())
            except Exception:  # not an example: not a good record
                continue
            videos.append(int(ex.features.feature["video_id"].bytes_list.value[0].decode()[len("video") :]))
    return sorted(videos)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tfds"))
    kw = dict(num_videos=NUM_VIDEOS, num_frames=16, num_shards=NUM_SHARDS)
    fx.coded_dataset(d, "overwritten", **kw)
    overwrite_middle(shard(d, "overwritten", 1))
    fx.coded_dataset(d, "truncated", **kw)
    path = shard(d, "truncated", 2)
    os.truncate(path, int(os.path.getsize(path) * 0.6))
    fx.coded_dataset(d, "bad_content", corrupt={5: range(16)}, **kw)  # video 5: no frame is a JPEG
    replace_record(shard(d, "bad_content", 2), 1, b"not a tf.train.Example")  # video 9
    fx.coded_dataset(d, "broken", num_videos=4, num_frames=16, num_shards=1)
    os.truncate(os.path.join(d, "broken", "1.0.0", "broken-train.tfrecord-00000-of-00001"), 10)
    return d


def data_cfg(data_dir, name):
    c = config.base_config("byol").data  # ρ = 2
    c.name, c.data_dir = name, data_dir
    c.num_frames, c.frame_stride, c.crop_size, c.shuffle_buffer = 4, 4, CROP, 8
    c.color_prob, c.grayscale_prob, c.blur_prob = 0.0, 0.0, 0.0  # pixels keep their codes
    return c


def delivered_videos(source):
    """Video number of every clip the stream yields (batches of one video)."""
    return [int(fx.video_of(b["clips"][0, 0, 0, CROP // 2, CROP // 2])) for b in source]


@pytest.mark.parametrize("name, damaged", [("overwritten", 1), ("truncated", 2)])
def test_corrupt_or_truncated_shard_is_skipped_counted_and_named(data_dir, name, damaged, caplog):
    good = readable_videos(data_dir, name)
    lost = NUM_VIDEOS - len(good)
    per_shard = NUM_VIDEOS // NUM_SHARDS
    assert 0 < lost < per_shard  # the damage hit the shard after its first record
    assert sorted(set(range(NUM_VIDEOS)) - set(good)) == list(
        range((damaged + 1) * per_shard - lost, (damaged + 1) * per_shard)
    )
    with caplog.at_level("WARNING"):
        src = streams.make_pretrain_source(
            data_cfg(data_dir, name), global_batch_size=1, seed=0, num_steps=2 * NUM_VIDEOS
        )  # two epochs, no exception
        videos = delivered_videos(src)
    # Every good record exactly once per epoch; the broken ones counted each time they come up.
    assert sorted(videos[: len(good)]) == good and sorted(videos[len(good) :]) == good
    assert src.skipped_records == 2 * lost
    warnings = [r.getMessage() for r in caplog.records if "Skipped record" in r.getMessage()]
    assert warnings and all(shard(data_dir, name, damaged) in w for w in warnings)
    assert "corrupt or cut short" in warnings[0]
    # Evaluation must see every example: it fails, naming the record and the shard.
    eval_src = streams.make_eval_source(data_cfg(data_dir, name), "train", batch_size=2, num_clips=1, num_crops=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"Unreadable record.*{name}-train.tfrecord-0000{damaged}"):
        list(eval_src)


def test_record_that_does_not_parse_or_decode_is_skipped(data_dir, caplog):
    good = sorted(set(range(NUM_VIDEOS)) - {5, 9})
    assert readable_videos(data_dir, "bad_content") == sorted(set(range(NUM_VIDEOS)) - {9})
    with caplog.at_level("WARNING"):
        src = streams.make_pretrain_source(
            data_cfg(data_dir, "bad_content"), global_batch_size=2, seed=1, num_steps=NUM_VIDEOS // 2
        )  # one epoch of positions
        batches = list(src)
    assert len(batches) == len(good) // 2
    videos = [int(v) for b in batches for v in fx.video_of(b["clips"][:, 0, 0, CROP // 2, CROP // 2])]
    assert sorted(videos) == good and src.skipped_records == 2
    warnings = sorted(r.getMessage() for r in caplog.records if "Skipped record" in r.getMessage())
    assert len(warnings) == 2 and all("does not parse as an example, or a sampled frame" in w for w in warnings)
    assert shard(data_dir, "bad_content", 1) in warnings[0] and shard(data_dir, "bad_content", 2) in warnings[1]


def test_a_dataset_with_nothing_readable_fails_instead_of_spinning(data_dir):
    src = streams.make_pretrain_source(data_cfg(data_dir, "broken"), global_batch_size=2, seed=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="8 records in a row of broken/train"):
        next(iter(src))
