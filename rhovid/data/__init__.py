"""Data, in two halves that meet only at the record format (`records`) and the registry (`registry`).

    preparation/   videos -> TFDS records, offline: builders, decoding workers, shard writer, Beam
    reading/       TFDS records -> batches, online: per-host slices, sampling, augmentation, streams

The commands: `python -m rhovid.data.prepare` (and `.check`, to test-decode a source first) for
the first half, `python -m rhovid.data.show` to see the clips the second half makes.
"""
