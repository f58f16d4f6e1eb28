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

Study rows (generated from rhovid/study.py by `python -m rhovid.study --docstrings`; do not edit):
every row of the paper's tables that trains this config: its label, the paper's numbers in the
columns its table's line names ('–' where the paper states none) and its command. '...' stands for
`--config.data.data_dir=$TFDS --workdir=$RUN`; `python -m rhovid.study --table=KEY --runs=DIR
--launch` prints whole lines, the evaluations included.

Table 2 (--table=2): number of temporal clips ρ (200 epochs, R-50 Slow 8×8). Paper: K400 linear /
UCF101.
  ρMoCo ρ=1: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,rho=1 ...
  ρMoCo ρ=2: 65.8 / 91.0 (K400 from Fig. 4 / Table 8)
    python -m rhovid.main --config=configs/mocov.py:aug=default ...
  ρMoCo ρ=3: 67.3 / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,rho=3 ...
  ρMoCo ρ=4: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,rho=4 ...

Table 3 (--table=3): training epochs at ρ=2. Paper: K400 linear / UCF101.
  ρMoCo 50 ep: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,epochs=50 ...
  ρMoCo 100 ep: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,epochs=100 ...
  ρMoCo 200 ep: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default ...
  ρMoCo 400 ep: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,epochs=400 ...
  ρMoCo 800 ep: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,epochs=800 ...

Table 5 (--table=5): backbones and input T×τ, ρMoCo ρ=2. Paper: K400 linear / UCF101.
  R-18 8×8: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,arch=r18 ...
  R-50 8×8: 65.8 / 91.0
    python -m rhovid.main --config=configs/mocov.py:aug=default ...
  R-101 8×8: – / – (helps K400)
    python -m rhovid.main --config=configs/mocov.py:aug=default,arch=r101 ...
  R-50 4×16: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,frames=4x16 ...
  R-50 16×4: – / – (helps UCF101)
    python -m rhovid.main --config=configs/mocov.py:aug=default,frames=16x4 ...
  R(2+1)D-50 8×8: 57.2 / 93.7
    python -m rhovid.main --config=configs/mocov.py:aug=default,arch=r2plus1d ...
  S3D-G 8×8: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,arch=s3dg ...

Fig. 3 (--table=fig3): temporal (T), spatial (S) and colour (C) augmentation, ρ=2 (Fig. 3); base =
none. Paper: K400 linear / UCF101.
  aug=<letters> keeps the named groups of aug=default and switches the others off. Without T the ρ
  clips share one start time (they read the same frames) and there is no frame-rate jitter; they
  differ only by their own spatial and colour augmentation. Without S there is no scale jitter and
  no flip: the short side is resized to the crop size and the square is cut at a random offset along
  the long side only. Without C there is no colour jitter, grayscale or blur. base = aug=none (all
  three off); T+S+C = aug=default.
  ρMoCo base: 42.2 / –
    python -m rhovid.main --config=configs/mocov.py:aug=none ...
  ρMoCo T: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=T ...
  ρMoCo S: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=S ...
  ρMoCo C: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=C ...
  ρMoCo T+S: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=TS ...
  ρMoCo T+C: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=TC ...
  ρMoCo S+C: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=SC ...
  ρMoCo T+S+C: 65.8 / –
    python -m rhovid.main --config=configs/mocov.py:aug=default ...

Table 7 (--table=7): colour augmentation, ρMoCo ρ=2. Paper: K400 linear / UCF101.
  strength 0.5: 65.8 / 91.0
    python -m rhovid.main --config=configs/mocov.py:aug=default ...
  strength 0.75: – / – (up to +1.3 UCF)
    python -m rhovid.main --config=configs/mocov.py:aug=default,color=0.75 ...
  strength 0.75, grayscale 0.4: – / – (no gain)
    python -m rhovid.main --config=configs/mocov.py:aug=default,color=0.75,gray=0.4 ...
  + temporal difference p=0.2: – / – (+0.4 K400)
    python -m rhovid.main --config=configs/mocov.py:aug=default,timediff=0.2 ...
  + frame-rate jitter ±50 %: – / – (K400 ±0)
    python -m rhovid.main --config=configs/mocov.py:aug=default,fpsjitter=0.5 ...

Table 8 (--table=8): spatial cropping, ρMoCo ρ=2. Paper: K400 linear / UCF101.
  VGG short side [256, 320]: 65.8 / 91.0
    python -m rhovid.main --config=configs/mocov.py:aug=default ...
  area [0.49, 0.76]: 64.8 / – (−1.0 vs VGG)
    python -m rhovid.main --config=configs/mocov.py:aug=default,area=0.49-0.76,aspect=1 ...
  area [0.49, 0.76] + aspect: 65.4 / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,area=0.49-0.76,aspect=0.75-1.333 ...
  area [0.2, 0.76] + aspect: 66.8 / 91.7 (UCF +0.7)
    python -m rhovid.main --config=configs/mocov.py:aug=default,area=0.2-0.766,aspect=0.75-1.333 ...
  area [0.08, 1] + aspect: – / – (too aggressive)
    python -m rhovid.main --config=configs/mocov.py:aug=default,area=0.08-1,aspect=0.75-1.333 ...

Table 9 (--table=9): aug+ (Inception crop, colour 0.75) at ρ=4. Paper: K400 linear / UCF101.
  ρMoCo ρ=4: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,rho=4 ...
  ρMoCo ρ=4 aug+: 69.0 / 93.6 (Table 14)
    python -m rhovid.main --config=configs/mocov.py:aug=plus,rho=4 ...

Table 10 (--table=10): downstream tasks, ρ=3, 200 epochs. Paper: K400 linear / UCF101 / AVA /
Charades / SSv2.
  Supervised K400 pretraining: K400 74.7, Charades 34.7, SSv2 52.8. rhovid has no AVA detector.
  ρMoCo ρ=3: 67.3 / – / 20.3 / 33.5 / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,rho=3 ...

Table 11 (--table=11): comparison with prior work (UCF101 / HMDB51 fine-tuned, 3-split mean; K400
linear). Paper: UCF101 3-split / HMDB51 3-split / K400 linear / K400 linear 100ep.
  CVRL (Slow R-50, 32 frames): 92.9 / 67.9 / 66.1; CoCLR RGB (S3D-G): 87.9 / 54.6.
  ρMoCo ρ=2: 91.0 / – / 65.8 / –
    python -m rhovid.main --config=configs/mocov.py:aug=default ...

Table 15 (--table=15): momentum annealing, ρMoCo ρ=2. Paper: K400 linear / UCF101.
  m=0.994, no annealing: 64.5 / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,no_momentum_anneal ...
  m=0.99 → 1: – / – (stable across m_base)
    python -m rhovid.main --config=configs/mocov.py:aug=default,momentum=0.99 ...
  m=0.994 → 1: 65.8 / 91.0
    python -m rhovid.main --config=configs/mocov.py:aug=default ...
  m=0.996 → 1: – / –
    python -m rhovid.main --config=configs/mocov.py:aug=default,momentum=0.996 ...

Table 16 (--table=16): MLP depth (projection; BYOL also the predictor), ρ=2. Paper: K400 linear /
UCF101.
  ρMoCo 2 layers: 64.6 / – (65.8 − 1.2)
    python -m rhovid.main --config=configs/mocov.py:aug=default,mlp=2 ...
  ρMoCo 3 layers: 65.8 / 91.0
    python -m rhovid.main --config=configs/mocov.py:aug=default ...
  ρMoCo 4 layers: – / – (no gain)
    python -m rhovid.main --config=configs/mocov.py:aug=default,mlp=4 ...
End of study rows.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("moco")
    return presets.apply(c, arg)
