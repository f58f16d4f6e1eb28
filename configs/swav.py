r"""ρSwAV on Kinetics-400 with a Slow R-50 8×8, the paper's recipe (SPEC.md §1.3, §4).

Reproduces: ρSwAV, ρ=2, 200 epochs, batch 512, LARS lr 4.8 (total), wd 1e-6, cosine; 1000
prototypes (frozen for the first epoch, unit-norm), Sinkhorn over the global batch (3 iterations,
ε=0.05), temperature 0.1; 3-layer MLP (2048, BN, ReLU) -> 128; SyncBN. Expected: K400 linear 61.6
(paper Table 2, ρ=2), 62.6 released; UCF101 87.3.

    python -m rhovid.main --config=configs/swav.py --config.data.data_dir=$TFDS --workdir=$RUN
    python -m rhovid.main --config=configs/swav.py:rho=4 --config.optim.base_lr=2.4 --workdir=$RUN
    python -m rhovid.main --config=configs/swav.py:tiny --workdir=/tmp/swav_tiny  # CPU, seconds

Presets (`:a,b`): tiny, demo, rho=N, steps=N.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("swav")
    return presets.apply(c, arg)
