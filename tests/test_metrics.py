"""metrics.jsonl after a kill: a run resumed from an earlier checkpoint logs each step once."""

import os

from rhovid.writers import Writer, read_jsonl, truncate_jsonl


def _log(workdir, steps, resume_step=None, torn=False):
    writer = Writer(str(workdir), resume_step=resume_step)
    for s in steps:
        writer.write_scalars(s, {"loss": 1.0 / s})
    writer.close()
    if torn:  # a kill in the middle of a write leaves half a line
        with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
            f.write('{"step": 11, "lo')


def test_resume_drops_the_steps_logged_after_the_checkpoint(tmp_path):
    _log(tmp_path, range(1, 11), torn=True)  # killed after logging step 10 (and half of 11)
    _log(tmp_path, range(7, 13), resume_step=6)  # restarted from the checkpoint at step 6
    rows = read_jsonl(str(tmp_path))
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert rows[6]["loss"] == 1.0 / 7 and not os.path.exists(tmp_path / "metrics.jsonl.tmp")


def test_resume_at_step_zero_starts_a_fresh_file_and_no_resume_step_appends(tmp_path):
    _log(tmp_path, [1, 2])  # killed before its first checkpoint
    _log(tmp_path, [1, 2, 3], resume_step=0)
    assert [r["step"] for r in read_jsonl(str(tmp_path))] == [1, 2, 3]
    _log(tmp_path, [1])  # resume_step=None (evaluation runs): appends, as before
    assert [r["step"] for r in read_jsonl(str(tmp_path))] == [1, 2, 3, 1]


def test_truncate_counts_what_it_drops_and_leaves_a_clean_file_alone(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    assert truncate_jsonl(path, 3) == 0 and not os.path.exists(path)  # nothing to do
    with open(path, "w") as f:
        f.write('{"step": 1, "a": 1}\n\n{"step": 2, "knn/top1": 0.5}\n{"step": 4}\n[1, 2]\n{"step": 3}')
    assert truncate_jsonl(path, 3) == 2  # step 4 and the list: not a row
    assert open(path).read() == '{"step": 1, "a": 1}\n{"step": 2, "knn/top1": 0.5}\n{"step": 3}\n'
    mtime = os.stat(path).st_mtime_ns
    assert truncate_jsonl(path, 3) == 0 and os.stat(path).st_mtime_ns == mtime  # not rewritten
