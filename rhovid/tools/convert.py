r"""Import PySlowFast / pytorchvideo Slow ResNet checkpoints into rhovid, and export rhovid backbones.

    pip install -e '.[torch]'
    python -m rhovid.tools.convert --from=pyslowfast \
        --checkpoint=BYOL_SlowR50_8x8_T2_epoch_00200.pyth --out=/runs/byol_official
    python -m rhovid.tools.convert --from=pytorchvideo --checkpoint=SLOW_8x8_R50.pyth \
        --out=/runs/slow_r50_supervised
    python -m rhovid.main --config=configs/eval/linear.py --config.pretrained=/runs/byol_official ...
    python -m rhovid.tools.convert --from=rhovid --checkpoint=/runs/mine --to=pytorchvideo \
        --out=slow_r50.pt

An import writes a rhovid checkpoint directory (`rhovid.checkpoint.write_imported`: config.json +
an orbax `model` item) that every evaluation and fine-tuning config accepts through
`--config.pretrained`, plus `convert_report.json`: the source key of every rhovid variable, and
every source tensor that was not used (a MoCo/BYOL momentum encoder `backbone_hist.*`, the MoCo
queue, ...). A rhovid variable without a source tensor fails the import, by name; nothing is left at
its initial value. The projection / prediction heads and SwAV's prototypes come along when the
checkpoint has them (`--backbone_only` skips them), as does a classifier (`params['classifier']`).

An export writes the backbone as a pytorchvideo state dict (tensors only, `torch.save`), loadable
into `pytorchvideo.models.hub.slow_r50()`; `blocks.5.proj` (the classifier) is written only if
the workdir holds a classifier, so load a self-supervised backbone with `strict=False`.

Checkpoints from the internet are untrusted: `.pyth` / `.pt` files are pickles, and unpickling can
run arbitrary code. They are read with `torch.load(..., weights_only=True)` only, which refuses
anything but tensors and plain containers. torch is imported only here, and only when a file is
read or written: rhovid itself never imports it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags, logging
from flax import traverse_util

from rhovid import checkpoint, cli, presets
from rhovid import config as config_lib
from rhovid.errors import UserError
from rhovid.models.network import build_network
from rhovid.models.resnet3d import build_backbone
from rhovid.tools import torch_layout
from rhovid.tools.torch_layout import ConversionError, SourceSpec

REPORT_FILE = "convert_report.json"
SUPERVISED, UNKNOWN_METHOD = "supervised", "unknown"  # config.method of imports without a ρ method
INSTALL_HINT = "pip install -e '.[torch]'"


class UnsafeCheckpointError(ValueError):
    """A checkpoint pickle that holds more than tensors and plain containers (refused)."""


# ---------------------------------------------------------------------------------------------
# Files (the only code that touches torch).


def require_torch() -> Any:
    """The torch module, or an ImportError that says how to install it."""
    try:
        import torch  # optional dependency, imported on use
    except ImportError as e:
        raise ImportError(
            f"Converting PyTorch checkpoints needs PyTorch: {INSTALL_HINT} "
            f"(torch is an optional extra of rhovid). ({e})"
        ) from e
    return torch


def load_torch_checkpoint(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """Reads a `.pyth` / `.pt` file safely (`weights_only=True`): its state dict as NumPy arrays.

    Args:
      path: a PySlowFast checkpoint ({'model_state': ..., 'epoch', 'cfg', ...}), a pytorchvideo
        one ({'model_state': ...}), a {'state_dict': ...} wrapper, or a bare state dict.

    Returns:
      (state, extras): key -> float32/int64 array, and {'epoch', 'cfg' (PySlowFast's YAML text),
      'entries' (the file's top-level keys)}.

    Raises:
      UnsafeCheckpointError: the weights-only unpickler rejected the file (it references code, a
        class or a function, or is corrupt); nothing in it is run.
      ValueError: the file is truncated, corrupt, or holds no state dict.
    """
    torch = require_torch()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint file {path!r}.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        why = next(
            (line for line in lines if "GLOBAL" in line or line.startswith("Unsupported")),
            lines[-1] if lines else type(e).__name__,
        )
        raise UnsafeCheckpointError(
            f"Refused to load {path!r}: the weights-only unpickler rejected it ({why}). It holds "
            "Python objects other than tensors and plain containers, or it is corrupt. Checkpoint "
            "files are pickles that can run code when loaded, so rhovid reads them only with "
            "torch.load(weights_only=True). If you trust the file, re-save just its tensors in "
            "PyTorch: torch.save(model_state_dict, 'clean.pt')."
        ) from None
    except (RuntimeError, EOFError, KeyError, IndexError, ValueError, OSError) as e:
        raise ValueError(
            f"Could not read {path!r} as a PyTorch checkpoint ({type(e).__name__}: "
            f"{str(e)[:200]}); the file is truncated or corrupt (an interrupted download?). "
            "Download it again and compare its size or checksum."
        ) from None
    entries = sorted(obj) if isinstance(obj, dict) else []
    state = None
    for key in ("model_state", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            state = obj[key]
            break
    if state is None and isinstance(obj, dict) and obj and all(torch.is_tensor(v) for v in obj.values()):
        state, entries = obj, []
    if state is None:
        raise ValueError(
            f"{path!r} holds no state dict: no 'model_state' or 'state_dict' entry, and "
            f"not a dict of tensors (top-level entries: {entries[:10]})."
        )
    arrays = {}
    for key, value in state.items():
        if not torch.is_tensor(value):
            logging.warning("Skipping non-tensor entry %r of %s.", key, path)
            continue
        value = value.detach().cpu()
        arrays[str(key)] = (value.float() if value.is_floating_point() else value).numpy()
    extras = {"entries": entries}
    if isinstance(obj, dict):
        if isinstance(obj.get("epoch"), (int, float)):
            extras["epoch"] = obj["epoch"]
        if isinstance(obj.get("cfg"), str):
            extras["cfg"] = obj["cfg"]
    return arrays, extras


def save_torch_state_dict(state: Mapping[str, np.ndarray], path: str) -> None:
    """Writes a dict of tensors with torch.save (atomically: temp file, then rename)."""
    torch = require_torch()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    tmp = path + ".tmp"
    torch.save(tensors, tmp)
    os.replace(tmp, path)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Import.


@dataclasses.dataclass
class Imported:
    """The outcome of converting a state dict: the rhovid config, variables and provenance."""

    config: ml_collections.ConfigDict
    spec: SourceSpec
    result: torch_layout.ImportResult


def _slowfast_cfg(text: str | None) -> dict:
    """PySlowFast's config (the YAML text saved in its checkpoints), or {}."""
    if not text:
        return {}
    try:
        import yaml  # a dependency of ml_collections

        cfg = yaml.safe_load(text)
    except Exception as e:  # provenance only: never fail the import on it
        logging.warning("Could not parse the checkpoint's PySlowFast config (%s); ignoring it.", e)
        return {}
    return cfg if isinstance(cfg, dict) else {}


def resolve_method(
    method: str | None, spec: SourceSpec, state: Mapping[str, Any], cfg: Mapping[str, Any], with_heads: bool = True
) -> str:
    """The ρ method of a checkpoint: `method`, else PySlowFast's CONTRASTIVE.TYPE, else its heads.

    Returns "" when the method is unknown and no heads are imported (a supervised checkpoint, or
    `with_heads=False`).
    """
    if method:
        if method not in config_lib.METHODS:
            raise UserError(f"--method={method!r} is not one of {config_lib.METHODS}.")
        return method
    kind = str((cfg.get("CONTRASTIVE") or {}).get("TYPE", "")).lower()
    if kind in config_lib.METHODS:
        return kind
    if spec.projector is None or not with_heads:
        return ""
    if spec.num_prototypes:
        return "swav"
    if spec.predictor is not None:
        return "byol"
    if any(k.startswith("backbone_hist.") or k == "queue_x" for k in state):
        return "moco"
    raise ConversionError(
        "The checkpoint has a projection MLP but no predictor, prototypes or "
        "momentum encoder, so its method is SimCLR or MoCo: pass "
        "--method=simclr or --method=moco (or --backbone_only)."
    )


def build_config(spec: SourceSpec, method: str, cfg: Mapping[str, Any], with_heads: bool) -> ml_collections.ConfigDict:
    """The rhovid config of an imported checkpoint: the method's defaults, the source's shapes."""
    c = config_lib.base_config(method or "byol")
    # No ρ method: a classifier and no projection head is a supervised checkpoint; a bare backbone
    # (or --backbone_only without PySlowFast's CONTRASTIVE.TYPE) says nothing about its training.
    c.method = method or (SUPERVISED if spec.num_classes and spec.projector is None else UNKNOWN_METHOD)
    c.model.depth, c.model.width = spec.depth, spec.width
    if with_heads and spec.projector is not None:
        p = spec.projector
        if len(set(p.hidden_dims)) > 1:
            raise ConversionError(
                f"The projection MLP has hidden widths {p.hidden_dims}; rhovid's "
                "projector uses one width for every hidden layer."
            )
        c.model.mlp_layers = len(p.hidden_dims) + 1
        c.model.mlp_dim = p.hidden_dims[0] if p.hidden_dims else p.out_dim
        c.model.mlp_bn, c.model.embed_dim = p.use_bn, p.out_dim
        q = spec.predictor
        if q is not None and method == "byol":
            if len(q.hidden_dims) != 1 or not q.use_bn or q.out_dim != p.out_dim:
                raise ConversionError(
                    f"The predictor has hidden widths {q.hidden_dims}, BN={q.use_bn}, output "
                    f"{q.out_dim}; rhovid's BYOL predictor is Linear-BN-ReLU-Linear back to the "
                    f"embedding size ({p.out_dim}). Use --backbone_only to import the backbone."
                )
            c.model.predictor_dim = q.hidden_dims[0]
        if spec.num_prototypes:
            c.model.num_prototypes = spec.num_prototypes
    data, solver = cfg.get("DATA") or {}, cfg.get("SOLVER") or {}
    for src, dst in (
        ("NUM_FRAMES", "num_frames"),
        ("SAMPLING_RATE", "frame_stride"),
        ("TRAIN_CROP_SIZE", "crop_size"),
        ("TRAIN_CROP_NUM_TEMPORAL", "rho"),
    ):
        if isinstance(data.get(src), int) and data[src] > 0:
            c.data[dst] = data[src]
    if isinstance(solver.get("MAX_EPOCH"), (int, float)):
        c.num_epochs = float(solver["MAX_EPOCH"])
    return presets.apply(c, None)


_SHAPE_CACHE: dict[str, dict[str, tuple[int, ...]]] = {}


def expected_shapes(
    config: ml_collections.ConfigDict, with_heads: bool, num_classes: int = 0
) -> dict[str, tuple[int, ...]]:
    """Flat {'params/backbone/stem_conv/kernel': shape, ...} of the network `config` builds.

    The network comes from rhovid's own factories (`build_network` / `build_backbone`), so the
    import fills exactly what training and evaluation will later build from the saved config.
    """
    key = json.dumps([config.method, config.model.to_dict(), with_heads, num_classes], sort_keys=True, default=str)
    if key not in _SHAPE_CACHE:
        x = jnp.zeros((1, 1, 32, 32, 3), jnp.float32)  # parameter shapes do not depend on it
        if with_heads:
            net = build_network(config)
            tree = jax.eval_shape(lambda k: net.init(k, x, train=False), jax.random.key(0))
        else:
            net = build_backbone(config.model)
            tree = jax.eval_shape(lambda k: net.init(k, x, train=False), jax.random.key(0))
            tree = {c: {"backbone": v} for c, v in tree.items()}
        flat = {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(tree, sep="/").items()}
        if num_classes:
            features = build_backbone(config.model).num_features
            flat["params/classifier/kernel"] = (features, num_classes)
            flat["params/classifier/bias"] = (num_classes,)
        _SHAPE_CACHE[key] = flat
    return dict(_SHAPE_CACHE[key])


def convert_state(
    state: Mapping[str, np.ndarray],
    *,
    source: str | None = None,
    method: str | None = None,
    backbone_only: bool = False,
    cfg_text: str | None = None,
) -> Imported:
    """Converts a state dict of NumPy arrays (no torch needed) to a rhovid config and variables.

    Args:
      state: source key -> array.
      source: the layout the user expects ("pyslowfast" / "pytorchvideo"); None: detect.
      method: the ρ method; None: from PySlowFast's saved config or the heads present.
      backbone_only: import the backbone alone (the heads are then listed as unused).
      cfg_text: PySlowFast's saved config (YAML), for the method and data settings.

    Raises:
      ConversionError: a rhovid variable without (or with a differently shaped) source tensor,
        or a checkpoint of another architecture or layout.
    """
    state = torch_layout.strip_module_prefix(state)
    spec = torch_layout.inspect(state)
    if source and source != spec.layout:
        found = spec.prefix + torch_layout.STEM_KEYS[spec.layout]
        raise ConversionError(
            f"--from={source} but the checkpoint is in the {spec.layout} layout "
            f"(it has {found!r}); use --from={spec.layout}."
        )
    cfg = _slowfast_cfg(cfg_text)
    with_heads = not backbone_only and spec.projector is not None
    resolved = resolve_method(method, spec, state, cfg, with_heads)
    if backbone_only:
        spec = dataclasses.replace(spec, num_classes=0)
    config = build_config(spec, resolved, cfg, with_heads)
    expected = expected_shapes(config, with_heads, spec.num_classes)
    result = torch_layout.import_variables(state, spec, expected)
    return Imported(config=config, spec=spec, result=result)


def import_checkpoint(
    path: str,
    out: str,
    *,
    source: str | None = None,
    method: str | None = None,
    backbone_only: bool = False,
    report_path: str | None = None,
) -> dict:
    """Converts a PyTorch checkpoint file into a rhovid checkpoint directory `out`.

    Returns:
      the report written to `report_path` (default `out/convert_report.json`).
    """
    if os.path.isdir(os.path.join(out, checkpoint.CHECKPOINT_DIR)) and os.listdir(
        os.path.join(out, checkpoint.CHECKPOINT_DIR)
    ):
        raise FileExistsError(f"--out={out!r} already holds a checkpoint; choose a new directory.")
    state, extras = load_torch_checkpoint(path)
    imported = convert_state(
        state, source=source, method=method, backbone_only=backbone_only, cfg_text=extras.get("cfg")
    )
    v = imported.result.variables
    checkpoint.write_imported(out, imported.config, v["params"], v.get("batch_stats", {}))
    spec = imported.spec
    report = {
        "direction": "import",
        "source": os.path.abspath(path),
        "source_sha256": _sha256(path),
        "layout": spec.layout,
        "prefix": spec.prefix,
        "method": imported.config.method,
        "depth": spec.depth,
        "width": spec.width,
        "heads": sorted(k for k in v["params"] if k != "backbone"),
        "epoch": extras.get("epoch"),
        "checkpoint_entries": extras["entries"],
        "num_mapped": len(imported.result.mapping),
        "mapping": imported.result.mapping,
        "unused": imported.result.unused,
        "ignored": imported.result.ignored,
        "out": os.path.abspath(out),
    }
    _write_json(report, report_path or os.path.join(out, REPORT_FILE))
    return report


# ---------------------------------------------------------------------------------------------
# Export.


def export_checkpoint(
    workdir: str, out: str, *, to: str = "pytorchvideo", step: int | None = None, report_path: str | None = None
) -> dict:
    """Writes the backbone of a rhovid workdir (or imported dir) as a PyTorch state dict file.

    Returns:
      the report written to `report_path` (default `out + '.json'`).
    """
    pre = checkpoint.load_pretrained(workdir, step=step)
    params = {"backbone": pre.params}
    if "classifier" in pre.heads:
        params["classifier"] = pre.heads["classifier"]
    variables = {"params": params, "batch_stats": {"backbone": pre.batch_stats}}
    state = torch_layout.export_state_dict(variables, to)
    depth = int(pre.config.get("model", {}).get("depth", 0))
    if to == "pytorchvideo" and depth not in torch_layout.PYTORCHVIDEO_DEPTHS:
        logging.warning(
            "Depth %d: pytorchvideo's create_resnet builds depths %s only.", depth, torch_layout.PYTORCHVIDEO_DEPTHS
        )
    save_torch_state_dict(state, out)
    report = {
        "direction": "export",
        "source": os.path.abspath(workdir),
        "step": pre.step,
        "layout": to,
        "out": os.path.abspath(out),
        "num_tensors": len(state),
        "keys": list(state),
        "classifier": "classifier" in params,
        "not_exported": sorted(k for k in pre.heads if k != "classifier"),
    }
    _write_json(report, report_path or out + ".json")
    return report


def _write_json(data: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=str)


def summarize(keys: list[str], limit: int = 15) -> list[str]:
    """Lines listing `keys`; runs of more than 3 keys sharing a first name component are grouped."""
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(k.split(".")[0], []).append(k)
    lines = []
    for head, members in groups.items():
        lines.extend([f"{head}.* ({len(members)} tensors)"] if len(members) > 3 else members)
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines


# ---------------------------------------------------------------------------------------------
# Command line. Flags are defined only when this module runs as a program (or on a private
# FlagValues), so that importing it never collides with another module's flags.


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command's flags (on a private FlagValues in tests)."""
    fv = dict(flag_values=flag_values)
    flags.DEFINE_enum(
        "from",
        None,
        ["pyslowfast", "pytorchvideo", "rhovid"],
        "Source format: a PySlowFast .pyth, a pytorchvideo state dict, or a rhovid "
        "workdir / imported directory (export).",
        **fv,
    )
    flags.DEFINE_string("checkpoint", None, "The source file or rhovid directory.", **fv)
    flags.DEFINE_string("out", None, "Import: a new rhovid checkpoint directory. Export: a file.", **fv)
    flags.DEFINE_enum("to", "pytorchvideo", list(torch_layout.LAYOUTS), "Export layout.", **fv)
    flags.DEFINE_enum(
        "method",
        None,
        list(config_lib.METHODS),
        "The checkpoint's method (default: from its saved config or its heads).",
        **fv,
    )
    flags.DEFINE_integer("step", 0, "Export: the rhovid checkpoint step (0: the latest).", **fv)
    flags.DEFINE_bool("backbone_only", False, "Import the backbone alone, not its heads.", **fv)
    flags.DEFINE_string("report", None, "Where to write the JSON report.", **fv)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from rhovid.writers import quiet_libraries  # entry point only

    quiet_libraries()
    run(flags.FLAGS)


def run(f: flags.FlagValues) -> None:
    """Runs the conversion the parsed flags `f` describe; exits with a one-line error on failure."""
    for name in ("from", "checkpoint", "out"):
        if not f[name].value:
            raise app.UsageError(f"--{name} is required.")
    try:
        if f["from"].value == "rhovid":
            r = export_checkpoint(f.checkpoint, f.out, to=f.to, step=f.step or None, report_path=f.report)
            print(
                f"Wrote {r['num_tensors']} tensors ({r['layout']} layout) to {r['out']}"
                + ("" if r["classifier"] else "; no classifier (load with strict=False)")
                + (f"; not exported: {', '.join(r['not_exported'])}" if r["not_exported"] else "")
            )
            return
        r = import_checkpoint(
            f.checkpoint,
            f.out,
            source=f["from"].value,
            method=f.method,
            backbone_only=f.backbone_only,
            report_path=f.report,
        )
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as e:
        raise UserError(str(e)) from e  # one line and exit status 2 (rhovid.cli)
    print(
        f"Imported a Slow R-{r['depth']} (width {r['width']}, method {r['method'] or 'unknown'}, "
        f"heads: {', '.join(r['heads']) or 'none'}) from the {r['layout']} layout: "
        f"{r['num_mapped']} rhovid variables into {r['out']}; {len(r['ignored'])} "
        "num_batches_tracked counters ignored."
    )
    if r["unused"]:
        print(f"{len(r['unused'])} source tensors not used (all listed in the report):")
        for line in summarize(r["unused"]):
            print("  " + line)
    else:
        print("Every source tensor was used.")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
