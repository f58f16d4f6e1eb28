"""Dataset builders: turn a dataset's own lists and files on disk into `DatasetPlan`s.

A builder reads the official annotation lists of a dataset (UCF101 train/test lists, HMDB51 split
files, Kinetics CSVs) or a folder layout, finds each listed video on disk, and returns one plan per
TFDS dataset to write: its name, its splits (video id, path, label) and its class names. Nothing is
downloaded and nothing is decoded here; `rhovid.data.prepare` decodes and writes a plan, and
`rhovid.data.check` probes the same plan, so both read the lists the same way.

Registry: `make_plans(dataset, source, ...)` with dataset one of `DATASETS`.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from collections.abc import Sequence

VIDEO_EXTENSIONS = tuple(".mp4 .avi .webm .mkv .ogv .ogg .mov .m4v .flv .mpg .mpeg .wmv .3gp .ts .m2ts".split())

# dataset flag value -> (module, keyword arguments of its `plans` function)
_REGISTRY = {
    "ucf101": ("ucf101", {}),
    "hmdb51": ("hmdb51", {}),
    "kinetics400": ("kinetics", {"num_classes": 400}),
    "kinetics600": ("kinetics", {"num_classes": 600}),
    "kinetics700": ("kinetics", {"num_classes": 700}),
    "folder": ("folder", {}),
    "pyslowfast": ("pyslowfast", {}),
    "ssv2": ("ssv2", {}),
    "charades": ("charades", {}),
}
DATASETS = tuple(_REGISTRY)


@dataclasses.dataclass(frozen=True)
class VideoItem:
    """One listed video.

    Attributes:
      video_id: stable id (file stem; YouTube id + time span for Kinetics; relative path for folders).
      path: the file on disk, or None when the list names a file that is not there.
      label: class index, -1 when the dataset or split has no labels.
      expected: what the list asked for (for reports about missing files).
    """

    video_id: str
    path: str | None
    label: int = -1
    expected: str = ""
    labels: tuple[int, ...] = ()  # multi-label datasets (Charades): every class of the video


@dataclasses.dataclass
class DatasetPlan:
    """One TFDS dataset to write.

    Attributes:
      name: TFDS dataset name, e.g. `ucf101_split1`.
      splits: split name -> listed videos, in list order.
      class_names: label names (index = label), or None for unlabelled data.
      description: one paragraph for dataset_info.
      unlisted: video files found under the source that no list names (not prepared).
      notes: anything the builder had to work around, for the report.
    """

    name: str
    splits: dict[str, list[VideoItem]]
    class_names: list[str] | None
    description: str = ""
    unlisted: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    multi_label: bool = False  # items carry `labels` (a `labels` feature) instead of one `label`


class VideoIndex:
    """Every video file under a root, looked up by file stem (exactly, then ignoring case)."""

    def __init__(self, root: str):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"--source={root!r} is not a directory.")
        self.root = root
        self.by_stem: dict[str, list[str]] = {}
        # Symlinked folders are followed once, by real path: a loop (`again -> .`) or a link to a
        # folder of the tree is not entered (its files are listed under their real folder), a link
        # out of the tree is entered once. Folders named like videos (`clip.mp4/`) are indexed after
        # the files, so that `prepare` reports them (reason not_a_file) instead of ignoring them.
        self.repeated_dirs: list[str] = []  # symlinked folders not entered
        in_tree = {os.path.realpath(d) for d, _, _ in os.walk(root)}  # real folders (links not followed)
        seen, not_files = set(in_tree), []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            kept = []
            for d in sorted(dirnames):
                full, real = os.path.join(dirpath, d), os.path.realpath(os.path.join(dirpath, d))
                if os.path.islink(full) or real not in in_tree:  # reached through a link
                    if real in seen:
                        self.repeated_dirs.append(full)
                        continue
                    seen.add(real)
                kept.append(d)
                if os.path.splitext(d)[1].lower() in VIDEO_EXTENSIONS:
                    not_files.append(full)
            dirnames[:] = kept
            for f in sorted(filenames):
                stem, ext = os.path.splitext(f)
                if ext.lower() in VIDEO_EXTENSIONS:
                    self.by_stem.setdefault(stem, []).append(os.path.join(dirpath, f))
        for full in not_files:
            self.by_stem.setdefault(os.path.splitext(os.path.basename(full))[0], []).append(full)
        self._lower: dict[str, list[str]] | None = None
        self.used: set[str] = set()
        self.case_fixes = 0

    def find(self, stem: str, prefer_dir: str | None = None) -> str | None:
        """The file named `stem` (any video extension), preferring one inside `prefer_dir`."""
        paths = self.by_stem.get(stem)
        if not paths:
            if self._lower is None:
                self._lower = {}
                for s, p in self.by_stem.items():
                    self._lower.setdefault(s.lower(), []).extend(p)
            paths = self._lower.get(stem.lower())
            if paths:
                self.case_fixes += 1
        if not paths:
            return None
        if prefer_dir and len(paths) > 1:
            inside = [p for p in paths if os.path.basename(os.path.dirname(p)) == prefer_dir]
            paths = inside or paths
        self.used.add(paths[0])
        return paths[0]

    def unlisted(self) -> list[str]:
        """Indexed files that no `find` returned."""
        return sorted(p for ps in self.by_stem.values() for p in ps if p not in self.used)


def read_lines(path: str) -> list[str]:
    """Non-empty, stripped lines of a text list (tolerates Windows line ends and a BOM)."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        return [line.strip() for line in f if line.strip()]


def dataset_name(text: str) -> str:
    """A valid TFDS dataset name from free text: lower case letters, digits and underscores."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = "videos_" + name
    return name


def make_plans(
    dataset: str,
    source: str,
    *,
    splits: str | None = None,
    annotations: str | None = None,
    name: str | None = None,
    folds: Sequence[int] = (1, 2, 3),
) -> list[DatasetPlan]:
    """Plans of `dataset` from local files.

    Args:
      dataset: one of DATASETS.
      source: the folder that holds the videos.
      splits: the folder of official split lists (ucf101: ucfTrainTestlist; hmdb51:
        testTrainMulti_7030_splits).
      annotations: the folder of official CSVs (kinetics*: train.csv, validate.csv, test.csv).
      name: TFDS name to use instead of the default (fold suffixes are still added).
      folds: which official folds to plan (ucf101, hmdb51).

    Returns:
      One plan per TFDS dataset (one per fold for ucf101 and hmdb51, else one).

    Raises:
      ValueError: unknown dataset, or a flag it needs is missing.
      FileNotFoundError: a folder or list file that does not exist.
    """
    if dataset not in _REGISTRY:
        raise ValueError(f"Unknown --dataset={dataset!r}; choose one of {', '.join(DATASETS)}.")
    module_name, kwargs = _REGISTRY[dataset]
    module = importlib.import_module(f"{__name__}.{module_name}")
    return module.plans(source, splits=splits, annotations=annotations, name=name, folds=folds, **kwargs)
