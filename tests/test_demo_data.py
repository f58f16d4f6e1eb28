"""Tests of the embedded demo dataset (rhovid.data.preparation.builders.demo).

What is checked, and against what:
  * determinism: two builds in two directories give byte-identical TFRecord files;
  * the TFDS output read like real data (builder_from_directory + SkipDecoding) decodes to the
    generator's frames up to JPEG error, with the records keys and values;
  * labels: balanced per split; `digit` and `label` agree with scikit-learn's own target of the
    stored source image;
  * no leakage: no source image is shared between splits;
  * the task: a linear probe on raw pixels is near chance on both labels, while the same probe
    on a digit-centred crop reads the digit and the true trajectory's speed gives the motion
    (positive controls, so a broken probe cannot pass); one frame says nothing about the motion;
  * noise is fresh in every frame.
"""

import os
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rhovid.data import records, registry
from rhovid.data.preparation.builders import demo

SMALL = dict(num_train=60, num_validation=30, num_test=30, num_frames=8, size=48, digit_size=16)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    return demo.ensure_demo_dataset(str(tmp_path_factory.mktemp("demo_a")), **SMALL)


def _read(path: str, split: str) -> list[dict]:
    builder = tfds.builder_from_directory(path)
    ds = builder.as_dataset(split=split, decoders={records.VIDEO: tfds.decode.SkipDecoding()})
    return list(ds.as_numpy_iterator())


def _tfrecords(path: str) -> dict[str, bytes]:
    return {
        name: open(os.path.join(path, name), "rb").read() for name in sorted(os.listdir(path)) if ".tfrecord" in name
    }


def test_build_is_deterministic_and_idempotent(small_dir, tmp_path):
    again = demo.ensure_demo_dataset(str(tmp_path), **SMALL)
    first, second = _tfrecords(small_dir), _tfrecords(again)
    assert sorted(first) == sorted(second) and len(first) == 3  # train, validation, test
    assert first == second
    # A second call on the same directory reuses the data instead of rebuilding it.
    stamp = {n: os.stat(os.path.join(again, n)).st_mtime_ns for n in second}
    assert demo.ensure_demo_dataset(str(tmp_path), **SMALL) == again
    assert {n: os.stat(os.path.join(again, n)).st_mtime_ns for n in second} == stamp
    assert again.endswith(os.path.join(demo.dataset_name(**SMALL), str(demo.RhovidDemo.VERSION)))


def test_records_decode_to_the_generated_frames(small_dir):
    config = demo.demo_config(**SMALL)
    examples = _read(small_dir, "validation")
    assert len(examples) == SMALL["num_validation"]
    digits = sk_datasets.load_digits()
    errors = []
    for ex in examples:
        assert ex[records.VIDEO].dtype == object and ex[records.VIDEO].shape == (8,)
        frames = np.stack([tf.io.decode_jpeg(s).numpy() for s in ex[records.VIDEO]])
        index = int(ex[records.VIDEO_ID].decode().rsplit("_", 1)[1])
        expected, info = demo.render_video(config, "validation", index)
        assert frames.shape == expected.shape == (8, 48, 48, 3)
        assert ex[records.NUM_FRAMES] == 8 and ex[records.FPS] == pytest.approx(config.fps)
        assert ex["digit"] == ex[records.LABEL] == info["digit"] == digits.target[ex["source_index"]]
        assert ex["motion"] == info["motion"] and ex["source_index"] == info["source_index"]
        errors.append(np.abs(frames.astype(np.float32) - expected).mean())
    # JPEG at quality 90 on noisy frames: a few grey levels on average.
    assert 0.2 < np.mean(errors) < 4.0, np.mean(errors)


def test_labels_balanced_and_sources_disjoint(small_dir):
    target = sk_datasets.load_digits().target
    sources = {}
    for split in demo.SPLITS:
        examples = _read(small_dir, split)
        n = SMALL[f"num_{split}"]
        assert len(examples) == n
        digit = np.array([e["digit"] for e in examples])
        motion = np.array([e["motion"] for e in examples])
        np.testing.assert_array_equal(np.bincount(digit, minlength=10), [n // 10] * 10)
        np.testing.assert_array_equal(np.bincount(motion, minlength=3), [n // 3] * 3)
        # Every (digit, motion) pair occurs, so neither label predicts the other.
        assert len(set(zip(digit, motion))) == 30
        sources[split] = {int(e["source_index"]) for e in examples}
        np.testing.assert_array_equal(target[sorted(sources[split])] >= 0, True)
    assert not sources["train"] & sources["test"]
    assert not sources["train"] & sources["validation"]
    assert not sources["validation"] & sources["test"]
    # The split of the whole pool: disjoint, complete, and stratified by class.
    pools = demo.split_sources(seed=0)
    union = np.concatenate(list(pools.values()))
    assert len(union) == len(set(union.tolist())) == len(target) == 1797
    for split, pool in pools.items():
        share = np.bincount(target[pool], minlength=10) / np.bincount(target, minlength=10)
        assert np.all(np.abs(share - demo.SOURCE_FRACTIONS[split]) < 0.02), (split, share)


def test_config_errors_name_the_value():
    with pytest.raises(ValueError, match="num_test=-1"):
        demo.DemoConfig(num_test=-1)
    with pytest.raises(ValueError, match="digit_size=40"):
        demo.DemoConfig(size=64, digit_size=40)
    assert demo.demo_config() is demo.DEFAULT_CONFIG
    assert demo.dataset_name() == "rhovid_demo/default"


# ----------------------------------------------------------------------------------------------
# The task itself, on videos from the generator (the same function the builder writes).


@pytest.fixture(scope="module")
def probe_set():
    config = demo.demo_config(num_train=300, num_test=150, num_frames=16)
    out = {}
    for split in ("train", "test"):
        plan = demo.video_plan(config, split)
        rendered = [demo.render_video(config, split, i, plan) for i in range(len(plan))]
        out[split] = (
            np.stack([v for v, _ in rendered]).astype(np.float32) / 255.0,  # [N, T, 64, 64, 3]
            [info for _, info in rendered],
        )
    return out


def _pool(x: np.ndarray, f: int) -> np.ndarray:
    """Average-pools the two axes before the last by f: [..., H, W, C] -> [..., H/f, W/f, C]."""
    *lead, h, w, c = x.shape
    return x.reshape(*lead, h // f, f, w // f, f, c).mean(axis=(-4, -2))


def _probe(features: dict, key: str, labels: dict) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    y = {s: np.array([info[key] for info in labels[s]]) for s in ("train", "test")}
    return clf.fit(features["train"], y["train"]).score(features["test"], y["test"])


def test_raw_pixel_probe_is_near_chance(probe_set):
    infos = {s: probe_set[s][1] for s in probe_set}
    n_test = len(infos["test"])
    grey = {s: v.mean(-1, keepdims=True) for s, (v, _) in probe_set.items()}  # [N, T, 64, 64, 1]
    views = {  # all 16 x 16 grey
        "mean_frame": {s: _pool(g.mean(axis=1), 4).reshape(len(g), -1) for s, g in grey.items()},
        "four_frames": {s: _pool(g[:, ::4], 4).reshape(len(g), -1) for s, g in grey.items()},
        # Position and pose are random, so one frame holds no motion label.
        "one_frame": {s: _pool(g[:, 7], 4).reshape(len(g), -1) for s, g in grey.items()},
    }
    figures = {}
    for view, feats in views.items():
        for key, chance in (("digit", 0.1), ("motion", 1 / 3)):
            acc = _probe(feats, key, infos)
            figures[(view, key)] = acc
            # 3.5 binomial standard deviations above chance on the 150 test videos.
            assert acc < chance + 3.5 * np.sqrt(chance * (1 - chance) / n_test), (view, key, acc)
    print("raw-pixel probe accuracies:", figures)


def test_the_labels_are_in_the_videos(probe_set):
    """Positive controls: what the raw-pixel probe misses is there for a model that finds it."""
    infos = {s: probe_set[s][1] for s in probe_set}
    size = probe_set["train"][0].shape[2]

    # Digit: the same probe on a grey 32 x 32 crop centred on the digit (true centre), pooled to
    # 16 x 16 like the raw-pixel views, reads it well.
    def centred(v, info_list, t=5):
        crops = []
        for video, info in zip(v, info_list):
            cx, cy = np.floor(info["centre"][t] % size).astype(int)
            rolled = np.roll(video[t].mean(-1, keepdims=True), (size // 2 - cy, size // 2 - cx), axis=(0, 1))
            crops.append(_pool(rolled[16:48, 16:48], 2).reshape(-1))
        return np.stack(crops)

    feats = {s: centred(v, infos[s]) for s, (v, _) in probe_set.items()}
    assert _probe(feats, "digit", infos) > 0.5

    # Motion: the true trajectory's speed gives the class (0.4, 1.2, 3.6 px per frame at 64 px),
    # while its heading changes during the video (it is not a per-video constant). The digit
    # bounces off the edges: its centre stays half a digit away from them, so it is never cut.
    digit_size = demo.DEFAULT_CONFIG.digit_size * size // 64
    for split in ("train", "test"):
        for info in infos[split]:
            assert np.all(info["centre"] >= digit_size / 2) and np.all(info["centre"] <= size - digit_size / 2)
            step = np.diff(info["path"], axis=0)  # [T-1, 2]
            speed = np.linalg.norm(step, axis=1)
            np.testing.assert_allclose(speed, speed[0], rtol=1e-9)
            assert np.argmin(np.abs(np.array([0.4, 1.2, 3.6]) - speed[0])) == info["motion"]
            headings = np.unique(np.round(np.arctan2(step[:, 1], step[:, 0]), 9))
            assert len(headings) >= 2  # 16 frames span at least two 8-frame segments


def test_noise_is_fresh_every_frame(probe_set):
    videos, infos = probe_set["test"]
    size = videos.shape[2]
    correlations, stds = [], []
    for video, info in zip(videos[:20], infos[:20]):
        grey = video.mean(-1)  # [T, S, S]
        # High-pass: the background, lighting and band are smooth or sparse; noise is per pixel.
        residual = grey - (np.roll(grey, 1, 1) + np.roll(grey, -1, 1) + np.roll(grey, 1, 2) + np.roll(grey, -1, 2)) / 4
        for t in range(len(grey) - 1):
            # Keep pixels far from the digit in both frames (torus distance > 20 px).
            yy, xx = np.mgrid[0:size, 0:size] + 0.5
            keep = np.ones((size, size), bool)
            for c in info["centre"][t : t + 2] % size:
                dx = (xx - c[0] + size / 2) % size - size / 2
                dy = (yy - c[1] + size / 2) % size - size / 2
                keep &= np.hypot(dx, dy) > 20
            a, b = residual[t][keep], residual[t + 1][keep]
            correlations.append(np.corrcoef(a, b)[0, 1])
            stds.append(a.std())
    # A static noise pattern would correlate ~1 between frames; fresh noise ~0.
    assert np.abs(np.mean(correlations)) < 0.1, np.mean(correlations)
    # The residual of grey per-pixel noise of std s is s * sqrt(1 + 4/16): check that the noise
    # is really there, not only the blur.
    expected = demo.DEFAULT_CONFIG.nuisance * 0.05 * np.sqrt(1.25)
    assert 0.7 * expected < np.median(stds) < 1.6 * expected, np.median(stds)


def test_background_is_shared_and_nuisance_zero_is_plain():
    """With the nuisances off, every pixel away from the digit is the same in every video."""
    config = demo.demo_config(num_train=30, num_test=0, num_frames=6, size=48, digit_size=16, nuisance=0)
    size = 48
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    reference, seen = None, np.zeros((size, size), bool)
    for index in (0, 11, 22):  # three digits, three motions
        frames, info = demo.render_video(config, "train", index)
        for frame, centre in zip(frames, info["centre"] % size):
            dx = (xx - centre[0] + size / 2) % size - size / 2
            dy = (yy - centre[1] + size / 2) % size - size / 2
            far = np.hypot(dx, dy) > 16 / 2 * 1.5 * np.sqrt(2)  # outside the digit's support
            if reference is None:
                reference = frame.astype(int)
            both = far & seen
            np.testing.assert_array_equal(frame[both], reference[both])
            reference[far & ~seen] = frame[far & ~seen]
            seen |= far
    assert seen.mean() > 0.9
    # With the default nuisances the same pixels vary (noise, light, band): the knob does something.
    frames, _ = demo.render_video(
        demo.demo_config(num_train=30, num_test=0, num_frames=6, size=48, digit_size=16), "train", 0
    )
    assert np.abs(frames.astype(int) - reference).mean() > 3


def test_the_pipeline_finds_it_by_name(small_dir):
    """rhovid's reader opens the demo from (data_dir, name) like any prepared dataset."""
    data_dir = os.path.dirname(os.path.dirname(os.path.dirname(small_dir)))  # <dir>/rhovid_demo/<cfg>/1.0.0
    for name in (demo.dataset_name(**SMALL), "rhovid_demo"):  # the only config there: found either way
        builder = registry.open_dataset(SimpleNamespace(data_dir=data_dir, name=name))
        assert builder.info.splits["train"].num_examples == SMALL["num_train"]
        assert set(builder.info.features.keys()) >= {"video", "num_frames", "fps", "video_id", "label", "motion"}
