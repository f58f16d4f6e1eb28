r"""ρMoCo on Kinetics-400 with a Slow R-50 8×8, the paper's recipe (SPEC.md §1.3, §4).

Reproduces: ρMoCo, ρ=2, 200 epochs, batch 512 (64 GPUs × 8), SGD lr 0.4 (total), wd 1e-4,
cosine; momentum encoder 0.994 annealed to 1; 65,536-key queue; temperature 0.1; 3-layer MLP
(2048, no BN) -> 128; per-device BN. Expected: K400 linear 65.8 (paper, ρ=2), 66.6 for the
released ρ=2 model; ρ=4 (`:rho=4`): 69.0 (paper Table 14), 71.0 released aug+ model.

    python -m rhovid.data.prepare --dataset=kinetics400 --source=... --out=$TFDS
    python -m rhovid.main --config=configs/mocov.py --config.data.data_dir=$TFDS --workdir=$RUN
    python -m rhovid.main --config=configs/mocov.py:tiny --workdir=/tmp/moco_tiny  # CPU, seconds
    python -m rhovid.main --config=configs/mocov.py:demo --workdir=/tmp/rhovid-demo  # the demo

Presets (`:a,b`): tiny, demo, rho=N, steps=N.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("moco")
    return presets.apply(c, arg)
