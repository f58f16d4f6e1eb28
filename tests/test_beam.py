"""The Apache Beam preparation path (DirectRunner) writes what the local path writes, record for record.

One folder of small videos (two labelled classes, a broken file, videos of different lengths and
frame rates) is prepared twice, by `prepare.prepare` (worker processes) and by
`beam_builder.prepare_with_beam` on Beam's DirectRunner. Every record must be identical, field by
field (the JPEG bytes included: both paths run the same decoder and encoder), the skipped videos and
their reasons the same, and the reports' content pins (`ids_sha256`, `frames_sha256`) equal.
CI installs the `beam` extra so this runs there; without Apache Beam it skips.
"""

import numpy as np
import pytest
import video_fixtures as vf
from test_prepare import OPTS, read_back

from rhovid.data import prepare
from rhovid.data.preparation import builders

pytest.importorskip("apache_beam", reason="the optional `beam` extra is not installed")


def test_beam_and_local_paths_write_equal_records(tmp_path):
    from rhovid.data.preparation import beam_builder  # needs apache_beam

    src = tmp_path / "videos"
    vf.write_video(src / "jump" / "one.mp4", num_frames=4, size=(32, 32))
    vf.write_video(src / "jump" / "two.mp4", num_frames=8, fps=50, size=(48, 32))  # capped to 30 fps
    vf.write_video(src / "run" / "three.mp4", num_frames=5, size=(32, 40))
    (src / "run" / "bad.mp4").write_bytes(b"junk")
    (plan,) = builders.make_plans("folder", str(src))

    local = prepare.prepare(plan, str(tmp_path / "local"), OPTS, num_workers=2, progress=False)
    beam = beam_builder.prepare_with_beam(plan, str(tmp_path / "beam"), OPTS, ["runner=DirectRunner"])

    _, want = read_back(tmp_path / "local", plan.name)
    _, got = read_back(tmp_path / "beam", plan.name)
    assert sorted(got) == sorted(want) == ["jump/one", "jump/two", "run/three"]
    for video_id, ex in want.items():
        assert got[video_id].keys() == ex.keys(), video_id
        for key, value in ex.items():
            if isinstance(value, np.ndarray) and value.dtype == object:  # the JPEG frames
                assert [bytes(b) for b in got[video_id][key]] == [bytes(b) for b in value], (video_id, key)
            else:
                np.testing.assert_array_equal(got[video_id][key], value, err_msg=f"{video_id} {key}")

    def skipped(report):
        return sorted((v["video_id"], v["reason"]) for v in report["skipped"])

    assert skipped(beam) == skipped(local) == [("run/bad", "unreadable")]
    for pin in ("ids_sha256", "frames_sha256"):
        assert beam["splits"]["train"][pin] == local["splits"]["train"][pin], pin
