"""Videos -> TFDS datasets of JPEG frames (offline, once per dataset).

`rhovid.data.prepare` (the command) plans a dataset with a builder (`builders/`: Kinetics, UCF101,
HMDB51, a folder per class, the generated demo), decodes every video in crash-isolated worker
processes (`workers`, `decode`), and writes TFRecord shards with a TFDS dataset_info (`writer`), or
runs the same on Apache Beam (`beam_builder`). `rhovid.data.check` decodes a source without
writing anything. Nothing here is imported while training.
"""
