r"""Fine-tuning a pretrained backbone on Something-Something v2, the paper's protocol.

Reproduces: the whole network trains (SyncBN), dropout 0.5 before a linear classifier, SGD
momentum 0.9, batch 64, lr 0.12 divided by 10 at epochs 14 and 18 of 22, wd 1e-6, no warmup;
segment-based sampling (the video cut into T = 8 segments, one random frame from each), short-side
jitter [256, 320] + 224 crop, NO horizontal flip (SSv2 classes distinguish left from right);
test: one centre view (the centre frame of each segment, one centre crop). Expected SSv2 top-1
(Table 10, ρ=3, 200 epochs): ρBYOL 55.8; supervised K400 pretraining 52.8; released ρ=2 models
(aug+): ρMoCo 52.7, ρBYOL 54.4, ρSimCLR 51.4, ρSwAV 52.5. The official config adds a 0.19-epoch
warmup from lr 1e-4: `--config.optim.warmup_epochs=0.19 --config.optim.warmup_init_lr=1e-4`.

    python -m rhovid.data.prepare --dataset=ssv2 --source=20bn-something-something-v2 \
        --annotations=labels --out=$TFDS
    python -m rhovid.main --config=configs/eval/ssv2.py --config.pretrained=/runs/byol \
        --config.data.data_dir=$TFDS --workdir=/runs/byol/ssv2

Presets (`:a,b`): epochs=N and the common ones (tiny, steps=N).
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("byol")  # the method is irrelevant here: weights come from `pretrained`
    c.task = "finetune"
    c.method = ""
    c.pretrained = ""

    c.data.name = "ssv2"
    c.data.train_split = "train"
    c.data.eval_split = "validation"
    c.data.rho = 1
    c.data.num_frames = 8
    c.data.temporal_sampling = "segments"  # one frame per eighth of the video (rhovid.data.reading.segments)
    c.data.crop = "vgg"
    c.data.short_side_range = (256, 320)
    c.data.flip = False
    c.data.num_test_clips = 1
    c.data.num_test_crops = 1

    c.model.bn_group_size = 0  # SyncBN over the global batch

    c.optim.optimizer = "sgd"
    c.optim.base_lr = 0.12
    c.optim.base_batch_size = 64
    c.optim.momentum = 0.9
    c.optim.nesterov = False
    c.optim.weight_decay = 1e-6
    c.optim.warmup_epochs = 0.0
    c.optim.warmup_init_lr = 0.0
    c.batch_size = 64
    c.num_epochs = 22.0
    c.checkpoint_every_steps = 2000

    e = c.eval
    e.pretrained_step = 0
    e.model_from_pretrained = True
    e.batch_size = 16  # videos per test batch
    e.max_eval_videos = 0
    e.plots = True
    e.tsne_points = 2000
    e.splits = ()  # one dataset, no official folds
    e.split_pattern = "{name}_split{split}"
    e.dropout_rate = 0.5
    e.lr_schedule = "steps"
    e.lr_decay_at = (14 / 22, 18 / 22)  # epochs 14 and 18 of 22
    e.color_augment = False

    return presets.apply(c, arg)
