"""benchmarks/accelerator.py --smoke: the accelerator benchmark's whole code path, on the CPU.

The script is meant to run in one call whenever an accelerator is available; this test keeps it
from rotting in between. It runs the smoke mode (tiny network, ρBYOL ρ = 2 with and without
remat, the batch search, the input pipeline on generated JPEG records) into a temporary directory
with budgets generous enough that nothing is skipped on a slow shared machine, and checks the
JSON: its fields, positive times, donation, and XLA's FLOP count against a hand count of the
tiny network's convolutions.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def conv_flops(t: int, h: int, w: int, c_in: int, c_out: int, taps: int) -> int:
    """Multiply-adds × 2 of a convolution with `taps` kernel taps and a t×h×w output."""
    return 2 * t * h * w * c_in * c_out * taps


def tiny_forward_conv_flops() -> int:
    """Convolution FLOPs of one forward pass of the tiny Slow ResNet (depth 14, width 8) on 4×32².

    Stem 1×7×7 stride 2 -> 4×16×16, max-pool -> 4×8×8; one bottleneck per stage (stage widths
    8, 16, 32, 64, outputs 4× those), spatial stride 2 on res3-5's 3×3 conv and projection
    shortcut; res4 and res5 have a 3×1×1 first conv. Time is never downsampled.
    """
    t = 4
    f = conv_flops(t, 16, 16, 3, 8, 49)  # stem
    # (output side before the block's stride, after it, input channels, width, temporal taps)
    for side_in, side_out, c_in, width, kt in (
        (8, 8, 8, 8, 1),
        (8, 4, 32, 16, 1),
        (4, 2, 64, 32, 3),
        (2, 1, 128, 64, 3),
    ):
        f += conv_flops(t, side_out, side_out, c_in, 4 * width, 1)  # projection shortcut
        f += conv_flops(t, side_in, side_in, c_in, width, kt)  # conv_a
        f += conv_flops(t, side_out, side_out, width, width, 9)  # conv_b, 1×3×3
        f += conv_flops(t, side_out, side_out, width, 4 * width, 1)  # conv_c
    return f


@pytest.mark.slow
def test_accelerator_smoke(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    cmd = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "accelerator.py"),
        "--smoke",
        f"--out_dir={tmp_path}",
        "--budget_s=1500",
        "--search_budget_s=600",
        "--pipeline_budget_s=300",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "accelerator-smoke.json").read_text())

    assert result["benchmark"] == "accelerator" and result["smoke"] is True
    assert "--smoke" in result["command"]
    datetime.datetime.fromisoformat(result["date"])
    assert result["device"]["kind"] and result["device"]["platform"] == "cpu"
    assert result["software"]["jax"] and result["software"]["flax"]
    assert result["machine"]["cpu"]

    cases = {r["case"]: r for r in result["cases"]}
    assert set(cases) == {"byol:2", "byol:2:remat"}
    for case in cases.values():
        assert "error" not in case and "skipped" not in case, case
        assert case["compile_s"] > 0 and case["step_s"] > 0 and all(s > 0 for s in case["step_s_windows"])
        assert case["clip_views"] == case["videos"] * 2
        assert case["clip_views_per_s"] == pytest.approx(case["clip_views"] / case["step_s"])
        assert case["loss_finite"]
        # The donated state is aliased by the new state: no second copy of it in the program.
        assert case["donated_fraction"] >= 0.99
        assert case["memory_analysis"]["temp"] > 0

    # XLA's count for the step vs 4 forward passes' convolutions per clip-view: forward and
    # backward (≈ 3 forwards) of the online network plus the momentum network's forward. The
    # stem's input gradient is not needed (-0.35 of a forward at most), and BN, ReLU, colour
    # augmentation and the optimiser add element-wise work, a few FLOPs per activation.
    base = cases["byol:2"]
    ratio = base["flops_per_clip_view"] / (4 * tiny_forward_conv_flops())
    assert 0.85 < ratio < 1.5, ratio
    # Remat recomputes each block's forward in the backward pass: more FLOPs than without.
    assert cases["byol:2:remat"]["flops_per_step"] > 1.05 * base["flops_per_step"]

    search = result["batch_search"]
    assert "error" not in search, search
    assert search["largest_videos"] >= search["base_videos"] == base["videos"]
    assert search["probes"]
    if search["largest_videos"] > search["base_videos"]:
        assert search["verified"] and search["step_s"] > 0 and search["loss_finite"]

    pipe = result["input_pipeline"]
    assert "error" not in pipe, pipe
    assert pipe["clip_views"] > 0 and pipe["clip_views_per_wall_s"] > 0 and pipe["clip_views_per_cpu_s"] > 0
    assert pipe["cpu_count"] >= 1
    assert pipe["host_cores_per_device_for_byol2"] > 0
