"""Tests of the tf.data reader on tiny datasets written by tests/dataset_fixtures.py.

Frames carry their own identity in their colour (R = 4·frame index, G = 8·video), so a decoded
pixel tells which video and frame the pipeline really read: clip positions, strides, host shards
and eval views are checked against the specification's arithmetic, not the code's own output.
"""

import os

import dataset_fixtures as fx
import numpy as np
import pytest
import tensorflow as tf

from rhovid import config
from rhovid.data import registry
from rhovid.data.reading import frames, streams

NUM_VIDEOS, NUM_FRAMES, T, TAU, CROP = 12, 40, 4, 4, 16


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tfds"))
    fx.coded_dataset(d, "coded", num_videos=NUM_VIDEOS, num_frames=NUM_FRAMES, num_shards=3)
    # 16 frames = exactly one clip span (T·τ): every clip starts at 0 and reads frames 0, 4, 8, 12.
    fx.coded_dataset(
        d,
        "holes",
        num_videos=4,
        num_frames=16,
        num_shards=1,
        corrupt={v: [i for i in range(16) if i % 4] for v in range(4)},
    )
    fx.coded_dataset(
        d, "gradient", num_videos=5, num_frames=NUM_FRAMES, num_shards=2, height=24, width=48, gradient=True
    )
    static = np.tile(np.random.default_rng(0).integers(0, 256, (1, 24, 32, 3), np.uint8), (8, 1, 1, 1))
    fx.write_dataset(d, "static", {"train": [fx.example(static, video_id=f"s{i}") for i in range(4)]})
    return d


def data_cfg(data_dir, name="coded", plain=False, **overrides):
    """config.data for a fixture; `plain` turns off colour, grayscale and blur (pixels keep codes)."""
    c = config.base_config("byol").data
    c.name, c.data_dir = name, data_dir
    c.num_frames, c.frame_stride, c.crop_size, c.shuffle_buffer = T, TAU, CROP, 8
    if plain:
        c.color_prob, c.grayscale_prob, c.blur_prob = 0.0, 0.0, 0.0
    for k, v in overrides.items():
        setattr(c, k, v)
    return c


def take(source, n):
    it = iter(source)
    return [next(it) for _ in range(n)]


def centre(clips):
    """The centre pixel of every frame: [..., T, S, S, 3] -> [..., T, 3]."""
    return clips[..., CROP // 2, CROP // 2, :]


@pytest.mark.parametrize("rho", [1, 2, 3])
def test_batch_shape_and_clips_read_the_sampled_frames(data_dir, rho):
    src = streams.make_pretrain_source(data_cfg(data_dir, plain=True, rho=rho), global_batch_size=4, seed=0)
    assert src.num_examples == NUM_VIDEOS
    (batch,) = take(src, 1)
    clips = batch["clips"]
    assert clips.shape == (4, max(rho, 2), T, CROP, CROP, 3) and clips.dtype == np.uint8
    px = centre(clips)  # [B, V, T, 3]
    frames, videos = fx.frame_index_of(px), fx.video_of(px)
    assert (videos == videos[:, :1, :1]).all()  # every frame of a sample from one video
    np.testing.assert_array_equal(np.diff(frames, axis=-1), TAU)  # stride τ at 30 fps
    assert frames.min() >= 0 and frames.max() < NUM_FRAMES
    if rho == 1:  # two augmented views of the same temporal clip
        np.testing.assert_array_equal(frames[:, 0], frames[:, 1])


def test_augmentation_shared_within_a_clip_and_independent_between_clips(data_dir):
    # Every frame of the "static" videos is the same texture: any difference inside a clip would
    # come from augmentation parameters changing across frames.
    for on_device in (False, True):
        cfg = data_cfg(data_dir, "static", rho=4, color_on_device=on_device, blur_prob=0.5)
        (batch,) = take(streams.make_pretrain_source(cfg, global_batch_size=4, seed=1), 1)
        clips = batch["clips"]  # [4, 4, T, S, S, 3]
        np.testing.assert_array_equal(clips, np.repeat(clips[:, :, :1], T, axis=2))
        views = clips[:, :, 0].reshape(16, -1)
        assert len({v.tobytes() for v in views}) == 16


def test_same_seed_same_bytes_other_seed_other_bytes(data_dir):
    cfg = data_cfg(data_dir, rho=2, time_diff_prob=0.3, fps_jitter=0.3, max_clip_distance_s=0.5)
    a = take(streams.make_pretrain_source(cfg, global_batch_size=4, seed=5), 4)
    c = take(streams.make_pretrain_source(cfg, global_batch_size=4, seed=6), 4)
    tf.random.set_seed(1234)  # TF's global seed must not enter (tf.data's shuffle would mix it in)
    try:
        b = take(streams.make_pretrain_source(cfg, global_batch_size=4, seed=5), 4)
    finally:
        tf.random.set_seed(None)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["clips"], y["clips"])
    assert not np.array_equal(a[0]["clips"], c[0]["clips"])


@pytest.mark.parametrize("process_count", [1, 2])
def test_resume_from_step_k_continues_the_uninterrupted_stream(data_dir, process_count):
    cfg = data_cfg(data_dir, plain=True)
    kw = dict(global_batch_size=4, seed=3, process_index=process_count - 1, process_count=process_count)
    full = take(streams.make_pretrain_source(cfg, **kw), 8)  # 12 videos / 4 per step: 2+ epochs
    for k in (2, 5):
        resumed = take(streams.make_pretrain_source(cfg, start_step=k, **kw), 8 - k)
        for i, batch in enumerate(resumed):
            np.testing.assert_array_equal(batch["clips"], full[k + i]["clips"])


def test_hosts_read_disjoint_parts_covering_the_split_and_reshuffle_each_epoch(data_dir):
    cfg = data_cfg(data_dir, plain=True)
    seen = []
    for p in range(3):
        src = streams.make_pretrain_source(cfg, global_batch_size=6, seed=0, process_index=p, process_count=3)
        batches = take(src, 6)  # 2 per step per host, 4 videos per host: 3 epochs
        vids = np.concatenate([fx.video_of(centre(b["clips"]))[:, 0, 0] for b in batches])
        epochs = vids.reshape(3, 4)
        for e in epochs:  # each epoch is a permutation of this host's videos
            np.testing.assert_array_equal(np.sort(e), np.sort(epochs[0]))
        assert len({tuple(e) for e in epochs}) > 1  # reshuffled between epochs
        seen.append(set(epochs[0]))
    assert sum(map(len, seen)) == NUM_VIDEOS and set.union(*seen) == set(range(NUM_VIDEOS))
    with pytest.raises(ValueError, match="fewer than the 13 processes"):
        streams.make_pretrain_source(cfg, global_batch_size=13, seed=0, process_count=13)


def test_only_sampled_frames_are_decoded(data_dir):
    for rho, per_video in ((2, 2 * T), (1, T)):  # ρ=1: one clip decoded once for its two views
        cfg = data_cfg(data_dir, "holes", plain=True, rho=rho)
        with frames.count_decodes() as count:
            src = streams.make_pretrain_source(cfg, global_batch_size=2, seed=0, num_steps=3)
        batches = list(src)  # the corrupt unsampled frames were never touched
        assert len(batches) == 3
        index = fx.frame_index_of(centre(np.stack([b["clips"] for b in batches])))
        np.testing.assert_array_equal(index, np.broadcast_to([0, 4, 8, 12], index.shape))
        assert count.decoded.numpy() == 3 * 2 * per_video  # 3 batches of 2 videos
        assert count.delivered.numpy() == 3 * 2 * 2 * T
        assert count.ratio() == per_video / (2 * T)  # ρ=2: 1.0; ρ=1: 0.5 decodes per frame
    # Sanity: a corrupt frame that is sampled does fail (so the test above can fail).
    cfg = data_cfg(data_dir, "holes", plain=True, frame_stride=1, num_frames=16)
    with pytest.raises(tf.errors.InvalidArgumentError):
        take(streams.make_pretrain_source(cfg, global_batch_size=2, seed=0), 1)


def test_eval_views_cover_every_example_once_with_k_clips_and_s_crops(data_dir):
    cfg = data_cfg(data_dir, "gradient", eval_crop_size=224)  # test crops at the training size
    n, k_clips, s_crops = 5, 3, 3
    indices, first = [], None
    for p in range(2):
        src = streams.make_eval_source(
            cfg, "validation", batch_size=2, num_clips=k_clips, num_crops=s_crops, process_index=p, process_count=2
        )
        batches = list(src)
        assert len(batches) == src.num_batches == 2  # ceil(ceil(5/2)/2): same on both hosts
        for b in batches:
            assert b["clips"].shape == (2, k_clips * s_crops, T, CROP, CROP, 3)
            m = b["mask"]
            indices += list(b["index"][m])
            assert (b["index"][~m] == -1).all()
            np.testing.assert_array_equal(b["label"][m], b["index"][m] % 3)
            np.testing.assert_array_equal(fx.video_of(centre(b["clips"]))[m][:, 0, 0], b["index"][m])
        first = first or batches[0]
    assert sorted(indices) == list(range(n))
    # Clips: evenly spaced starts 0, 12, 24 (max start 40 − 16); frame stride τ.
    views = centre(first["clips"][0]).reshape(k_clips, s_crops, T, 3)
    np.testing.assert_array_equal(fx.frame_index_of(views[:, 0]), [[0, 4, 8, 12], [12, 16, 20, 24], [24, 28, 32, 36]])
    # Crops: short side 24 -> 256·16/224 ≈ 18.3, so windows of 21 px at x = 0, 13, 27 of 48 px;
    # the mean blue (200·x/47) of each crop is that of its window.
    blue = first["clips"][0, :s_crops, 0, :, :, 2].astype(float).mean(axis=(1, 2))
    expected = [200 * (x0 + 10) / 47 for x0 in (0, 13, 27)]
    np.testing.assert_allclose(blue, expected, atol=6)
    again = next(
        iter(
            streams.make_eval_source(
                cfg, "validation", batch_size=2, num_clips=k_clips, num_crops=s_crops, process_count=2
            )
        )
    )
    np.testing.assert_array_equal(again["clips"], first["clips"])  # deterministic


def test_eval_views_are_the_papers_256_crops_after_a_256_short_side(data_dir):
    # The default test view (paper: short side 256, 256² crops at 224² training crops), here at
    # crop 16: short side 256·16/224 ≈ 18.29 and crops of round(18.29) = 18 px. A stored frame of
    # 24×48 px maps to windows of round(18·24/18.29) = 24 px (the whole height) at x = 0, 12, 24.
    cfg = data_cfg(data_dir, "gradient")
    assert cfg.eval_crop_size == 256 and cfg.eval_short_side == 256
    batch = next(iter(streams.make_eval_source(cfg, "validation", batch_size=2, num_clips=1, num_crops=3)))
    assert batch["clips"].shape == (2, 3, T, 18, 18, 3)
    blue = batch["clips"][0, :, 0, :, :, 2].astype(float).mean(axis=(1, 2))
    expected = [200 * (x0 + 11.5) / 47 for x0 in (0, 12, 24)]  # mean of 200·x/47 over each window
    np.testing.assert_allclose(blue, expected, atol=6)


def test_eval_label_keys_give_a_dict(data_dir):
    src = streams.make_eval_source(
        data_cfg(data_dir), "train", batch_size=4, num_clips=1, num_crops=1, label_keys=("label",)
    )
    b = next(iter(src))
    assert set(b["label"]) == {"label"} and b["clips"].shape[1] == 1
    with pytest.raises(ValueError, match="not in the dataset"):
        streams.make_eval_source(
            data_cfg(data_dir), "train", batch_size=4, num_clips=1, num_crops=1, label_keys=("motion",)
        )


def test_supervised_source_labels_match_videos(data_dir):
    cfg = data_cfg(data_dir)
    plain = take(streams.make_supervised_source(cfg, "train", global_batch_size=6, seed=0), 2)
    jittered = take(streams.make_supervised_source(cfg, "train", global_batch_size=6, seed=0, color=True), 2)
    for b, c in zip(plain, jittered):
        assert b["clips"].shape == (6, 1, T, CROP, CROP, 3) and b["label"].dtype == np.int32
        # label = video mod 3, the video read from the (unjittered) pixels
        np.testing.assert_array_equal(fx.video_of(centre(b["clips"]))[:, 0, 0] % 3, b["label"])
        np.testing.assert_array_equal(c["label"], b["label"])  # same seed, same videos
        # UCF fine-tuning jitter is always applied (p=1): every clip's colours change
        diff = np.abs(c["clips"].astype(int) - b["clips"].astype(int)).reshape(6, -1).max(axis=1)
        assert (diff > 3).all()


def test_time_difference_clips_are_gray_differences(data_dir):
    cfg = data_cfg(data_dir, plain=True, time_diff_prob=1.0)
    (b,) = take(streams.make_pretrain_source(cfg, global_batch_size=4, seed=0), 1)
    px = b["clips"].astype(int)
    # next frame is 4 levels redder: gray diff 0.2989·4/255, mapped to (d + 1)/2 ≈ 128.6/255.
    assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all()
    assert np.abs(px - 128.6).max() <= 3


def test_open_dataset_finds_the_newest_version_and_explains_missing_data(data_dir, tmp_path):
    fx.coded_dataset(str(tmp_path), "multi", num_videos=3, num_shards=1)
    newer = fx.coded_dataset(str(tmp_path), "multi", num_videos=5, num_shards=1)
    os.rename(newer, newer.replace("1.0.0", "1.10.0"))
    fx.coded_dataset(str(tmp_path), "multi", num_videos=4, num_shards=1)  # 1.0.0 again, older
    c = data_cfg(str(tmp_path), "multi")
    assert registry.open_dataset(c).info.splits["train"].num_examples == 5
    c.name = "multi/1.0.0"  # a version directory named directly
    assert registry.open_dataset(c).info.splits["train"].num_examples == 4
    c.name = "ucf101"
    with pytest.raises(FileNotFoundError, match="python -m rhovid.data.prepare --dataset=ucf101"):
        registry.open_dataset(c)
    with pytest.raises(ValueError, match="Split 'test' not in"):
        streams.make_eval_source(data_cfg(data_dir), "test", batch_size=2, num_clips=1, num_crops=1)


def test_show_tiles_raw_and_augmented_clips_and_writes_a_png(data_dir, tmp_path):
    from rhovid.data import show

    # plain: crop and flip only, which keep the flat colour codes readable in both rows.
    before, after = show.sample_clips(data_cfg(data_dir, plain=True, rho=3), num_videos=2, seed=0)
    assert before.shape == after.shape == (2, 3, T, CROP, CROP, 3)
    # Same videos and frames before and after augmentation: the indices come from the seed.
    np.testing.assert_array_equal(fx.frame_index_of(centre(before)), fx.frame_index_of(centre(after)))
    np.testing.assert_array_equal(fx.video_of(centre(before)), fx.video_of(centre(after)))
    np.testing.assert_array_equal(np.diff(fx.frame_index_of(centre(before)), axis=-1), TAU)
    image = show.mosaic(before, after)
    s, g = CROP, show.GAP
    for i, v, t in [(0, 0, 0), (1, 2, 3), (1, 1, 0)]:
        y, x = 2 * i * (s + g), (v * T + t) * (s + g) + v * g
        np.testing.assert_array_equal(image[y : y + s, x : x + s], before[i, v, t])
        np.testing.assert_array_equal(image[y + s + g : y + 2 * s + g, x : x + s], after[i, v, t])
    path = tmp_path / "clips.png"
    show.plot_clips(before, after, str(path))
    import matplotlib.image

    png = matplotlib.image.imread(str(path))
    assert png.ndim == 3 and png.shape[0] > image.shape[0] and png.shape[1] > image.shape[1]
