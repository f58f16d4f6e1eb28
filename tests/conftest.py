"""Test setup: 8 simulated CPU devices, so that every test exercises sharding.

The XLA flag must be set before JAX is imported anywhere, which is why it lives here.
"""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

# Compiled programs are cached on disk, so the subprocesses a test launches (and tests that build
# the same step) compile each program once per session.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "jax"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# Markers by test file (and, for a few files, by test name), kept in one table so that the fast
# lane (`-m "not slow"`) stays a few minutes as tests are added: a new test that runs for more
# than ~30 s on a 2-core CPU gets a line here (or a `@pytest.mark.slow` of its own).
MARKERS = {
    "test_cli.py::test_finished_run_says_so": ("slow", "subprocess"),
    "test_colabs.py": ("slow", "notebook"),
    "test_convert.py": ("torch",),
    "test_conv_formulations.py": ("slow",),
    "test_demo.py::test_the_demo_command_twice_gives_the_same_results": ("slow", "subprocess"),
    "test_eval_end_to_end.py": ("slow",),
    "test_memory_flat.py": ("slow",),
    "test_multihost.py": ("slow", "subprocess"),
    "test_multilabel_finetune.py::test_charades_finetune_end_to_end": ("slow",),
    "test_loop.py::test_sigterm_at_any_time_exits_cleanly": ("slow", "subprocess"),
    "test_ssv2_finetune.py": ("slow",),
    "test_train.py::test_each_method_trains_and_checkpoints": ("slow",),
    "test_train.py::test_sigterm_saves_and_resume_reproduces_the_uninterrupted_run": ("slow", "subprocess"),
    "test_train.py::test_sigkill_during_saves_leaves_a_restorable_workdir": ("slow", "subprocess"),
}


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        file = os.path.basename(str(item.path))
        for key in (file, f"{file}::{item.originalname}"):
            for name in MARKERS.get(key, ()):
                item.add_marker(getattr(pytest.mark, name))
