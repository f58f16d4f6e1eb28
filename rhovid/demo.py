"""The embedded demo: build the moving-digits dataset, pretrain, probe, print the table.

    python -m rhovid.main --config=configs/mocov.py:demo --workdir=/tmp/rhovid-demo

1. builds `rhovid_demo` (moving handwritten digits, two labels: digit and motion) on first use;
2. pretrains the `:demo` network with the config's ρ method (`rhovid.train`);
3. extracts backbone features (BN in inference mode, view-averaged) of the train and test splits
   for the pretrained network and for the identical network at its random initialisation;
4. fits the fast linear probe and a weighted kNN on each label and writes `results.json` and
   `results.md` in the workdir: the gain of self-supervision over random init, per label.
"""

from __future__ import annotations

import functools
import json
import os
import time

import jax
import ml_collections
import numpy as np
from absl import logging

from rhovid import checkpoint, sharding, train
from rhovid.data import sources
from rhovid.eval import features as features_lib
from rhovid.eval import knn, probe
from rhovid.eval.metrics import topk_accuracy
from rhovid.models.resnet3d import build_backbone
from rhovid.state import init_variables

LABELS = ("digit", "motion")


def demo_preset(c: ml_collections.ConfigDict) -> None:
    """`:demo`: a small Slow network on the moving-digits dataset, ~10 minutes on a 2-core CPU."""
    from rhovid.data.builders import demo as demo_data  # noqa: PLC0415

    c.task = "demo"
    c.data.name = demo_data.dataset_name()
    c.data.train_split, c.data.eval_split = "train", "test"
    c.data.target_fps = 10.0  # the demo's frame rate: frame_stride counts stored frames
    c.data.num_frames = 4
    c.data.frame_stride = 2
    c.data.crop_size = 32
    # Evaluate on the whole 64² frame resized to the 32² crop (short side 224 in the 224-crop
    # convention = the crop size), at the scale the network saw in training (crops of 60–100 % of
    # the frame). A short side of 448 would cut the centre 32² of the full-resolution frame: the
    # digit, 32 px, would be out of view in most clips (measured: digit probes at chance).
    c.data.eval_short_side = 224
    c.data.shuffle_buffer = 512
    c.data.flip = False  # digits are not mirror-symmetric
    # A 32-px digit in a 64-px frame: the paper's crop areas (0.2–0.77) often miss it entirely.
    c.data.area_range = (0.6, 1.0)
    c.data.blur_prob = 0.0  # σ up to 2 px is far stronger at 32² than at 224²
    c.model.depth = 14
    c.model.width = 8
    c.model.mlp_dim = 256
    # MoCo's MLP has no BN in the paper; at this scale its projections start nearly collinear and
    # MoCo barely moves in 400 steps (measured: probes at chance). BN in the MLP fixes that.
    c.model.mlp_bn = True
    c.model.embed_dim = 64
    c.model.predictor_dim = 256
    # SwAV's prototypes must outnumber the embedding's dimensions: with K = d = 64, one unit
    # vector scores every prototype equally (C z = const has a solution), and SwAV collapsed onto
    # it within 100 steps (loss = ln K, uniform codes; measured, even with frozen prototypes).
    # K = 4d has no such point (the paper: 1000 prototypes for d = 128).
    c.model.num_prototypes = 256
    # The queue must stay a small share of an epoch's keys (paper: 65,536 of 480k): a queue
    # larger than the 1800 videos × 2 views of an epoch fills with stale keys of the very videos
    # it must match, and MoCo stalls (measured: 4096 keys, loss rose to log K, probes at chance).
    c.objective.queue_size = 512
    # The paper's key-encoder momentum (0.994) averages over ~170 steps: half of this whole run,
    # so the keys lag far behind the queries. 0.9 (~10 steps, still slower than the queue's 4
    # steps of keys) measured better here: MoCo accuracy 2–7 % vs 0–3 % at 0.99, digit probe 28 %.
    # BYOL's target network likewise (paper: 0.996, ~250 steps): at 0.996 ρBYOL's motion probe
    # gained 3 points over random init in 1000 steps, at 0.9 (with the larger LARS rate below) 30.
    if c.method in ("moco", "byol"):
        c.objective.momentum_base = 0.9
    # SwAV at batch 64: the prototypes stay fixed for 3 epochs (84 steps), and from then on
    # Sinkhorn also sees a queue of the last 8 steps' embeddings (576 samples for 256
    # prototypes instead of 64), as SwAV does for small batches.
    c.objective.freeze_prototypes_epochs = 3.0
    c.objective.swav_queue_size = 512
    c.objective.swav_queue_start_epoch = 3.0
    c.batch_size = 64
    # 1000 steps of 64 videos (~36 epochs), ~7 minutes of training on 2 idle cores (2.2–2.6
    # steps/s). Length is what the demo needed most: at 336 steps no method lifted either label
    # 15 points above random init (ρSimCLR motion probe 56 %); at 1000 steps ρSimCLR and ρMoCo
    # read the speed at 90 % (random init 44 %).
    c.num_epochs = 36.0
    c.num_steps = 1000
    c.optim.warmup_epochs = 1.0
    # LARS moves each layer by lr × 0.001 of its norm per step, and the paper's linear scaling
    # leaves lr = 0.3 at 64 videos: too slow for 1000 steps. ×4 (lr 1.2) measured: ρBYOL's motion
    # probe 74 % vs 50 % at ×1, ρSwAV's 88 % vs 61 %. ρSimCLR reaches 90 % at ×1.
    c.optim.base_lr = {"moco": 3.2, "simclr": 2.4, "byol": 9.6, "swav": 9.6}[c.method]
    c.log_every_steps = 20
    c.checkpoint_every_steps = 200
    c.eval.num_clips = 2
    c.eval.knn_k = 20


def fit_queue_to_views(c: ml_collections.ConfigDict) -> None:
    """Rounds the demo's MoCo queue to whole steps of keys (batch × views), for any ρ.

    The queue is filled a step's keys at a time, so its size must be a multiple of them: 512 is
    4 steps at ρ = 1, 2 or 4 (128 or 256 keys), and becomes 576 (3 steps of 192) at ρ = 3.
    """
    keys_per_step = c.batch_size * sources.num_views(c.data)
    c.objective.queue_size = max(1, round(c.objective.queue_size / keys_per_step)) * keys_per_step


def _features(config, variables, model, mesh, split: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """View-averaged backbone features [N, D] and both labels [N] of one split."""
    from rhovid.data import pipeline  # noqa: PLC0415

    feature_fn = features_lib.make_feature_fn(model.apply, config.data)
    batch_size = max(jax.device_count(), 64 // jax.device_count() * jax.device_count())
    source = pipeline.make_eval_source(config.data, split, batch_size=batch_size,
                                       num_clips=config.eval.num_clips, num_crops=1, label_keys=LABELS)
    feats, labels = [], {k: [] for k in LABELS}
    for batch in source:
        clips = batch["clips"]  # [B, V, T, H, W, 3]
        b, v = clips.shape[:2]
        out = feature_fn(variables, sharding.to_global(clips.reshape((b * v,) + clips.shape[2:]), mesh))
        mask = np.asarray(batch["mask"])
        feats.append(np.asarray(out["features"]).reshape(b, v, -1).mean(1)[mask])
        for k in LABELS:
            labels[k].append(np.asarray(batch["label"][k])[mask])
    return np.concatenate(feats), {k: np.concatenate(x) for k, x in labels.items()}


def _scores(train_x, train_y, test_x, test_y, k: int, name: str = "") -> dict[str, float]:
    """Fast linear probe and weighted-kNN top-1 (%) for one label (`name`: label, network)."""
    fitted = probe.fit_logistic_probe(train_x, train_y, name=name)
    votes = knn.knn_predict(train_x, train_y, test_x, k=k)
    return {"linear": 100 * float(np.mean(fitted.logits(test_x).argmax(1) == test_y)),
            "knn": 100 * topk_accuracy(votes, test_y, 1)}


def evaluate(config: ml_collections.ConfigDict, variables, mesh, network: str = "") -> dict[str, dict[str, float]]:
    """Probe and kNN accuracy on each label for one set of backbone variables."""
    model = build_backbone(config.model)
    variables = jax.device_put(variables, sharding.replicated(mesh))
    train_x, train_y = _features(config, variables, model, mesh, config.data.train_split)
    test_x, test_y = _features(config, variables, model, mesh, config.data.eval_split)
    return {label: _scores(train_x, train_y[label], test_x, test_y[label], config.eval.knn_k,
                           name=f"{label}, {network}") for label in LABELS}


def render_table(rows: list[dict]) -> str:
    """Markdown: one row per (method, ρ) with SSL and random-init accuracies per label."""
    lines = ["| method | ρ | steps | digit linear | digit kNN | motion linear | motion kNN |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        for name, res in (("ρ" + r["method"], r["ssl"]), ("random init", r["random"])):
            lines.append(f"| {name} | {r['rho']} | {r['steps'] if res is r['ssl'] else 0} | "
                         f"{res['digit']['linear']:.1f} | {res['digit']['knn']:.1f} | "
                         f"{res['motion']['linear']:.1f} | {res['motion']['knn']:.1f} |")
    return "\n".join(lines)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Builds the data, pretrains, evaluates SSL vs random init, writes and prints the table."""
    start = time.time()
    sources.ensure_demo(config)
    with config.unlocked():
        config.task = "pretrain"
    train.train_and_evaluate(config, workdir)
    mesh = sharding.make_mesh()
    pretrained = checkpoint.load_pretrained(workdir)
    d = config.data
    net_init = init_variables(config, (d.num_frames, d.crop_size, d.crop_size, 3))
    random_vars = {"params": net_init["params"]["backbone"], "batch_stats": net_init["batch_stats"]["backbone"]}
    ssl_vars = {"params": pretrained.params, "batch_stats": pretrained.batch_stats}
    evaluate_fn = functools.partial(evaluate, config, mesh=mesh)
    row = {"method": config.method, "rho": d.rho, "steps": pretrained.step,
           "ssl": evaluate_fn(ssl_vars, network="ρ" + config.method),
           "random": evaluate_fn(random_vars, network="random init"),
           "seconds": round(time.time() - start, 1)}
    table = render_table([row])
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump(row, f, indent=2)
        with open(os.path.join(workdir, "results.md"), "w") as f:
            f.write(table + "\n")
    print(table, flush=True)  # noqa: T201 (the demo's product is this table)
    logging.info("Demo finished in %.0f s; table in %s/results.md", row["seconds"], workdir)
    return row
