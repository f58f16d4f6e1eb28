"""A plain (non-editable) `pip install` ships the configs: README commands work from any directory.

The package is installed with `pip install --no-deps --target` (offline: the dependencies are the
ones this interpreter already has) from a copy of the sources, then used from an empty directory
with nothing of the checkout on the path.
"""

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    shutil.copy(os.path.join(ROOT, "setup.py"), src)
    for folder in ("rhovid", "configs"):
        shutil.copytree(os.path.join(ROOT, folder), src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RHOVID_DEBUG")}
    env["PYTHONPATH"] = str(target)

    def run(*args, **kw):
        return subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, capture_output=True, text=True, **kw)

    return target, elsewhere, run


def test_configs_are_installed(installed):
    target, _, run = installed
    proc = run("-c", "import rhovid.cli as c; print(c.__file__); print(c.configs_dir())")
    assert proc.returncode == 0, proc.stderr[-2000:]
    module, configs = proc.stdout.split()
    assert module.startswith(str(target)) and configs == str(target / "rhovid" / "configs")
    for name in ("byol.py", "mocov.py", "simclr.py", "swav.py", "eval/knn.py", "eval/linear.py", "eval/finetune.py"):
        assert (target / "rhovid" / "configs" / name).is_file(), name
    proc = run("-m", "rhovid.main", "--config=configs/eval/linear.py:fast", "--print_config")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "task: linear" in proc.stdout and "fast: true" in proc.stdout


@pytest.mark.slow
def test_tiny_run_from_another_directory(installed):
    _, elsewhere, run = installed
    proc = run(
        "-m", "rhovid.main", "--config=configs/byol.py:tiny", "--config.num_steps=1", "--workdir=run", timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (elsewhere / "run" / "config.json").is_file()
    assert any((elsewhere / "run" / "checkpoints").iterdir())


def test_editable_install_is_not_shadowed_by_a_rhovid_folder(tmp_path):
    """`pip install -e .` puts the checkout on sys.path: an empty `rhovid/` folder in the working
    directory (the clone's own folder, seen from one level up) cannot shadow the package as an
    empty namespace package, as it does with an import-hook editable install."""
    src = tmp_path / "clone"
    src.mkdir()
    shutil.copy(os.path.join(ROOT, "setup.py"), src)
    for folder in ("rhovid", "configs"):
        shutil.copytree(os.path.join(ROOT, folder), src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--editable", str(src), "--target", str(site)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    cwd = tmp_path / "work"
    (cwd / "rhovid").mkdir(parents=True)  # no __init__.py: a namespace-package candidate
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # The clone's install first, then this environment's site-packages (for absl & co.; it may hold
    # another editable rhovid, which must come second): `-S` keeps Python from adding it first.
    here = sysconfig.get_paths()["purelib"]
    code = (
        f"import site; site.addsitedir({str(site)!r}); site.addsitedir({here!r}); "
        "import rhovid.cli; print(rhovid.cli.__file__)"
    )
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(src / "rhovid" / "cli.py")
