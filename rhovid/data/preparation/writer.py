"""Write examples into a TFDS dataset directory, shard by shard, so that a re-run resumes.

Layout (readable with `tfds.builder_from_directory(dataset_dir(out, name))`, and with
`tfds.builder(name, data_dir=out)` for names TFDS has no code builder of):

    <out>/<name>/<VERSION>/
        dataset_info.json, features.json              written last, by tfds.folder_dataset
        <name>-<split>.tfrecord-<i>-of-<n>            the shards (TFDS's default file template)
        prepare_report.json                           written by rhovid.data.prepare
        _prepare/<shard file name>.done.json          one marker per finished shard

A shard is first written under `_prepare/` and renamed into place when complete; its marker is
written after the rename, so a shard with a marker is whole. The marker records a fingerprint of
what the shard was asked to hold (video ids, paths, labels, decode options) and what it holds
(ids and frame counts, skipped videos with reasons); a re-run skips a shard whose marker has the
same fingerprint and rewrites any other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging
from etils import epath
from tensorflow_datasets.core import example_serializer, naming

VERSION = "1.0.0"
FILE_FORMAT = "tfrecord"
_WORK_DIR = "_prepare"


def dataset_dir(out: str, name: str) -> epath.Path:
    """The TFDS dataset directory (what `builder_from_directory` takes) of `name` under `out`."""
    return epath.Path(out) / name / VERSION


def fingerprint(obj: Any) -> str:
    """sha256 of the canonical JSON of `obj`."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class ShardWriter:
    """Writes the shards of one TFDS dataset and, at the end, its metadata.

    Args:
      directory: the dataset directory (`dataset_dir(out, name)`).
      name: the TFDS dataset name.
      features: the dataset's `tfds.features.FeaturesDict` (rhovid.data.records.features()).
    """

    def __init__(self, directory: epath.Path, name: str, features: tfds.features.FeaturesDict):
        self.directory = epath.Path(directory)
        self.name = name
        self.features = features
        self._serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
        (self.directory / _WORK_DIR).mkdir(parents=True, exist_ok=True)

    def template(self, split: str | None) -> naming.ShardedFileTemplate:
        return naming.ShardedFileTemplate(
            data_dir=self.directory,
            dataset_name=self.name,
            split=split,
            filetype_suffix=FILE_FORMAT,
        )

    def shard_path(self, split: str, index: int, num_shards: int) -> epath.Path:
        return self.template(split).sharded_filepath(shard_index=index, num_shards=num_shards)

    def _marker_path(self, split: str, index: int, num_shards: int) -> epath.Path:
        return self.directory / _WORK_DIR / (self.shard_path(split, index, num_shards).name + ".done.json")

    def done_marker(self, split: str, index: int, num_shards: int, fp: str) -> dict | None:
        """The marker of a finished shard with fingerprint `fp`, or None if it must be (re)written."""
        marker_path = self._marker_path(split, index, num_shards)
        if not marker_path.exists() or not self.shard_path(split, index, num_shards).exists():
            return None
        try:
            marker = json.loads(marker_path.read_text())
        except (json.JSONDecodeError, OSError):
            return None
        return marker if marker.get("fingerprint") == fp else None

    def write_shard(
        self,
        split: str,
        index: int,
        num_shards: int,
        fp: str,
        examples: Sequence[dict[str, Any]],
        summary: dict[str, Any],
    ) -> dict:
        """Writes one shard atomically, then its marker; returns the marker.

        Args:
          split, index, num_shards: which shard.
          fp: fingerprint of what the shard was asked to hold.
          examples: feature dicts (records.features() keys), in order.
          summary: JSON-able record of the shard's videos (written, skipped, truncated).
        """
        final = self.shard_path(split, index, num_shards)
        tmp = self.directory / _WORK_DIR / (final.name + ".tmp")
        num_bytes = 0
        with tf.io.TFRecordWriter(str(tmp)) as w:
            for ex in examples:
                record = self._serializer.serialize_example(self.features.encode_example(ex))
                num_bytes += len(record)
                w.write(record)
        tf.io.gfile.rename(str(tmp), str(final), overwrite=True)
        marker = dict(summary, fingerprint=fp, num_examples=len(examples), num_bytes=num_bytes)
        marker_tmp = self.directory / _WORK_DIR / "marker.tmp"
        marker_tmp.write_text(json.dumps(marker))
        tf.io.gfile.rename(str(marker_tmp), str(self._marker_path(split, index, num_shards)), overwrite=True)
        return marker

    def finalize(self, shard_markers: dict[str, list[dict]], description: str, metadata: dict | None = None) -> None:
        """Removes stale shards and writes dataset_info.json / features.json for all splits.

        Args:
          shard_markers: split -> markers of its shards, in shard order.
          description: dataset_info description.
          metadata: extra JSON-able metadata stored in dataset_info (e.g. decode options).
        """
        expected = {
            self.shard_path(split, i, len(ms)).name for split, ms in shard_markers.items() for i in range(len(ms))
        }
        for f in self.directory.glob(f"{self.name}-*.{FILE_FORMAT}-*"):
            if f.name not in expected:
                logging.info("Removing stale shard %s", f)
                f.unlink()
        split_infos = [
            tfds.core.SplitInfo(
                name=split,
                shard_lengths=[m["num_examples"] for m in ms],
                num_bytes=sum(m["num_bytes"] for m in ms),
                filename_template=self.template(split),
            )
            for split, ms in shard_markers.items()
        ]
        first_nonempty = bool(split_infos) and split_infos[0].num_examples > 0
        tfds.folder_dataset.write_metadata(
            data_dir=self.directory,
            features=self.features,
            split_infos=split_infos,
            version=VERSION,
            filename_template=self.template(None),
            check_data=first_nonempty,
            description=description,
            metadata=tfds.core.MetadataDict(metadata or {}),
        )
