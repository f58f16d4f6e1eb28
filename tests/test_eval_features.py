"""Loading pretrained backbones for evaluation: round trip, and mismatches named precisely."""

import functools
import importlib.util
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from rhovid import checkpoint, presets, sharding
from rhovid import config as config_lib
from rhovid.eval import features, results
from rhovid.models.resnet3d import build_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eval_config(name, arg="tiny"):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", "eval", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def test_check_compatible_names_first_mismatch_and_both_shapes():
    expected = {
        "params": {
            "a": {"kernel": jnp.zeros((3, 4))},
            "b": {"kernel": jnp.zeros((4, 5))},
            "c": {"bias": jnp.zeros((5,))},
        }
    }
    features.check_compatible(expected, jax.tree.map(np.asarray, expected))  # same: passes
    bad = {
        "params": {"a": {"kernel": np.zeros((3, 4))}, "b": {"kernel": np.zeros((4, 6))}, "c": {"bias": np.zeros((6,))}}
    }
    with pytest.raises(
        ValueError,
        match=re.escape("'params/b/kernel' has shape (4, 6) in the pretrained checkpoint but (4, 5) in the model"),
    ):
        features.check_compatible(expected, bad)
    missing = {"params": {"a": {"kernel": np.zeros((3, 4))}, "c": {"bias": np.zeros((5,))}}}
    with pytest.raises(ValueError, match="'params/b/kernel' .*missing"):
        features.check_compatible(expected, missing)
    extra = {"params": dict(expected["params"], d={"kernel": np.zeros((1,))})}
    with pytest.raises(ValueError, match="'params/d/kernel' .*does not have"):
        features.check_compatible(expected, extra)


def _write_pretrained(workdir, width=8):
    """A tiny R-50 'pretraining run' in the workdir layout (the interop writer's format).

    Parameters and BN statistics are random arrays of the model's shapes (no init compile), so a
    loader that re-initialised anything would be caught.
    """
    cfg = presets.apply(config_lib.base_config("byol"), "tiny")
    model = build_backbone(cfg.model, width=width)
    shapes = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), jnp.zeros((1, 4, 32, 32, 3)))
    rng = np.random.default_rng(0)
    variables = jax.tree.map(lambda s: rng.uniform(0.5, 1.5, s.shape).astype(s.dtype), shapes)
    checkpoint.write_imported(
        str(workdir), cfg, {"backbone": variables["params"]}, {"backbone": variables["batch_stats"]}, step=7
    )
    return variables["params"], variables["batch_stats"]


def test_load_backbone_round_trip_and_provenance(tmp_path):
    params, stats = _write_pretrained(tmp_path / "run")
    config = eval_config("linear")
    with config.unlocked():
        config.pretrained = str(tmp_path / "run")
        config.model.width = 16  # overridden by the pretraining run's width (model_from_pretrained)
    backbone = features.load_backbone(config, sharding.make_mesh())
    assert backbone.model_config.width == 8
    for want, got in ((params, backbone.variables["params"]), (stats, backbone.variables["batch_stats"])):
        flat_w, flat_g = (traverse_util.flatten_dict(t) for t in (want, got))
        assert flat_w.keys() == flat_g.keys()
        for k in flat_w:
            np.testing.assert_array_equal(np.asarray(flat_g[k]), np.asarray(flat_w[k]))
    p = results.provenance(backbone.pretrained, config.pretrained)
    assert (p["step"], p["method"], p["rho"], p["width"], p["num_frames"]) == (7, "byol", 2, 8, 4)


def test_load_backbone_mismatch_fails_naming_parameter(tmp_path):
    params, stats = _write_pretrained(tmp_path / "run")
    config = eval_config("linear")
    with config.unlocked():
        config.pretrained = str(tmp_path / "run")
        config.model.width = 16
        config.eval.model_from_pretrained = False  # force a width-16 model on width-8 weights
    with pytest.raises(ValueError) as err:
        features.load_backbone(config, sharding.make_mesh())
    path, got, want = re.search(
        r"Parameter '(.+?)' has shape (\(.*?\)) in the pretrained "
        r"checkpoint but (\(.*?\)) in the model",
        str(err.value),
    ).groups()
    # The named parameter really has those shapes: 8-wide in the file, 16-wide in the model.
    loaded = traverse_util.flatten_dict({"batch_stats": stats, "params": params}, sep="/")
    assert str(tuple(loaded[path].shape)) == got
    model = build_backbone(config.model, width=16)
    shapes = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), jnp.zeros((1, 4, 32, 32, 3)))
    assert str(tuple(traverse_util.flatten_dict(shapes, sep="/")[path].shape)) == want
    # ... and it is the first differing one in sorted order.
    flat_model = traverse_util.flatten_dict(shapes, sep="/")
    first = min(k for k in loaded if loaded[k].shape != flat_model[k].shape)
    assert path == first


def test_empty_pretrained_is_refused_with_the_fix():
    config = eval_config("linear")
    with pytest.raises(ValueError, match="--config.pretrained="):
        features.load_backbone(config, sharding.make_mesh())
