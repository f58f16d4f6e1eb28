"""Every command reports a user's mistake as one line and exit status 2, before anything compiles.

Each case runs the real command in a subprocess; all fail while parsing flags or validating the
config, so none imports more than the command's own modules (seconds each, no XLA compilation).
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.subprocess


def _run(*args, cwd=ROOT, env=None):
    full_env = {k: v for k, v in os.environ.items() if k != "RHOVID_DEBUG"}
    full_env.update(PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def _error_line(proc, command: str) -> str:
    """The one error line: exit status 2, no traceback, exactly one `<command>: error:` line."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert "oneDNN" not in out and "absl::InitializeLog" not in out, out[-3000:]  # TF's start-up lines
    lines = [line for line in out.splitlines() if f"{command}: error:" in line]
    assert len(lines) == 1, out[-3000:]
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        # A near-typo of a key: the suggestion, on one line (no escaped "\n" in it).
        (
            ["--config=configs/mocov.py:tiny", "--config.optim.base_lrr=1"],
            "--config.optim.base_lrr: configs/mocov.py has no key 'optim.base_lrr'; did you mean optim.base_lr",
        ),
        # A key with no near neighbour: the keys its parent does have.
        (["--config=configs/mocov.py:tiny", "--config.optim.learning_rate=1"], "optim has base_batch_size, base_lr, "),
        (
            ["--config=configs/nope.py", "--workdir=/tmp/x"],
            "--config=configs/nope.py: no config file 'configs/nope.py'",
        ),
        (
            ["--config=configs/mocov.py:tiny,steps=abc", "--workdir=/tmp/x"],
            "--config=configs/mocov.py:tiny,steps=abc: ValueError: invalid literal for int()",
        ),
        (["--config=configs/mocov.py:tiny", "--workdir=README.md"], "--workdir=README.md is a file, not a directory"),
        (["--config=configs/mocov.py:tiny"], "--workdir is required"),
    ],
)
def test_main_config_mistakes(args, expected):
    line = _error_line(_run("rhovid.main", *args), "rhovid.main")
    assert expected in line, line


def test_validate_runs_before_training(tmp_path):
    """config.validate's message arrives as the one line, and nothing is written to the workdir."""
    workdir = tmp_path / "run"
    proc = _run("rhovid.main", "--config=configs/mocov.py:tiny", "--config.data.rho=0", f"--workdir={workdir}")
    assert "data.rho=0 must be >= 1" in _error_line(proc, "rhovid.main")
    assert not workdir.exists() or not any(workdir.iterdir())


def test_debug_brings_the_traceback_back():
    args = ["rhovid.main", "--config=configs/mocov.py:tiny", "--workdir=README.md"]
    for proc in (_run(*args, "--debug"), _run(*args, env={"RHOVID_DEBUG": "1"})):
        assert proc.returncode != 0 and "Traceback" in proc.stderr, proc.stderr[-2000:]
        assert "UserError: --workdir=README.md is a file" in proc.stderr


@pytest.mark.parametrize(
    "command, args, expected",
    [
        ("rhovid.data.prepare", ["--dataset=folder", "--out=/tmp/x"], "Flag --source must have a value"),
        ("rhovid.data.check", ["--dataset=nope", "--source=/tmp"], "--dataset=nope: value should be one of"),
        ("rhovid.data.show", ["--config=configs/nope.py"], "no config file 'configs/nope.py'"),
        ("rhovid.eval.report", ["/nonexistent/run"], "No results.json in /nonexistent/run"),
        (
            "rhovid.tools.convert",
            ["--from=pytorchvideo", "--checkpoint=/nonexistent.pyth", "--out=/tmp/x"],
            "No checkpoint file '/nonexistent.pyth'",
        ),
    ],
)
def test_every_command_reports_one_line(command, args, expected):
    if command == "rhovid.tools.convert":
        pytest.importorskip("torch")  # without torch the converter's one line says to install it first
    line = _error_line(_run(command, *args), command)
    assert expected in line, line


def test_print_config_from_another_directory(tmp_path):
    """--config=configs/... resolves against the package's configs when the cwd has none."""
    proc = _run(
        "rhovid.main", "--config=configs/byol.py:tiny", "--config.batch_size=24", "--print_config", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "batch_size: 24" in proc.stdout and "method: byol" in proc.stdout


def test_finished_run_says_so(tmp_path):
    """A finished run, started again, trains nothing and says at which step it ended."""
    first = _run("rhovid.main", "--config=configs/mocov.py:tiny", f"--workdir={tmp_path}")
    assert first.returncode == 0, first.stderr[-3000:]
    proc = _run("rhovid.main", "--config=configs/mocov.py:tiny", f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "already finished at step 3 of 3" in proc.stderr
    assert "Training" not in proc.stderr and "Unable to initialize backend" not in proc.stderr


def test_native_startup_filter_keeps_everything_else(capfd):
    """Only the known start-up notices are dropped; other native output comes back, in order."""
    from rhovid import cli

    with cli.quiet_native_startup():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You may see ...\n")
        os.write(2, b"E0000 something failed: keep me\n")
        os.write(2, b"a second line\n")
    err = capfd.readouterr().err
    assert err == "E0000 something failed: keep me\na second line\n"


@pytest.mark.parametrize("args, expected", [
    (["--config=configs/mocov.py:tiny", "--config.data.name=nope", "--config.data.data_dir={tmp}/tfds"],
     "No prepared dataset at {tmp}/tfds/nope"),
    (["--config=configs/eval/knn.py", "--config.pretrained={tmp}/no_run"], "No config.json in '{tmp}/no_run'"),
])  # fmt: skip
def test_missing_data_or_run_is_one_line(tmp_path, args, expected):
    """rhovid's own missing-file errors (a message, no errno) are user mistakes too."""
    args = [a.format(tmp=tmp_path) for a in args]
    proc = _run("rhovid.main", *args, f"--workdir={tmp_path / 'work'}")
    assert expected.format(tmp=tmp_path) in _error_line(proc, "rhovid.main")
