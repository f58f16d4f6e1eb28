r"""The paper's study as a list of runs: every table's rows, their commands, and the gathered results.

    python -m rhovid.study --list                       # every table, every row's config string
    python -m rhovid.study --list --table=5
    python -m rhovid.study --table=2 --runs=/runs       # gather finished evaluations into Table 2
    python -m rhovid.study --table=2 --runs=/runs --output=/runs/table2   # + table2.md / .json
    python -m rhovid.study --table=2 --runs=/runs --launch                # commands for missing rows
    python -m rhovid.study --table=all --runs=/runs --launch=todo.sh      # one line per row, a file
    python -m rhovid.study --docstrings           # rewrite each configs/<method>.py's list of its rows

A row is a pretraining config (`configs/<method>.py:<presets>`, presets from `rhovid.ablations`)
and the evaluations of its table's columns. Where each row lives under `--runs=DIR`:

    DIR/<method>/<slug>/            the pretraining workdir (slug: the preset string, '=' -> '-',
                                    ',' -> '+'; 'default' for no presets)
    DIR/<method>/<slug>/<eval>/     one evaluation workdir per column (linear, ucf101_split1,
                                    ucf101_splits123, hmdb51_splits123, ssv2, charades, ...)

so a row shared by several tables (ρMoCo ρ=2 with the default augmentation is in Tables 2, 4, 5,
8, 15 and 16) is trained and evaluated once. `--launch` prints, one line per row with a missing
result, the pretraining command followed by the missing evaluations (`&&`-chained; pretraining
resumes from its last checkpoint, so a finished run only reloads it). Line N of the file is one
task of a cluster array job:

    sed -n "${SLURM_ARRAY_TASK_ID}p" todo.sh | bash      # sbatch --array=1-$(wc -l < todo.sh)

Commands read the prepared datasets from `$TFDS` (`--data_dir` changes the text). Gathering reads
each evaluation's results.json (`rhovid.eval.results`), formats it as `rhovid.eval.report` does,
and puts the paper's number beside ours; "missing" marks a row not yet evaluated, and "(!)" a
result whose pretraining run does not match the row (another method or ρ).

Paper numbers: those the paper states, or derives by one subtraction from a number it states
(noted on the row); "–" where the paper gives none that could be checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence

CONFIG_FILES = {
    "simclr": "configs/simclr.py",
    "moco": "configs/mocov.py",
    "byol": "configs/byol.py",
    "swav": "configs/swav.py",
}
METHOD_NAMES = {"simclr": "ρSimCLR", "moco": "ρMoCo", "byol": "ρBYOL", "swav": "ρSwAV"}


@dataclasses.dataclass(frozen=True)
class Eval:
    """One column: how its number is produced and where it lands.

    Attributes:
      config: the evaluation config string, or "" where rhovid has no such protocol (AVA).
      subdir: the evaluation workdir under the row's pretraining workdir.
      metric: key of results.json "metrics" ("top1", or "mAP" for multi-label tasks).
      same_frames: evaluate with the pretraining run's T×τ (False: the protocol fixes its own input).
    """

    config: str
    subdir: str
    metric: str = "top1"
    same_frames: bool = True


EVALS = {
    "K400 linear": Eval("configs/eval/linear.py", "linear"),
    "K400 linear 100ep": Eval("configs/eval/linear.py:epochs=100", "linear_100ep"),
    "UCF101": Eval("configs/eval/finetune.py:ucf101,split=1", "ucf101_split1"),
    "UCF101 3-split": Eval("configs/eval/finetune.py:ucf101,splits=all", "ucf101_splits123"),
    "HMDB51 3-split": Eval("configs/eval/finetune.py:hmdb51,splits=all", "hmdb51_splits123"),
    "SSv2": Eval("configs/eval/ssv2.py", "ssv2"),
    # Multi-label fine-tuning: its results.json holds "mAP" (no top-1); 16×8 input whatever T×τ pretrained.
    "Charades": Eval("configs/eval/charades.py", "charades", metric="mAP", same_frames=False),
    "AVA": Eval("", "ava", metric="mAP"),
}


@dataclasses.dataclass(frozen=True)
class Row:
    label: str
    method: str
    presets: str
    paper: tuple[float | None, ...]  # one per table column
    note: str = ""

    @property
    def config(self) -> str:
        return f"{CONFIG_FILES[self.method]}:{self.presets}" if self.presets else CONFIG_FILES[self.method]

    @property
    def slug(self) -> str:
        return self.presets.replace("=", "-").replace(",", "+") or "default"

    def workdir(self, runs: str) -> str:
        return os.path.join(runs, self.method, self.slug)


@dataclasses.dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    caption: str = ""


_ = None  # a cell the paper gives no checkable number for
D = "aug=default"  # the paper's default augmentation, used by every ablation but Tables 7–9
K_U = ("K400 linear", "UCF101")


def _rows(method: str, grid: Sequence[tuple[str, str, tuple, str]]) -> tuple[Row, ...]:
    return tuple(Row(label, method, presets, paper, note) for label, presets, paper, note in grid)


def _table2() -> tuple[Row, ...]:
    paper = {
        ("simclr", 1): (36.1, _),
        ("simclr", 2): (60.5, 88.9),
        ("swav", 1): (38.6, _),
        ("swav", 2): (61.6, 87.3),
        ("moco", 2): (65.8, 91.0),
        ("moco", 3): (67.3, _),
        ("byol", 2): (_, 92.7),
        ("byol", 3): (68.3, _),
        ("byol", 4): (68.9, 93.8),
    }
    notes = {("moco", 2): "K400 from Fig. 4 / Table 8", ("byol", 3): "K400: supervised 74.7 − 6.4"}
    return tuple(
        Row(
            f"{METHOD_NAMES[m]} ρ={r}",
            m,
            D if r == 2 else f"{D},rho={r}",
            paper.get((m, r), (_, _)),
            notes.get((m, r), ""),
        )
        for m in ("simclr", "swav", "moco", "byol")
        for r in (1, 2, 3, 4)
    )


def _table3() -> tuple[Row, ...]:
    return tuple(
        Row(f"{METHOD_NAMES[m]} {e} ep", m, D if e == 200 else f"{D},epochs={e}", (_, _))
        for m in ("simclr", "swav", "moco", "byol")
        for e in (50, 100, 200, 400, 800)
    )


# What each letter of `aug=<letters>` switches off (rhovid.ablations.aug; tests/test_study.py checks it).
AUG_CAPTION = (
    "aug=<letters> keeps the named groups of aug=default and switches the others off. "
    "Without T the ρ clips share one start time (they read the same frames) and there is no frame-rate "
    "jitter; they differ only by their own spatial and colour augmentation. "
    "Without S there is no scale jitter and no flip: the short side is resized to the crop size and the "
    "square is cut at a random offset along the long side only. "
    "Without C there is no colour jitter, grayscale or blur. "
    "base = aug=none (all three off); T+S+C = aug=default."
)


def _aug_rows() -> tuple[Row, ...]:
    base = {"moco": 42.2, "byol": 32.4}
    full = {"moco": 65.8, "simclr": 60.5, "swav": 61.6}
    rows = []
    for m in ("simclr", "swav", "moco", "byol"):
        for letters in ("none", "T", "S", "C", "TS", "TC", "SC", "TSC"):
            k400 = base.get(m) if letters == "none" else full.get(m) if letters == "TSC" else None
            label = "base" if letters == "none" else "+".join(letters)
            presets = D if letters == "TSC" else f"aug={letters}"
            rows.append(Row(f"{METHOD_NAMES[m]} {label}", m, presets, (k400, _)))
    return tuple(rows)


TABLES: dict[str, Table] = {
    t.key: t
    for t in (
        Table("2", "number of temporal clips ρ (200 epochs, R-50 Slow 8×8)", K_U, _table2()),
        Table("3", "training epochs at ρ=2", K_U, _table3()),
        Table(
            "4",
            "maximum distance t_max (seconds, start to start) between positives, ρBYOL ρ=2",
            K_U,
            _rows(
                "byol",
                [("t_max=0", "aug=SC", (_, _), "= no temporal augmentation; about 5 below the others")]
                + [(f"t_max={t}", f"{D},tmax={t}", (_, _), "") for t in ("0.5", "1", "2", "4", "8")]
                + [("global", D, (_, _), "")],
            ),
            "The paper's t_max grid is not reproduced exactly; the rows span 0 to global sampling.",
        ),
        Table(
            "5",
            "backbones and input T×τ, ρMoCo ρ=2",
            K_U,
            _rows(
                "moco",
                [
                    ("R-18 8×8", f"{D},arch=r18", (_, _), ""),
                    ("R-50 8×8", D, (65.8, 91.0), ""),
                    ("R-101 8×8", f"{D},arch=r101", (_, _), "helps K400"),
                    ("R-50 4×16", f"{D},frames=4x16", (_, _), ""),
                    ("R-50 16×4", f"{D},frames=16x4", (_, _), "helps UCF101"),
                    ("R(2+1)D-50 8×8", f"{D},arch=r2plus1d", (57.2, 93.7), ""),
                    ("S3D-G 8×8", f"{D},arch=s3dg", (_, _), ""),
                ],
            ),
        ),
        Table(
            "fig3",
            "temporal (T), spatial (S) and colour (C) augmentation, ρ=2 (Fig. 3); base = none",
            K_U,
            _aug_rows(),
            AUG_CAPTION,
        ),
        Table(
            "7",
            "colour augmentation, ρMoCo ρ=2",
            K_U,
            _rows(
                "moco",
                [
                    ("strength 0.5", D, (65.8, 91.0), ""),
                    ("strength 0.75", f"{D},color=0.75", (_, _), "up to +1.3 UCF"),
                    ("strength 0.75, grayscale 0.4", f"{D},color=0.75,gray=0.4", (_, _), "no gain"),
                    ("+ temporal difference p=0.2", f"{D},timediff=0.2", (_, _), "+0.4 K400"),
                    ("+ frame-rate jitter ±50 %", f"{D},fpsjitter=0.5", (_, _), "K400 ±0"),
                ],
            ),
        ),
        Table(
            "8",
            "spatial cropping, ρMoCo ρ=2",
            K_U,
            _rows(
                "moco",
                [
                    ("VGG short side [256, 320]", D, (65.8, 91.0), ""),
                    ("area [0.49, 0.76]", f"{D},area=0.49-0.76,aspect=1", (64.8, _), "−1.0 vs VGG"),
                    ("area [0.49, 0.76] + aspect", f"{D},area=0.49-0.76,aspect=0.75-1.333", (65.4, _), ""),
                    ("area [0.2, 0.76] + aspect", f"{D},area=0.2-0.766,aspect=0.75-1.333", (66.8, 91.7), "UCF +0.7"),
                    ("area [0.08, 1] + aspect", f"{D},area=0.08-1,aspect=0.75-1.333", (_, _), "too aggressive"),
                ],
            ),
        ),
        Table(
            "9",
            "aug+ (Inception crop, colour 0.75) at ρ=4",
            K_U,
            (
                Row("ρMoCo ρ=4", "moco", f"{D},rho=4", (_, _)),
                Row("ρMoCo ρ=4 aug+", "moco", "aug=plus,rho=4", (69.0, 93.6), "Table 14"),
                Row("ρBYOL ρ=4", "byol", f"{D},rho=4", (68.9, 93.8)),
                Row("ρBYOL ρ=4 aug+", "byol", "aug=plus,rho=4", (_, _), "about +1 K400; 70.0 with 100-ep head"),
            ),
        ),
        Table(
            "10",
            "downstream tasks, ρ=3, 200 epochs",
            ("K400 linear", "UCF101", "AVA", "Charades", "SSv2"),
            (
                Row("ρSimCLR ρ=3", "simclr", f"{D},rho=3", (_, _, _, _, _)),
                Row("ρSwAV ρ=3", "swav", f"{D},rho=3", (_, _, _, _, _)),
                Row("ρMoCo ρ=3", "moco", f"{D},rho=3", (67.3, _, 20.3, 33.5, _)),
                Row("ρBYOL ρ=3", "byol", f"{D},rho=3", (68.3, _, 23.4, _, 55.8), "K400: 74.7 − 6.4"),
            ),
            "Supervised K400 pretraining: K400 74.7, Charades 34.7, SSv2 52.8. rhovid has no AVA detector.",
        ),
        Table(
            "11",
            "comparison with prior work (UCF101 / HMDB51 fine-tuned, 3-split mean; K400 linear)",
            ("UCF101 3-split", "HMDB51 3-split", "K400 linear", "K400 linear 100ep"),
            (
                Row("ρSimCLR ρ=2", "simclr", D, (88.9, _, 60.5, _)),
                Row("ρSwAV ρ=2", "swav", D, (87.3, _, 61.6, _)),
                Row("ρMoCo ρ=2", "moco", D, (91.0, _, 65.8, _)),
                Row("ρBYOL ρ=2", "byol", D, (92.7, _, _, _)),
                Row("ρBYOL ρ=4", "byol", "aug=plus,rho=4", (94.2, 72.1, _, 70.0)),
                Row("ρBYOL ρ=4 16×4", "byol", "aug=plus,rho=4,frames=16x4", (_, _, 71.5, _), "K400: CVRL 66.1 + 5.4"),
            ),
            "CVRL (Slow R-50, 32 frames): 92.9 / 67.9 / 66.1; CoCLR RGB (S3D-G): 87.9 / 54.6.",
        ),
        Table(
            "15",
            "momentum annealing, ρMoCo ρ=2",
            K_U,
            _rows(
                "moco",
                [
                    ("m=0.994, no annealing", f"{D},no_momentum_anneal", (64.5, _), ""),
                    ("m=0.99 → 1", f"{D},momentum=0.99", (_, _), "stable across m_base"),
                    ("m=0.994 → 1", D, (65.8, 91.0), ""),
                    ("m=0.996 → 1", f"{D},momentum=0.996", (_, _), ""),
                ],
            ),
        ),
        Table(
            "16",
            "MLP depth (projection; BYOL also the predictor), ρ=2",
            K_U,
            _rows(
                "moco",
                [
                    ("ρMoCo 2 layers", f"{D},mlp=2", (64.6, _), "65.8 − 1.2"),
                    ("ρMoCo 3 layers", D, (65.8, 91.0), ""),
                    ("ρMoCo 4 layers", f"{D},mlp=4", (_, _), "no gain"),
                ],
            )
            + _rows(
                "byol",
                [
                    ("ρBYOL 2 layers", D, (_, 92.7), ""),
                    ("ρBYOL 3 layers", f"{D},mlp=3", (_, 92.0), "92.7 − 0.7"),
                    ("ρBYOL predictor 3", f"{D},predictor=3", (_, 90.2), "92.7 − 2.5"),
                ],
            )
            + _rows(
                "simclr",
                [
                    ("ρSimCLR 2 layers", f"{D},mlp=2", (59.0, 88.4), "60.5 − 1.5, 88.9 − 0.5"),
                    ("ρSimCLR 3 layers", D, (60.5, 88.9), ""),
                ],
            )
            + _rows(
                "swav",
                [
                    ("ρSwAV 2 layers", f"{D},mlp=2", (60.3, _), "61.6 − 1.3"),
                    ("ρSwAV 3 layers", D, (61.6, 87.3), ""),
                    ("ρSwAV 4 layers", f"{D},mlp=4", (62.0, _), "61.6 + 0.4"),
                ],
            ),
        ),
    )
}


def all_rows() -> list[Row]:
    """Every distinct row (method, presets) of every table, in table order."""
    seen, out = set(), []
    for table in TABLES.values():
        for row in table.rows:
            if (row.method, row.presets) not in seen:
                seen.add((row.method, row.presets))
                out.append(row)
    return out


def _paper_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


# ---------------------------------------------------------------------------------------------
# Gathering.


def _cell(record: dict, eval_: Eval) -> tuple[str, float | None]:
    """Our number for one column, formatted like rhovid.eval.report, and its value in %."""
    from rhovid.eval import report

    metrics = record.get("metrics", {})
    if eval_.metric == "top1":
        return report.format_cell(record), 100 * metrics["top1"]
    value = metrics.get(eval_.metric)
    return ("–", None) if value is None else (f"{100 * value:.2f}", 100 * value)


def _mismatch(record: dict, row: Row) -> str:
    """Why a result does not belong to `row` (another method or ρ), or ""."""
    from rhovid.presets import build_config

    p = record.get("pretrained") or {}
    rho = build_config(row.method, row.presets).data.rho
    problems = []
    if p.get("method") not in (None, row.method):
        problems.append(f"method {p.get('method')}")
    if p.get("rho") not in (None, rho):
        problems.append(f"ρ={p.get('rho')}")
    return ", ".join(problems)


def gather(table: Table, runs: str) -> list[dict]:
    """One dict per row: label, config, workdir and, per column, ours / paper / source."""
    from rhovid.eval import results as results_lib

    out = []
    for row in table.rows:
        entry = {
            "label": row.label,
            "method": row.method,
            "config": row.config,
            "workdir": row.workdir(runs),
            "note": row.note,
            "columns": {},
        }
        for column, paper in zip(table.columns, row.paper):
            eval_ = EVALS[column]
            workdir = os.path.join(row.workdir(runs), eval_.subdir)
            cell = {"paper": paper, "ours": None, "text": "missing", "workdir": workdir}
            if os.path.exists(os.path.join(workdir, results_lib.RESULTS_JSON)):
                record = results_lib.read_record(workdir)
                cell["text"], cell["ours"] = _cell(record, eval_)
                problem = _mismatch(record, row)
                if problem:
                    cell["text"] += " (!)"
                    cell["mismatch"] = problem
            elif not eval_.config:
                cell["text"] = "n/a"
            entry["columns"][column] = cell
        out.append(entry)
    return out


def render_table(table: Table, gathered: list[dict]) -> str:
    """Markdown: one line per row, our number and the paper's side by side for each column."""
    head = ["row", "config"] + [h for c in table.columns for h in (c, "paper")]
    lines = [f"### Table {table.key}: {table.title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in gathered:
        cells = [entry["label"], f"`{entry['config']}`"]
        for c in table.columns:
            cells += [entry["columns"][c]["text"], _paper_text(entry["columns"][c]["paper"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    notes = [f"{e['label']}: {e['note']}" for e in gathered if e["note"]]
    notes += [
        f"{e['label']} {c}: the result's run has {cell['mismatch']}"
        for e in gathered
        for c, cell in e["columns"].items()
        if cell.get("mismatch")
    ]
    if table.caption:
        notes.insert(0, table.caption)
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Listing and launching.


def render_list(table: Table) -> str:
    lines = [f"Table {table.key}: {table.title}", f"  columns: {', '.join(table.columns)}"]
    width = max(len(r.label) for r in table.rows)
    for r in table.rows:
        paper = " / ".join(_paper_text(p) for p in r.paper)
        note = f"  ({r.note})" if r.note else ""
        lines.append(f"  {r.label:<{width}}  {r.config}   paper {paper}{note}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The study rows in each pretraining config's docstring.

DOCSTRING_BEGIN = "Study rows (generated from rhovid/study.py by `python -m rhovid.study --docstrings`; do not edit):"
DOCSTRING_END = "End of study rows."


def _wrap(text: str, indent: str, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent)


def render_config_rows(method: str) -> str:
    """The docstring section of `CONFIG_FILES[method]`: every table row that uses the config, its
    command and the paper's numbers, between DOCSTRING_BEGIN and DOCSTRING_END."""
    lines = [DOCSTRING_BEGIN]
    lines += _wrap(
        "every row of the paper's tables that trains this config: its label, the paper's numbers in the "
        "columns its table's line names ('–' where the paper states none) and its command. '...' stands "
        "for `--config.data.data_dir=$TFDS --workdir=$RUN`; `python -m rhovid.study --table=KEY "
        "--runs=DIR --launch` prints whole lines, the evaluations included.",
        "",
    )
    for table in TABLES.values():
        rows = [r for r in table.rows if r.method == method]
        if not rows:
            continue
        lines.append("")
        name = f"Fig. {table.key[3:]}" if table.key.startswith("fig") else f"Table {table.key}"
        lines += _wrap(f"{name} (--table={table.key}): {table.title}. Paper: {' / '.join(table.columns)}.", "")
        if table.caption:
            lines += _wrap(table.caption, "  ")
        for r in rows:
            paper = " / ".join(_paper_text(p) for p in r.paper)
            lines.append(f"  {r.label}: {paper}" + (f" ({r.note})" if r.note else ""))
            lines.append(f"    python -m rhovid.main --config={r.config} ...")
    lines.append(DOCSTRING_END)
    return "\n".join(lines) + "\n"


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def docstring_section(text: str) -> str | None:
    """The study-rows section of a config file's text (markers included), or None if it has none."""
    begin, end = text.find(DOCSTRING_BEGIN), text.find(DOCSTRING_END)
    if begin < 0 or end < begin:
        return None
    return text[begin : end + len(DOCSTRING_END)] + "\n"


def write_docstrings(root: str = REPO_ROOT) -> list[str]:
    """Rewrites the study-rows section of each pretraining config under `root` in place (added
    before the docstring's closing quotes where it has none); returns the files changed."""
    changed = []
    for method, name in CONFIG_FILES.items():
        path = os.path.join(root, name)
        with open(path) as f:
            text = f.read()
        section = render_config_rows(method)
        old = docstring_section(text)
        if old is not None:
            new = text.replace(old, section, 1)
        else:
            close = text.index('"""', text.index('"""') + 3)
            new = text[:close] + "\n" + section + text[close:]
        if new != text:
            with open(path, "w") as f:
                f.write(new)
            changed.append(name)
    return changed


def commands(row: Row, columns: Sequence[str], runs: str, data_dir: str = "$TFDS") -> str:
    """The shell line that pretrains `row` and runs the evaluations of `columns` ('' if none)."""
    from rhovid.presets import build_config

    workdir = row.workdir(runs)
    py = "python -m rhovid.main"
    parts = [f"{py} --config={row.config} --config.data.data_dir={data_dir} --workdir={workdir}"]
    c = build_config(row.method, row.presets)
    for column in columns:
        eval_ = EVALS[column]
        if not eval_.config:
            continue
        frames = ""
        if eval_.same_frames and (c.data.num_frames, c.data.frame_stride) != (8, 8):
            frames = f" --config.data.num_frames={c.data.num_frames} --config.data.frame_stride={c.data.frame_stride}"
        parts.append(
            f"{py} --config={eval_.config} --config.pretrained={workdir} "
            f"--config.data.data_dir={data_dir}{frames} --workdir={os.path.join(workdir, eval_.subdir)}"
        )
    return " && ".join(parts) if len(parts) > 1 else ""


def launch_lines(tables: Sequence[Table], runs: str, data_dir: str = "$TFDS") -> list[str]:
    """One line per row (merged across tables) with at least one runnable result missing."""
    missing: dict[tuple[str, str], list[str]] = {}
    rows: dict[tuple[str, str], Row] = {}
    for table in tables:
        for entry, row in zip(gather(table, runs), table.rows):
            key = (row.method, row.presets)
            rows.setdefault(key, row)
            for column, cell in entry["columns"].items():
                if cell["text"] == "missing" and column not in missing.setdefault(key, []):
                    missing[key].append(column)
    lines = [commands(rows[k], cols, runs, data_dir) for k, cols in missing.items() if cols]
    return [line for line in lines if line]


def _select(spec: str | None) -> list[Table]:
    from rhovid.errors import UserError

    if spec in (None, "", "all"):
        return list(TABLES.values())
    keys = spec.split(",")
    unknown = [k for k in keys if k not in TABLES]
    if unknown:
        raise UserError(f"--table={spec}: no table {', '.join(unknown)}; choose from {', '.join(TABLES)} or all.")
    return [TABLES[k] for k in keys]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rhovid.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print every row's config string and paper number")
    parser.add_argument("--table", default=None, help="table key(s): 2,3,4,5,fig3,7,8,9,10,11,15,16 or all")
    parser.add_argument("--runs", default=None, help="root of the study's workdirs")
    parser.add_argument("--output", default=None, help="also write the gathered tables to OUTPUT.md / OUTPUT.json")
    parser.add_argument(
        "--launch",
        nargs="?",
        const="-",
        default=None,
        help="print the commands of rows not yet run (or write them to the file given)",
    )
    parser.add_argument("--data_dir", default="$TFDS", help="prepared datasets, as written into the commands")
    parser.add_argument(
        "--docstrings",
        action="store_true",
        help="rewrite the study-rows section of each pretraining config's docstring (configs/*.py)",
    )
    args = parser.parse_args(argv)
    from rhovid.errors import UserError

    if args.docstrings:
        changed = write_docstrings()
        print(f"Rewrote the study rows of {', '.join(changed)}." if changed else "Config docstrings up to date.")
        return 0
    try:
        tables = _select(args.table)
        if args.list:
            print("\n".join(render_list(t) for t in tables), end="")
            return 0
        if not args.runs:
            raise UserError("Pass --runs=DIR (the root of the study's workdirs), or --list.")
        if args.launch is not None:
            lines = launch_lines(tables, args.runs, args.data_dir)
            text = "".join(line + "\n" for line in lines)
            if args.launch == "-":
                print(text, end="")
            else:
                with open(args.launch, "w") as f:
                    f.write(text)
                print(
                    f"Wrote {len(lines)} commands to {args.launch}; as an array job: "
                    f'sbatch --array=1-{len(lines)} with  sed -n "${{SLURM_ARRAY_TASK_ID}}p" '
                    f"{args.launch} | bash",
                    file=sys.stderr,
                )
            return 0
        gathered = {t.key: gather(t, args.runs) for t in tables}
        markdown = "\n".join(render_table(t, gathered[t.key]) for t in tables)
        print(markdown, end="")
        if args.output:
            with open(args.output + ".md", "w") as f:
                f.write(markdown)
            with open(args.output + ".json", "w") as f:
                json.dump(gathered, f, indent=2, ensure_ascii=False)
                f.write("\n")
        return 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
