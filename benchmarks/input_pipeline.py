"""Input-pipeline throughput: rhovid's reader vs decoding mp4 spans with PyAV for every clip.

    python benchmarks/input_pipeline.py            # about 15 minutes on a 2-core machine (--rhos=2: 8)
    python benchmarks/input_pipeline.py --breakdown_only   # the per-stage breakdown alone (~2 min)

Both ways run on the same generated videos (10 s, 320×256, 30 fps, H.264 with x264's default
keyframe interval of 250), at 8×8, 224², ρ = 2 and 4, one thread each, every measurement in a
fresh process of its own (a run can slow down the next one in the same process):

* rhovid: the videos stored once as TFDS records of JPEG frames (tests/dataset_fixtures.py), read by
  `rhovid.data.reading.streams.make_pretrain_source` (aug+ recipe: inception crop, flip; colour
  jitter, grayscale, blur). Three splits of the work (`--where`): `host` (everything on the host),
  `device` (`data.color_on_device`: colour, grayscale, blur in the train step) and `device_crop`
  (`data.crop_on_device` too: the host sends each view's frames decoded inside its crop window
  on a 256×320 canvas, and the device crops, resizes and flips).
* naive (PySlowFast's `pyav_decode`, one container opened per video): per clip, seek to the
  keyframe before the clip, decode every frame to the clip's end, convert the span's frames to RGB
  arrays, keep T of them evenly spaced; then exactly rhovid's per-clip work for the same split
  (crop window, resize, flip, photometric ops on the host, or the window on the canvas), so the
  rows differ only in how frames are obtained. "naive decode" rows time the PyAV part alone.

tf.data runs single-threaded (private pool of 1, no intra-op parallelism). Throughput is per
CPU-second (process CPU time over all threads, i.e. what one core delivers, and less sensitive to
other load on the machine than wall time) and per wall-second, timed over several windows after a
warm-up; the median window is the headline figure, the best window (least disturbed by other
processes) gives the speed-up and is printed beside it. "decoded/used" counts frame decodes
(JPEG or H.264) per frame delivered in a clip. The device-side work is excluded from the rows and
measured separately, jitted on this machine's JAX backend (a CPU when there is no accelerator: an
upper bound), in ms per clip.

The breakdown times each stage of the reader alone on rhovid's own functions, on the same 10-s
records, and the whole reader (with the crop on the host and on the device) in the same process.

Results go to benchmarks/results/input_pipeline.json (the breakdown alone:
input_pipeline_breakdown.json) and are printed as a table.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf
from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import dataset_fixtures
from common import cpu_model
from jpeg_records import FPS, HEIGHT, WIDTH, texture_frames, write_frame_records

from rhovid import config as config_lib
from rhovid.data.reading import augment, frames, sampling, streams, tfrecords
from rhovid.data.reading import frames as rframes  # `frames` is also a local name below

flags.DEFINE_integer("num_videos", 12, "Source videos to generate.")
flags.DEFINE_list("rhos", ["2", "4"], "Clips per video of the comparison rows.")
flags.DEFINE_float("seconds", 10.0, "Length of each video.")
flags.DEFINE_integer("gop", 250, "H.264 keyframe interval (x264's default is 250).")
flags.DEFINE_integer("batch", 8, "Videos per rhovid batch; clips per naive batch.")
flags.DEFINE_integer("windows", 5, "Timing windows per configuration (median and best reported).")
flags.DEFINE_integer("window_batches", 4, "rhovid batches per timing window.")
flags.DEFINE_integer("naive_window_batches", 2, "naive batches per timing window.")
flags.DEFINE_string("out", "benchmarks/results/input_pipeline.json", "JSON output path.")
# Internal: each measurement runs in a fresh process (one run can slow the next one down in the
# same process), started by main() with these flags; it prints its result as JSON.
flags.DEFINE_enum("measure", None, ["rhovid", "naive", "naive_decode", "device_cost", "breakdown"], "(internal)")
flags.DEFINE_bool("breakdown_only", False, "Only the per-stage CPU breakdown of rhovid's reader (about a minute).")
flags.DEFINE_integer("breakdown_clips", 48, "Clips timed per stage in the breakdown.")
flags.DEFINE_string("work", None, "(internal) directory with the videos and the records.")
flags.DEFINE_integer("rho", 2, "(internal) clips per video.")
flags.DEFINE_enum(
    "where",
    "host",
    ["host", "device", "device_crop"],
    "(internal) photometric augmentation on the host, on the device, or crop+resize+flip on the device too.",
)
FLAGS = flags.FLAGS

T, TAU, CROP = 8, 8, 224


def make_videos(directory: str, num: int, seconds: float, gop: int) -> list[str]:
    """H.264 mp4s of `texture_frames` (codec-realistic)."""
    import av  # only the naive baseline needs PyAV

    paths = []
    for v in range(num):
        path = os.path.join(directory, f"video{v}.mp4")
        with av.open(path, "w") as out:
            stream = out.add_stream("libx264", rate=FPS, options={"g": str(gop), "preset": "medium"})
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            for img in texture_frames(v, int(seconds * FPS)):
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        paths.append(path)
    return paths


def write_records(paths: list[str], data_dir: str) -> None:
    """Decode each mp4 once (PyAV) and store its frames as JPEG (quality 90) in the records format."""
    import av

    examples = []
    for i, path in enumerate(paths):
        with av.open(path) as c:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        jpegs = dataset_fixtures.encode(frames, quality=90)
        examples.append(dataset_fixtures.example(jpegs, fps=FPS, video_id=f"v{i}"))
    dataset_fixtures.write_dataset(data_dir, "bench", {"train": examples}, num_shards=4)


WHERE = {  # --where: what the device does (the rest is the host's)
    "host": "nothing (colour, grayscale, blur, crop, resize, flip on the host)",
    "device": "colour, grayscale, blur (data.color_on_device)",
    "device_crop": "colour, grayscale, blur, and crop, resize, flip (data.crop_on_device)",
}


def data_config(data_dir: str, rho: int, where: str):
    c = config_lib.base_config("byol").data
    c.name, c.data_dir, c.rho, c.color_on_device = "bench", data_dir, rho, where != "host"
    c.crop_on_device = where == "device_crop"
    c.color_xla = True  # the host jitter compiled by XLA (data.color_xla)
    c.num_frames, c.frame_stride, c.crop_size, c.shuffle_buffer = T, TAU, CROP, 16
    return c


def single_threaded(ds: tf.data.Dataset) -> tf.data.Dataset:
    opts = tf.data.Options()
    opts.threading.private_threadpool_size = 1
    opts.threading.max_intra_op_parallelism = 1
    return ds.with_options(opts)


def timed_windows(batches: Iterator, clips_of: Callable[[Any], int], windows: int, size: int) -> dict:
    """Times `windows` windows of `size` items; rates per CPU-second and per wall-second.

    The machine may be shared: the best window is the least disturbed estimate of what a core
    delivers, and is what the speed-ups use; the median is reported beside it.
    """
    rows = []
    for _ in range(windows):
        wall, cpu, clips = time.perf_counter(), time.process_time(), 0
        for _ in range(size):
            clips += clips_of(next(batches))
        rows.append({"clips": clips, "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall})
    per_cpu = [r["clips"] / r["cpu_s"] for r in rows]
    per_wall = [r["clips"] / r["wall_s"] for r in rows]
    return {
        "clips_per_cpu_s": max(per_cpu),
        "clips_per_cpu_s_median": float(np.median(per_cpu)),
        "clips_per_wall_s": max(per_wall),
        "windows": rows,
    }


def measure_rhovid(data_dir: str, rho: int, where: str) -> dict:
    cfg = data_config(data_dir, rho, where)
    warm, size = 2, FLAGS.window_batches
    steps = warm + FLAGS.windows * size
    with frames.count_decodes() as count:
        src = streams.make_pretrain_source(cfg, global_batch_size=FLAGS.batch, seed=0, num_steps=steps)
    it = iter(single_threaded(src.dataset).as_numpy_iterator())
    for _ in range(warm):  # tracing, graph optimisation and autotuning are not timed
        next(it)
    result = timed_windows(it, lambda b: b["clips"].shape[0] * b["clips"].shape[1], FLAGS.windows, size)
    for _ in it:  # drain the finite stream: every counted decode then belongs to a delivered clip
        pass
    return {**result, "decoded_per_used": count.ratio()}


def naive_clip(container, stream, start: int, stride: int) -> tuple[np.ndarray, int]:
    """One clip the way PySlowFast's `pyav_decode` gets it.

    Seek (with its 1024-pts margin) to the keyframe before the clip, decode up to the clip's last
    frame, convert every frame of the span to an RGB array, stack them, then keep T frames evenly
    spaced over the span (`temporal_sampling`). Returns (uint8 [T, H, W, 3], frames decoded).
    """
    tb, fps = float(stream.time_base), float(stream.average_rate)
    span = T * stride
    start_pts, end_pts = int(start / fps / tb), int((start + span - 1) / fps / tb)
    container.seek(max(start_pts - 1024, 0), stream=stream, backward=True, any_frame=False)
    frames, decoded = [], 0
    for frame in container.decode(stream):
        decoded += 1
        if frame.pts < start_pts:
            continue
        if frame.pts > end_pts:
            break
        frames.append(frame.to_rgb().to_ndarray())
    frames = np.stack(frames)  # [span, H, W, 3]
    keep = np.clip(np.linspace(0, len(frames) - 1, T).astype(int), 0, len(frames) - 1)
    return frames[keep], decoded


def naive_clips(paths: list[str], rho: int, stats: dict):
    """Yields (frames uint8 [T, H, W, 3], clip number) decoded PySlowFast-style; counts decodes."""
    import av

    rng = np.random.default_rng(1)
    stride = TAU * FPS // 30
    num_frames = int(FLAGS.seconds * FPS)
    for path in itertools.cycle(paths):
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type, stream.thread_count = "NONE", 1
            for _ in range(rho):
                start = int(rng.integers(0, num_frames - T * stride + 1))
                frames, d = naive_clip(container, stream, start, stride)
                stats["decoded"] += d
                stats["clips"] += 1
                yield frames, stats["clips"]


def naive_augment(cfg: augment.AugmentConfig, canvas: tuple[int, int] | None):
    """The same per-clip work rhovid does after decoding (crop window, resize, flip, photometric;
    with a `canvas`, the window's frames placed on it and its size and flip, for the device)."""
    photometric = augment.photometric_on_host(cfg)

    def fn(frames, number):
        k_crop, _, k_aug = sampling.split_key(sampling.make_key(0, number), 3)
        window = augment.inception_crop_window(k_crop, HEIGHT, WIDTH, cfg.area_range, cfg.aspect_range)
        if canvas is not None:  # windows of 320×256 frames always fit the default canvas
            cut = frames[:, window[0] : window[0] + window[2], window[1] : window[1] + window[3]]
            flip = tf.random.stateless_uniform([], sampling.split_key(k_aug, 4)[0]) < 0.5
            on_canvas = rframes.place_on_canvas(tf.unstack(cut, num=T), canvas)
            return on_canvas, tf.concat([window[2:], tf.cast(flip, tf.int32)[None]], 0)
        clip = augment.crop_and_resize(frames, window, CROP, unit=photometric)
        if not photometric:
            return augment.flip_only(k_aug, tf.cast(clip + 0.5, tf.uint8), cfg)
        return augment.to_uint8(augment.augment_clip(k_aug, clip, cfg))

    return tf.autograph.experimental.do_not_convert(fn)


def measure_naive(paths: list[str], rho: int, where: str | None) -> dict:
    """PyAV span decoding, then rhovid's own per-clip work (None: the decoding alone)."""
    stats = {"decoded": 0, "clips": 0}
    size = FLAGS.naive_window_batches
    if where is None:
        clips = naive_clips(paths, rho, stats)
        batches = (sum(1 for _ in itertools.islice(clips, FLAGS.batch)) for _ in itertools.count())
        result = timed_windows(batches, lambda n: n, FLAGS.windows, size)
    else:
        data = data_config("", rho, where)
        cfg = augment.AugmentConfig.pretrain(data)
        canvas = streams.device_crop_canvas(data, cfg)
        spec = (tf.TensorSpec([T, HEIGHT, WIDTH, 3], tf.uint8), tf.TensorSpec([], tf.int64))
        ds = tf.data.Dataset.from_generator(lambda: naive_clips(paths, rho, stats), output_signature=spec)
        it = single_threaded(ds.map(naive_augment(cfg, canvas)).batch(FLAGS.batch)).as_numpy_iterator()
        next(it)  # warm-up: tracing and graph optimisation are not timed
        result = timed_windows(it, lambda b: tf.nest.flatten(b)[0].shape[0], FLAGS.windows, size)
    return {**result, "decoded_per_used": stats["decoded"] / (stats["clips"] * T)}


def measure_device_color(num_clips: int = 8) -> dict:
    """ms per clip of the device's share (jitted) on this machine's JAX backend: the colour
    (`device_augment.color_augment`), and crop + resize + flip (`device_augment.crop_resize_flip`)."""
    import jax  # imported here: only this measurement needs it

    from rhovid.data.reading import device_augment

    cfg = config_lib.base_config("byol").data
    rng = np.random.default_rng(0)
    color = jax.jit(lambda r, x: device_augment.color_augment(r, x, cfg))
    crop = jax.jit(lambda c, g: device_augment.crop_resize_flip(c, g, CROP))
    crop_cfg = data_config("", 2, "device_crop")
    hc, wc = streams.device_crop_canvas(crop_cfg, augment.AugmentConfig.pretrain(crop_cfg))
    canvas = jax.numpy.asarray(rng.integers(0, 256, (num_clips, T, hc, wc, 3), np.uint8))
    geometry = jax.numpy.asarray(
        np.stack(
            [rng.integers(120, 256, num_clips), rng.integers(120, 290, num_clips), rng.integers(0, 2, num_clips)], 1
        ).astype(np.int32)
    )
    x = jax.numpy.asarray(rng.uniform(size=(num_clips, T, CROP, CROP, 3)).astype(np.float32))

    def ms(fn, *args):
        fn(*args).block_until_ready()
        start, reps = time.perf_counter(), 3
        for _ in range(reps):
            fn(*args).block_until_ready()
        return 1e3 * (time.perf_counter() - start) / (reps * num_clips)

    return {
        "backend": jax.default_backend(),
        "ms_per_clip": ms(color, jax.random.key(0), x),
        "crop_resize_flip_ms_per_clip": ms(crop, canvas, geometry),
    }


BREAKDOWN_STAGES = (
    ("read", "TFRecord read of the video's record (per clip: / ρ)"),
    ("parse", "parse the example into its [N] JPEG strings, undecoded (per clip: / ρ)"),
    ("decode_full", "JPEG-decode the clip's T sampled frames, whole (for comparison)"),
    ("decode_window", "JPEG-decode the T frames inside the crop window only (what rhovid does)"),
    ("resize", "bilinear resize of the T cropped frames to S² (float32)"),
    ("round_flip", "round to uint8 and random horizontal flip"),
    ("batch", "stack the batch's clips into one uint8 array"),
    ("host_to_device", "jax.device_put of the uint8 batch and wait (this machine's JAX device)"),
    ("canvas", "crop on the device: the decoded window frames placed on the canvas (replaces resize, round_flip)"),
    ("batch_canvas", "crop on the device: stack the batch's canvases"),
    ("host_to_device_canvas", "crop on the device: jax.device_put of the canvases and their (h, w, flip)"),
)
HOST_CROP_STAGES = ("read", "parse", "decode_window", "resize", "round_flip", "batch")
DEVICE_CROP_STAGES = ("read", "parse", "decode_window", "canvas", "batch_canvas")


def measure_breakdown(data_dir: str, rho: int, num_clips: int) -> dict:
    """CPU ms per clip of each stage of rhovid's reader, each timed alone, one thread.

    The stages run rhovid's own functions (`pipeline.decode_frames`, `augment.crop_and_resize`,
    `augment.flip_only`) as compiled graphs on clips and crop windows sampled the way the reader
    samples them; `whole` is the reader itself (single-threaded tf.data, colour on the device;
    the crop on the host, and on the device), so `whole − Σ stages` is what tf.data's per-element
    machinery (sampling and window draws, the skip of broken records, map_fn over views, shuffle,
    batching, Python iteration) adds. `decode_window` includes stacking the T frames, which the
    device-crop path replaces by `canvas`. Each stage is called from Python once per clip; the CPU time of calling
    a no-op graph that way (`graph_call_ms_subtracted`) is taken off, and the read is one in-graph
    pass over the records.
    """
    import glob

    import jax
    import tensorflow_datasets as tfds

    from rhovid.data import records

    cfg_data = data_config(data_dir, rho, True)
    cfg = augment.AugmentConfig.pretrain(cfg_data)
    builder = tfds.builder_from_directory(os.path.join(data_dir, "bench", "1.0.0"))
    files = sorted(glob.glob(os.path.join(data_dir, "bench", "1.0.0", "*.tfrecord*")))
    parse = tf.function(tfrecords._example_parser(builder.info.features))  # the reader's own parser
    videos = max(1, num_clips // rho)
    read = tf.data.TFRecordDataset(files).repeat()

    def cpu_ms(fn, items, minus_call: bool = True) -> float:
        """CPU ms of calling compiled `fn` on each item, less the cost of a call of a no-op graph."""
        fn(items[0])  # trace
        t = time.process_time()
        for it in items:
            out = fn(it)
        del out
        return 1e3 * (time.process_time() - t) - (call_ms * len(items) if minus_call else 0.0)

    call_ms = 0.0
    noop = tf.function(lambda x: tf.identity(x))
    call_ms = cpu_ms(noop, [tf.constant(0)] * 200, minus_call=False) / 200  # per call of a graph from Python

    def total_bytes(n, r):
        return n + tf.cast(tf.strings.length(r), tf.int64)

    read_graph = tf.function(lambda: read.take(videos).reduce(tf.constant(0, tf.int64), total_bytes))
    read_ms = cpu_ms(lambda _: read_graph(), [None] * 3) / 3
    raws = list(read.take(videos))
    parse_ms = cpu_ms(parse, raws)
    examples = [parse(r) for r in raws]
    clips = []  # (strings, indices [T], window)
    for v, ex in enumerate(examples):
        key = sampling.make_key(0, v)
        k_idx, k_views = sampling.split_key(key, 2)
        idx = sampling.sample_clips(
            k_idx, ex[records.NUM_FRAMES], ex[records.FPS], num_clips=rho, clip_len=T, frame_stride=TAU, target_fps=30.0
        )
        shape = tf.io.extract_jpeg_shape(ex[records.VIDEO][0])
        for c in range(rho):
            k_crop = sampling.split_key(sampling.fold_in(k_views, c), 3)[0]
            window = augment.inception_crop_window(k_crop, shape[0], shape[1], cfg.area_range, cfg.aspect_range)
            clips.append((ex[records.VIDEO], idx[c], window))
    n = len(clips)
    decode_full = tf.function(lambda c: frames.decode_frames(c[0], c[1], None, T))
    decode_window = tf.function(lambda c: frames.decode_frames(c[0], c[1], c[2], T))
    cropped = [decode_window(c) for c in clips]
    resize = tf.function(lambda x: augment.crop_and_resize(x, None, CROP, unit=False))
    resized = [resize(x) for x in cropped]
    round_flip = tf.function(lambda x: augment.flip_only(sampling.make_key(0, 1), tf.cast(x + 0.5, tf.uint8), cfg))
    final = [round_flip(x) for x in resized]
    canvas_size = streams.device_crop_canvas(data_config(data_dir, rho, "device_crop"), cfg)
    unstacked = [tf.unstack(x, num=T) for x in cropped]  # decode_frames stacks; the canvas path does not
    canvas = tf.function(lambda fs: frames.place_on_canvas(fs, canvas_size))
    canvases = [canvas(fs) for fs in unstacked]
    batch_clips = FLAGS.batch * max(rho, 2)
    groups = [final[i : i + batch_clips] for i in range(0, n - batch_clips + 1, batch_clips)] or [final]
    stack = tf.function(lambda xs: tf.stack(xs))
    batches = [stack(g).numpy() for g in groups]
    canvas_groups = [canvases[i : i + batch_clips] for i in range(0, n - batch_clips + 1, batch_clips)] or [canvases]
    canvas_batches = [(stack(g).numpy(), np.zeros((len(g), 3), np.int32)) for g in canvas_groups]
    device = jax.devices()[0]

    def to_device(b):
        return jax.block_until_ready(jax.device_put(b, device))

    per_clip = {
        "read": read_ms / (videos * rho),
        "parse": parse_ms / (videos * rho),
        "decode_full": cpu_ms(decode_full, clips) / n,
        "decode_window": cpu_ms(decode_window, clips) / n,
        "resize": cpu_ms(resize, cropped) / n,
        "round_flip": cpu_ms(round_flip, resized) / n,
        "batch": cpu_ms(stack, groups) / sum(len(g) for g in groups),
        "host_to_device": cpu_ms(to_device, batches) / sum(b.shape[0] for b in batches),
        "canvas": cpu_ms(canvas, unstacked) / n,
        "batch_canvas": cpu_ms(stack, canvas_groups) / sum(len(g) for g in canvas_groups),
        "host_to_device_canvas": cpu_ms(to_device, canvas_batches) / sum(b[0].shape[0] for b in canvas_batches),
    }
    whole = {where: measure_rhovid(data_dir, rho, where) for where in ("device", "device_crop")}
    ms = {where: 1e3 / w["clips_per_cpu_s_median"] for where, w in whole.items()}
    summed = {"device": sum(per_clip[k] for k in HOST_CROP_STAGES)}
    summed["device_crop"] = sum(per_clip[k] for k in DEVICE_CROP_STAGES)
    return {
        "ms_per_clip": per_clip,
        "stages": dict(BREAKDOWN_STAGES),
        "sum_of_reader_stages_ms": summed,
        "whole_reader_ms_per_clip": ms,
        "whole_reader_clips_per_cpu_s": {where: w["clips_per_cpu_s_median"] for where, w in whole.items()},
        "whole_reader_clips_per_cpu_s_best": {where: w["clips_per_cpu_s"] for where, w in whole.items()},
        "whole_reader_windows": {where: w["windows"] for where, w in whole.items()},
        "overhead_ms": {where: ms[where] - summed[where] for where in ms},
        "device_crop_canvas": list(canvas_size),
        "window_area_fraction": float(np.mean([float(w[2] * w[3]) for _, _, w in clips])) / (WIDTH * HEIGHT),
        "graph_call_ms_subtracted": call_ms,
        "clips": n,
        "rho": rho,
        "T": T,
        "crop": CROP,
        "jax_backend": jax.default_backend(),
    }


def print_breakdown(b: dict) -> None:
    host, dev = b["whole_reader_ms_per_clip"]["device"], b["whole_reader_ms_per_clip"]["device_crop"]
    print(
        f"\nper-clip CPU time of rhovid's reader (ρ={b['rho']}, {b['T']}×{b['crop']}², one thread, "
        f"colour on the device; crop windows cover {100 * b['window_area_fraction']:.0f}% of the frame on average)"
    )
    print(f"{'stage':<22}{'ms/clip':>9}{'% host crop':>12}{'% dev crop':>11}  what")
    for name, what in BREAKDOWN_STAGES:
        ms = b["ms_per_clip"][name]
        a = f"{100 * ms / host:>11.0f}%" if name in HOST_CROP_STAGES else f"{'':>12}"
        c = f"{100 * ms / dev:>10.0f}%" if name in DEVICE_CROP_STAGES else f"{'':>11}"
        print(f"{name:<22}{ms:>9.2f}{a}{c}  {what}")
    for where, label in (("device", "host crop"), ("device_crop", "device crop")):
        ms, o = b["whole_reader_ms_per_clip"][where], b["overhead_ms"][where]
        print(
            f"whole ({label}): {ms:.2f} ms = {b['whole_reader_clips_per_cpu_s'][where]:.1f} clips/CPU-s "
            f"(median window; best {b['whole_reader_clips_per_cpu_s_best'][where]:.1f}); whole − Σ stages = {o:+.2f} ms"
        )


def measure_in_child() -> dict:
    """The measurement named by --measure, in this (fresh) process."""
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    paths = sorted(os.path.join(FLAGS.work, f) for f in os.listdir(FLAGS.work) if f.endswith(".mp4"))
    if FLAGS.measure == "rhovid":
        return measure_rhovid(os.path.join(FLAGS.work, "tfds"), FLAGS.rho, FLAGS.where)
    if FLAGS.measure == "naive":
        return measure_naive(paths, FLAGS.rho, FLAGS.where)
    if FLAGS.measure == "naive_decode":
        return measure_naive(paths, FLAGS.rho, None)
    if FLAGS.measure == "breakdown":
        return measure_breakdown(os.path.join(FLAGS.work, "tfds"), FLAGS.rho, FLAGS.breakdown_clips)
    return measure_device_color()


def run_child(work: str, measure: str, rho: int = 2, where: str = "host") -> dict:
    """Runs one measurement in a fresh Python process and returns its JSON result."""
    args = [
        sys.executable,
        os.path.abspath(__file__),
        f"--measure={measure}",
        f"--work={work}",
        f"--rho={rho}",
        f"--where={where}",
    ]
    args += [
        f"--{k}={getattr(FLAGS, k)}"
        for k in ("seconds", "batch", "windows", "window_batches", "naive_window_batches", "breakdown_clips")
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _av_version() -> str:
    import av

    return av.__version__


def write_breakdown(b: dict) -> None:
    out = FLAGS.out.replace(".json", "_breakdown.json")
    with open(out, "w") as f:
        json.dump(
            {
                "command": " ".join(sys.argv),
                "cpu": cpu_model(),
                "cpu_count": os.cpu_count(),
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "load_average": os.getloadavg(),
                "videos": FLAGS.num_videos,
                "seconds": FLAGS.seconds,
                "tf": tf.__version__,
                **b,
            },
            f,
            indent=2,
        )
    print(f"wrote {out}")


def main(argv):
    del argv
    if FLAGS.measure:
        print(json.dumps(measure_in_child()))
        return
    work = tempfile.mkdtemp(prefix="rhovid_bench_")
    t0 = time.perf_counter()
    if FLAGS.breakdown_only:  # JPEG records straight from the frames: no mp4s, no naive rows
        write_frame_records(os.path.join(work, "tfds"), FLAGS.num_videos, FLAGS.seconds)
        print(f"prepared {FLAGS.num_videos} videos in {time.perf_counter() - t0:.0f} s ({work})")
        b = run_child(work, "breakdown", 2)
        print_breakdown(b)
        write_breakdown(b)
        return
    paths = make_videos(work, FLAGS.num_videos, FLAGS.seconds, FLAGS.gop)
    write_records(paths, os.path.join(work, "tfds"))
    print(f"prepared {len(paths)} videos in {time.perf_counter() - t0:.0f} s ({work})")
    rows = []
    for rho in (int(r) for r in FLAGS.rhos):
        rows.append({"method": "naive decode", "rho": rho, "photometric": "-", **run_child(work, "naive_decode", rho)})
        for where in WHERE:
            naive = run_child(work, "naive", rho, where)
            rows.append({"method": "naive", "rho": rho, "photometric": where, **naive})
            r = run_child(work, "rhovid", rho, where)
            r["speedup_per_core"] = r["clips_per_cpu_s"] / naive["clips_per_cpu_s"]
            rows.append({"method": "rhovid", "rho": rho, "photometric": where, **r})
    result = {
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_at_start": os.getloadavg(),
        "setup": {
            "videos": FLAGS.num_videos,
            "seconds": FLAGS.seconds,
            "size": [WIDTH, HEIGHT],
            "fps": FPS,
            "gop": FLAGS.gop,
            "T": T,
            "tau": TAU,
            "crop": CROP,
            "batch": FLAGS.batch,
            "windows": FLAGS.windows,
            "speedup": "best window vs best window, clips per CPU-second",
            "cpu_count": os.cpu_count(),
            "tf": tf.__version__,
            "av": _av_version(),
        },
        "rows": rows,
        "device_photometric_cost": run_child(work, "device_cost"),
        "breakdown": run_child(work, "breakdown", 2),
        "cpu": cpu_model(),
        "load_average_at_end": os.getloadavg(),
    }
    os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
    print(
        f"\n{'method':<13}{'ρ':>3}  {'photometric':<12}{'clips/CPU-s':>12}{'(median)':>9}"
        f"{'clips/wall-s':>13}{'decoded/used':>13}{'× naive':>9}"
    )
    for r in rows:
        speedup = f"{r['speedup_per_core']:>9.1f}" if "speedup_per_core" in r else f"{'':>9}"
        print(
            f"{r['method']:<13}{r['rho']:>3}  {r['photometric']:<12}{r['clips_per_cpu_s']:>12.1f}"
            f"{r['clips_per_cpu_s_median']:>9.1f}{r['clips_per_wall_s']:>13.1f}"
            f"{r['decoded_per_used']:>13.2f}{speedup}"
        )
    d = result["device_photometric_cost"]
    print(
        f"\ndevice-side cost (excluded above), jitted on {d['backend']}: colour {d['ms_per_clip']:.1f} ms/clip, "
        f"crop + resize + flip {d['crop_resize_flip_ms_per_clip']:.1f} ms/clip"
    )
    print_breakdown(result["breakdown"])
    print(f"wrote {FLAGS.out}")
    write_breakdown(result["breakdown"])


if __name__ == "__main__":
    app.run(main)
