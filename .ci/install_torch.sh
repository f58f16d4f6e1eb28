#!/usr/bin/env bash
# Installs what the PyTorch interop tests (tests/test_convert.py) need into the active Python
# environment, the lightest way for a CPU-only machine (about 1 min 10 s, 1 GB):
#   - torch 2.13.0, the CPU wheel (from the package index pip is configured with; the
#     `.[torch]` extra alone would pick a larger CUDA build);
#   - pytorchvideo 0.1.5 without its dependencies: only `pytorchvideo.models` is used, which
#     needs fvcore and iopath (installed here; parameterized only satisfies its metadata), and
#     torchvision only for the detection head's RoIAlign (the tests import pytorchvideo without
#     torchvision, which has no build matching this torch wheel; see tests/test_convert.py).
# Run it after `pip install -e '.[test]'` (pytorchvideo also lists av, installed by rhovid).
# Without these packages the torch tests skip and the rest of the suite is unaffected.
set -euo pipefail
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet --no-deps "pytorchvideo==0.1.5"
python -m pip install --quiet "fvcore==0.1.5.post20221221" "iopath==0.1.10" "parameterized"
python -c "import torch, fvcore, iopath, pytorchvideo; print('torch', torch.__version__, 'for the interop tests')"
