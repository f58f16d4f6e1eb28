r"""ρMoCo on Kinetics-400 with a Slow R-50 8×8, the paper's recipe (docs/recipe.md).

Trains: ρ=2, 200 epochs, batch 512 videos, SGD lr 0.4 (total at 512), wd 1e-4, half-period
cosine after a 35-epoch warmup; momentum encoder 0.994 annealed to 1; a 65,536-key queue (any ρ);
temperature 0.1; eq. 1 with the ρ−1 positives of each query summed; 3-layer MLP (2048, no BN)
-> 128; per-GPU BN over 8 clips of one view with shuffle-BN; VGG-style crop, colour strength 0.5.
The paper reports K400 linear 65.8 at ρ=2 and 67.3 at ρ=3 (`:rho=3`); with aug+ at ρ=4
(`:aug_plus,rho=4`) 69.0 (Table 14). The released ρ=4 model (`:official,rho=4`): 71.0 / UCF101 94.5.

    python -m rhovid.data.prepare --dataset=kinetics400 --source=... --out=$TFDS
    python -m rhovid.main --config=configs/mocov.py --config.data.data_dir=$TFDS --workdir=$RUN
    python -m rhovid.main --config=configs/mocov.py:tiny --workdir=/tmp/moco_tiny  # CPU, seconds
    python -m rhovid.main --config=configs/mocov.py:demo --workdir=/tmp/rhovid-demo  # the demo

Presets (`:a,b`): tiny, demo, rho=N, steps=N, aug_plus, official.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("moco")
    return presets.apply(c, arg)
