r"""ρSimCLR on Kinetics-400 with a Slow R-50 8×8, the paper's recipe (docs/recipe.md).

Trains: ρ=2, 200 epochs, batch 512 videos, LARS lr 4.8 (total at 512), wd 1e-6, half-period
cosine after a 35-epoch warmup; eq. 1 over the global batch at temperature 0.1 (positives: the
other ρ−1 clips of the video, negatives: every clip of every other video); 3-layer MLP (2048, BN,
ReLU) -> 128; SyncBN over 64 clips of one view; VGG-style crop, colour strength 0.5. The paper
reports K400 linear 60.5 / UCF101 88.9 at ρ=2 (Table 2). The released model (`:official`:
consecutive pairs, no MLP-BN, aug+) reaches 61.5 / 88.3.

    python -m rhovid.main --config=configs/simclr.py --config.data.data_dir=$TFDS --workdir=$RUN
    python -m rhovid.main --config=configs/simclr.py:tiny --workdir=/tmp/simclr_tiny  # CPU, seconds

Presets (`:a,b`): tiny, demo, rho=N, steps=N, aug_plus, official.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("simclr")
    return presets.apply(c, arg)
