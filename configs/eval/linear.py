r"""Linear probe of a frozen pretrained backbone on Kinetics-400, the paper's protocol.

Reproduces: frozen pool5 features (2048-d, BN in inference mode), one linear layer trained 60 epochs
with SGD (momentum 0.9), lr 4.0 at batch 512 (scaled linearly), 8 warmup epochs then half-cosine,
wd 0; training clips short-side jitter [256, 320] + 224 crop + flip, no colour; test 10 clips ×
3 crops (short side 256), softmax averaged. Expected K400 top-1 (paper): ρBYOL ρ=2 ≈ 65.8
(released model 67.4), ρMoCo ρ=2 65.8 (released 66.6), ρSimCLR ρ=2 60.5, ρSwAV ρ=2 61.6,
ρBYOL ρ=4 68.9 (70.0 with 100 epochs); supervised Slow R-50 8×8: 74.7.

    python -m rhovid.main --config=configs/eval/linear.py --config.pretrained=/runs/byol \
        --config.data.data_dir=$TFDS --workdir=/runs/byol/linear
    python -m rhovid.main --config=configs/eval/linear.py:fast --config.pretrained=/runs/byol ...

Clip settings and dataset (frames, stride, fps, crop, eval short side, data name and dir) come
from the pretrained run's config.json unless set on the command line (rhovid.eval.inherit).

Presets (`:a,b`): fast (features once + logistic regression, protocol `linear_fast`), demo (a demo
run, as its table: the fast probe on 2 views per video),
bn_drift (let backbone BN statistics drift like the official code),
epochs=N, and the common ones (tiny, steps=N).
"""

from rhovid import config as config_lib
from rhovid import presets
from rhovid.eval import inherit


def get_config(arg=None):
    c = config_lib.base_config("byol")  # the method is irrelevant here: weights come from `pretrained`
    c.task = "linear"
    c.method = ""
    c.pretrained = ""  # a rhovid pretraining workdir, an imported checkpoint dir, or "random"

    # Data: K400 train/validation; VGG-style crop + flip, no colour, for the training clips.
    c.data.name = "kinetics400"
    c.data.train_split = "train"
    c.data.eval_split = "validation"
    c.data.rho = 1
    c.data.crop = "vgg"
    c.data.short_side_range = (256, 320)
    c.data.flip = True
    c.data.color_prob = 0.0
    c.data.grayscale_prob = 0.0
    c.data.blur_prob = 0.0
    c.data.num_test_clips = 10
    c.data.num_test_crops = 3

    # Optimisation: SGD, lr 4.0 @ 512, 8 warmup epochs, cosine, wd 0, 60 epochs.
    c.optim.optimizer = "sgd"
    c.optim.base_lr = 4.0
    c.optim.base_batch_size = 512
    c.optim.momentum = 0.9
    c.optim.nesterov = False
    c.optim.weight_decay = 0.0
    c.optim.warmup_epochs = 8.0
    c.optim.warmup_init_lr = 0.0
    c.batch_size = 512
    c.num_epochs = 60.0
    c.checkpoint_every_steps = 2000

    e = c.eval
    # Taken from the pretrained run's config.json unless set explicitly (rhovid.eval.inherit).
    e.inherit = inherit.CLIP_KEYS + inherit.DATASET_KEYS
    e.pretrained_step = 0  # 0 = the latest checkpoint of `pretrained`
    e.model_from_pretrained = True  # depth / width from the pretraining run's config
    e.batch_size = 16  # videos per test batch (each gives clips × crops views)
    e.max_train_videos = 0  # 0 = all (fast path only)
    e.max_eval_videos = 0  # 0 = all
    e.plots = True
    e.tsne_points = 2000
    e.lr_schedule = "cosine"
    e.lr_decay_at = ()
    e.bn_stats_drift = False
    e.fast = False
    e.train_clips = 1  # fast path: views per training video
    e.train_crops = 1
    e.l2_grid = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
    e.held_out_fraction = 0.1
    e.solver = "jax"  # jax (full-batch L-BFGS) | sklearn

    return presets.apply(c, arg)
