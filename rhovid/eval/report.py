r"""Gathers many evaluations' results.json into one table shaped like the paper's.

    python -m rhovid.eval.report /runs/*/linear /runs/*/finetune* [--output=/runs/table]

prints a Markdown table with one row per pretrained model (pretraining workdir and step):

    | method | ρ | epochs | K400 linear | UCF101 | HMDB51 | other |

K400 linear is the paper-protocol linear probe's top-1 (the fast probe's, marked "fast", when that
is all there is); UCF101 / HMDB51 are fine-tuning top-1, as "mean ± std (3 splits)" when all
three splits ran, else with the split named. Results that fit none of these columns (kNN, other
datasets) go to "other". `--output=PREFIX` also writes PREFIX.md and PREFIX.json (every row with
the results it was built from).

Each DIR is an evaluation workdir holding results.json, a directory whose immediate sub-directories
are, or a demo workdir (its own table and the evaluations run on it below it):

    python -m rhovid.eval.report /tmp/rhovid-demo
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence

import tensorflow as tf
from absl import app, flags

from rhovid import cli
from rhovid.errors import UserError
from rhovid.eval import results as results_lib

_OUTPUT = flags.DEFINE_string("output", None, "Write the table to OUTPUT.md and OUTPUT.json too.")

METHOD_NAMES = {"simclr": "ρSimCLR", "moco": "ρMoCo", "byol": "ρBYOL", "swav": "ρSwAV"}
COLUMNS = ("method", "ρ", "epochs", "K400 linear", "UCF101", "HMDB51", "other")
_DATASET_COLUMNS = {"kinetics400": "K400 linear", "ucf101": "UCF101", "hmdb51": "HMDB51"}


def find_results(dirs: Sequence[str]) -> list[tuple[str, dict]]:
    """(workdir, record) for every results.json in `dirs` and their immediate sub-directories.

    A demo workdir (`--config=configs/*.py:demo`) holds the demo's own results.json (its probe
    table) and, typically, the evaluations run on it in sub-directories: both are read.
    """
    found = []
    for d in dirs:
        d = d.rstrip("/") or d
        paths = [os.path.join(d, results_lib.RESULTS_JSON)]
        paths = [p for p in paths if tf.io.gfile.exists(p)]
        paths += sorted(tf.io.gfile.glob(os.path.join(d, "*", results_lib.RESULTS_JSON)))
        if not paths:
            raise UserError(
                f"No results.json in {d} or its sub-directories; pass evaluation or demo "
                "workdirs (the --workdir of linear / finetune / knn / demo runs)."
            )
        for p in paths:
            found.append((os.path.dirname(p), results_lib.read_record(os.path.dirname(p))))
    return found


def is_demo_record(record: dict) -> bool:
    """The demo's results.json: {method, rho, steps, ssl: {label: {linear, knn}}, random: ...}."""
    return "ssl" in record and "pretrained" not in record


def _demo_cells(record: dict) -> dict[str, str]:
    """'demo digit linear': '45.0 (random init 20.1)', for each label and probe of the demo."""
    cells = {}
    for label, scores in sorted(record["ssl"].items()):
        for probe, value in sorted(scores.items()):
            base = record.get("random", {}).get(label, {}).get(probe)
            cells[f"demo {label} {probe}"] = f"{value:.1f}" + (f" (random init {base:.1f})" if base is not None else "")
    return cells


def _same_path(a: str | None, b: str | None) -> bool:
    return (
        a is not None and b is not None and os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))
    )


def dataset_key(name: str) -> str:
    """'ucf101_split2' / 'ucf101/1.0.0' -> 'ucf101'; Kinetics-400 aliases -> 'kinetics400'."""
    base = re.sub(r"_split\d+$", "", name.lower().split("/")[0].split(":")[0])
    return "kinetics400" if base in ("k400", "kinetics", "kinetics400", "kinetics_400") else base


def _cell_kind(record: dict) -> tuple[str | None, int]:
    """The paper column a record fills and its priority (higher wins), or (None, 0)."""
    column = _DATASET_COLUMNS.get(dataset_key(record["dataset"]))
    protocol = record["protocol"]
    if column == "K400 linear" and protocol in ("linear", "linear_fast"):
        return column, 2 if protocol == "linear" else 1
    if column in ("UCF101", "HMDB51") and protocol == "finetune":
        splits = record.get("splits") or [record.get("split")]
        return column, 3 if len(splits) >= 3 else (2 if splits == [1] else 1)
    return None, 0


def format_cell(record: dict) -> str:
    """'68.31' / '68.31 (fast)' / '93.80 ± 0.41 (3 splits)' / '91.20 (split 1)' / '33.50 mAP'."""
    m = record["metrics"]
    key = "top1" if "top1" in m else "mAP"  # multi-label results (Charades) hold mAP, no top-1
    text = f"{100 * m[key]:.2f}" + (" mAP" if key == "mAP" else "")
    if f"{key}_std" in m and len(record.get("splits") or []) > 1:
        text += f" ± {100 * m[f'{key}_std']:.2f} ({len(record['splits'])} splits)"
    elif record.get("split") is not None:
        text += f" (split {record['split']})"
    if record["protocol"] == "linear_fast":
        text += " (fast)"
    return text


def _other_label(record: dict) -> str:
    """'knn ucf101', or 'knn rhovid_demo (motion)' for a label other than the dataset's `label`."""
    label = ((record.get("eval") or {}).get("config") or {}).get("data", {}).get("label_key", "label")
    return f"{record['protocol']} {dataset_key(record['dataset'])}" + (f" ({label})" if label != "label" else "")


def build_rows(found: Sequence[tuple[str, dict]]) -> list[dict]:
    """One row per pretrained model (path, step), in the order first seen."""
    rows: dict[tuple, dict] = {}
    for workdir, record in found:
        if is_demo_record(record):  # the demo's own table: its workdir is the pretrained run
            p = {
                "path": workdir,
                "step": record.get("steps"),
                "method": record.get("method"),
                "rho": record.get("rho"),
                "num_steps": record.get("steps"),
            }
        else:
            p = record["pretrained"]
        path = next((k[0] for k in rows if _same_path(k[0], p.get("path"))), p.get("path"))
        key = (path, p.get("step"))
        if key not in rows:
            epochs = p.get("num_epochs")
            if p.get("num_steps"):
                epochs = f"{p.get('step')} steps"
            rows[key] = {
                "method": METHOD_NAMES.get(p.get("method"), p.get("method") or "?"),
                "ρ": p.get("rho"),
                "epochs": epochs,
                "pretrained": p.get("path"),
                "step": p.get("step"),
                "cells": {},
                "other": {},
                "sources": [],
            }
        row = rows[key]
        if is_demo_record(record):
            row["sources"].append(
                {
                    "workdir": workdir,
                    "protocol": "demo",
                    "dataset": None,
                    "metrics": {"ssl": record["ssl"], "random": record.get("random")},
                }
            )
            row["other"].update(_demo_cells(record))
            continue
        row["sources"].append(
            {
                "workdir": workdir,
                "protocol": record["protocol"],
                "dataset": record["dataset"],
                "metrics": record["metrics"],
            }
        )
        column, priority = _cell_kind(record)
        if column is None:
            row["other"][_other_label(record)] = format_cell(record)
        elif priority > row["cells"].get(column, (0, None, None))[0]:
            row["cells"][column] = (priority, format_cell(record), record["metrics"].get("top1"))
    out = []
    for row in rows.values():
        for column in ("K400 linear", "UCF101", "HMDB51"):
            cell = row["cells"].get(column)
            row[column] = cell[1] if cell else "–"
            row[column + " top1"] = cell[2] if cell else None
        row["other"] = "; ".join(f"{k}: {v}" for k, v in sorted(row["other"].items())) or ""
        del row["cells"]
        out.append(row)
    return out


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_markdown(rows: Sequence[dict]) -> str:
    """The rows as a Markdown table (top-1 in %), plus a line per row naming its weights."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[c]) for c in COLUMNS) + " |")
    lines.append("")
    lines.append(
        "Top-1 accuracy (%): K400 linear probe with 10×3 views; UCF101 / HMDB51 "
        "fine-tuned, 3-split mean ± std where all splits ran."
    )
    for r in rows:
        lines.append(f"- {r['method']} ρ={_fmt(r['ρ'])}: `{r['pretrained']}` step {r['step']}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> None:
    dirs = argv[1:]
    if not dirs:
        raise app.UsageError("Usage: python -m rhovid.eval.report DIR [DIR...] [--output=PREFIX]")
    rows = build_rows(find_results(dirs))
    markdown = render_markdown(rows)
    print(markdown, end="")
    if _OUTPUT.value:
        with tf.io.gfile.GFile(_OUTPUT.value + ".md", "w") as f:
            f.write(markdown)
        with tf.io.gfile.GFile(_OUTPUT.value + ".json", "w") as f:
            f.write(json.dumps(rows, indent=2, default=str) + "\n")


if __name__ == "__main__":
    cli.run(main)
