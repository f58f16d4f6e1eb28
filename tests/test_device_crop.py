"""Crop, resize and flip on the device (`config.data.crop_on_device`).

The host then sends each view's frames decoded inside its crop window, on a canvas, with the
window's size and the flip; `device_augment.crop_resize_flip` must give what the host path gives:
checked against tf.image.resize (TensorFlow's kernel, not this code), against a NumPy bilinear
written here from the half-pixel definition, and end to end against the host path's own clips
for the same seed (the same windows and flips, the resize within rounding).
"""

import dataset_fixtures as fx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from rhovid import config
from rhovid.data.reading import device_augment, streams

T, CROP = 4, 16
RNG = np.random.default_rng(0)


def numpy_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """[T, h, w, C] -> float64 [T, size, size, C]: output i samples input (i + 0.5)·n/size − 0.5,
    clamped to the image, linearly between its two neighbours (float64, written independently)."""

    def weights(n):
        c = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
        lo = np.floor(c).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        m = np.zeros((size, n))
        m[np.arange(size), lo] += 1 - (c - lo)
        m[np.arange(size), hi] += c - lo
        return m

    wy, wx = weights(img.shape[1]), weights(img.shape[2])
    return np.einsum("sh,thwc,rw->tsrc", wy, img.astype(np.float64), wx)


def canvas_of(windows, canvas=(40, 48)):
    """Random uint8 frames on a zero canvas for windows [(h, w), ...]: canvas array, frames list."""
    frames = [RNG.integers(0, 256, (T, h, w, 3), dtype=np.uint8) for h, w in windows]
    out = np.zeros((len(windows), T, *canvas, 3), np.uint8)
    for i, f in enumerate(frames):
        out[i, :, : f.shape[1], : f.shape[2]] = f
    return out, frames


@pytest.mark.parametrize("size", [CROP, 32])
def test_resize_matches_tf_image_resize_and_a_numpy_bilinear(size):
    windows = [(40, 48), (9, 30), (16, 16), (37, 11), (1, 5), (24, 40)]  # down, up, identity, mixed
    canvas, frames = canvas_of(windows)
    flips = np.array([0, 1, 0, 1, 1, 0])
    crop = np.array([[h, w, f] for (h, w), f in zip(windows, flips)], np.int32)
    out = np.asarray(jax.jit(device_augment.crop_resize_flip, static_argnums=2)(canvas, crop, size))
    assert out.shape == (len(windows), T, size, size, 3) and out.dtype == np.float32
    for i, f in enumerate(frames):
        ref_tf = tf.image.resize(f, (size, size), method="bilinear").numpy()
        ref_np = numpy_bilinear(f, size)
        if flips[i]:
            ref_tf, ref_np = ref_tf[:, :, ::-1], ref_np[:, :, ::-1]
        # float32 arithmetic on values up to 255: a few ulps (TensorFlow's kernel: the same order)
        np.testing.assert_allclose(out[i], ref_tf, atol=2e-4, rtol=0)
        np.testing.assert_allclose(out[i], ref_np, atol=1e-3, rtol=0)
    if size == CROP:  # a 16² window at 16²: the frames themselves, exactly (the host's fallback)
        np.testing.assert_array_equal(out[2], frames[2])


def data_cfg(data_dir, **overrides):
    c = config.base_config("byol").data
    c.name, c.data_dir = "coded", data_dir
    c.num_frames, c.frame_stride, c.crop_size, c.shuffle_buffer = T, 4, CROP, 8
    c.crop, c.color_on_device = "inception", True
    for k, v in overrides.items():
        setattr(c, k, v)
    return c


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tfds"))
    fx.coded_dataset(d, "coded", num_videos=8, num_frames=40, num_shards=2, height=24, width=48, gradient=True)
    return d


def take(source, n):
    it = iter(source)
    return [next(it) for _ in range(n)]


@pytest.mark.parametrize("rho,canvas", [(2, (24, 48)), (1, (24, 48)), (3, (16, 20))])
def test_device_crop_gives_the_host_paths_clips(data_dir, rho, canvas):
    # canvas 24×48 (scaled from 224 units below) holds every window of the 24×48 frames; 16×20
    # holds only some, the others are resized on the host and pass through the device unchanged.
    host = data_cfg(data_dir, rho=rho)
    dev = data_cfg(data_dir, rho=rho, crop_on_device=True, device_crop_canvas=tuple(c * 224 / CROP for c in canvas))
    a = take(streams.make_pretrain_source(host, global_batch_size=4, seed=3), 3)
    b = take(streams.make_pretrain_source(dev, global_batch_size=4, seed=3), 3)
    flips, fits = [], []
    for x, y in zip(a, b):
        v = max(rho, 2)
        assert y["clips"].shape == (4, v, T, *canvas, 3) and y["crop"].shape == (4, v, 3)
        crop = y["crop"].reshape(-1, 3)
        flips.append(crop[:, 2])
        fits.append((crop[:, 0] != CROP) | (crop[:, 1] != CROP))
        out = device_augment.crop_resize_flip(y["clips"].reshape((-1,) + y["clips"].shape[2:]), crop, CROP)
        # the host rounds its resize to uint8; the device keeps the float
        np.testing.assert_allclose(np.asarray(out), x["clips"].reshape(out.shape).astype(np.float32), atol=0.5 + 1e-3)
    flips, fits = np.concatenate(flips), np.concatenate(fits)
    assert 0 < flips.mean() < 1  # both flipped and unflipped views were checked
    if canvas == (16, 20):
        assert 0 < fits.mean() < 1  # windows on the canvas and windows resized on the host


def test_device_crop_stream_is_a_function_of_seed_and_step(data_dir):
    cfg = data_cfg(data_dir, rho=2, crop_on_device=True)
    a = take(streams.make_pretrain_source(cfg, global_batch_size=4, seed=5), 3)
    b = take(streams.make_pretrain_source(cfg, global_batch_size=4, seed=5, start_step=1), 2)
    for x, y in zip(a[1:], b):
        for k in ("clips", "crop"):
            np.testing.assert_array_equal(x[k], y[k])


def test_device_crop_needs_colour_on_the_device(data_dir):
    with pytest.raises(ValueError, match="color_on_device"):
        streams.make_pretrain_source(
            data_cfg(data_dir, crop_on_device=True, color_on_device=False), global_batch_size=4, seed=0
        )


def test_preprocess_crops_then_colours_and_normalises():
    canvas, frames = canvas_of([(40, 48), (9, 30)])
    crop = jnp.asarray([[40, 48, 1], [9, 30, 0]], jnp.int32)
    c = config.base_config("byol").data
    c.crop_size, c.color_on_device, c.color_prob, c.grayscale_prob, c.blur_prob = CROP, True, 0.0, 0.0, 0.0
    x = device_augment.preprocess(jnp.asarray(canvas), jax.random.key(0), c, crop)
    want = np.stack([tf.image.resize(frames[0], (CROP, CROP))[:, :, ::-1], tf.image.resize(frames[1], (CROP, CROP))])
    np.testing.assert_allclose(np.asarray(x), (want / 255.0 - c.mean) / c.std, atol=1e-5)


def test_show_crops_the_device_views_like_the_host(data_dir):
    from rhovid.data import show

    kw = dict(color_prob=0.0, grayscale_prob=0.0, blur_prob=0.0)
    host = show.sample_clips(data_cfg(data_dir, **kw), num_videos=2, seed=0)
    dev = show.sample_clips(data_cfg(data_dir, crop_on_device=True, **kw), num_videos=2, seed=0)
    for x, y in zip(host, dev):  # before (centre crops) and after (augmented), rounded on both sides
        assert y.shape == x.shape == (2, 2, T, CROP, CROP, 3)
        assert np.abs(x.astype(int) - y.astype(int)).max() <= 1


@pytest.mark.slow  # two compilations of the tiny ρBYOL step: about a minute on 2 cores
def test_train_step_crops_canvases_before_the_network():
    # The step on canvases holding the clips flipped, with crop = (S, S, flip=1), must see the
    # very clips of the plain batch: the same loss, with colour on the device in both.
    from rhovid import optim, presets, sharding
    from rhovid.methods import build_objective
    from rhovid.models.network import build_network
    from rhovid.state import create_train_state
    from rhovid.steps import make_train_step

    b, v, t, s = 4, 2, 2, 16
    c = presets.apply(config.base_config("byol"), "tiny")
    with c.unlocked():
        c.data.num_frames, c.data.crop_size, c.batch_size, c.data.color_on_device = t, s, b, True
    mesh = sharding.make_mesh(jax.devices()[:1])
    net, objective = build_network(c, None), build_objective(c)
    lr = optim.make_lr_schedule(0.05, 10, 0)
    tx = optim.make_optimizer(c.optim, lr)
    step = make_train_step(
        c,
        net,
        objective,
        tx,
        lr_schedule=lr,
        momentum_schedule=optim.make_momentum_schedule(0.99, 10),
        steps_per_epoch=5,
        mesh=mesh,
    )
    clips = RNG.integers(0, 256, (b, v, t, s, s, 3), dtype=np.uint8)
    canvas = np.zeros((b, v, t, s + 5, s + 7, 3), np.uint8)
    canvas[:, :, :, :s, :s] = clips[:, :, :, :, ::-1]
    crop = np.broadcast_to(np.array([s, s, 1], np.int32), (b, v, 3)).copy()
    losses = []
    for batch in ({"clips": clips}, {"clips": canvas, "crop": crop}):
        state = create_train_state(
            net=net,
            objective=objective,
            tx=tx,
            clip_shape=(t, s, s, 3),
            num_views=v,
            global_batch_size=b,
            embed_dim=c.model.embed_dim,
            seed=0,
            mesh=mesh,
        )
        _, metrics = step(state, sharding.to_global(batch, mesh))
        losses.append(float(metrics["loss"]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6, abs=1e-6)
