r"""Fine-tuning on Charades (multi-label), the paper's protocol.

Reproduces: the whole network trains with 16×8 input clips (T = 16 frames, stride τ = 8; about
+3 mAP over 8×8), dropout 0.5, a linear classifier with a per-class sigmoid and binary
cross-entropy on multi-hot targets (every class of the video), SGD momentum 0.9, batch 64, lr 0.2
with a 5-epoch linear warmup, divided by 10 at epochs 40 and 50 of 60, wd 1e-4; test: 10 clips × 3
crops, each class's sigmoid score max-pooled over the 30 views (spatio-temporal max,
`eval.view_pooling`), mean average precision over the classes (`rhovid.eval.metrics.multilabel_metrics`).
results.json reports `mAP` and the per-class AP; test_scores.npz keeps the per-video scores and
targets. The train metric `train_top1_in_labels` is the fraction of clips whose highest-scoring
class is one of their labels. Expected Charades mAP (Table 10, ρ=3, 200 epochs): ρMoCo 33.5;
supervised K400 pretraining 34.7.

    python -m rhovid.data.prepare --dataset=charades --source=Charades_v1_480 \
        --annotations=Charades --out=$TFDS
    python -m rhovid.main --config=configs/eval/charades.py --config.pretrained=/runs/moco \
        --config.data.data_dir=$TFDS --workdir=/runs/moco/charades

The first command prepares the multi-label dataset (a `labels` feature: every class of the video).

Presets (`:a,b`): epochs=N and the common ones (tiny, steps=N).
"""

from rhovid import config as config_lib
from rhovid import presets


def get_config(arg=None):
    c = config_lib.base_config("byol")  # the method is irrelevant here: weights come from `pretrained`
    c.task = "finetune"
    c.method = ""
    c.pretrained = ""

    c.data.name = "charades"
    c.data.train_split = "train"
    c.data.eval_split = "test"
    c.data.label_key = "labels"  # a sequence of class indices per video
    c.data.rho = 1
    c.data.num_frames = 16
    c.data.frame_stride = 8
    c.data.crop = "vgg"
    c.data.short_side_range = (256, 320)
    c.data.flip = True
    c.data.num_test_clips = 10
    c.data.num_test_crops = 3

    c.model.bn_group_size = 0

    c.optim.optimizer = "sgd"
    c.optim.base_lr = 0.2
    c.optim.base_batch_size = 64
    c.optim.momentum = 0.9
    c.optim.nesterov = False
    c.optim.weight_decay = 1e-4
    c.optim.warmup_epochs = 5.0
    c.optim.warmup_init_lr = 0.0
    c.batch_size = 64
    c.num_epochs = 60.0
    c.checkpoint_every_steps = 2000

    e = c.eval
    e.pretrained_step = 0
    e.model_from_pretrained = True
    e.batch_size = 8
    e.max_eval_videos = 0
    e.plots = False
    e.tsne_points = 2000
    e.splits = ()
    e.split_pattern = "{name}_split{split}"
    e.dropout_rate = 0.5
    e.lr_schedule = "steps"
    e.lr_decay_at = (40 / 60, 50 / 60)
    e.color_augment = False
    e.multi_label = True  # multi-hot targets, sigmoid + binary cross-entropy, mAP
    e.view_pooling = "max"  # max of the sigmoid scores over the views ("mean": their average)

    return presets.apply(c, arg)
