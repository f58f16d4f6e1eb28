"""The experiment configs, installed as the package `rhovid.configs` (see rhovid.cli)."""
