"""Evaluation configs: linear probe, fine-tuning, kNN (installed as `rhovid.configs.eval`)."""
