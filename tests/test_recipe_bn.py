"""BatchNorm groups as the paper's recipe has them: in clips, each group holding one view only.

Hand computations in NumPy: the clips of a group, their mean and biased variance normalise the
group; the running statistics move by 0.1 toward the mean over groups of the mean and of the
unbiased variance (PyTorch's BN momentum 0.1).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rhovid import config as config_lib
from rhovid.models.layers import BatchNorm
from rhovid.models.network import bn_groups


def _reference(x, videos, views, g):
    """x [videos·views, T, H, W, C] video-major -> normalised x, running mean, running var."""
    c = x.shape[-1]
    xv = x.reshape(videos, views, -1, c)
    y = np.empty_like(xv)
    means, unbiased = [], []
    for start in range(0, videos, g):
        for w in range(views):
            group = xv[start : start + g, w]  # [g, T·H·W, C]: g videos, view w
            mean, var = group.mean((0, 1)), group.var((0, 1))
            y[start : start + g, w] = (group - mean) / np.sqrt(var + 1e-5)
            means.append(mean)
            unbiased.append(group.reshape(-1, c).var(0, ddof=1))
    return y.reshape(x.shape), 0.1 * np.mean(means, 0), 0.9 + 0.1 * np.mean(unbiased, 0)


@pytest.mark.parametrize("videos, views, g", [(8, 2, 2), (8, 3, 4), (6, 4, 0), (4, 2, 64)])
def test_bn_groups_of_one_view_match_a_hand_computation(videos, views, g):
    x = np.random.default_rng(videos + views).normal(size=(videos * views, 2, 3, 3, 5)).astype(np.float32)
    x += np.arange(videos * views)[:, None, None, None, None] % views  # views differ in their mean
    bn = BatchNorm(group_size=(g, views))
    variables = bn.init(jax.random.PRNGKey(0), jnp.asarray(x), train=True)
    y, new = bn.apply(variables, jnp.asarray(x), train=True, mutable=["batch_stats"])
    want_y, want_mean, want_var = _reference(x, videos, views, g if 0 < g < videos else videos)
    np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(new["batch_stats"]["mean"], want_mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new["batch_stats"]["var"], want_var, rtol=1e-4)


@pytest.mark.parametrize("method, clips", [("moco", 8), ("byol", 64), ("simclr", 64), ("swav", 64)])
def test_default_bn_groups_are_the_papers(method, clips):
    """Paper B.1: MoCo per-GPU BN over 8 clips (with shuffle-BN), the others SyncBN over 8 GPUs = 64 clips."""
    c = config_lib.base_config(method)
    assert bn_groups(c) == (clips, 2)
    assert c.objective.shuffle_bn == (method == "moco")
    c.data.rho = 4
    assert bn_groups(c) == (clips, 4)
    c.model.views_per_chunk = 2  # a memory-flat chunk holds 2 views per video
    assert bn_groups(c) == (clips, 2)


def test_per_device_bn_means_the_devices_clips_of_one_view():
    c = config_lib.base_config("moco")
    c.model.bn_group_size = -1
    c.data.rho = 3
    # train.py resolves −1 to the device's clips of all views: 512 × 3 / 64 devices = 24 clips.
    assert bn_groups(c, 24) == (8, 3)
    c.model.bn_mix_views = True
    assert bn_groups(c, 24) == 24
