"""A synthetic video source with the pretraining input interface, for tests and benchmarks.

`num_train_videos` smooth random videos are generated once from the seed; each step draws a batch
of them (reshuffled every epoch) and cuts V clips per video at random temporal offsets (looping),
so the views of one video share content and an objective has something to learn. Deterministic
in (seed, step, process): a run resumed at step k sees the batches the uninterrupted run saw.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class SyntheticSource:
    """Yields {'clips': uint8 [B_local, V, T, H, W, 3]} forever, starting at `start_step`."""

    def __init__(
        self,
        *,
        num_videos: int,
        num_views: int,
        num_frames: int,
        frame_stride: int,
        crop_size: int,
        global_batch_size: int,
        seed: int,
        start_step: int = 0,
        process_index: int = 0,
        process_count: int = 1,
        video_frames: int = 16,
    ):
        if num_videos < global_batch_size:
            raise ValueError(
                f"data.num_train_videos={num_videos} is smaller than the batch "
                f"({global_batch_size}); raise it for the synthetic source."
            )
        self.num_examples = num_videos
        self._b_local = global_batch_size // process_count
        self._offset = process_index * self._b_local
        self._global_batch = global_batch_size
        self._v, self._t, self._stride = num_views, num_frames, frame_stride
        self._seed, self._step = seed, start_step
        rng = np.random.default_rng(seed)
        # Smooth random frames: 8×8 noise upsampled to crop_size, drifting one pixel per frame.
        coarse = rng.integers(0, 256, (num_videos, 1, 8, 8, 3), dtype=np.uint8)
        rep = -(-crop_size // 8)
        base = coarse.repeat(rep, 2).repeat(rep, 3)[:, :, :crop_size, :crop_size]
        self._videos = np.stack([np.roll(base[:, 0], t, axis=2) for t in range(video_frames)], 1)

    def __iter__(self) -> Iterator[dict]:
        while True:
            yield self._batch(self._step)
            self._step += 1

    def _batch(self, step: int) -> dict:
        steps_per_epoch = self.num_examples // self._global_batch
        epoch, index = divmod(step, steps_per_epoch)
        order = np.random.default_rng((self._seed, epoch)).permutation(self.num_examples)
        local = slice(self._offset, self._offset + self._b_local)  # this process's share
        ids = order[index * self._global_batch :][local]
        n_frames = self._videos.shape[1]
        rng = np.random.default_rng((self._seed, 1, step))  # drawn for the global batch, then sliced
        starts = rng.integers(0, n_frames, (self._global_batch, self._v))[local]
        frames = (starts[..., None] + self._stride * np.arange(self._t)) % n_frames  # [B, V, T]
        clips = self._videos[ids[:, None, None], frames]  # [B, V, T, H, W, 3]
        return {"clips": clips}
