"""The study's presets (rhovid.ablations): each builds a valid config and sets what it says."""

from __future__ import annotations

import numpy as np
import pytest

from rhovid import ablations, presets
from rhovid import config as config_lib
from rhovid.errors import UserError

# One valid value per preset (None: the preset takes no value), and the method it is for.
EXAMPLES = {
    "epochs": ("400", "moco"),
    "tmax": ("0.5", "byol"),
    "frames": ("16x4", "moco"),
    "arch": ("r101", "moco"),
    "mlp": ("2", "simclr"),
    "predictor": ("3", "byol"),
    "momentum": ("0.99", "moco"),
    "no_momentum_anneal": (None, "moco"),
    "aug": ("TC", "moco"),
    "color": ("0.75", "moco"),
    "gray": ("0.4", "moco"),
    "timediff": ("0.2", "moco"),
    "fpsjitter": ("0.5", "moco"),
    "crop": ("inception", "moco"),
    "area": ("0.49-0.76", "moco"),
    "aspect": ("1", "moco"),
}


def test_every_preset_has_an_example():
    assert set(EXAMPLES) == set(ablations.PRESETS) | {"epochs"}  # epochs: rhovid.presets has it


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_preset_builds_a_valid_config(name):
    value, method = EXAMPLES[name]
    spec = name if value is None else f"{name}={value}"
    c = presets.build_config(method, f"aug=default,{spec},rho=3")
    config_lib.validate(c, num_devices=8)


@pytest.mark.parametrize("value", ["r18", "r50", "r101", "r2plus1d", "s3dg"])
def test_every_backbone_validates(value):
    c = presets.build_config("byol", f"arch={value}")
    config_lib.validate(c, num_devices=8)
    assert (c.model.arch, c.model.depth) == ablations.ARCHS[value]


def test_aug_letters_switch_off_exactly_their_group():
    full = presets.build_config("moco", "aug=default")
    assert full.data.crop == "vgg" and tuple(full.data.short_side_range) == (256, 320)
    assert full.data.flip and full.data.color_strength == 0.5
    assert (full.data.color_prob, full.data.grayscale_prob, full.data.blur_prob) == (0.8, 0.2, 0.5)
    assert full.data.max_clip_distance_s is None

    no_t = presets.build_config("moco", "aug=SC")
    assert no_t.data.max_clip_distance_s == 0.0 and no_t.data.fps_jitter == 0.0
    assert no_t.data.flip and no_t.data.color_prob == 0.8

    no_s = presets.build_config("moco", "aug=TC")
    assert tuple(no_s.data.short_side_range) == (224, 224) and not no_s.data.flip
    assert no_s.data.max_clip_distance_s is None and no_s.data.color_prob == 0.8

    no_c = presets.build_config("moco", "aug=TS")
    assert (no_c.data.color_prob, no_c.data.grayscale_prob, no_c.data.blur_prob) == (0, 0, 0)
    assert no_c.data.flip and no_c.data.max_clip_distance_s is None

    base = presets.build_config("moco", "aug=none")
    assert base.data.max_clip_distance_s == 0.0 and not base.data.flip and base.data.color_prob == 0

    tsc = presets.build_config("moco", "aug=TSC")
    assert tsc.to_dict() == full.to_dict()

    plus = presets.build_config("moco", "aug=plus")
    assert plus.data.crop == "inception" and plus.data.color_strength == 0.75
    assert tuple(plus.data.area_range) == (0.2, 0.766)
    assert plus.to_dict() == presets.build_config("moco", "aug_plus").to_dict()  # the recipes' aug+


def test_presets_apply_left_to_right():
    c = presets.build_config("moco", "aug=TC,crop=inception")
    assert c.data.crop == "inception" and not c.data.flip  # flip stays off from aug=TC
    c = presets.build_config("moco", "frames=16x4,tmax=global")
    assert (c.data.num_frames, c.data.frame_stride) == (16, 4) and c.data.max_clip_distance_s is None


def test_no_spatial_crop_cuts_only_along_the_long_side():
    """aug without S: short side resized to the crop size, so the window spans the short side."""
    import tensorflow as tf

    from rhovid.data.reading import augment, sampling

    c = presets.build_config("moco", "aug=T")
    cfg = augment.AugmentConfig.pretrain(c.data)
    for seed in range(5):
        y, x, h, w = augment.vgg_crop_window(
            sampling.make_key(seed), tf.constant(240), tf.constant(320), cfg.crop_size, cfg.short_side_range
        ).numpy()
        assert (y, h, w) == (0, 240, 240) and 0 <= x <= 80  # the full height; offset along width


def test_no_temporal_augmentation_gives_identical_clip_indices():
    from rhovid.data.reading import sampling

    c = presets.build_config("moco", "aug=SC,rho=4")
    idx = sampling.sample_clips(
        sampling.make_key(3),
        300,
        30.0,
        num_clips=c.data.rho,
        clip_len=c.data.num_frames,
        frame_stride=c.data.frame_stride,
        max_distance_s=c.data.max_clip_distance_s,
    ).numpy()
    assert idx.shape == (4, 8)
    np.testing.assert_array_equal(idx, np.broadcast_to(idx[0], idx.shape))
    # With T on the four clips differ (a 10 s video, 2.1 s clips: equal starts have probability 0).
    idx = sampling.sample_clips(sampling.make_key(3), 300, 30.0, num_clips=4, clip_len=8, frame_stride=8).numpy()
    assert len({tuple(r) for r in idx}) == 4


@pytest.mark.parametrize(
    "spec",
    [
        "tmax=-1",
        "tmax=soon",
        "frames=16",
        "frames=0x4",
        "arch=r34",
        "mlp=0",
        "predictor=3",
        "momentum=1.5",
        "aug=CT",
        "aug=X",
        "color=",
        "area=0.8-0.2",
        "area=0.2-1.5",
        "crop=center",
        "fpsjitter=1",
        "no_momentum_anneal=1",
        "epochs=-3",
    ],
)
def test_bad_values_raise_one_line_user_errors(spec):
    with pytest.raises(UserError) as e:
        presets.build_config("moco", spec)
    assert "\n" not in str(e.value) and spec.split("=")[0] in str(e.value)


def test_momentum_presets_only_for_momentum_methods():
    with pytest.raises(UserError, match="moco and byol"):
        presets.build_config("simclr", "no_momentum_anneal")


def test_momentum_schedule_with_and_without_annealing():
    from rhovid import optim

    annealed = optim.make_momentum_schedule(0.994, 100)
    constant = optim.make_momentum_schedule(0.994, 100, anneal=False)
    # m = 1 − (1 − m_base)(cos(πk/K) + 1)/2: m_base at k=0, halfway at k=K/2, 1 at k=K.
    np.testing.assert_allclose([float(annealed(k)) for k in (0, 50, 100)], [0.994, 0.997, 1.0], atol=1e-6)
    np.testing.assert_allclose([float(constant(k)) for k in (0, 50, 100)], [0.994] * 3, atol=1e-7)


def test_predictor_depth_reaches_the_network():
    import jax
    import jax.numpy as jnp

    from rhovid.models.network import build_network

    c = presets.build_config("byol", "tiny,predictor=3,mlp=3")
    net = build_network(c)
    shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((2, 4, 32, 32, 3)), train=False))
    params = shapes["params"]
    assert sorted(k for k in params["predictor"] if k.startswith("dense")) == ["dense_0", "dense_1", "dense_2"]
    assert sorted(k for k in params["projector"] if k.startswith("dense")) == ["dense_0", "dense_1", "dense_2"]
