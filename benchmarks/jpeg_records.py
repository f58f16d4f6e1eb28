"""Generated videos of real JPEG frames in rhovid's records format, for the input benchmarks.

`texture_frames` draws a smooth random texture panning under a moving square (so JPEG and H.264
sizes are like real footage's, not flat colour's); `write_frame_records` stores such videos as
TFDS records of JPEG frames (quality 90) with the tests' writer (tests/dataset_fixtures.py), the
format `rhovid.data.reading.streams` reads.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import dataset_fixtures

WIDTH, HEIGHT, FPS = 320, 256, 30


def texture_frames(video: int, num_frames: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """uint8 [num_frames, height, width, 3]: a smooth random texture panning, a moving square.

    Smooth texture and motion give JPEG and H.264 sizes like real footage's (not flat colour).
    """
    rng = np.random.default_rng(video)
    texture = ndimage.gaussian_filter(rng.uniform(0, 255, (height + 200, width + num_frames + 40, 3)), (3, 3, 0))
    texture = np.clip((texture - texture.mean()) * 4 + 128, 0, 255).astype(np.uint8)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    side = max(4, min(width, height) // 6)
    for i in range(num_frames):
        img = frames[i]
        img[:] = texture[i % 200 : i % 200 + height, i : i + width]
        y, x = height // 6 + int(height / 8 * np.sin(i / 10)), (3 * i) % (width - side)
        img[y : y + side, x : x + side] = (255, 40 * video % 256, 0)
    return frames


def write_frame_records(
    data_dir: str, num: int, seconds: float, width: int = WIDTH, height: int = HEIGHT, name: str = "bench"
) -> None:
    """`texture_frames` videos stored directly as JPEG-frame records (quality 90), no mp4 needed."""
    examples = [
        dataset_fixtures.example(
            dataset_fixtures.encode(texture_frames(v, int(seconds * FPS), width, height), quality=90),
            fps=FPS,
            video_id=f"v{v}",
        )
        for v in range(num)
    ]
    dataset_fixtures.write_dataset(data_dir, name, {"train": examples}, num_shards=min(4, num))
