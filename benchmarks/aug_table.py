r"""The paper's augmentation ablation (temporal T, spatial S, colour C; Fig. 3) at demo scale.

    python benchmarks/aug_table.py                          # 8 rows, ρSimCLR ρ=2, 300 steps: 5–8 min a row
    python benchmarks/aug_table.py --repeat_rows=TSC,SC,TC  # + those rows again at seed 1 (noise)
    python benchmarks/aug_table.py --method=moco --steps=500
    python benchmarks/aug_table.py --rows=TSC,SC            # a subset
    python benchmarks/aug_table.py --finished_only          # gather finished cells only

The rows are those of `rhovid.study`'s augmentation table ("fig3", the paper's Fig. 3) for one
method: base (none of the three), T, S, C, T+S, T+C, S+C, T+S+C. Each cell pretrains on the
embedded moving-digits dataset at the demo's scale, then probes the frozen backbone (fast linear
probe and kNN, digit = appearance label, motion = speed label) as `rhovid.demo.run` does.

What a cell switches off is exactly what `aug=<letters>` switches off (`rhovid.ablations`): T off
= the ρ clips share one start time (no frame-rate jitter either); S off = no random crop (the short
side is resized to the crop size, square cut at a random offset along the long side: the whole
64² frame here) and no flip; C off = no colour jitter, grayscale or blur. What a group does while
ON is the demo's own recipe (`rhovid.presets.demo`): T = independent uniform start times; S =
Inception crops of 60–100 % of the frame, no flip (digits are not mirror-symmetric); C = colour
jitter p 0.8 at the aug+ strength 0.75 and grayscale p 0.2, no blur (σ up to 2 px is too strong at
32²; `COLOUR_ON`, the demo's colour until this table and benchmarks/demo_diagnosis.py showed it
removes the digit). So T+S is the demo itself and T+S+C the demo with that colour.
(`:demo,aug=<letters>` would instead put the paper's 224² recipe — VGG scale jitter, flips, blur
p 0.5 — under the ON groups.)

Every cell runs the same short schedule (`--steps`, default 300 of the demo's 1000: a 1-epoch
warm-up, then cosine decay to the last step) at seed 0. `--repeat_rows` runs rows again at
`--repeat_seed` (network init, augmentation draws and data order all change): the only measure of
run-to-run noise here. The random-init network's row is computed once (it does not depend on the
augmentation). Results: benchmarks/results/aug_table.json and a table on stdout. Workdirs under
--workdir are kept; a finished cell's results.json is reused.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence

import common
import jax
from absl import app, flags, logging

from rhovid import config as config_lib
from rhovid import demo, presets, pretrain, sharding, study
from rhovid.state import init_variables

# The data fields each letter of `aug=` governs; an ON group keeps the demo's values of them.
GROUP_FIELDS = {
    "T": ("max_clip_distance_s", "min_clip_distance_s", "fps_jitter", "time_diff_prob"),
    "S": ("crop", "short_side_range", "area_range", "aspect_range", "flip"),
    "C": ("color_strength", "color_prob", "grayscale_prob", "blur_prob"),
}
# What C switches on: the colour the demo had when this table was measured (the demo has none now).
COLOUR_ON = {"color_strength": 0.75, "color_prob": 0.8, "grayscale_prob": 0.2, "blur_prob": 0.0}
AUG_TABLE = "fig3"
# Display order (study.py's), and the order cells run in: the full recipe and the one-letter-off
# rows first, so an interrupted run has the most telling comparisons.
ROWS = ("none", "T", "S", "C", "TS", "TC", "SC", "TSC")
RUN_ORDER = ("TSC", "SC", "TC", "TS", "none", "T", "S", "C")

FLAGS = flags.FLAGS


def study_letters(method: str) -> list[str]:
    """The augmentation letters of `rhovid.study`'s augmentation-table rows for `method`."""
    out = []
    for row in study.TABLES[AUG_TABLE].rows:
        if row.method == method:
            out.append("TSC" if row.presets == study.D else row.presets.removeprefix("aug="))
    return out


def cell_config(method: str, letters: str, steps: int | None, seed: int = 0):
    """The demo's config with the groups not in `letters` switched off as `aug=<letters>` does;
    a group in `letters` keeps the demo's values (C: `COLOUR_ON`)."""
    demo_cfg = presets.apply(config_lib.base_config(method), "demo")
    config = presets.apply(config_lib.base_config(method), f"demo,aug={letters or 'none'}")
    with config.unlocked():
        for group, fields in GROUP_FIELDS.items():
            if group in letters:
                for field in fields:
                    config.data[field] = COLOUR_ON[field] if group == "C" else demo_cfg.data[field]
        if steps:
            config.num_steps = steps
        config.seed = seed
    return config


def _augmentation(config) -> dict:
    return {f: config.data[f] for fields in GROUP_FIELDS.values() for f in fields}


def run_cell(method: str, letters: str, seed: int = 0) -> dict | None:
    """Pretrain + probe one row, reusing a finished cell (None: not run and --finished_only)."""
    workdir = os.path.join(FLAGS.workdir, f"{method}_{letters or 'none'}" + (f"_seed{seed}" if seed else ""))
    done = os.path.join(workdir, "results.json")
    if os.path.exists(done):
        with open(done) as f:
            return json.load(f)
    if FLAGS.finished_only:
        logging.warning("aug table: %s %s has no results in %s; left out.", method, letters, workdir)
        return None
    config = cell_config(method, letters, FLAGS.steps, seed)
    start = time.time()
    trained = pretrain.train(config, workdir)
    state = trained.state
    ssl_vars = {"params": state.params["backbone"], "batch_stats": state.batch_stats["backbone"]}
    row = {
        "method": method,
        "aug": letters or "none",
        "rho": config.data.rho,
        "steps": int(jax.device_get(state.step)),
        "seed": seed,
        "augmentation": _augmentation(config),
        "ssl": demo.evaluate(config, ssl_vars, sharding.make_mesh(), network=f"ρ{method} aug={letters}"),
        "seconds": round(time.time() - start, 1),
    }
    with open(done, "w") as f:
        json.dump(row, f, indent=2)
    return row


def random_init(method: str) -> dict:
    """Probe and kNN of the same network at its random init (cached in --workdir)."""
    path = os.path.join(FLAGS.workdir, f"{method}_random.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    config = cell_config(method, "TSC", FLAGS.steps)
    d = config.data
    net = init_variables(config, (d.num_frames, d.crop_size, d.crop_size, 3))
    variables = {"params": net["params"]["backbone"], "batch_stats": net["batch_stats"]["backbone"]}
    result = demo.evaluate(config, variables, sharding.make_mesh(), network="random init")
    os.makedirs(FLAGS.workdir, exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    return result


def _label(letters: str) -> str:
    return "base (none)" if letters in ("", "none") else "+".join(letters)


def _line(name: str, c: dict) -> str:
    s = c["ssl"]
    return (
        f"| {name} | {c['steps']} | {s['digit']['linear']:.1f} | {s['digit']['knn']:.1f} | "
        f"{s['motion']['linear']:.1f} | {s['motion']['knn']:.1f} |"
    )


def render(method: str, cells: dict[str, dict], random: dict | None, steps: int, repeats: Sequence[dict] = ()) -> str:
    """Markdown in the study's row order; rows not run are marked; repeats (another seed) last."""
    lines = [
        "| row | steps | digit linear | digit kNN | motion linear | motion kNN |",
        "|---|---|---|---|---|---|",
    ]
    if random is not None:
        r = random
        lines.append(
            f"| random init | 0 | {r['digit']['linear']:.1f} | {r['digit']['knn']:.1f} | "
            f"{r['motion']['linear']:.1f} | {r['motion']['knn']:.1f} |"
        )
    for letters in study_letters(method):
        name = f"ρ{method} {_label(letters)}"
        if letters not in cells:
            lines.append(f"| {name} | {steps} | not run | not run | not run | not run |")
            continue
        lines.append(_line(name, cells[letters]))
    for c in repeats:
        lines.append(_line(f"ρ{method} {_label(c['aug'])}, seed {c['seed']}", c))
    return "\n".join(lines)


def main(argv):
    del argv
    info = common.machine_info()
    method = FLAGS.method
    random = (
        None
        if FLAGS.finished_only and not os.path.exists(os.path.join(FLAGS.workdir, f"{method}_random.json"))
        else random_init(method)
    )
    cells = {}
    for letters in FLAGS.rows:
        letters = "none" if letters in ("", "base") else letters
        start = time.time()
        row = run_cell(method, letters)
        if row is None:
            continue
        cells[letters] = row
        logging.info("aug table: %s %s done in %.0f s", method, letters, time.time() - start)
        print(render(method, cells, random, FLAGS.steps), flush=True)  # progress: the table so far
    repeats = []
    for letters in FLAGS.repeat_rows:
        row = run_cell(method, letters, FLAGS.repeat_seed)
        if row is not None:
            repeats.append(row)
            print(render(method, cells, random, FLAGS.steps, repeats), flush=True)
    table = render(method, cells, random, FLAGS.steps, repeats)
    print(table)
    common.write_json(
        FLAGS.out,
        {
            "benchmark": "aug_table",
            "command": " ".join(sys.argv),
            "machine": info,
            "method": method,
            "steps": FLAGS.steps,
            "random": random,
            "rows": [cells[k] for k in study_letters(method) if k in cells],
            "not_run": [k for k in study_letters(method) if k not in cells],
            "repeats": repeats,
            "table": table,
        },
    )
    print(f"wrote {FLAGS.out}")


def _define_flags() -> None:
    """Flags are defined only when run as a script, so importing the module (its row list, in the
    tests) defines none."""
    flags.DEFINE_string("method", "simclr", "simclr, moco, byol or swav.")
    flags.DEFINE_list("rows", list(RUN_ORDER), "Augmentation letters of the rows to run (none = base).")
    flags.DEFINE_integer("steps", 300, "Pretraining steps per cell (the demo's full schedule is 1000).")
    flags.DEFINE_string("workdir", "/tmp/rhovid-aug-table", "One sub-directory per cell.")
    flags.DEFINE_list("repeat_rows", [], "Rows to run once more with --repeat_seed (run-to-run noise).")
    flags.DEFINE_integer("repeat_seed", 1, "Seed of the repeated rows (the table's rows use seed 0).")
    flags.DEFINE_bool("finished_only", False, "Only gather the cells whose results.json exists (train none).")
    flags.DEFINE_string("out", os.path.join(common.RESULTS_DIR, "aug_table.json"), "JSON output.")


if __name__ == "__main__":
    _define_flags()
    app.run(main)
