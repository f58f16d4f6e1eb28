"""Decode one video file with PyAV: JPEG frames at a capped frame rate and short side, or a probe.

This is the only place where source videos are read, for `rhovid.data.prepare` (which stores the
frames) and for `rhovid.data.check` (which only probes). Both run these functions in worker
processes (`rhovid.data.preparation.workers.IsolatedPool`), so a decoder crash costs one file, never a
preparation.

Headers lie: container frame counts, durations and frame rates are recorded for the report but never
used to decide anything. The frames are counted as they are decoded, the source frame rate is
measured from the decoded timestamps of the whole video, and a decode error part-way keeps the
frames decoded so far (the file is then marked truncated). A source at or below the frame-rate cap
keeps every decoded frame, once, at its measured mean rate (a variable-rate phone clip loses none).
A faster source is resampled by timestamp: each output instant t_k = t_0 + k / fps takes the source
frame nearest to it, which drops frames evenly.

Memory is bounded by the stored size, not the source's: every frame is resized to the stored short
side and JPEG-encoded as soon as it is decoded, so a worker holds one full-size frame (plus the
decoder's own reference frames; frame threading is capped for very large frames) and the
stored-size JPEGs of the video, whatever the source resolution.

This module imports no TensorFlow, so that worker processes start fast.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import io
import os
from collections.abc import Iterator

import av
from PIL import Image

# Reasons a video is skipped (stable strings: they appear in reports and tests).
MISSING = "missing"
EMPTY = "empty"
UNREADABLE = "unreadable"  # the container cannot be opened / parsed
NO_VIDEO_STREAM = "no_video_stream"
NO_FRAMES = "no_frames"  # opened, but not a single frame decoded
CRASHED = "crashed"  # the worker process died (signal) while decoding this file
TIMEOUT = "timeout"
TOO_SHORT = "too_short"  # fewer decoded frames than DecodeOptions.min_frames
NOT_A_FILE = "not_a_file"  # named like a video, but a directory, socket, ...
ERROR = "error"  # any other exception, with its repr

_ORDER_WINDOW = 16  # decoded frames (already stored-size JPEGs) over which timestamps are re-paired
_LARGE_FRAME_PIXELS = 3840 * 2160  # above this, decode with at most _LARGE_FRAME_THREADS threads
_LARGE_FRAME_THREADS = 2
_MAX_BAD_PACKETS = 50  # consecutive undecodable packets before giving up on the rest of a file
_MAX_GAP_S = 5.0  # a timestamp jump longer than this is a discontinuity, not a pause to fill


class VideoError(Exception):
    """A video that cannot be used at all; `reason` is one of the constants above."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self):  # keep `reason` and `detail` across process boundaries
        return VideoError, (self.reason, self.detail)


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """How frames are stored.

    Attributes:
      max_fps: cap on the stored frame rate; the source rate is kept when lower. 0 = no cap.
      short_side: stored short side in pixels (up- or downscaled). 0 = keep the source size.
      jpeg_quality: JPEG quality of the stored frames (1-95).
      min_frames: a video with fewer decoded frames raises VideoError `too_short`. 1 (the default
        here) keeps everything; `prepare` and `check` default to MIN_FRAMES.
    """

    max_fps: float = 30.0
    short_side: int = 256
    jpeg_quality: int = 90
    min_frames: int = 1


# What `prepare --min_frames` defaults to: every clip cut from a 1- or 2-frame video is the same
# still image repeated, useless for learning motion.
MIN_FRAMES = 3


@dataclasses.dataclass
class VideoStats:
    """What decoding found in one file; header values are informational only."""

    path: str
    decoded_frames: int  # source frames actually decoded
    source_fps: float  # measured from decoded timestamps
    duration_s: float  # decoded span: last frame end minus first frame start
    width: int
    height: int
    codec: str
    header_frames: int | None
    header_fps: float | None
    header_duration_s: float | None
    errors: int = 0  # undecodable packets or a demux error
    first_error: str | None = None
    timestamp_jumps: int = 0  # discontinuities (> _MAX_GAP_S) closed up instead of filled

    @property
    def truncated(self) -> bool:
        """True when decoding hit errors or the header promised clearly more frames."""
        if self.errors:
            return True
        return bool(self.header_frames) and self.decoded_frames < 0.95 * self.header_frames - 1


@dataclasses.dataclass
class DecodedVideo:
    """Stored frames of one video."""

    frames: list[bytes]  # [num_frames] JPEG-encoded RGB frames
    fps: float  # frame rate of `frames`
    stats: VideoStats

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def _open(path: str):
    """Opens `path` and returns (container, video stream), or raises VideoError."""
    if not path or not os.path.exists(path):
        raise VideoError(MISSING, f"no such file: {path!r}")
    if not os.path.isfile(path):
        kind = "a directory" if os.path.isdir(path) else "not a regular file"
        raise VideoError(NOT_A_FILE, f"{path!r} is {kind}")
    if os.path.getsize(path) == 0:
        raise VideoError(EMPTY, f"file of 0 bytes: {path!r}")
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise VideoError(UNREADABLE, f"{type(e).__name__}: {e}") from None
    if not container.streams.video:
        container.close()
        raise VideoError(NO_VIDEO_STREAM, f"streams: {[s.type for s in container.streams]}")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
    if width * height > _LARGE_FRAME_PIXELS:  # frame threading holds a full frame per thread
        stream.codec_context.thread_count = _LARGE_FRAME_THREADS
    return container, stream


def _header(container, stream) -> tuple[int | None, float | None, float | None]:
    frames = int(stream.frames) or None
    fps = float(stream.average_rate) if stream.average_rate else None
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1e6
    else:
        duration = None
    return frames, fps, duration


def _iter_frames(container, stream, stats: VideoStats) -> Iterator[tuple[float | None, object]]:
    """Yields (time in seconds or None, av.VideoFrame); counts errors in `stats` instead of raising.

    Packets are decoded one by one so that a corrupt packet costs its frames, not the rest of the
    file; a demux error (truncated container) ends the iteration.
    """
    bad_in_a_row = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except (av.error.FFmpegError, ValueError) as e:
            stats.errors += 1
            stats.first_error = stats.first_error or f"demux: {type(e).__name__}: {e}"
            return
        try:
            frames = packet.decode()
            bad_in_a_row = 0
        except (av.error.FFmpegError, ValueError) as e:
            stats.errors += 1
            stats.first_error = stats.first_error or (
                f"decode after {stats.decoded_frames} frames: {type(e).__name__}: {e}"
            )
            bad_in_a_row += 1
            if bad_in_a_row >= _MAX_BAD_PACKETS:
                return
            continue
        for frame in frames:
            stats.decoded_frames += 1
            yield (float(frame.time) if frame.time is not None else None), frame


def _new_stats(path: str, container, stream) -> VideoStats:
    header_frames, header_fps, header_duration = _header(container, stream)
    return VideoStats(
        path=path,
        decoded_frames=0,
        source_fps=0.0,
        duration_s=0.0,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        codec=stream.codec_context.name,
        header_frames=header_frames,
        header_fps=header_fps,
        header_duration_s=header_duration,
    )


def _measured_fps(times: list[float | None], header_fps: float | None) -> float:
    """Mean rate over decoded timestamps; the header's exact value when it agrees within 2%."""
    valid = [t for t in times if t is not None]
    rate = None
    if len(valid) >= 2 and valid[-1] > valid[0]:
        rate = (len(valid) - 1) / (valid[-1] - valid[0])
    if rate is None or not 0.1 <= rate <= 1000:
        return header_fps if header_fps and 0.1 <= header_fps <= 1000 else 30.0
    if header_fps and abs(header_fps - rate) <= 0.02 * rate:
        return header_fps
    return rate


def _sorted_times(frames: Iterator[tuple[float | None, object]]):
    """Pairs frames, in decoder output order, with their timestamps in increasing order.

    Decoders output frames in display order, but containers without presentation timestamps (AVI
    with B-frames) hand out the right timestamps in the wrong order; pairing the i-th frame with
    the i-th smallest pending timestamp (over a window of _ORDER_WINDOW frames) repairs that and
    leaves correct streams unchanged. The frames here are already small (stored-size JPEGs or None).
    """
    pending, times = collections.deque(), []
    for t, frame in frames:
        pending.append(frame)
        if t is not None:
            heapq.heappush(times, t)
        if len(pending) > _ORDER_WINDOW:
            yield (heapq.heappop(times) if times else None), pending.popleft()
    while pending:
        yield (heapq.heappop(times) if times else None), pending.popleft()


def _timed_frames(frames: Iterator[tuple[float | None, object]], stats: VideoStats, header_fps):
    """All (time, frame) of a video with times filled in; sets `stats.source_fps`.

    The rate is measured over the whole video (not its first frames), so a variable-rate clip gets
    its mean rate. Missing or non-increasing timestamps continue at that rate; a jump longer than
    _MAX_GAP_S is closed up (counted in `stats.timestamp_jumps`).
    """
    items = list(_sorted_times(frames))
    stats.source_fps = _measured_fps([t for t, _ in items], header_fps)
    step = 1.0 / stats.source_fps
    last = None
    offset = 0.0

    def fill(t):
        nonlocal last, offset
        if t is not None:
            t -= offset
        if t is None or (last is not None and t <= last):  # missing or non-increasing timestamp
            t = 0.0 if last is None else last + step
        elif last is not None and t - last > _MAX_GAP_S:  # broken timestamps: close the gap
            stats.timestamp_jumps += 1
            offset += t - last - step
            t = last + step
        last = t
        return t

    return [(fill(t), frame) for t, frame in items]


def _output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    if short_side <= 0:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_jpeg(frame, size: tuple[int, int], quality: int) -> bytes:
    width, height = size
    upscale = width > frame.width
    rgb = frame.to_ndarray(  # [H, W, 3] uint8
        width=width,
        height=height,
        format="rgb24",
        interpolation="BILINEAR" if upscale else "AREA",
    )
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _stored_size_jpegs(frames, stats: VideoStats, options: DecodeOptions):
    """(time, JPEG bytes at the stored size) for each decoded frame, encoded as soon as decoded."""
    size = None
    for t, frame in frames:
        if size is None:
            size = _output_size(frame.width, frame.height, options.short_side)
            stats.width, stats.height = frame.width, frame.height
        yield t, _to_jpeg(frame, size, options.jpeg_quality)


def decode_video(path: str, options: DecodeOptions = DecodeOptions()) -> DecodedVideo:
    """Decodes `path` into JPEG frames at min(source fps, max_fps) and the chosen short side.

    Args:
      path: a video file any FFmpeg demuxer reads (mp4, avi, webm, mkv, ogv, ...).
      options: stored frame rate cap, short side, JPEG quality and minimum length.

    Returns:
      The stored frames, their frame rate and what decoding found (`stats`, with `truncated` set
      when decoding hit errors; the frames decoded before the error are kept).

    Raises:
      VideoError: missing, not a file, empty, unreadable, no video stream, not a single decodable
        frame, or fewer than `options.min_frames` frames.
    """
    container, stream = _open(path)
    try:
        stats = _new_stats(path, container, stream)
        decoded = _stored_size_jpegs(_iter_frames(container, stream, stats), stats, options)
        timed = _timed_frames(decoded, stats, stats.header_fps)
    finally:
        container.close()
    if not timed:
        raise VideoError(NO_FRAMES, stats.first_error or "the video stream has no frames")
    if len(timed) < options.min_frames:
        raise VideoError(
            TOO_SHORT,
            f"{len(timed)} frame(s), fewer than min_frames={options.min_frames}: every clip would be one still image",
        )
    t0, end = timed[0][0], timed[-1][0] + 1.0 / stats.source_fps
    stats.duration_s = end - t0
    if not options.max_fps or stats.source_fps <= options.max_fps:  # under the cap: every frame
        return DecodedVideo(frames=[jpeg for _, jpeg in timed], fps=float(stats.source_fps), stats=stats)

    fps = float(options.max_fps)
    out: list[bytes] = []

    def emit_until(limit: float, jpeg: bytes) -> None:
        # Output instants t0 + k/fps below `limit` take `jpeg` (the nearest source frame).
        while t0 + len(out) / fps < limit - 1e-6:
            out.append(jpeg)

    for (t, jpeg), (t_next, _) in zip(timed, timed[1:]):
        emit_until((t + t_next) / 2, jpeg)  # this frame is nearest to every instant before the midpoint
    emit_until(end, timed[-1][1])
    if not out:  # a single frame shorter than one output period
        out.append(timed[-1][1])
    return DecodedVideo(frames=out, fps=fps, stats=stats)


def probe(path: str, decode_frames: bool = True) -> VideoStats:
    """Counts the frames of `path` (decoding them, or only demuxing when `decode_frames` is False).

    Args:
      path: a video file.
      decode_frames: decode every frame (finds corrupt data) or only count packets (fast; trusts
        the bitstream to hold one frame per packet).

    Returns:
      VideoStats with the decoded (or demuxed) frame count, measured fps and duration.

    Raises:
      VideoError: missing, empty, unreadable, no video stream, or no frames.
    """
    container, stream = _open(path)
    try:
        stats = _new_stats(path, container, stream)
        if decode_frames:  # frames are dropped as soon as decoded: only their times are kept
            items = ((t, None) for t, _ in _iter_frames(container, stream, stats))
        else:
            items = _iter_packets(container, stream, stats)
        timed = _timed_frames(items, stats, stats.header_fps)
        if not timed:
            raise VideoError(NO_FRAMES, stats.first_error or "the video stream has no frames")
        stats.duration_s = timed[-1][0] - timed[0][0] + 1.0 / stats.source_fps
        return stats
    finally:
        container.close()


def _iter_packets(container, stream, stats: VideoStats) -> Iterator[tuple[float | None, None]]:
    times = []
    try:
        for packet in container.demux(stream):
            if packet.size:
                pts = packet.pts if packet.pts is not None else packet.dts
                times.append(float(pts * packet.time_base) if pts is not None else None)
    except (av.error.FFmpegError, ValueError) as e:
        stats.errors += 1
        stats.first_error = f"demux: {type(e).__name__}: {e}"
    valid = sorted(t for t in times if t is not None)  # packets come in decode order
    ordered = valid + [None] * (len(times) - len(valid))
    stats.decoded_frames = len(ordered)
    for t in ordered:
        yield t, None
