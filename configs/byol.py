r"""ρBYOL on Kinetics-400 with a Slow R-50 8×8, the paper's recipe (docs/recipe.md).

Trains: ρ=2, 200 epochs, batch 512 videos, LARS lr 4.8 (total at 512), wd 1e-6, half-period
cosine after a 35-epoch warmup; momentum network 0.996 annealed to 1; projection 2048 -> 4096
(BN, ReLU) -> 256; predictor 256 -> 4096 (BN, ReLU) -> 256; loss eq. 2 summed over the ρ−1
positives; SyncBN over 64 clips of one view; VGG-style crop, colour strength 0.5. The paper
reports K400 linear 68.9 / UCF101 93.8 for this recipe at ρ=4 (`:rho=4`, Table 2). The released
models (`:official`, PySlowFast's configs with aug+) reach 67.4 / 94.0 at ρ=2 and 70.1 / 94.7 at
ρ=4.

    python -m rhovid.main --config=configs/byol.py --config.data.data_dir=$TFDS --workdir=$RUN
    python -m rhovid.main --config=configs/byol.py:tiny --workdir=/tmp/byol_tiny  # CPU, seconds

Presets (`:a,b`): tiny, demo, rho=N, steps=N, aug_plus, official.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("byol")
    return presets.apply(c, arg)
