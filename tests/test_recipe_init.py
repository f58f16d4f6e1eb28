"""Head initialisation: PySlowFast's `c2_xavier_fill`, which is fvcore's kaiming_uniform_(a=1)."""

import math

import jax
import numpy as np

from rhovid.models.heads import MLP


def test_mlp_linears_are_c2_xavier_fill():
    mlp = MLP((512,), 256)
    params = mlp.init(jax.random.PRNGKey(0), np.zeros((2, 1024), np.float32), train=False)["params"]
    for name, fan_in in (("dense_0", 1024), ("dense_1", 512)):
        w = np.asarray(params[name]["kernel"])
        bound = math.sqrt(3.0 / fan_in)  # gain √(2/(1+1²)) = 1; bound = gain·√(3/fan_in)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
        np.testing.assert_allclose(w.var(), 1.0 / fan_in, rtol=0.02)  # U(±b): variance b²/3
        np.testing.assert_array_equal(params[name]["bias"], 0.0)
