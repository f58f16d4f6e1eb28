r"""The paper's Table 2 at demo scale: linear-probe accuracy of each method for ρ ∈ {1, 2, 3}.

    python benchmarks/rho_ablation.py                                   # 4 methods × 3 ρ: ~2 h on 2 cores
    python benchmarks/rho_ablation.py --methods=moco,byol --rhos=1,2    # a subset
    python benchmarks/rho_ablation.py --steps=500                       # shorter runs
    python benchmarks/rho_ablation.py --finished_only                   # gather finished cells only

Each (method, ρ) cell is the full demo (`rhovid.demo.run`, i.e. `python -m rhovid.main
--config=configs/<method>.py:demo,rho=N`): pretraining on the moving-digits dataset, then the
fast linear probe and kNN on frozen features, for the digit (appearance) and the motion (speed)
label. Every run takes the same number of steps of 64 videos, so it sees the same number of
*videos* and a larger ρ sees more clips per video, as in the paper (its Table 2 holds epochs
fixed). The random-init network's row is
the same for every cell (same seed) and printed once.

What to look for (paper, K400 linear probe): ρ = 2 beats ρ = 1 by 4–8 points for every method,
ρ = 3 adds ~1–2 more. The demo's videos change over time in ways spatial augmentation cannot
imitate (the digit rotates, pulses, deforms and is occluded; the lighting drifts), so clips
from different times of a video are harder, more informative positives than two augmentations
of one clip; whether that shows at this scale is what this script measures.

Results: benchmarks/results/rho_ablation.json (every cell's full demo results) and a table on
stdout. Workdirs under --workdir are kept, so an interrupted run resumes cell by cell.
"""

from __future__ import annotations

import json
import os
import sys
import time

import common
from absl import app, flags, logging

from rhovid import config as config_lib
from rhovid import demo, presets

METHODS = ("simclr", "moco", "byol", "swav")  # what configs/{simclr,mocov,byol,swav}.py build

flags.DEFINE_list("methods", list(METHODS), "Methods (simclr, moco, byol, swav).")
flags.DEFINE_list("rhos", ["1", "2", "3"], "Values of ρ.")
flags.DEFINE_integer("steps", None, "Pretraining steps per cell (default: the demo preset's).")
flags.DEFINE_string("workdir", "/tmp/rhovid-rho-ablation", "One sub-directory per cell.")
flags.DEFINE_bool("finished_only", False, "Only gather the cells whose results.json exists (train none).")
flags.DEFINE_string("out", os.path.join(common.RESULTS_DIR, "rho_ablation.json"), "JSON output.")
FLAGS = flags.FLAGS


def run_cell(method: str, rho: int) -> dict | None:
    """The demo for one (method, ρ), reusing a finished cell's results.json (None: not run and
    --finished_only)."""
    workdir = os.path.join(FLAGS.workdir, f"{method}_rho{rho}")
    done = os.path.join(workdir, "results.json")
    if os.path.exists(done):
        with open(done) as f:
            return json.load(f)
    if FLAGS.finished_only:
        logging.warning("ρ ablation: %s ρ=%d has no results in %s; left out.", method, rho, workdir)
        return None
    config = presets.apply(config_lib.base_config(method), f"demo,rho={rho}")
    if FLAGS.steps:
        with config.unlocked():
            config.num_steps = FLAGS.steps
    logging.info("ρ ablation: %s ρ=%d in %s", method, rho, workdir)
    return demo.run(config, workdir)


def render(rows: list[dict]) -> str:
    """Markdown: linear-probe (and kNN) accuracies per method and ρ, random init first."""
    lines = [
        "| method | ρ | steps | digit linear | digit kNN | motion linear | motion kNN |",
        "|---|---|---|---|---|---|---|",
    ]
    r = rows[0]["random"]
    lines.append(
        f"| random init | – | 0 | {r['digit']['linear']:.1f} | {r['digit']['knn']:.1f} | "
        f"{r['motion']['linear']:.1f} | {r['motion']['knn']:.1f} |"
    )
    for row in rows:
        s = row["ssl"]
        lines.append(
            f"| ρ{row['method']} | {row['rho']} | {row['steps']} | {s['digit']['linear']:.1f} | "
            f"{s['digit']['knn']:.1f} | {s['motion']['linear']:.1f} | {s['motion']['knn']:.1f} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    info = common.machine_info()
    rows = []
    for method in FLAGS.methods:
        for rho in map(int, FLAGS.rhos):
            start = time.time()
            row = run_cell(method, rho)
            if row is None:
                continue
            rows.append(row)
            logging.info("%s ρ=%d done in %.0f s", method, rho, time.time() - start)
            print(render(rows), flush=True)  # progress: the table so far
    table = render(rows)
    print(table)
    common.write_json(
        FLAGS.out,
        {
            "benchmark": "rho_ablation",
            "command": " ".join(sys.argv),
            "machine": info,
            "steps": FLAGS.steps,
            "rows": rows,
            "table": table,
        },
    )
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
