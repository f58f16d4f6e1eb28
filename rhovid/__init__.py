"""rhovid: self-supervised spatiotemporal representation learning in JAX (ρSimCLR, ρMoCo, ρBYOL, ρSwAV)."""

__version__ = "0.1.0"

import sys as _sys

if _sys.argv[:1] == ["-m"]:  # `python -m rhovid.<command>`: hide TensorFlow's native start-up lines
    from rhovid import cli as _cli

    _cli.quiet_tensorflow_import()
    if _sys.orig_argv[_sys.orig_argv.index("-m") + 1 :][:1] == ["rhovid.main"]:
        _cli.exit_cleanly_on_sigterm()  # from the first moment: the training loop takes over later
