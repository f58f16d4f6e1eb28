"""Tests of rhovid.embed: a video file in, one backbone feature per clip out.

What is checked, and against what:
  * the features see time: identical clips give identical features, a clip played backwards gives
    different ones (the Slow backbone's res4/res5 have temporal kernels), and features of a file
    equal the features of its clips embedded directly;
  * clip placement: back-to-back clips cover the video at the run's stride, `hop_s` overlaps them,
    `num_clips` spaces them as the evaluation does, a video shorter than a clip loops;
  * pixels: clips cut from a prepared dataset's stored frames are identical to the evaluation
    reader's (`make_eval_source`), and a decoded file's clip is its frames at the stride;
  * retrieval helpers: cosine similarity and nearest neighbours against a hand-made case.

The backbone is the demo's (depth 14, width 8) with random weights drawn in NumPy from the model's
shapes: compiling flax's initialiser costs a minute on a loaded CPU, and the tests need only some
fixed, non-degenerate weights.
"""

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from rhovid import checkpoint, embed, presets
from rhovid import config as config_lib
from rhovid.data import records
from rhovid.data.preparation.builders import demo as demo_data
from rhovid.data.reading import streams


def _random_variables(model, clip_shape, seed=0):
    """He-normal kernels, unit BN scales and running variances, zero biases and means."""
    shapes = jax.eval_shape(
        lambda x: model.init(jax.random.key(0), x, train=False), jax.ShapeDtypeStruct((1,) + clip_shape, np.float32)
    )
    rng = np.random.default_rng(seed)

    def fill(path, s):
        name = str(path[-1].key)
        if name in ("scale", "var"):
            return np.ones(s.shape, s.dtype)
        if name in ("bias", "mean"):
            return np.zeros(s.shape, s.dtype)
        fan_in = int(np.prod(s.shape[:-1]))
        return (rng.standard_normal(s.shape) * np.sqrt(2.0 / fan_in)).astype(s.dtype)

    return jax.tree_util.tree_map_with_path(fill, shapes)


@pytest.fixture(scope="module")
def embedder():
    c = presets.apply(config_lib.base_config("simclr"), "demo")
    d = c.data
    model = embed.build_backbone(c.model)
    return embed.Embedder(c.model, d, _random_variables(model, (d.num_frames, d.crop_size, d.crop_size, 3)))


@pytest.fixture(scope="module")
def video():
    """A 48-frame demo video (a moving digit, 64², 10 fps) and its rendering info."""
    return demo_data.render_video(demo_data.demo_config(num_frames=48), "test", 3)


def test_identical_clips_match_and_reversed_clips_differ(embedder, video):
    frames, _ = video
    d = embedder.data_cfg
    clip = embed.crop_clips(frames, embed.clip_indices(len(frames), d.target_fps, d), d)[1]  # [T, C, C, 3]
    feats = embedder.embed_clips(np.stack([clip, clip, clip[::-1]]))
    assert feats.shape == (3, embedder.num_features) == (3, 8 * 8 * 4) and feats.dtype == np.float32
    assert np.all(np.isfinite(feats)) and np.linalg.norm(feats[0]) > 0
    np.testing.assert_array_equal(feats[0], feats[1])
    assert np.linalg.norm(feats[0] - feats[2]) > 1e-2 * np.linalg.norm(feats[0])


def test_clip_indices_placement():
    d = presets.apply(config_lib.base_config("simclr"), "demo").data  # T=4, stride 2 at 10 fps
    back_to_back = embed.clip_indices(48, 10.0, d)
    np.testing.assert_array_equal(back_to_back, np.arange(48).reshape(6, 8)[:, ::2])
    hop = embed.clip_indices(48, 10.0, d, hop_s=0.4)  # 4 frames apart: 11 overlapping clips
    assert hop.shape == (11, 4) and hop[1, 0] == 4 and hop[-1, -1] == 46
    # A 5-fps source: the stride of 2 frames at 10 fps is 1 stored frame.
    np.testing.assert_array_equal(embed.clip_indices(8, 5.0, d), [[0, 1, 2, 3], [4, 5, 6, 7]])
    even = embed.clip_indices(48, 10.0, d, num_clips=3)
    np.testing.assert_array_equal(even[:, 0], [0, 20, 40])  # first starts, last ends the video
    np.testing.assert_array_equal(embed.clip_indices(5, 10.0, d), [[0, 2, 4, 1]])  # loops


def test_embed_file(embedder, video, tmp_path):
    frames, _ = video
    path = embed.write_video(str(tmp_path / "digit.mp4"), frames, fps=10)
    out = embedder.embed_file(path)
    d = embedder.data_cfg
    assert out.fps == 10.0 and out.clips.shape == (6, d.num_frames, d.crop_size, d.crop_size, 3)
    np.testing.assert_allclose(out.starts_s, [0.0, 0.8, 1.6, 2.4, 3.2, 4.0])
    np.testing.assert_array_equal(out.features, embedder.embed_clips(out.clips))
    # The clip is the video's frames 8..14 step 2, resized to the crop (the demo evaluates whole
    # frames): compare with the rendered frames, up to H.264 and resampling error.
    small = frames[8:16:2].reshape(4, 32, 2, 32, 2, 3).mean(axis=(2, 4))
    assert np.abs(out.clips[1].astype(float) - small).mean() < 8
    # Overlapping clips, run 8 at a time (11 = 8 + 3 padded): clip 2 starts at frame 8, as clip 1 above.
    hop = embedder.embed_file(path, hop_s=0.4, batch_size=8)
    assert len(hop.features) == 11 and hop.starts_s[2] == 0.8
    np.testing.assert_array_equal(hop.clips[2], out.clips[1])
    np.testing.assert_allclose(hop.features[2], out.features[1], rtol=1e-5, atol=1e-6)


def test_clips_match_the_evaluation_reader(embedder, tmp_path):
    sizes = dict(num_train=0, num_test=2, num_frames=16)
    data_dir = str(tmp_path / "data")
    path = demo_data.ensure_demo_dataset(data_dir, **sizes)
    d = embedder.data_cfg.copy_and_resolve_references()
    with d.unlocked():
        d.name, d.data_dir = demo_data.dataset_name(**sizes), data_dir
    reader = next(iter(streams.make_eval_source(d, "test", batch_size=2, num_clips=3, num_crops=1)))
    stored = tfds.builder_from_directory(path).as_dataset(
        split="test", decoders={records.VIDEO: tfds.decode.SkipDecoding()}
    )
    assert list(reader["index"]) == [0, 1] and reader["clips"].shape[:2] == (2, 3)
    for i, ex in enumerate(stored.as_numpy_iterator()):
        jpegs = list(ex[records.VIDEO])
        indices = embed.clip_indices(len(jpegs), float(ex[records.FPS]), d, num_clips=3)
        np.testing.assert_array_equal(embed.crop_clips(jpegs, indices, d), reader["clips"][i])


def test_similarity_and_neighbours():
    x = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    sim = embed.cosine_similarity(x)
    np.testing.assert_allclose(np.diag(sim), 1.0)
    np.testing.assert_allclose(sim[0, 3], -1.0)
    np.testing.assert_array_equal(embed.nearest_neighbours(sim, 2, exclude_self=True)[:, 0], [1, 0, 1, 2])
    np.testing.assert_array_equal(embed.nearest_neighbours(embed.cosine_similarity(x[:1], x), 1), [[0]])


def test_load_reads_a_workdir_and_fills_keys_it_predates(embedder, video, tmp_path):
    c = presets.apply(config_lib.base_config("simclr"), "demo")
    with c.unlocked():
        del c.model["matmul_forms"]  # a run saved before this key existed
        c.data.frame_stride = 4  # the clip settings come from the saved run
    v = embedder.variables
    checkpoint.write_imported(str(tmp_path), c, {"backbone": v["params"]}, {"backbone": v["batch_stats"]}, step=7)
    loaded = embed.load(str(tmp_path))
    assert loaded.step == 7 and loaded.data_cfg.frame_stride == 4 and loaded.model.matmul_forms == "auto"
    frames, _ = video
    clips = embed.crop_clips(frames, embed.clip_indices(len(frames), 10.0, loaded.data_cfg), loaded.data_cfg)
    assert clips.shape[0] == 3  # 48 frames / (4 frames × stride 4)
    np.testing.assert_allclose(loaded.embed_clips(clips), embedder.embed_clips(clips), rtol=1e-5, atol=1e-6)
