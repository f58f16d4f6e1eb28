"""Segment-based (TSN-style) sampling of the SSv2 protocol, against a hand computation."""

from __future__ import annotations

import dataset_fixtures as fx
import numpy as np

from rhovid import config
from rhovid.data.reading import sampling, segments, streams


def test_segment_bounds_and_centres_by_hand():
    # N = 30, T = 8: seg = 29/8 = 3.625; round(3.625·i) for i = 0..8 (half to even: 14.5 -> 14)
    # = 0, 4, 7, 11, 14, 18, 22, 25, 29.
    start, end = (x.numpy().tolist() for x in segments.segment_bounds(30, 8))
    assert start == [0, 4, 7, 11, 14, 18, 22, 25] and end == [4, 7, 11, 14, 18, 22, 25, 29]
    centre = segments.segment_indices(None, 30, 8, train=False).numpy()
    np.testing.assert_array_equal(centre, [[2, 5, 9, 12, 16, 20, 23, 27]])  # ⌊(start + end)/2⌋
    # A video shorter than T: N = 5, seg = 0.5, round(0.5·i) = 0, 0, 1, 2, 2, 2, 3, 4, 4.
    np.testing.assert_array_equal(segments.segment_indices(None, 5, 8, train=False), [[0, 0, 1, 2, 2, 2, 3, 4]])


def test_training_frames_cover_each_segment_inclusively():
    seen = np.stack(
        [segments.segment_indices(sampling.make_key(s), 30, 8, train=True).numpy()[0] for s in range(300)]
    )  # [300, 8]
    for i, (lo, hi) in enumerate(zip([0, 4, 7, 11, 14, 18, 22, 25], [4, 7, 11, 14, 18, 22, 25, 29])):
        assert set(seen[:, i]) == set(range(lo, hi + 1))  # 4-5 values each, 300 draws: all appear


def test_pipeline_reads_segment_frames(tmp_path):
    d = str(tmp_path)
    fx.coded_dataset(d, "coded", num_videos=4, num_frames=30, num_shards=1)
    c = config.base_config("byol").data
    c.name, c.data_dir, c.num_frames, c.crop_size = "coded", d, 8, 16
    c.temporal_sampling, c.flip, c.num_test_clips, c.num_test_crops = "segments", False, 1, 1
    c.color_prob = c.grayscale_prob = c.blur_prob = 0.0
    batch = next(iter(streams.make_eval_source(c, "validation", batch_size=4, num_clips=1, num_crops=1)))
    frames = fx.frame_index_of(batch["clips"][:, 0, :, 8, 8])  # [B, T]
    np.testing.assert_array_equal(frames, np.tile([2, 5, 9, 12, 16, 20, 23, 27], (4, 1)))
    train = next(iter(streams.make_supervised_source(c, "train", global_batch_size=4, seed=0)))
    got = fx.frame_index_of(train["clips"][:, 0, :, 8, 8])
    lo, hi = np.array([0, 4, 7, 11, 14, 18, 22, 25]), np.array([4, 7, 11, 14, 18, 22, 25, 29])
    assert ((got >= lo) & (got <= hi)).all()
