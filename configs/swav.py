r"""ρSwAV on Kinetics-400 with a Slow R-50 8×8, the paper's recipe (docs/recipe.md).

Trains: ρ=2, 200 epochs, batch 512 videos, LARS lr 4.8 (total at 512), wd 1e-6, half-period
cosine after a 35-epoch warmup; 1000 prototypes (frozen for the first epoch, unit-norm), Sinkhorn
over the global batch (3 iterations, ε=0.05), temperature 0.1, codes of every view predicted by
every other view; 3-layer MLP (2048, BN, ReLU) -> 128; SyncBN over 64 clips of one view;
VGG-style crop, colour strength 0.5. The paper reports K400 linear 61.6 / UCF101 87.3 at ρ=2
(Table 2); the released model (`:official`, aug+) 62.6 / 90.2.

    python -m rhovid.main --config=configs/swav.py --config.data.data_dir=$TFDS --workdir=$RUN
    python -m rhovid.main --config=configs/swav.py:rho=4 --config.optim.base_lr=2.4 --workdir=$RUN
    python -m rhovid.main --config=configs/swav.py:tiny --workdir=/tmp/swav_tiny  # CPU, seconds

Presets (`:a,b`): tiny, demo, rho=N, steps=N, aug_plus, official.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("swav")
    return presets.apply(c, arg)
