"""Parameter names and tensor layouts of PyTorch Slow ResNet checkpoints, and rhovid's counterparts.

Two PyTorch codebases hold the paper's network, under different names (B = a residual block
`res{s}_{i}`: PySlowFast `s{s}.pathway0_res{i}`, pytorchvideo `blocks.{s-1}.res_blocks.{i}`):

    rhovid (flax)                    PySlowFast (slowfast/models)          pytorchvideo (create_resnet)
    stem_conv/kernel                 s1.pathway0_stem.conv.weight          blocks.0.conv.weight
    stem_bn/{scale,bias,mean,var}    s1.pathway0_stem.bn.{weight, bias,    blocks.0.norm.{...}
                                       running_mean, running_var}
    B/conv_a, B/bn_a (b, c alike)    B.branch2.a, B.branch2.a_bn           B.branch2.conv_a, B.branch2.norm_a
    B/shortcut_conv, B/shortcut_bn   B.branch1, B.branch1_bn               B.branch1_conv, B.branch1_norm
    projector/dense_i, bn_i          head.projection.projection.{k}        -
    predictor/dense_i, bn_i          head.predictors.0.projection.{k}      -
    prototypes/kernel                swav_prototypes.weight                -
    classifier/{kernel,bias}         head.projection.{weight,bias}         blocks.5.proj.{weight,bias}

PySlowFast's `ContrastiveModel` keeps the online network under `backbone.` and, for MoCo and BYOL,
the momentum encoder under `backbone_hist.`; checkpoints re-saved for evaluation drop the
`backbone.` prefix (`CHECKPOINT_CLEAR_NAME_PATTERN`). Both layouts are read. Its projection MLP
(`MLPHead`) is an `nn.Sequential` of Linear [, BN], ReLU, ..., Linear, so rhovid's `dense_i` sits at
index 3i with BN (its `bn_i` at 3i + 1) and 2i without. A single Linear under `head.projection` is
a classifier (supervised or linear-probe checkpoints), not a projection.

Tensors change layout on the way: a convolution [C_out, C_in, kt, kh, kw] becomes
[kt, kh, kw, C_in, C_out], a linear [out, in] becomes [in, out]; SwAV's prototypes [K, d] keep
theirs. BN `num_batches_tracked` counters have no rhovid counterpart and are ignored.

The conversion is driven by the rhovid model itself: every leaf of the variables that
`rhovid.models` builds for the detected architecture (the caller passes their shapes) is looked up
in the source, so a parameter that has no source tensor (or one of another shape) fails the
conversion by name, and whatever the source holds beyond them is reported as unused. This module
never imports torch: it maps dicts of NumPy arrays; `rhovid.tools.convert` builds the
model, reads and writes the files.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

import numpy as np
from flax import traverse_util

from rhovid.models.resnet3d import STAGE_DEPTHS

LAYOUTS = ("pyslowfast", "pytorchvideo")
IGNORED_SUFFIX = ".num_batches_tracked"
# Depths pytorchvideo's create_resnet can build (bottleneck blocks only).
PYTORCHVIDEO_DEPTHS = (50, 101)

_BN_LEAVES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
_STEM = {
    "pyslowfast": {"stem_conv": "s1.pathway0_stem.conv", "stem_bn": "s1.pathway0_stem.bn"},
    "pytorchvideo": {"stem_conv": "blocks.0.conv", "stem_bn": "blocks.0.norm"},
}
_BLOCK = {
    "pyslowfast": {
        "conv_a": "branch2.a",
        "bn_a": "branch2.a_bn",
        "conv_b": "branch2.b",
        "bn_b": "branch2.b_bn",
        "conv_c": "branch2.c",
        "bn_c": "branch2.c_bn",
        "shortcut_conv": "branch1",
        "shortcut_bn": "branch1_bn",
    },
    "pytorchvideo": {
        "conv_a": "branch2.conv_a",
        "bn_a": "branch2.norm_a",
        "conv_b": "branch2.conv_b",
        "bn_b": "branch2.norm_b",
        "conv_c": "branch2.conv_c",
        "bn_c": "branch2.norm_c",
        "shortcut_conv": "branch1_conv",
        "shortcut_bn": "branch1_norm",
    },
}
_CLASSIFIER = {"pyslowfast": "head.projection", "pytorchvideo": "blocks.5.proj"}
_PROJECTOR = "head.projection.projection"
_PREDICTOR = "head.predictors.0.projection"
_PROTOTYPES = "swav_prototypes.weight"  # an attribute of ContrastiveModel: never under `backbone.`
STEM_KEYS = {"pyslowfast": "s1.pathway0_stem.conv.weight", "pytorchvideo": "blocks.0.conv.weight"}


class ConversionError(ValueError):
    """A checkpoint that does not fit the rhovid model; the message names the tensor and the fix."""


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """A projection or prediction MLP as found in a checkpoint (rhovid's `MLP` fields)."""

    hidden_dims: tuple[int, ...]
    out_dim: int
    use_bn: bool


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """What a state dict holds: its layout and the architecture of each part.

    Attributes:
      layout: "pyslowfast" or "pytorchvideo".
      prefix: "backbone." for PySlowFast's ContrastiveModel, else "".
      depth, width: the backbone (rhovid `model.depth`, `model.width`).
      projector, predictor: the contrastive heads, or None.
      num_prototypes: SwAV's prototype count (0: none).
      num_classes: the classifier's outputs (0: none).
    """

    layout: str
    prefix: str
    depth: int
    width: int
    projector: MLPSpec | None = None
    predictor: MLPSpec | None = None
    num_prototypes: int = 0
    num_classes: int = 0


@dataclasses.dataclass
class ImportResult:
    """Variables in rhovid's layout, and where each came from.

    Attributes:
      variables: {'params': {...}, 'batch_stats': {...}} with the top-level parts ('backbone',
        'projector', 'predictor', 'prototypes', 'classifier') that the source holds.
      mapping: rhovid path ('params/backbone/stem_conv/kernel') -> source key.
      unused: source keys that no rhovid variable takes (sorted).
      ignored: `num_batches_tracked` keys (no rhovid counterpart).
    """

    variables: dict
    mapping: dict[str, str]
    unused: list[str]
    ignored: list[str]


# ---------------------------------------------------------------------------------------------
# Reading the layout and architecture off the keys.


def strip_module_prefix(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drops DistributedDataParallel's `module.` prefix when every key carries it."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def detect_layout(state: Mapping[str, np.ndarray]) -> tuple[str, str]:
    """(layout, prefix) of a Slow ResNet state dict.

    Raises:
      ConversionError: for a two-pathway SlowFast model, or keys of neither layout.
    """
    if any(".pathway1_" in k for k in state):
        raise ConversionError(
            "The checkpoint holds a two-pathway SlowFast network (keys with 'pathway1_'); rhovid's "
            "backbone is the Slow pathway alone. Convert a Slow ('slow' arch) checkpoint instead."
        )
    for prefix in ("backbone.", ""):
        if prefix + STEM_KEYS["pyslowfast"] in state:
            return "pyslowfast", prefix
    if STEM_KEYS["pytorchvideo"] in state:
        return "pytorchvideo", ""
    first = sorted(state)[:6]
    raise ConversionError(
        "The checkpoint is neither a PySlowFast Slow ResNet (no 's1.pathway0_stem.conv.weight' or "
        "'backbone.s1.pathway0_stem.conv.weight') nor a pytorchvideo one (no "
        f"'blocks.0.conv.weight'); its first keys are {first}."
    )


def inspect(state: Mapping[str, np.ndarray]) -> SourceSpec:
    """Layout, backbone depth and width, and heads of a state dict (see `SourceSpec`)."""
    layout, prefix = detect_layout(state)
    if layout == "pyslowfast":
        pattern = re.compile(rf"^{re.escape(prefix)}s([2-5])\.pathway0_res(\d+)\.")
    else:
        pattern = re.compile(r"^blocks\.([1-4])\.res_blocks\.(\d+)\.")
    blocks: dict[int, int] = {}
    for key in state:
        m = pattern.match(key)
        if m:
            stage = int(m.group(1)) + (1 if layout == "pytorchvideo" else 0)  # 2..5
            blocks[stage] = max(blocks.get(stage, 0), int(m.group(2)) + 1)
    counts = tuple(blocks.get(s, 0) for s in range(2, 6))
    names = NameMap(layout, prefix)
    bottleneck = names.backbone(("res2_0", "conv_c", "kernel")) in state
    depths = [d for d, c in STAGE_DEPTHS.items() if c == counts and (d != 18) == bottleneck]
    if not depths:
        raise ConversionError(
            f"The checkpoint's residual stages have {counts} {'bottleneck' if bottleneck else 'basic'} "
            f"blocks, which matches no rhovid depth ({ {d: c for d, c in STAGE_DEPTHS.items()} })."
        )
    width = int(np.shape(state[prefix + STEM_KEYS[layout]])[0])
    spec = SourceSpec(layout=layout, prefix=prefix, depth=depths[0], width=width)
    classifier = prefix + _CLASSIFIER[layout] + ".weight"
    if classifier in state and np.ndim(state[classifier]) == 2:
        spec = dataclasses.replace(spec, num_classes=int(np.shape(state[classifier])[0]))
    if layout == "pyslowfast":
        spec = dataclasses.replace(
            spec,
            projector=_parse_sequential(state, prefix + _PROJECTOR + "."),
            predictor=_parse_sequential(state, prefix + _PREDICTOR + "."),
            num_prototypes=int(np.shape(state[_PROTOTYPES])[0]) if _PROTOTYPES in state else 0,
        )
    return spec


def _parse_sequential(state: Mapping[str, np.ndarray], prefix: str) -> MLPSpec | None:
    """The MLP of a PySlowFast `MLPHead` Sequential under `prefix` (None if absent)."""
    indices = sorted({int(k[len(prefix) :].split(".")[0]) for k in state if k.startswith(prefix)})
    if not indices:
        return None
    linears = [i for i in indices if np.ndim(state.get(f"{prefix}{i}.weight", ())) == 2]
    norms = [i for i in indices if f"{prefix}{i}.running_mean" in state]
    use_bn = bool(norms)
    step = 3 if use_bn else 2
    want_linears = [step * j for j in range(len(linears))]
    want_norms = [step * j + 1 for j in range(len(linears) - 1)] if use_bn else []
    if not linears or linears != want_linears or norms != want_norms:
        raise ConversionError(
            f"The MLP under '{prefix[:-1]}' has Linear layers at indices {linears} and BatchNorms at "
            f"{norms}; rhovid's MLP is Linear[, BN], ReLU repeated, then Linear (Linears at "
            f"{want_linears}, BatchNorms at {want_norms})."
        )
    dims = [int(np.shape(state[f"{prefix}{i}.weight"])[0]) for i in linears]
    return MLPSpec(hidden_dims=tuple(dims[:-1]), out_dim=dims[-1], use_bn=use_bn)


# ---------------------------------------------------------------------------------------------
# Names and tensor layouts.


@dataclasses.dataclass(frozen=True)
class NameMap:
    """Source key of each rhovid variable for one layout.

    Paths are rhovid variable paths without the collection: ('backbone', 'res4_0', 'conv_a',
    'kernel'), ('projector', 'bn_0', 'mean'), ...
    """

    layout: str
    prefix: str = ""
    projector_bn: bool = False
    predictor_bn: bool = False

    def backbone(self, path: tuple[str, ...]) -> str:
        """Source key of a backbone variable (path inside the backbone tree)."""
        module, leaf = path[0], path[-1]
        if module in _STEM[self.layout]:
            base = _STEM[self.layout][module]
        else:
            m = re.fullmatch(r"res([2-5])_(\d+)", module)
            if not m or len(path) != 3 or path[1] not in _BLOCK[self.layout]:
                raise ConversionError(f"rhovid backbone variable {'/'.join(path)!r} has no {self.layout} counterpart.")
            stage, index = int(m.group(1)), int(m.group(2))
            block = (
                f"s{stage}.pathway0_res{index}"
                if self.layout == "pyslowfast"
                else f"blocks.{stage - 1}.res_blocks.{index}"
            )
            base = f"{block}.{_BLOCK[self.layout][path[1]]}"
        return f"{self.prefix}{base}.{_torch_leaf(leaf)}"

    def __call__(self, path: tuple[str, ...]) -> str:
        """Source key of any rhovid variable path (collection stripped)."""
        part, rest = path[0], path[1:]
        if part == "backbone":
            return self.backbone(rest)
        if part == "classifier":
            return self.prefix + _CLASSIFIER[self.layout] + "." + _torch_leaf(rest[-1])
        if part == "prototypes" and self.layout == "pyslowfast":
            return _PROTOTYPES
        if part in ("projector", "predictor") and self.layout == "pyslowfast":
            use_bn = self.projector_bn if part == "projector" else self.predictor_bn
            kind, index = rest[0].rsplit("_", 1)
            slot = (3 if use_bn else 2) * int(index) + (1 if kind == "bn" else 0)
            base = _PROJECTOR if part == "projector" else _PREDICTOR
            return f"{self.prefix}{base}.{slot}.{_torch_leaf(rest[-1])}"
        raise ConversionError(f"rhovid variable {'/'.join(path)!r} has no {self.layout} counterpart.")


def _torch_leaf(leaf: str) -> str:
    return {"kernel": "weight", "bias": "bias", **_BN_LEAVES}[leaf]


def to_rhovid(array: np.ndarray, rhovid_ndim: int, transpose_linear: bool = True) -> np.ndarray:
    """A source tensor in rhovid's layout: conv [O, I, t, h, w] -> [t, h, w, I, O]; linear -> .T."""
    array = np.asarray(array, dtype=np.float32)
    if rhovid_ndim == 5 and array.ndim == 5:
        return np.ascontiguousarray(array.transpose(2, 3, 4, 1, 0))
    if rhovid_ndim == 2 and array.ndim == 2 and transpose_linear:
        return np.ascontiguousarray(array.T)
    return array


def to_torch_shape(shape: tuple[int, ...], transpose_linear: bool = True) -> tuple[int, ...]:
    """The source shape of a rhovid variable shape (inverse of `to_rhovid` on shapes)."""
    if len(shape) == 5:
        return (shape[4], shape[3], shape[0], shape[1], shape[2])
    if len(shape) == 2 and transpose_linear:
        return (shape[1], shape[0])
    return tuple(shape)


def to_torch(array: np.ndarray, transpose_linear: bool = True) -> np.ndarray:
    """A rhovid variable in PyTorch's layout (inverse of `to_rhovid`)."""
    array = np.asarray(array)
    if array.ndim == 5:
        return np.ascontiguousarray(array.transpose(4, 3, 0, 1, 2))
    if array.ndim == 2 and transpose_linear:
        return np.ascontiguousarray(array.T)
    return np.ascontiguousarray(array)


# ---------------------------------------------------------------------------------------------
# The variables rhovid expects, and the conversion in both directions.


def import_variables(
    state: Mapping[str, np.ndarray], spec: SourceSpec, expected: Mapping[str, tuple[int, ...]]
) -> ImportResult:
    """Converts a state dict (of NumPy arrays) into the rhovid variables `expected`.

    Args:
      state: source key -> array (`strip_module_prefix` already applied).
      spec: from `inspect(state)`.
      expected: flat {'params/backbone/stem_conv/kernel': shape, ...}: every variable of the rhovid
        model to fill, as the rhovid modules build it (`jax.eval_shape` of their init), so that no
        variable of the model can be left out by the mapping.

    Returns:
      the variables, the key mapping, and the unused and ignored source keys.

    Raises:
      ConversionError: naming the rhovid variable whose source tensor is missing or of another
        shape.
    """
    names = NameMap(
        spec.layout,
        spec.prefix,
        projector_bn=bool(spec.projector and spec.projector.use_bn),
        predictor_bn=spec.predictor.use_bn if spec.predictor else True,
    )  # rhovid's has BN
    flat, mapping = {}, {}
    params_first = sorted(expected, key=lambda p: not p.startswith("params/"))  # stable
    for path in params_first:
        shape = tuple(expected[path])
        parts = tuple(path.split("/"))
        key = names(parts[1:])
        transpose = parts[1] != "prototypes"  # SwAV prototypes are [K, d] in both
        if key not in state:
            raise ConversionError(
                f"rhovid variable {path!r} (shape {shape}) has no source tensor: the checkpoint "
                f"lacks {key!r} (expected shape {to_torch_shape(shape, transpose)}). Is it a "
                f"complete Slow R-{spec.depth} checkpoint in the {spec.layout} layout?"
            )
        value = to_rhovid(state[key], len(shape), transpose)
        if value.shape != shape:
            raise ConversionError(
                f"rhovid variable {path!r} needs {key!r} of shape {to_torch_shape(shape, transpose)}, "
                f"but the checkpoint's has shape {tuple(np.shape(state[key]))}. The checkpoint is a "
                f"different architecture (rhovid's is the Slow pathway: temporal kernel 3 on conv "
                "'a' of res4 and res5 only)."
            )
        flat[parts] = value
        mapping[path] = key
    used = set(mapping.values())
    ignored = sorted(k for k in state if k.endswith(IGNORED_SUFFIX))
    unused = sorted(k for k in state if k not in used and not k.endswith(IGNORED_SUFFIX))
    variables = traverse_util.unflatten_dict(flat)
    return ImportResult(variables=variables, mapping=mapping, unused=unused, ignored=ignored)


def export_state_dict(variables: Mapping, layout: str = "pytorchvideo") -> dict[str, np.ndarray]:
    """rhovid variables -> a state dict of the backbone (and classifier, if present).

    Args:
      variables: {'params': {'backbone': ..., ['classifier': ...]}, 'batch_stats': {'backbone': ...}}.
      layout: "pytorchvideo" (loads into `pytorchvideo.models.hub.slow_r50` for depth 50) or
        "pyslowfast" (plain, un-prefixed names).

    Returns:
      key -> NumPy array in PyTorch's layout, with a zero `num_batches_tracked` for every BN so
      that `load_state_dict(strict=True)` accepts it; classifier keys only if `variables` has one.
    """
    if layout not in LAYOUTS:
        raise ConversionError(f"Unknown layout {layout!r}; choose one of {LAYOUTS}.")
    flat = traverse_util.flatten_dict(
        {
            c: {k: v for k, v in variables[c].items() if k in ("backbone", "classifier")}
            for c in ("params", "batch_stats")
        }
    )
    if not any(p[1] == "backbone" for p in flat):
        raise ConversionError("The variables hold no 'backbone' to export.")
    if layout == "pytorchvideo" and "conv_c" not in {p[3] for p in flat if p[2] == "res2_0"}:
        raise ConversionError(
            "pytorchvideo's create_resnet builds bottleneck networks only "
            f"(depths {PYTORCHVIDEO_DEPTHS}); this backbone has basic blocks."
        )
    names = NameMap(layout)
    state = {}
    for path, value in flat.items():
        state[names(path[1:])] = to_torch(np.asarray(value, dtype=np.float32))
    for path in sorted(flat):
        if path[0] == "batch_stats" and path[-1] == "mean":
            key = names(path[1:]).rsplit(".", 1)[0] + IGNORED_SUFFIX
            state[key] = np.zeros((), np.int64)
    return state
