"""Where training batches come from: one function the trainer calls, whatever the dataset.

    data.name == "synthetic"   rhovid.data.synthetic (random videos of the configured shape)
    data.name == "rhovid_demo" the embedded demo, built on first use, then the tf.data reader
    anything else              a prepared TFDS dataset read by rhovid.data.pipeline

Every source yields host-local {'clips': uint8 [B_local, V, T, H, W, 3]} batches forever, starts
at a given step (resume), and tells its epoch length through `num_examples`.
"""

from __future__ import annotations

import jax
import ml_collections

DEMO_NAME = "rhovid_demo"  # data.name "rhovid_demo/<size config>" is built on first use


def num_views(data_cfg: ml_collections.ConfigDict) -> int:
    """Views per video: ρ clips, or two augmented views of one clip when ρ = 1."""
    return max(int(data_cfg.rho), 2)


def make_pretrain_source(config: ml_collections.ConfigDict, start_step: int = 0):
    """The pretraining batch stream of `config` for this process, from `start_step` on."""
    d = config.data
    common = dict(global_batch_size=config.batch_size, seed=config.seed, start_step=start_step,
                  process_index=jax.process_index(), process_count=jax.process_count())
    if d.name == "synthetic":
        from rhovid.data.synthetic import SyntheticSource  # noqa: PLC0415

        return SyntheticSource(num_videos=d.num_train_videos, num_views=num_views(d),
                               num_frames=d.num_frames, frame_stride=d.frame_stride,
                               crop_size=d.crop_size, **common)
    from rhovid.data import pipeline  # noqa: PLC0415 (imports TensorFlow)

    if d.name.split("/")[0] == DEMO_NAME:
        ensure_demo(config)
    return pipeline.make_pretrain_source(d, **common)


def ensure_demo(config: ml_collections.ConfigDict) -> None:
    """Builds the demo dataset into `data.data_dir` if it is not there yet (process 0 builds)."""
    from rhovid.data.builders import demo  # noqa: PLC0415

    if config.data.name != demo.dataset_name():
        return  # a non-default size, built explicitly with demo.ensure_demo_dataset(data_dir, **sizes)
    if jax.process_index() == 0:
        demo.ensure_demo_dataset(config.data.data_dir)
