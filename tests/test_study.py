"""The study tool (rhovid.study): its rows build valid configs; it gathers hand-written results."""

from __future__ import annotations

import json
import os

import pytest

from rhovid import config as config_lib
from rhovid import presets, study


def _write(workdir: str, *, method: str, rho: int, dataset: str, protocol: str, top1: float, **extra) -> None:
    """A results.json with the fields the gatherer reads (a subset of rhovid.eval.results' schema)."""
    os.makedirs(workdir, exist_ok=True)
    record = {
        "schema": 1,
        "protocol": protocol,
        "dataset": dataset,
        "split": extra.pop("split", None),
        "splits": extra.pop("splits", None),
        "metrics": {"top1": top1, "top5": 0.9, "num_examples": 10, **extra.pop("metrics", {})},
        "pretrained": {"path": os.path.dirname(workdir), "step": 100, "method": method, "rho": rho},
    }
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(record, f)


def test_every_row_builds_a_valid_config():
    for table in study.TABLES.values():
        for row in table.rows:
            assert len(row.paper) == len(table.columns), (table.key, row.label)
            assert all(c in study.EVALS for c in table.columns)
            config_lib.validate(presets.build_config(row.method, row.presets), num_devices=8)


def test_distinct_rows_are_distinct_experiments():
    """Two preset strings giving the same config would train the same model twice."""
    seen = {}
    for row in study.all_rows():
        key = (row.method, json.dumps(presets.build_config(row.method, row.presets).to_dict(), sort_keys=True))
        assert key not in seen, f"{row.presets!r} duplicates {seen[key]!r}"
        seen[key] = row.presets
    assert len({r.workdir("/r") for r in study.all_rows()}) == len(seen)


def test_gather_table_2_from_fixture_workdirs(tmp_path):
    runs = str(tmp_path)
    moco = os.path.join(runs, "moco", "aug-default")
    _write(os.path.join(moco, "linear"), method="moco", rho=2, dataset="kinetics400", protocol="linear", top1=0.661)
    _write(
        os.path.join(moco, "ucf101_split1"),
        method="moco",
        rho=2,
        dataset="ucf101_split1",
        protocol="finetune",
        top1=0.91234,
        split=1,
    )
    byol4 = os.path.join(runs, "byol", "aug-default+rho-4")
    _write(os.path.join(byol4, "linear"), method="byol", rho=4, dataset="kinetics400", protocol="linear", top1=0.7)
    swav1 = os.path.join(runs, "swav", "aug-default+rho-1")  # a result from the wrong run
    _write(os.path.join(swav1, "linear"), method="simclr", rho=1, dataset="kinetics400", protocol="linear", top1=0.3)

    table = study.TABLES["2"]
    markdown = study.render_table(table, study.gather(table, runs))
    lines = markdown.splitlines()
    assert lines[2] == "| row | config | K400 linear | paper | UCF101 | paper |"
    assert "| ρMoCo ρ=2 | `configs/mocov.py:aug=default` | 66.10 | 65.8 | 91.23 (split 1) | 91.0 |" in lines
    assert "| ρBYOL ρ=4 | `configs/byol.py:aug=default,rho=4` | 70.00 | 68.9 | missing | 93.8 |" in lines
    assert "| ρSimCLR ρ=1 | `configs/simclr.py:aug=default,rho=1` | missing | 36.1 | missing | – |" in lines
    assert "| ρSwAV ρ=1 | `configs/swav.py:aug=default,rho=1` | 30.00 (!) | 38.6 | missing | – |" in lines
    assert "- ρSwAV ρ=1 K400 linear: the result's run has method simclr" in lines
    assert sum(line.startswith("| ρ") for line in lines) == 16

    # Launch: every row but the finished ρMoCo ρ=2; ρBYOL ρ=4 only needs its UCF101 fine-tuning.
    todo = study.launch_lines([table], runs)
    assert len(todo) == 15 and not any(f"--workdir={moco} " in line for line in todo)
    (byol_line,) = [line for line in todo if f"--workdir={byol4} " in line]
    parts = byol_line.split(" && ")
    assert parts == [
        f"python -m rhovid.main --config=configs/byol.py:aug=default,rho=4 --config.data.data_dir=$TFDS "
        f"--workdir={byol4}",
        f"python -m rhovid.main --config=configs/eval/finetune.py:ucf101,split=1 --config.pretrained={byol4} "
        f"--config.data.data_dir=$TFDS --workdir={byol4}/ucf101_split1",
    ]


def test_main_writes_outputs_and_launch_script(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    wd = os.path.join(runs, "moco", "aug-default+rho-3", "charades")
    _write(wd, method="moco", rho=3, dataset="charades", protocol="finetune", top1=0.5, metrics={"mAP": 0.3351})
    out = str(tmp_path / "t10")
    assert study.main(["--table=10", f"--runs={runs}", f"--output={out}"]) == 0
    printed = capsys.readouterr().out
    row = [line for line in printed.splitlines() if line.startswith("| ρMoCo ρ=3")][0]
    assert row.split(" | ")[6:10] == ["n/a", "20.3", "33.51", "33.5"]  # AVA not runnable; Charades mAP
    saved = json.load(open(out + ".json"))
    assert saved["10"][2]["columns"]["Charades"]["ours"] == pytest.approx(33.51)
    assert open(out + ".md").read() == printed

    script = str(tmp_path / "todo.sh")
    assert study.main(["--table=5", f"--runs={runs}", f"--launch={script}"]) == 0
    lines = open(script).read().splitlines()
    assert len(lines) == len(study.TABLES["5"].rows)
    (line,) = [x for x in lines if "frames=16x4 " in x]
    assert line.count("--config.data.num_frames=16 --config.data.frame_stride=4") == 2  # linear and UCF


def test_list_and_errors(capsys):
    assert study.main(["--list", "--table=4"]) == 0
    text = capsys.readouterr().out
    assert "configs/byol.py:aug=default,tmax=0.5" in text and "configs/byol.py:aug=default " in text
    assert study.main(["--table=99", "--runs=/x"]) == 2
    assert "no table 99" in capsys.readouterr().err
