"""Where training batches come from: one function a task calls, whatever the dataset.

    kind "synthetic"   rhovid.data.reading.synthetic (random smooth videos of the configured shape)
    kind "demo"        the embedded demo, built on first use, then read like a prepared dataset
    kind "prepared"    a TFDS dataset of JPEG frames, read by rhovid.data.reading.streams

(`rhovid.data.registry` says which kind a `data.name` is.) Every source yields host-local
{'clips': uint8 [B_local, V, T, H, W, 3]} batches forever and starts at a given step (resume).
"""

from __future__ import annotations

import jax
import ml_collections

from rhovid.data import registry


def num_views(data_cfg: ml_collections.ConfigDict) -> int:
    """Views per video: ρ clips, or two augmented views of one clip when ρ = 1."""
    return max(int(data_cfg.rho), 2)


def num_train_examples(config: ml_collections.ConfigDict) -> int:
    """Videos in the training split (all processes): an epoch is this many / batch_size steps."""
    return registry.num_examples(config.data, config.data.train_split)


def make_pretrain_source(config: ml_collections.ConfigDict, start_step: int = 0):
    """The pretraining batch stream of `config` for this process, from `start_step` on."""
    d = config.data
    common = dict(
        global_batch_size=config.batch_size,
        seed=config.seed,
        start_step=start_step,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    if registry.kind(d) == "synthetic":
        from rhovid.data.reading.synthetic import SyntheticSource

        return SyntheticSource(
            num_videos=d.num_train_videos,
            num_views=num_views(d),
            num_frames=d.num_frames,
            frame_stride=d.frame_stride,
            crop_size=d.crop_size,
            **common,
        )
    from rhovid.data.reading import streams  # imports TensorFlow

    registry.ensure_built(d)
    return streams.make_pretrain_source(d, **common)
