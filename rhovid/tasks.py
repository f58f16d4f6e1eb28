"""The tasks `rhovid.main` runs, by `config.task`: each is a `run(config, workdir)` function.

    pretrain   rhovid.pretrain        a ρ objective on the Slow network
    demo       rhovid.demo            pretraining on the embedded dataset, then probes vs random init
    linear     rhovid.eval.linear     the linear probe of a frozen backbone (or its fast path)
    finetune   rhovid.eval.finetune   fine-tuning on UCF101 / HMDB51
    knn        rhovid.eval.knn        weighted kNN on frozen features

Each task builds its own program and hands the training to `rhovid.loop`; the registry maps names
to modules, imported only when their task runs (an evaluation never imports the pretraining code,
and nothing imports TensorFlow before it is needed). A config names its task; a new task is one
module with a `run` function and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from rhovid.errors import UserError

TASKS: dict[str, str] = {
    "pretrain": "rhovid.pretrain",
    "demo": "rhovid.demo",
    "linear": "rhovid.eval.linear",
    "finetune": "rhovid.eval.finetune",
    "knn": "rhovid.eval.knn",
}


def get(name: str) -> Callable[[Any, str], Any]:
    """The `run(config, workdir)` function of task `name`."""
    if name not in TASKS:
        raise UserError(f"config.task={name!r} is not a task; use one of {', '.join(TASKS)}.")
    return importlib.import_module(TASKS[name]).run
