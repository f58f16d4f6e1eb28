"""The learning-rate curve: the paper's half-period cosine over the whole run, warmed up onto it.

References are the formulas: lr(n) = η·½(1 + cos(π·n/n_max)) (paper B.1), and before the warmup
ends the straight line from the start value to the curve's value at the warmup's end (PySlowFast's
`get_lr_at_epoch`, `slowfast/utils/lr_policy.py`, with COSINE_AFTER_WARMUP off).
"""

import math

import pytest

from rhovid import config as config_lib
from rhovid import optim, recipes

STEPS_PER_EPOCH = 468  # 239,975 Kinetics-400 videos / 512
EPOCHS = [0, 1, 10, 17.5, 34.9, 35, 36, 100, 150, 190, 199.9, 200]


def reference_lr(epoch, eta, max_epoch, warmup, start):
    cosine = lambda e: eta * 0.5 * (1 + math.cos(math.pi * e / max_epoch))
    if epoch < warmup:
        return start + (cosine(warmup) - start) * epoch / warmup
    return cosine(epoch)


def _schedule(c):
    total = int(round(c.num_epochs * STEPS_PER_EPOCH))
    return optim.lr_schedule_for(c, STEPS_PER_EPOCH, total)


@pytest.mark.parametrize("method", ["moco", "byol"])
def test_default_lr_is_the_paper_cosine_after_warmup(method):
    c = config_lib.base_config(method)
    eta = {"moco": 0.4, "byol": 4.8}[method]
    schedule = _schedule(c)
    for epoch in EPOCHS:
        want = reference_lr(epoch, eta, 200, 35, 0.0)
        got = float(schedule(round(epoch * STEPS_PER_EPOCH)))
        assert got == pytest.approx(want, rel=1e-4, abs=1e-7), epoch
    # No restart after warmup: at epoch 100 the lr is half the peak, as on the paper's curve.
    assert float(schedule(100 * STEPS_PER_EPOCH)) == pytest.approx(eta / 2, rel=1e-4)


@pytest.mark.parametrize("method", ["moco", "simclr"])
def test_official_lr_warms_up_from_pyslowfasts_start(method):
    c = config_lib.base_config(method)
    recipes.official(c, None)
    # PySlowFast: BASE_LR per machine × NUM_SHARDS = 8 (the last of its duplicate keys), WARMUP_START_LR 0.001 × 8.
    eta = {"moco": 0.1 * 8, "simclr": 1.2 * 8}[method]
    schedule = _schedule(c)
    for epoch in EPOCHS:
        want = reference_lr(epoch, eta, 200, 35, 0.001 * 8)
        got = float(schedule(round(epoch * STEPS_PER_EPOCH)))
        assert got == pytest.approx(want, rel=1e-4, abs=1e-7), epoch


def test_warmup_start_scales_with_the_batch():
    c = config_lib.base_config("moco")
    recipes.official(c, None)
    c.batch_size = 256
    schedule = optim.lr_schedule_for(c, 10, 2000)
    assert float(schedule(0)) == pytest.approx(0.008 / 2)
