r"""ρBYOL on Kinetics-400 with a Slow R-50 8×8, the paper's recipe (SPEC.md §1.3, §4).

Reproduces: ρBYOL, ρ=2, 200 epochs, batch 512, LARS lr 4.8 (total), wd 1e-6, cosine; momentum
network 0.996 annealed to 1 with its own BN statistics; projection 2048 -> 4096 (BN, ReLU) -> 256;
predictor 256 -> 4096 (BN, ReLU) -> 256; loss 2 − 2·cos; SyncBN (global batch). Expected: K400
linear ≈65.8 / UCF101 92.7 (ρ=2); released ρ=2 model 67.4 / 94.0; `:rho=4` 68.9 / 93.8 (paper
Table 2), 70.1 / 94.7 released.

    python -m rhovid.main --config=configs/byol.py --config.data.data_dir=$TFDS --workdir=$RUN
    python -m rhovid.main --config=configs/byol.py:tiny --workdir=/tmp/byol_tiny  # CPU, seconds

Presets (`:a,b`): tiny, demo, rho=N, steps=N.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("byol")
    return presets.apply(c, arg)
