"""Resume compares the whole recipe; allowed changes are recorded, never overwriting the original."""

import json
import os

import pytest

from rhovid import config as config_lib
from rhovid import run_config
from rhovid.errors import UserError


def _config(**overrides):
    c = config_lib.base_config("byol")
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = c
        for p in parents:
            node = node[p]
        node[leaf] = value
    return c


def test_same_config_resumes(tmp_path):
    run_config.save_config(_config(), str(tmp_path))
    assert run_config.check_compatible(_config(), str(tmp_path)) == {}


def test_new_workdir_has_nothing_to_compare(tmp_path):
    assert run_config.check_compatible(_config(), str(tmp_path / "new")) == {}


def test_every_changed_recipe_field_is_named(tmp_path):
    """The four fields the old check missed, changed together, are all named with both values."""
    run_config.save_config(_config(), str(tmp_path))
    changed = _config(
        **{"objective.momentum_base": 0.99, "data.frame_stride": 4, "optim.base_lr": 2.4, "model.bn_group_size": 8}
    )
    with pytest.raises(UserError) as e:
        run_config.check_compatible(changed, str(tmp_path))
    message = str(e.value)
    assert "\n" not in message and "allow_config_change" in message
    for part in (
        "objective.momentum_base: checkpoint has 0.996, config has 0.99",
        "data.frame_stride: checkpoint has 8, config has 4",
        "optim.base_lr: checkpoint has 4.8, config has 2.4",
        f"model.bn_group_size: checkpoint has {_config().model.bn_group_size}, config has 8",
    ):
        assert part in message, message
    assert "optim.momentum" not in message.replace("objective.momentum_base", "")  # only what changed


def test_tuple_fields_compare_by_value(tmp_path):
    run_config.save_config(_config(), str(tmp_path))
    assert run_config.check_compatible(_config(**{"data.area_range": (0.2, 0.766)}), str(tmp_path)) == {}
    with pytest.raises(UserError, match=r"data.area_range: checkpoint has \[0.2, 0.766\], config has \[0.3, 0.766\]"):
        run_config.check_compatible(_config(**{"data.area_range": (0.3, 0.766)}), str(tmp_path))


@pytest.mark.parametrize(
    "field,value",
    [
        ("num_steps", 500),
        ("num_epochs", 400.0),
        ("log_every_steps", 7),
        ("checkpoint_every_steps", 3),
        ("keep_checkpoints", 9),
        ("knn.every_steps", 100),
        ("knn.k", 20),
        ("data.data_dir", "/new/disk"),
        ("data.eval_short_side", 320),
        ("model.remat", True),
    ],
)
def test_bookkeeping_fields_may_change_and_are_recorded(tmp_path, field, value):
    workdir = str(tmp_path)
    run_config.save_config(_config(), workdir)
    new = _config(**{field: value})
    assert list(run_config.check_compatible(new, workdir)) == [field]
    run_config.save_config(new, workdir, step=40)
    (record,) = [json.loads(line) for line in open(os.path.join(workdir, run_config.CONFIG_HISTORY_FILE))]
    assert record["step"] == 40 and list(record["changes"]) == [field]
    assert record["changes"][field][1] == value


def test_allowed_change_is_recorded_and_the_original_kept(tmp_path):
    workdir = str(tmp_path)
    run_config.save_config(_config(), workdir)
    original = open(os.path.join(workdir, run_config.CONFIG_FILE)).read()

    first = _config(**{"optim.base_lr": 2.4})
    changes = run_config.check_compatible(first, workdir, allow_changes=True)
    assert changes == {"optim.base_lr": (4.8, 2.4)}
    run_config.save_config(first, workdir, step=100)
    second = _config(**{"optim.base_lr": 1.2, "data.frame_stride": 4})
    with pytest.raises(UserError, match="optim.base_lr: checkpoint has 2.4, config has 1.2"):
        run_config.check_compatible(second, workdir)  # compared with the latest recorded recipe
    run_config.check_compatible(second, workdir, allow_changes=True)
    run_config.save_config(second, workdir, step=200)
    run_config.save_config(second, workdir, step=300)  # resumed again unchanged: nothing recorded

    assert open(os.path.join(workdir, run_config.CONFIG_FILE)).read() == original  # never overwritten
    history = [json.loads(line) for line in open(os.path.join(workdir, run_config.CONFIG_HISTORY_FILE))]
    assert [(h["step"], h["changes"]) for h in history] == [
        (100, {"optim.base_lr": [4.8, 2.4]}),
        (200, {"data.frame_stride": [8, 4], "optim.base_lr": [2.4, 1.2]}),
    ]
    assert run_config.load_config(workdir).optim.base_lr == 1.2
    assert run_config.load_config(workdir).data.frame_stride == 4
    assert run_config.load_config(workdir, original=True).optim.base_lr == 4.8
    assert run_config.check_compatible(second, workdir) == {}


def test_fields_of_another_version_are_not_refused(tmp_path):
    """A field the recorded config lacks (added by a newer rhovid) is not a user's change."""
    workdir = str(tmp_path)
    run_config.save_config(_config(), workdir)
    path = os.path.join(workdir, run_config.CONFIG_FILE)
    saved = json.load(open(path))
    del saved["model"]["views_per_chunk"]
    json.dump(saved, open(path, "w"))
    assert run_config.check_compatible(_config(), workdir) == {}


def test_every_field_not_listed_is_compared():
    """RESUMABLE_FIELDS is the only exemption: the recipe fields of the paper are all compared."""
    flat = run_config._flatten(run_config._as_json(_config()))
    exempt = {f for f in flat if run_config.may_change_on_resume(f)}
    assert {"num_steps", "log_every_steps", "knn.k", "data.data_dir"} <= exempt
    for field in (
        "method",
        "seed",
        "batch_size",
        "data.rho",
        "data.frame_stride",
        "data.crop_size",
        "optim.base_lr",
        "optim.weight_decay",
        "objective.momentum_base",
        "objective.temperature",
        "model.bn_group_size",
        "model.dtype",
        "data.shuffle_buffer",
    ):
        assert field in flat and field not in exempt, field
