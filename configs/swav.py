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

Study rows (generated from rhovid/study.py by `python -m rhovid.study --docstrings`; do not edit):
every row of the paper's tables that trains this config: its label, the paper's numbers in the
columns its table's line names ('–' where the paper states none) and its command. '...' stands for
`--config.data.data_dir=$TFDS --workdir=$RUN`; `python -m rhovid.study --table=KEY --runs=DIR
--launch` prints whole lines, the evaluations included.

Table 2 (--table=2): number of temporal clips ρ (200 epochs, R-50 Slow 8×8). Paper: K400 linear /
UCF101.
  ρSwAV ρ=1: 38.6 / –
    python -m rhovid.main --config=configs/swav.py:aug=default,rho=1 ...
  ρSwAV ρ=2: 61.6 / 87.3
    python -m rhovid.main --config=configs/swav.py:aug=default ...
  ρSwAV ρ=3: – / –
    python -m rhovid.main --config=configs/swav.py:aug=default,rho=3 ...
  ρSwAV ρ=4: – / –
    python -m rhovid.main --config=configs/swav.py:aug=default,rho=4 ...

Table 3 (--table=3): training epochs at ρ=2. Paper: K400 linear / UCF101.
  ρSwAV 50 ep: – / –
    python -m rhovid.main --config=configs/swav.py:aug=default,epochs=50 ...
  ρSwAV 100 ep: – / –
    python -m rhovid.main --config=configs/swav.py:aug=default,epochs=100 ...
  ρSwAV 200 ep: – / –
    python -m rhovid.main --config=configs/swav.py:aug=default ...
  ρSwAV 400 ep: – / –
    python -m rhovid.main --config=configs/swav.py:aug=default,epochs=400 ...
  ρSwAV 800 ep: – / –
    python -m rhovid.main --config=configs/swav.py:aug=default,epochs=800 ...

Fig. 3 (--table=fig3): temporal (T), spatial (S) and colour (C) augmentation, ρ=2 (Fig. 3); base =
none. Paper: K400 linear / UCF101.
  aug=<letters> keeps the named groups of aug=default and switches the others off. Without T the ρ
  clips share one start time (they read the same frames) and there is no frame-rate jitter; they
  differ only by their own spatial and colour augmentation. Without S there is no scale jitter and
  no flip: the short side is resized to the crop size and the square is cut at a random offset along
  the long side only. Without C there is no colour jitter, grayscale or blur. base = aug=none (all
  three off); T+S+C = aug=default.
  ρSwAV base: – / –
    python -m rhovid.main --config=configs/swav.py:aug=none ...
  ρSwAV T: – / –
    python -m rhovid.main --config=configs/swav.py:aug=T ...
  ρSwAV S: – / –
    python -m rhovid.main --config=configs/swav.py:aug=S ...
  ρSwAV C: – / –
    python -m rhovid.main --config=configs/swav.py:aug=C ...
  ρSwAV T+S: – / –
    python -m rhovid.main --config=configs/swav.py:aug=TS ...
  ρSwAV T+C: – / –
    python -m rhovid.main --config=configs/swav.py:aug=TC ...
  ρSwAV S+C: – / –
    python -m rhovid.main --config=configs/swav.py:aug=SC ...
  ρSwAV T+S+C: 61.6 / –
    python -m rhovid.main --config=configs/swav.py:aug=default ...

Table 10 (--table=10): downstream tasks, ρ=3, 200 epochs. Paper: K400 linear / UCF101 / AVA /
Charades / SSv2.
  Supervised K400 pretraining: K400 74.7, Charades 34.7, SSv2 52.8. rhovid has no AVA detector.
  ρSwAV ρ=3: – / – / – / – / –
    python -m rhovid.main --config=configs/swav.py:aug=default,rho=3 ...

Table 11 (--table=11): comparison with prior work (UCF101 / HMDB51 fine-tuned, 3-split mean; K400
linear). Paper: UCF101 3-split / HMDB51 3-split / K400 linear / K400 linear 100ep.
  CVRL (Slow R-50, 32 frames): 92.9 / 67.9 / 66.1; CoCLR RGB (S3D-G): 87.9 / 54.6.
  ρSwAV ρ=2: 87.3 / – / 61.6 / –
    python -m rhovid.main --config=configs/swav.py:aug=default ...

Table 16 (--table=16): MLP depth (projection; BYOL also the predictor), ρ=2. Paper: K400 linear /
UCF101.
  ρSwAV 2 layers: 60.3 / – (61.6 − 1.3)
    python -m rhovid.main --config=configs/swav.py:aug=default,mlp=2 ...
  ρSwAV 3 layers: 61.6 / 87.3
    python -m rhovid.main --config=configs/swav.py:aug=default ...
  ρSwAV 4 layers: 62.0 / – (61.6 + 0.4)
    python -m rhovid.main --config=configs/swav.py:aug=default,mlp=4 ...
End of study rows.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("swav")
    return presets.apply(c, arg)
