r"""Weighted kNN classification on frozen pretrained features (what SSL logs call "top-1 error").

Reproduces the official code's online monitor as a standalone protocol:
every test video votes with its k = 200 nearest training videos (cosine similarity of
L2-normalised pooled backbone features), each weighted by exp(sim / T), T = 0.07. The bank is the
whole train split (one centre clip per video); test features are averaged over 10 clips × 3 crops.
The paper reports no kNN numbers; expect values well below the linear probe.

    python -m rhovid.main --config=configs/eval/knn.py --config.pretrained=/runs/byol \
        --config.data.data_dir=$TFDS --workdir=/runs/byol/knn

Clip settings and dataset (frames, stride, fps, crop, eval short side, data name and dir) come
from the pretrained run's config.json unless set on the command line (rhovid.eval.inherit).

Presets (`:a,b`): ucf101 (ucf101_split1 train / test), demo (a demo run, as its table: 2 views,
k = 20), and the common ones (tiny).
"""

from rhovid import config as config_lib
from rhovid import presets
from rhovid.eval import inherit


def get_config(arg=None):
    c = config_lib.base_config("byol")  # the method is irrelevant here: weights come from `pretrained`
    c.task = "knn"
    c.method = ""
    c.pretrained = ""

    c.data.name = "kinetics400"
    c.data.train_split = "train"
    c.data.eval_split = "validation"
    c.data.rho = 1
    c.data.num_test_clips = 10
    c.data.num_test_crops = 3

    e = c.eval
    # Taken from the pretrained run's config.json unless set explicitly (rhovid.eval.inherit).
    e.inherit = inherit.CLIP_KEYS + inherit.DATASET_KEYS
    e.pretrained_step = 0
    e.model_from_pretrained = True
    e.batch_size = 16
    e.k = 200
    e.temperature = 0.07
    e.train_clips = 1  # views per bank video
    e.train_crops = 1
    e.max_train_videos = 0
    e.max_eval_videos = 0
    e.plots = True
    e.tsne_points = 2000

    return presets.apply(c, arg)
