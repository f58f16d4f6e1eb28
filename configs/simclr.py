r"""ρSimCLR on Kinetics-400 with a Slow R-50 8×8, the paper's recipe (SPEC.md §1.3, §4).

Reproduces: ρSimCLR, ρ=2, 200 epochs, batch 512, LARS lr 4.8 (total), wd 1e-6, cosine; NT-Xent
over the global batch at temperature 0.1; 3-layer MLP (2048, BN, ReLU) -> 128 (the paper's MLP-BN;
the released config has none: `--config.model.mlp_bn=False`); SyncBN. Expected: K400 linear 60.5
(paper Table 2, ρ=2), 61.5 released; UCF101 88.9.

    python -m rhovid.main --config=configs/simclr.py --config.data.data_dir=$TFDS --workdir=$RUN
    python -m rhovid.main --config=configs/simclr.py:tiny --workdir=/tmp/simclr_tiny  # CPU, seconds

Presets (`:a,b`): tiny, demo, rho=N, steps=N.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("simclr")
    return presets.apply(c, arg)
