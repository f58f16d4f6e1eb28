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


# ---------------------------------------------------------------------------------------------
# The study rows in the pretraining configs' docstrings.

CONFIG_MODULES = {"simclr": "configs.simclr", "moco": "configs.mocov", "byol": "configs.byol", "swav": "configs.swav"}
FIX = "regenerate it with `python -m rhovid.study --docstrings`"


def _doc(method: str) -> str:
    import importlib

    return importlib.import_module(CONFIG_MODULES[method]).__doc__


@pytest.mark.parametrize("method", sorted(CONFIG_MODULES))
def test_config_docstring_holds_exactly_the_rendered_study_rows(method):
    doc = _doc(method)
    section = study.render_config_rows(method)
    assert doc.count(study.DOCSTRING_BEGIN) == 1 and doc.count(study.DOCSTRING_END) == 1, FIX
    assert study.docstring_section(doc) == section, f"{study.CONFIG_FILES[method]}'s study rows are stale: {FIX}"


def test_config_docstrings_list_every_row_with_its_command_and_the_papers_number():
    # Row counts per method, counted by hand from the tables (2, 3, 4, 5, Fig. 3, 7, 8, 9, 10, 11, 15, 16).
    expected_rows = {"simclr": 4 + 5 + 8 + 1 + 1 + 2, "swav": 4 + 5 + 8 + 1 + 1 + 3}
    expected_rows["moco"] = 4 + 5 + 7 + 8 + 5 + 5 + 2 + 1 + 1 + 4 + 3
    expected_rows["byol"] = 4 + 5 + 7 + 8 + 2 + 1 + 3 + 3
    openings = {
        "simclr": "ρSimCLR on Kinetics-400",
        "moco": "ρMoCo on Kinetics-400",
        "byol": "ρBYOL on Kinetics-400",
        "swav": "ρSwAV on Kinetics-400",
    }
    for method, n in expected_rows.items():
        doc = _doc(method)
        assert doc.startswith(openings[method]), "the config's own description comes first"
        section = doc[doc.index(study.DOCSTRING_BEGIN) :]
        assert section.count(f"    python -m rhovid.main --config={study.CONFIG_FILES[method]}:") == n, method
        assert section.count("python -m rhovid.main") == n, method
    lines = _doc("moco").splitlines()
    # The paper's numbers, as the paper states them (Table 2: ρMoCo ρ=3 67.3; Table 8; Table 15).
    i = lines.index("  ρMoCo ρ=3: 67.3 / –")
    assert lines[i + 1] == "    python -m rhovid.main --config=configs/mocov.py:aug=default,rho=3 ..."
    i = lines.index("  area [0.2, 0.76] + aspect: 66.8 / 91.7 (UCF +0.7)")
    assert lines[i + 1].endswith("configs/mocov.py:aug=default,area=0.2-0.766,aspect=0.75-1.333 ...")
    assert "  m=0.994, no annealing: 64.5 / –" in lines
    assert "    python -m rhovid.main --config=configs/mocov.py:aug=SC ..." in lines
    byol = _doc("byol").splitlines()
    assert byol[byol.index("  ρBYOL ρ=4: 68.9 / 93.8") + 1].endswith("--config=configs/byol.py:aug=default,rho=4 ...")
    assert "  ρBYOL ρ=3: 23.4" not in byol  # Table 10's row has five columns
    assert "  ρBYOL ρ=3: 68.3 / – / 23.4 / – / 55.8 (K400: 74.7 − 6.4)" in byol


def test_docstrings_flag_rewrites_stale_and_missing_sections(tmp_path):
    import shutil

    for name in study.CONFIG_FILES.values():
        os.makedirs(tmp_path / os.path.dirname(name), exist_ok=True)
        shutil.copy(os.path.join(study.REPO_ROOT, name), tmp_path / name)
    originals = {n: open(tmp_path / n).read() for n in study.CONFIG_FILES.values()}
    moco, swav = tmp_path / "configs/mocov.py", tmp_path / "configs/swav.py"
    moco.write_text(originals["configs/mocov.py"].replace("67.3 / –", "0.0 / –"))  # a stale number
    text = originals["configs/swav.py"]
    section = study.docstring_section(text)
    swav.write_text(text.replace("\n" + section, ""))  # no section at all
    assert study.docstring_section(swav.read_text()) is None
    assert sorted(study.write_docstrings(str(tmp_path))) == ["configs/mocov.py", "configs/swav.py"]
    assert {n: open(tmp_path / n).read() for n in originals} == originals
    assert study.write_docstrings(str(tmp_path)) == []


def test_aug_caption_says_what_each_letter_switches_off():
    """The T/S/C text of the docstrings against the configs `aug=<letters>` builds."""
    caption = study.TABLES["fig3"].caption
    d = presets.build_config("moco", "aug=default").data
    no_t = presets.build_config("moco", "aug=SC").data
    assert "Without T the ρ clips share one start time" in caption
    assert no_t.max_clip_distance_s == 0.0 and no_t.fps_jitter == 0.0 and d.max_clip_distance_s is None
    assert {k for k in d if d[k] != no_t[k]} == {"max_clip_distance_s"}
    no_s = presets.build_config("moco", "aug=TC").data
    assert "Without S there is no scale jitter and no flip" in caption
    assert {k for k in d if d[k] != no_s[k]} == {"short_side_range", "flip"}
    assert no_s.short_side_range == (224, 224) and not no_s.flip and no_s.crop == "vgg"
    no_c = presets.build_config("moco", "aug=TS").data
    assert "Without C there is no colour jitter, grayscale or blur" in caption
    assert {k for k in d if d[k] != no_c[k]} == {"color_prob", "grayscale_prob", "blur_prob"}
    assert no_c.color_prob == no_c.grayscale_prob == no_c.blur_prob == 0.0
    for method in CONFIG_MODULES:
        assert caption in " ".join(_doc(method).split())


# ---------------------------------------------------------------------------------------------
# benchmarks/aug_table.py: the demo-scale augmentation table.


def _aug_table():
    import importlib.util
    import sys

    bench = os.path.join(study.REPO_ROOT, "benchmarks")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    spec = importlib.util.spec_from_file_location("aug_table", os.path.join(bench, "aug_table.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_aug_table_rows_are_the_studys_augmentation_rows():
    aug_table = _aug_table()
    fig3 = [r.presets for r in study.TABLES["fig3"].rows if r.method == "simclr"]
    assert fig3 == ["aug=none", "aug=T", "aug=S", "aug=C", "aug=TS", "aug=TC", "aug=SC", "aug=default"]
    assert aug_table.study_letters("simclr") == ["none", "T", "S", "C", "TS", "TC", "SC", "TSC"]
    assert list(aug_table.ROWS) == aug_table.study_letters("simclr")
    assert sorted(aug_table.RUN_ORDER) == sorted(aug_table.ROWS)


def test_aug_table_cells_switch_off_what_aug_switches_off_on_the_demo_recipe():
    aug_table = _aug_table()
    demo_cfg = presets.build_config("simclr", "demo,steps=300")
    no_colour = aug_table.cell_config("simclr", "TS", 300)  # the demo itself (its colour is off)
    assert demo_cfg.data.color_prob == demo_cfg.data.grayscale_prob == 0.0
    with no_colour.unlocked():
        no_colour.data.color_strength = demo_cfg.data.color_strength  # unused at p = 0
    assert no_colour.to_dict() == demo_cfg.to_dict()
    with demo_cfg.unlocked():  # T+S+C: the demo with the aug+ colour it had (strength 0.75, p 0.8, gray 0.2)
        demo_cfg.data.color_prob, demo_cfg.data.grayscale_prob = 0.8, 0.2
    full = aug_table.cell_config("simclr", "TSC", 300)
    assert full.to_dict() == demo_cfg.to_dict()
    d = demo_cfg.data
    diff = lambda c: {k for k in d if d[k] != c.data[k]}
    no_t = aug_table.cell_config("simclr", "SC", 300)
    assert diff(no_t) == {"max_clip_distance_s"} and no_t.data.max_clip_distance_s == 0.0
    no_s = aug_table.cell_config("simclr", "TC", 300)
    assert no_s.data.crop == "vgg" and no_s.data.short_side_range == (224, 224) and not no_s.data.flip
    assert diff(no_s) <= {"crop", "short_side_range", "area_range"}
    no_c = aug_table.cell_config("simclr", "TS", 300)
    assert diff(no_c) == {"color_prob", "grayscale_prob", "color_strength"}
    assert no_c.data.color_prob == no_c.data.grayscale_prob == no_c.data.blur_prob == 0.0
    base = aug_table.cell_config("simclr", "none", 300)
    assert diff(base) == diff(no_t) | diff(no_s) | diff(no_c) and base.num_steps == 300
