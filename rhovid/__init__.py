"""rhovid: self-supervised spatiotemporal representation learning in JAX (ρSimCLR, ρMoCo, ρBYOL, ρSwAV)."""

__version__ = "0.1.0"

import sys as _sys

if _sys.argv[:1] == ["-m"]:  # `python -m rhovid.<command>`: hide TensorFlow's native start-up lines
    from rhovid import cli as _cli

    _cli.quiet_tensorflow_import()
