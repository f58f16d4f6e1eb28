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

Study rows (generated from rhovid/study.py by `python -m rhovid.study --docstrings`; do not edit):
every row of the paper's tables that trains this config: its label, the paper's numbers in the
columns its table's line names ('–' where the paper states none) and its command. '...' stands for
`--config.data.data_dir=$TFDS --workdir=$RUN`; `python -m rhovid.study --table=KEY --runs=DIR
--launch` prints whole lines, the evaluations included.

Table 2 (--table=2): number of temporal clips ρ (200 epochs, R-50 Slow 8×8). Paper: K400 linear /
UCF101.
  ρBYOL ρ=1: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,rho=1 ...
  ρBYOL ρ=2: – / 92.7
    python -m rhovid.main --config=configs/byol.py:aug=default ...
  ρBYOL ρ=3: 68.3 / – (K400: supervised 74.7 − 6.4)
    python -m rhovid.main --config=configs/byol.py:aug=default,rho=3 ...
  ρBYOL ρ=4: 68.9 / 93.8
    python -m rhovid.main --config=configs/byol.py:aug=default,rho=4 ...

Table 3 (--table=3): training epochs at ρ=2. Paper: K400 linear / UCF101.
  ρBYOL 50 ep: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,epochs=50 ...
  ρBYOL 100 ep: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,epochs=100 ...
  ρBYOL 200 ep: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default ...
  ρBYOL 400 ep: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,epochs=400 ...
  ρBYOL 800 ep: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,epochs=800 ...

Table 4 (--table=4): maximum distance t_max (seconds, start to start) between positives, ρBYOL ρ=2.
Paper: K400 linear / UCF101.
  The paper's t_max grid is not reproduced exactly; the rows span 0 to global sampling.
  t_max=0: – / – (= no temporal augmentation; about 5 below the others)
    python -m rhovid.main --config=configs/byol.py:aug=SC ...
  t_max=0.5: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,tmax=0.5 ...
  t_max=1: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,tmax=1 ...
  t_max=2: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,tmax=2 ...
  t_max=4: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,tmax=4 ...
  t_max=8: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default,tmax=8 ...
  global: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default ...

Fig. 3 (--table=fig3): temporal (T), spatial (S) and colour (C) augmentation, ρ=2 (Fig. 3); base =
none. Paper: K400 linear / UCF101.
  aug=<letters> keeps the named groups of aug=default and switches the others off. Without T the ρ
  clips share one start time (they read the same frames) and there is no frame-rate jitter; they
  differ only by their own spatial and colour augmentation. Without S there is no scale jitter and
  no flip: the short side is resized to the crop size and the square is cut at a random offset along
  the long side only. Without C there is no colour jitter, grayscale or blur. base = aug=none (all
  three off); T+S+C = aug=default.
  ρBYOL base: 32.4 / –
    python -m rhovid.main --config=configs/byol.py:aug=none ...
  ρBYOL T: – / –
    python -m rhovid.main --config=configs/byol.py:aug=T ...
  ρBYOL S: – / –
    python -m rhovid.main --config=configs/byol.py:aug=S ...
  ρBYOL C: – / –
    python -m rhovid.main --config=configs/byol.py:aug=C ...
  ρBYOL T+S: – / –
    python -m rhovid.main --config=configs/byol.py:aug=TS ...
  ρBYOL T+C: – / –
    python -m rhovid.main --config=configs/byol.py:aug=TC ...
  ρBYOL S+C: – / –
    python -m rhovid.main --config=configs/byol.py:aug=SC ...
  ρBYOL T+S+C: – / –
    python -m rhovid.main --config=configs/byol.py:aug=default ...

Table 9 (--table=9): aug+ (Inception crop, colour 0.75) at ρ=4. Paper: K400 linear / UCF101.
  ρBYOL ρ=4: 68.9 / 93.8
    python -m rhovid.main --config=configs/byol.py:aug=default,rho=4 ...
  ρBYOL ρ=4 aug+: – / – (about +1 K400; 70.0 with 100-ep head)
    python -m rhovid.main --config=configs/byol.py:aug=plus,rho=4 ...

Table 10 (--table=10): downstream tasks, ρ=3, 200 epochs. Paper: K400 linear / UCF101 / AVA /
Charades / SSv2.
  Supervised K400 pretraining: K400 74.7, Charades 34.7, SSv2 52.8. rhovid has no AVA detector.
  ρBYOL ρ=3: 68.3 / – / 23.4 / – / 55.8 (K400: 74.7 − 6.4)
    python -m rhovid.main --config=configs/byol.py:aug=default,rho=3 ...

Table 11 (--table=11): comparison with prior work (UCF101 / HMDB51 fine-tuned, 3-split mean; K400
linear). Paper: UCF101 3-split / HMDB51 3-split / K400 linear / K400 linear 100ep.
  CVRL (Slow R-50, 32 frames): 92.9 / 67.9 / 66.1; CoCLR RGB (S3D-G): 87.9 / 54.6.
  ρBYOL ρ=2: 92.7 / – / – / –
    python -m rhovid.main --config=configs/byol.py:aug=default ...
  ρBYOL ρ=4: 94.2 / 72.1 / – / 70.0
    python -m rhovid.main --config=configs/byol.py:aug=plus,rho=4 ...
  ρBYOL ρ=4 16×4: – / – / 71.5 / – (K400: CVRL 66.1 + 5.4)
    python -m rhovid.main --config=configs/byol.py:aug=plus,rho=4,frames=16x4 ...

Table 16 (--table=16): MLP depth (projection; BYOL also the predictor), ρ=2. Paper: K400 linear /
UCF101.
  ρBYOL 2 layers: – / 92.7
    python -m rhovid.main --config=configs/byol.py:aug=default ...
  ρBYOL 3 layers: – / 92.0 (92.7 − 0.7)
    python -m rhovid.main --config=configs/byol.py:aug=default,mlp=3 ...
  ρBYOL predictor 3: – / 90.2 (92.7 − 2.5)
    python -m rhovid.main --config=configs/byol.py:aug=default,predictor=3 ...
End of study rows.
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("byol")
    return presets.apply(c, arg)
