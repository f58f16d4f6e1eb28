"""Tests of `rhovid.data.check` and of decode.probe on real files with missing and broken ones."""

import json
import subprocess
import sys

import pytest
import video_fixtures as vf

from rhovid.data import check
from rhovid.data.preparation import builders, decode


@pytest.fixture(scope="module")
def ucf_like(tmp_path_factory):
    """A UCF101-style tree: 2 classes, 3 folds; good, short, broken, missing and unlisted files."""
    root = tmp_path_factory.mktemp("ucf")
    src, lists = root / "UCF-101", root / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    vf.write_video(src / "Archery" / "v_Archery_g01_c01.mp4", 12, 25)  # 0.48 s
    vf.write_video(src / "Archery" / "v_Archery_g02_c01.mp4", 3, 25)  # 0.12 s: too short
    vf.write_video(src / "Archery" / "v_Archery_g09_c01.mp4", 3, 25)  # on disk, in no list
    vf.write_video(src / "Bowling" / "v_Bowling_g01_c01.avi", 10, 25, codec="mpeg4")
    # Fixed bytes with no container signature: FFmpeg rejects them the same way on every run
    # (random bytes sometimes match a demuxer's probe, so their classification varied).
    (src / "Bowling" / "v_Bowling_g02_c01.avi").write_bytes(b"this is not a video file. " * 120)
    (src / "Bowling" / "v_Bowling_g03_c01.avi").write_bytes(b"")
    vf.write_video(
        root / "whole.mp4",
        40,
        25,
        size=(64, 96),
        codec_options={"crf": "10"},
        container_options={"movflags": "faststart"},
    )
    vf.truncate(root / "whole.mp4", src / "Bowling" / "v_Bowling_g05_c01.mp4")
    for k in (1, 2, 3):
        (lists / f"trainlist0{k}.txt").write_text(
            "Archery/v_Archery_g01_c01.avi 1\nBowling/v_Bowling_g01_c01.avi 2\nBowling/v_Bowling_g02_c01.avi 2\n"
        )
        (lists / f"testlist0{k}.txt").write_text(
            "Archery/v_Archery_g02_c01.avi\nBowling/v_Bowling_g03_c01.avi\n"
            "Bowling/v_Bowling_g04_c01.avi\nBowling/v_Bowling_g05_c01.avi\n"
        )
    return src, lists


def test_check_reports_missing_corrupt_short_and_class_counts(ucf_like):
    src, lists = ucf_like
    plans = builders.make_plans("ucf101", str(src), splits=str(lists))
    report = check.check(plans, num_workers=2, min_seconds=0.3, progress=False)
    assert [m["video_id"] for m in report["missing"]] == ["v_Bowling_g04_c01"]
    assert {c["video_id"]: c["reason"] for c in report["corrupt"]} == {
        "v_Bowling_g02_c01": decode.UNREADABLE,
        "v_Bowling_g03_c01": decode.EMPTY,
    }
    (short,) = report["too_short"]
    assert short["video_id"] == "v_Archery_g02_c01"
    assert short["frames"] == 3 and short["duration_s"] == pytest.approx(3 / 25)
    (trunc,) = report["truncated"]
    assert trunc["video_id"] == "v_Bowling_g05_c01" and trunc["header_frames"] == 40
    assert report["unlisted"] == [str(src / "Archery" / "v_Archery_g09_c01.mp4")]
    # Each file counted once per class, although it is listed in all three folds.
    assert report["classes"] == {
        "Archery": {"listed": 2, "ok": 1, "missing": 0, "corrupt": 0, "too_short": 1},
        "Bowling": {"listed": 5, "ok": 2, "missing": 1, "corrupt": 2, "too_short": 0},
    }
    assert report["splits"]["ucf101_split2/test"] == {"listed": 4, "ok": 1, "missing": 1, "corrupt": 1, "too_short": 1}
    assert report["totals"]["listed_files"] == 7 and report["totals"]["probed"] == 6
    assert "1 missing, 2 corrupt, 1 shorter than 0.3 s" in check.summary_line(report)


def test_probe_counts_frames_like_a_direct_decode(tmp_path):
    files = vf.make_zoo(tmp_path)
    for name in vf.GOOD:
        if name not in files:
            continue
        n = len(vf.decode_all(files[name]))
        full, quick = decode.probe(str(files[name])), decode.probe(str(files[name]), False)
        assert full.decoded_frames == quick.decoded_frames == n, name
        assert full.duration_s == pytest.approx(n / vf.GOOD[name][1]), name
        assert full.source_fps == pytest.approx(vf.GOOD[name][1]), name
    for name, reason in vf.BAD.items():
        with pytest.raises(decode.VideoError) as e:
            decode.probe(str(files[name]))
        assert e.value.reason == reason
    lying = decode.probe(str(files["lying.avi"]))
    assert lying.header_frames == 500 and lying.decoded_frames == 10 and lying.truncated


def test_cli_writes_report(ucf_like, tmp_path):
    src, lists = ucf_like
    out = tmp_path / "report.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "rhovid.data.check",
            "--dataset=ucf101",
            f"--source={src}",
            f"--splits={lists}",
            "--folds=1",
            "--workers=1",
            "--min_seconds=0.3",
            "--quick",
            f"--report={out}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["plans"] == ["ucf101_split1"] and report["quick"]
    assert report["totals"]["missing"] == 1 and report["totals"]["corrupt"] == 2
    assert "1 missing, 2 corrupt" in run.stdout
