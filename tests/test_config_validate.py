"""config.validate: every bad value fails before training with one line naming the value."""

import importlib.util
import os

import pytest

from rhovid import config as config_lib
from rhovid import presets
from rhovid.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny(method="simclr", **overrides):
    c = presets.apply(config_lib.base_config(method), "tiny")
    with c.unlocked():
        for dotted, value in overrides.items():
            *parents, leaf = dotted.split(".")
            node = c
            for p in parents:
                node = node[p]
            node[leaf] = value
    return c


BAD = [
    ({"optim.base_lr": -0.1}, "optim.base_lr=-0.1 is negative"),
    ({"num_steps": -1}, "num_steps=-1 is negative"),
    ({"num_steps": 0, "num_epochs": 0.0}, "num_steps=0 and num_epochs=0.0: nothing to train"),
    ({"num_steps": 0, "num_epochs": -2.0}, "num_epochs=-2.0 is negative"),
    ({"log_every_steps": 0}, "log_every_steps=0 must be >= 1"),
    ({"data.eval_crop_size": 300}, "data.eval_crop_size=300 must be in .1, data.eval_short_side=256."),
    ({"log_every_steps": -5}, "log_every_steps=-5 must be >= 1"),
    ({"keep_checkpoints": 0}, "keep_checkpoints=0 must be >= 1"),
    ({"checkpoint_every_steps": 0}, "checkpoint_every_steps=0 must be >= 1"),
    ({"objective.temperature": 0.0}, "objective.temperature=0.0 must be > 0"),
    ({"objective.temperature": -0.1}, "objective.temperature=-0.1 must be > 0"),
    ({"objective.temperature": float("nan")}, "objective.temperature=nan must be > 0"),
    ({"knn.temperature": 0.0}, "knn.temperature=0.0 must be > 0"),
    ({"objective.sinkhorn_epsilon": 0.0}, "objective.sinkhorn_epsilon=0.0 must be > 0"),
    ({"objective.momentum_base": 1.5}, r"objective.momentum_base=1.5 must be in \[0, 1\]"),
    ({"optim.weight_decay": -1e-4}, "optim.weight_decay=-0.0001 is negative"),
    ({"knn.every_steps": -1}, "knn.every_steps=-1 is negative"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[m.split(" ")[0] for _, m in BAD])
def test_bad_value_is_one_line_naming_it(overrides, message):
    with pytest.raises(UserError, match=message) as e:
        config_lib.validate(_tiny(**overrides), num_devices=8)
    text = str(e.value)
    assert "\n" not in text
    assert "--config." in text or "use" in text  # says what to do


def test_good_edges_pass():
    config_lib.validate(_tiny(**{"optim.base_lr": 0.0, "keep_checkpoints": 1, "log_every_steps": 1}), 8)
    config_lib.validate(_tiny(**{"num_steps": 0, "num_epochs": 0.5}), 8)
    config_lib.validate(_tiny(**{"objective.momentum_base": 1.0}), 8)


@pytest.mark.parametrize("name", ["byol", "mocov", "simclr", "swav"])
@pytest.mark.parametrize("arg", [None, "tiny", "demo"])
def test_shipped_configs_validate(name, arg):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config(arg)
    config_lib.validate(c, num_devices=8 if c.batch_size % 8 == 0 else 1)
