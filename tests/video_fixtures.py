"""Small real video files for tests, encoded with PyAV: good ones, broken ones, lying ones.

Every frame carries its index: a horizontal red ramp, a vertical green ramp, blue = 37·i mod 256 and
an 8×8 white square at x = 4·i, so a test can tell which source frame a stored frame came from
(`match_frame`). Reuse from any test (tests/ is on sys.path under pytest):

    import video_fixtures
    path = video_fixtures.write_video(tmp_path / "a.mp4", num_frames=12, fps=25)
    zoo = video_fixtures.make_zoo(tmp_path / "videos")   # name -> Path of good and bad files

Also module-level decode stand-ins (`crash_on_name`, `counting_decode`) that tests hand to
rhovid.data.prepare as `decode_fn`; they must live in an importable module so worker processes
(spawned) can unpickle them.
"""

from __future__ import annotations

import fractions
import functools
import os
import pathlib
import signal
import struct

import av
import numpy as np

from rhovid.data.preparation import decode


def frame_pattern(index: int, height: int, width: int) -> np.ndarray:
    """The synthetic frame `index`: [height, width, 3] uint8."""
    y, x = np.mgrid[0:height, 0:width]
    f = np.zeros((height, width, 3), np.uint8)
    f[..., 0] = x * 255 // max(width - 1, 1)
    f[..., 1] = y * 255 // max(height - 1, 1)
    f[..., 2] = (index * 37) % 256
    size = 8
    x0 = (index * 4) % max(width - size, 1)
    f[4 : 4 + size, x0 : x0 + size] = 255
    return f


@functools.cache
def codec_available(name: str) -> bool:
    """Whether PyAV's FFmpeg can encode with `name`."""
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def write_video(
    path: os.PathLike | str,
    num_frames: int = 12,
    fps: float = 25,
    size: tuple[int, int] = (48, 64),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    codec_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> pathlib.Path:
    """Encodes `num_frames` pattern frames of `size` (height, width) at `fps` into `path`."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = size
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fractions.Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec_options:
            stream.options = codec_options
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(frame_pattern(i, height, width), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def truncate(src: os.PathLike | str, dst: os.PathLike | str, fraction: float = 0.5) -> pathlib.Path:
    """Copies the first `fraction` of the bytes of `src` to `dst`."""
    data = pathlib.Path(src).read_bytes()
    pathlib.Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return pathlib.Path(dst)


def lie_about_length(avi_path: os.PathLike | str, claimed_frames: int) -> None:
    """Rewrites an AVI's header (avih dwTotalFrames, strh dwLength) to claim `claimed_frames`."""
    data = bytearray(pathlib.Path(avi_path).read_bytes())
    avih = data.find(b"avih")
    strh = data.find(b"strh")
    assert avih > 0 and strh > 0, "not an AVI file"
    struct.pack_into("<I", data, avih + 8 + 16, claimed_frames)  # dwTotalFrames
    struct.pack_into("<I", data, strh + 8 + 32, claimed_frames)  # dwLength
    pathlib.Path(avi_path).write_bytes(data)


def decode_all(path: os.PathLike | str) -> list[np.ndarray]:
    """Reference decode: every frame of the first video stream as [H, W, 3] uint8, plain PyAV."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def match_frame(frame: np.ndarray, candidates: list[np.ndarray]) -> int:
    """Index of the candidate (same shape as `frame`) with the least mean absolute difference."""
    diffs = [np.abs(frame.astype(np.float32) - c.astype(np.float32)).mean() for c in candidates]
    return int(np.argmin(diffs))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


# Good files: name -> (decoded source frames, source fps). Bad files: name -> expected skip reason.
GOOD = {
    "h264.mp4": (12, 25),
    "h264_bframes.avi": (12, 25),
    "vp9.webm": (10, 25),
    "mpeg4.avi": (9, 25),
    "mjpeg.avi": (8, 30),
    "three.mp4": (3, 25),
    "fast60.mp4": (13, 60),
    "lying.avi": (10, 25),
}
BAD = {"random.mp4": decode.UNREADABLE, "empty.mp4": decode.EMPTY, "truncated_moov_at_end.mp4": decode.UNREADABLE}
TRUNCATED = "truncated.mp4"  # faststart mp4 cut in half: decodable head, listed as truncated


def make_zoo(directory: os.PathLike | str) -> dict[str, pathlib.Path]:
    """Writes GOOD, BAD and TRUNCATED files into `directory` (VP9 only if the codec is there)."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = {
        "h264.mp4": write_video(d / "h264.mp4", 12, 25),
        "h264_bframes.avi": write_video(d / "h264_bframes.avi", 12, 25),  # no pts: permuted times
        "mpeg4.avi": write_video(d / "mpeg4.avi", 9, 25, codec="mpeg4"),
        "mjpeg.avi": write_video(d / "mjpeg.avi", 8, 30, codec="mjpeg", pix_fmt="yuvj420p"),
        "three.mp4": write_video(d / "three.mp4", 3, 25),
        "fast60.mp4": write_video(d / "fast60.mp4", 13, 60),
        "lying.avi": write_video(d / "lying.avi", 10, 25, codec="mpeg4"),
    }
    lie_about_length(out["lying.avi"], 500)
    if codec_available("libvpx-vp9"):
        out["vp9.webm"] = write_video(d / "vp9.webm", 10, 25, codec="libvpx-vp9")
    big = {"size": (64, 96), "codec_options": {"crf": "10"}}
    write_video(d / "_whole_fs.mp4", 40, 25, container_options={"movflags": "faststart"}, **big)
    write_video(d / "_whole.mp4", 40, 25, **big)
    out[TRUNCATED] = truncate(d / "_whole_fs.mp4", d / TRUNCATED)
    out["truncated_moov_at_end.mp4"] = truncate(d / "_whole.mp4", d / "truncated_moov_at_end.mp4")
    os.remove(d / "_whole_fs.mp4")
    os.remove(d / "_whole.mp4")
    (d / "random.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "empty.mp4").write_bytes(b"")
    out["random.mp4"], out["empty.mp4"] = d / "random.mp4", d / "empty.mp4"
    return out


def crash_on_name(path: str, options: decode.DecodeOptions, marker: str = "crash") -> object:
    """decode_video, except that the process dies of SIGSEGV on files whose name has `marker`."""
    if marker in os.path.basename(path):
        os.kill(os.getpid(), signal.SIGSEGV)
    return decode.decode_video(path, options)


def counting_decode(path: str, options: decode.DecodeOptions, log: str) -> object:
    """decode_video that appends `path` to the file `log` (to count decodes across processes)."""
    with open(log, "a") as f:
        f.write(path + "\n")
    return decode.decode_video(path, options)
