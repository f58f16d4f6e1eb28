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

Study rows (generated from rhovid/study.py by `python -m rhovid.study --docstrings`; do not edit):
every row of the paper's tables that trains this config: its label, the paper's numbers in the
columns its table's line names ('–' where the paper states none) and its command. '...' stands for
`--config.data.data_dir=$TFDS --workdir=$RUN`; `python -m rhovid.study --table=KEY --runs=DIR
--launch` prints whole lines, the evaluations included.

Table 2 (--table=2): number of temporal clips ρ (200 epochs, R-50 Slow 8×8). Paper: K400 linear /
UCF101.
  ρSimCLR ρ=1: 36.1 / –
    python -m rhovid.main --config=configs/simclr.py:aug=default,rho=1 ...
  ρSimCLR ρ=2: 60.5 / 88.9
    python -m rhovid.main --config=configs/simclr.py:aug=default ...
  ρSimCLR ρ=3: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=default,rho=3 ...
  ρSimCLR ρ=4: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=default,rho=4 ...

Table 3 (--table=3): training epochs at ρ=2. Paper: K400 linear / UCF101.
  ρSimCLR 50 ep: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=default,epochs=50 ...
  ρSimCLR 100 ep: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=default,epochs=100 ...
  ρSimCLR 200 ep: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=default ...
  ρSimCLR 400 ep: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=default,epochs=400 ...
  ρSimCLR 800 ep: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=default,epochs=800 ...

Fig. 3 (--table=fig3): temporal (T), spatial (S) and colour (C) augmentation, ρ=2 (Fig. 3); base =
none. Paper: K400 linear / UCF101.
  aug=<letters> keeps the named groups of aug=default and switches the others off. Without T the ρ
  clips share one start time (they read the same frames) and there is no frame-rate jitter; they
  differ only by their own spatial and colour augmentation. Without S there is no scale jitter and
  no flip: the short side is resized to the crop size and the square is cut at a random offset along
  the long side only. Without C there is no colour jitter, grayscale or blur. base = aug=none (all
  three off); T+S+C = aug=default.
  ρSimCLR base: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=none ...
  ρSimCLR T: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=T ...
  ρSimCLR S: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=S ...
  ρSimCLR C: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=C ...
  ρSimCLR T+S: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=TS ...
  ρSimCLR T+C: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=TC ...
  ρSimCLR S+C: – / –
    python -m rhovid.main --config=configs/simclr.py:aug=SC ...
  ρSimCLR T+S+C: 60.5 / –
    python -m rhovid.main --config=configs/simclr.py:aug=default ...

Table 10 (--table=10): downstream tasks, ρ=3, 200 epochs. Paper: K400 linear / UCF101 / AVA /
Charades / SSv2.
  Supervised K400 pretraining: K400 74.7, Charades 34.7, SSv2 52.8. rhovid has no AVA detector.
  ρSimCLR ρ=3: – / – / – / – / –
    python -m rhovid.main --config=configs/simclr.py:aug=default,rho=3 ...

Table 11 (--table=11): comparison with prior work (UCF101 / HMDB51 fine-tuned, 3-split mean; K400
linear). Paper: UCF101 3-split / HMDB51 3-split / K400 linear / K400 linear 100ep.
  CVRL (Slow R-50, 32 frames): 92.9 / 67.9 / 66.1; CoCLR RGB (S3D-G): 87.9 / 54.6.
  ρSimCLR ρ=2: 88.9 / – / 60.5 / –
    python -m rhovid.main --config=configs/simclr.py:aug=default ...

Table 16 (--table=16): MLP depth (projection; BYOL also the predictor), ρ=2. Paper: K400 linear /
UCF101.
  ρSimCLR 2 layers: 59.0 / 88.4 (60.5 − 1.5, 88.9 − 0.5)
    python -m rhovid.main --config=configs/simclr.py:aug=default,mlp=2 ...
  ρSimCLR 3 layers: 60.5 / 88.9
    python -m rhovid.main --config=configs/simclr.py:aug=default ...
End of study rows.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("simclr")
    return presets.apply(c, arg)
