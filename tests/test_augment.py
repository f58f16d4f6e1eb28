"""Tests of the augmentations: host (tf) and device (jax) colour ops, crops, blur, time difference.

Independent references: Python's `colorsys` for hue, torchvision's formulas written out in NumPy for
brightness/contrast/saturation/grayscale, `scipy.ndimage.gaussian_filter` for the blur, and the
crop geometry of docs/method.md §3 as arithmetic. The tf and jax colour paths are compared on identical
parameters.
"""

import colorsys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from rhovid import config
from rhovid.data.reading import augment, device_augment, sampling

RNG = np.random.default_rng(0)
jax_apply_color = jax.jit(device_augment.apply_color)


def tf_params(p):
    return {k: tf.constant(v) for k, v in p.items()}


def params(n, **overrides):
    """Hand-set colour parameters for n clips (identity unless overridden)."""
    p = {
        "apply": np.ones(n, bool),
        "order": np.tile(np.arange(4, dtype=np.int32), (n, 1)),
        "brightness": np.ones(n, np.float32),
        "contrast": np.ones(n, np.float32),
        "saturation": np.ones(n, np.float32),
        "hue": np.zeros(n, np.float32),
        "grayscale": np.zeros(n, bool),
    }
    p.update({k: np.asarray(v, p[k].dtype) for k, v in overrides.items()})
    return p


def both(x, p):
    """(tf output, jax output) of apply_color on float clips x [N, T, H, W, 3]."""
    a = augment.apply_color(tf.constant(x), tf_params(p)).numpy()
    b = np.asarray(jax_apply_color(jnp.asarray(x), p))
    return a, b


def test_tf_and_jax_colour_agree_on_identical_random_parameters():
    x = RNG.uniform(size=(16, 3, 6, 7, 3)).astype(np.float32)
    x[0] = 0.25  # flat gray: hue undefined
    x[1, ..., 0] = x[1, ..., 1]  # ties between channels (hue branch boundaries)
    p = jax.tree.map(np.array, device_augment.sample_color_params(jax.random.key(3), 16, 1.0, 0.7, 0.3))
    assert p["apply"].any() and not p["apply"].all() and p["grayscale"].any()
    a, b = both(x, p)
    np.testing.assert_allclose(a, b, atol=1e-4)
    # And with the tf sampler's parameters.
    q = {k: v.numpy() for k, v in augment.sample_color_params(sampling.make_key(5), 16, 0.75, 0.8, 0.2).items()}
    a, b = both(x, q)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert np.abs(a - x).max() > 0.1  # really changed something


def test_grayscale_uses_torchvision_weights():
    x = np.zeros((3, 1, 1, 1, 3), np.float32)
    x[0, ..., 0] = 1.0  # red
    x[1, ..., 1] = 1.0  # green
    x[2, ..., 2] = 1.0  # blue
    for out in both(x, params(3, apply=[False] * 3, grayscale=[True] * 3)):
        np.testing.assert_allclose(out[:, 0, 0, 0], np.repeat([[0.2989], [0.587], [0.114]], 3, 1), atol=1e-6)


def test_brightness_contrast_saturation_follow_torchvision_formulas():
    x = RNG.uniform(size=(1, 2, 4, 5, 3)).astype(np.float32)
    gray = x @ np.array([0.2989, 0.587, 0.114], np.float32)  # [1, 2, 4, 5]
    cases = {
        # op id, factor, reference (torchvision: _blend(img, other, ratio) then clamp to [0, 1])
        "brightness": (0, 1.7, lambda f: np.clip(x * f, 0, 1)),
        "contrast": (1, 0.4, lambda f: np.clip(f * x + (1 - f) * gray.mean(), 0, 1)),
        "saturation": (2, 1.8, lambda f: np.clip(f * x + (1 - f) * gray[..., None], 0, 1)),
    }
    for name, (op, f, ref) in cases.items():
        order = [[op] + [o for o in range(4) if o != op]]  # the others are identities
        p = params(1, order=order, **{name: [f]})
        for out in both(x, p):
            np.testing.assert_allclose(out, ref(f), atol=1e-5, err_msg=name)


@pytest.mark.parametrize("delta", [-0.3, 0.07, 0.5])
def test_hue_matches_colorsys(delta):
    x = RNG.uniform(size=(1, 1, 3, 4, 3)).astype(np.float32)
    ref = np.empty_like(x)
    for i in np.ndindex(x.shape[:-1]):
        h, s, v = colorsys.rgb_to_hsv(*x[i])
        ref[i] = colorsys.hsv_to_rgb((h + delta) % 1.0, s, v)
    p = params(1, order=[[3, 0, 1, 2]], hue=[delta])
    for out in both(x, p):
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_random_order_matters_and_is_honoured():
    # brightness ×2 then contrast 0 (→ mean) differs from contrast 0 then brightness ×2.
    x = RNG.uniform(0.1, 0.4, size=(2, 1, 3, 3, 3)).astype(np.float32)
    p = params(2, order=[[0, 1, 2, 3], [1, 0, 2, 3]], brightness=[2, 2], contrast=[0, 0])
    for out in both(x, p):
        g = x @ np.array([0.2989, 0.587, 0.114], np.float32)
        np.testing.assert_allclose(out[0], np.clip(2 * g[0], 0, 1).mean(), atol=1e-5)
        np.testing.assert_allclose(out[1], 2 * g[1].mean(), atol=1e-5)


def test_colour_parameter_distributions_match_the_recipe():
    n, s = 4000, 0.75
    jp = device_augment.sample_color_params(jax.random.key(0), n, s, 0.8, 0.2)
    tp = augment.sample_color_params(sampling.make_key(0), n, s, 0.8, 0.2)
    for p in (jax.tree.map(np.asarray, jp), {k: v.numpy() for k, v in tp.items()}):
        assert abs(p["apply"].mean() - 0.8) < 0.03 and abs(p["grayscale"].mean() - 0.2) < 0.03
        for k in ("brightness", "contrast", "saturation"):
            assert p[k].min() >= 1 - 0.8 * s and p[k].max() <= 1 + 0.8 * s
            assert abs(p[k].mean() - 1.0) < 0.03
        assert np.abs(p["hue"]).max() <= 0.2 * s and p["hue"].std() > 0.08
        assert all(sorted(o) == [0, 1, 2, 3] for o in p["order"][:50])
        assert len({tuple(o) for o in p["order"]}) == 24  # every order occurs


def test_xla_compiled_host_jitter_matches_the_tensorflow_kernels():
    # data.color_xla: the same jitter, one XLA-compiled function per clip; TensorFlow's op-by-op
    # kernels are the reference (float32, before rounding to uint8).
    x = tf.constant(np.random.default_rng(4).uniform(0, 1, size=(6, 2, 8, 8, 3)).astype(np.float32))
    p = augment.sample_color_params(sampling.make_key(9), 6, 1.0, 1.0, 0.3)
    np.testing.assert_allclose(
        augment.apply_color(x, p, xla=True).numpy(), augment.apply_color(x, p).numpy(), atol=2e-4
    )


def test_device_color_augment_is_per_clip_and_shared_across_frames():
    cfg = config.base_config("byol").data
    cfg.grayscale_prob = 0.0  # (gray-only clips of one frame would coincide)
    frame = RNG.uniform(size=(1, 1, 5, 5, 3)).astype(np.float32)
    x = jnp.asarray(np.tile(frame, (32, 4, 1, 1, 1)))  # 32 identical clips of 4 identical frames
    y = np.asarray(jax.jit(lambda r, v: device_augment.color_augment(r, v, cfg))(jax.random.key(1), x))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    np.testing.assert_array_equal(y, np.repeat(y[:, :1], 4, axis=1))  # same within a clip
    changed = [i for i in range(32) if not np.array_equal(y[i], x[i])]
    assert 18 <= len(changed) <= 31  # p(jitter) = 0.8
    assert len({y[i].tobytes() for i in changed}) == len(changed)  # each clip its own draw


def test_inception_crop_window_area_and_aspect():
    h, w = 120, 160
    wins = np.stack(
        [
            augment.inception_crop_window(sampling.make_key(i), h, w, (0.2, 0.766), (0.75, 4 / 3)).numpy()
            for i in range(200)
        ]
    )
    y, x, ch, cw = wins.T
    assert (y >= 0).all() and (x >= 0).all() and (y + ch <= h).all() and (x + cw <= w).all()
    area = ch * cw / (h * w)
    assert area.min() > 0.18 and area.max() < 0.79 and area.std() > 0.1
    aspect = cw / ch
    assert aspect.min() > 0.72 and aspect.max() < 1.38
    assert (x > 0).mean() > 0.9 and len(set(map(tuple, wins))) == 200  # random positions


def test_inception_crop_falls_back_to_centre_square():
    win = augment.inception_crop_window(sampling.make_key(0), 60, 100, (1.5, 2.0), (1.0, 1.0)).numpy()
    np.testing.assert_array_equal(win, [0, 20, 60, 60])


def test_vgg_crop_window_is_crop_size_at_jittered_short_side():
    h, w, c = 256, 340, 224
    sides = []
    for i in range(100):
        y, x, ch, cw = augment.vgg_crop_window(sampling.make_key(i), h, w, c, (256, 320)).numpy()
        assert ch == cw and y + ch <= h and x + cw <= w
        sides.append(ch)
    s = c * h / np.array(sides)  # the short side S the window corresponds to
    assert s.min() >= 256 - 1.5 and s.max() <= 320 + 1.5 and np.ptp(s) > 40


def test_eval_crop_windows_left_centre_right_and_top_centre_bottom():
    # Landscape 200×300, short side 200 -> crops of 100 at short side 200 (crop 100, eval 200).
    wins = augment.eval_crop_windows(200, 300, 100, 200.0, 3).numpy()
    np.testing.assert_array_equal(wins, [[50, 0, 100, 100], [50, 100, 100, 100], [50, 200, 100, 100]])
    wins = augment.eval_crop_windows(300, 200, 100, 200.0, 3).numpy()  # portrait
    np.testing.assert_array_equal(wins[:, 0], [0, 100, 200])
    np.testing.assert_array_equal(wins[:, 1], [50, 50, 50])
    one = augment.eval_crop_windows(200, 300, 100, 200.0, 1).numpy()
    np.testing.assert_array_equal(one, [[50, 100, 100, 100]])


def test_gaussian_blur_matches_scipy():
    clip = RNG.uniform(size=(2, 20, 24, 3)).astype(np.float32)
    sigma = 1.5
    out = augment.gaussian_blur(tf.constant(clip), tf.constant(sigma), sigma).numpy()
    radius = 5  # ceil(3·1.5)
    ref = ndimage.gaussian_filter(clip, sigma=(0, sigma, sigma, 0), mode="mirror", truncate=radius / sigma)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_device_blur_matches_scipy_and_the_host_blur():
    x = RNG.uniform(size=(2, 2, 20, 24, 3)).astype(np.float32)
    sigma = np.array([0.6, 1.5], np.float32)
    radius = device_augment.blur_radius(1.5, 20, 24)  # 5, as the host's ceil(3·1.5)
    out = np.asarray(jax.jit(device_augment.gaussian_blur, static_argnums=2)(x, sigma, radius))
    for i in range(2):
        ref = ndimage.gaussian_filter(x[i], sigma=(0, sigma[i], sigma[i], 0), mode="mirror", truncate=radius / sigma[i])
        np.testing.assert_allclose(out[i], ref, atol=1e-5)
        host = augment.gaussian_blur(tf.constant(x[i]), tf.constant(sigma[i]), 1.5).numpy()
        np.testing.assert_allclose(out[i], host, atol=1e-5)


def test_time_difference_is_gray_difference_mapped_to_unit_range():
    a = RNG.uniform(size=(2, 3, 3, 3)).astype(np.float32)
    b = RNG.uniform(size=(2, 3, 3, 3)).astype(np.float32)
    w = np.array([0.2989, 0.587, 0.114], np.float32)
    ref = ((b @ w - a @ w + 1) / 2)[..., None].repeat(3, -1)
    np.testing.assert_allclose(augment.time_difference(tf.constant(a), tf.constant(b)).numpy(), ref, atol=1e-6)


def test_augment_clip_applies_one_draw_to_all_frames():
    cfg = augment.AugmentConfig.pretrain(config.base_config("byol").data)
    frame = RNG.uniform(size=(1, 16, 16, 3)).astype(np.float32)
    clip = tf.constant(np.tile(frame, (4, 1, 1, 1)))
    outs = [augment.augment_clip(sampling.make_key(i), clip, cfg).numpy() for i in range(12)]
    for o in outs:
        np.testing.assert_allclose(o, np.repeat(o[:1], 4, axis=0), atol=1e-6)
    assert len({np.round(o, 4).tobytes() for o in outs}) == 12


def test_short_side_and_blur_scale_with_crop_size():
    data = config.base_config("byol").data
    data.crop_size = 112
    cfg = augment.AugmentConfig.pretrain(data)
    assert cfg.short_side_range == (128, 160) and cfg.blur_sigma == (0.05, 1.0)
    data.color_on_device = True  # colour, grayscale and blur move to the device
    on_device = augment.AugmentConfig.pretrain(data)
    assert not on_device.color and on_device.blur_prob == 0
    assert not augment.photometric_on_host(on_device)
    data.crop = "random"
    with pytest.raises(ValueError, match="inception"):
        augment.AugmentConfig.pretrain(data)
