"""The PyTorch side of `compare_pytorch.py`: ρBYOL on pytorchvideo's Slow R-50, and its parts.

Run by compare_pytorch.py as a worker subprocess under a Python that has torch and pytorchvideo
(`--torch_python`); it never imports JAX. It reads one JSON request per line on stdin and answers
one JSON line on stdout:

    {"case": {...}, "n": 3}  ->  {"times": [s, s, s], "cpu": [s, s, s]}   (wall and process-CPU
                                                             seconds; built and warmed up once)

A case is a dict with "kind": "step" (the whole BYOL train step), "forward" (backbone forward in
train mode, no gradient), "fwd_bwd" (backbone forward + backward of the summed features w.r.t. the
parameters) or "conv" (one convolution, forward + backward w.r.t. its weight and, if
"input_grad", its input, for a fixed random cotangent). Shapes are given channels-last as in rhovid and transposed here.

The BYOL step is written to do what rhovid's step does, in the way a PyTorch user would write it:
uint8 clips -> float, normalised; the online network (pytorchvideo's Slow R-50 without its
classification head, global average pool, projector Linear-BN-ReLU-Linear, predictor of the same
form) on all B·ρ clips; the target network (a copy of backbone and projector, BN in train mode,
no grad) on the same clips; the loss 2 − 2·cos(p_i, z_j) averaged over ordered view pairs i ≠ j;
backward; LARS (trust 0.001; no weight decay or trust ratio on 1-D parameters) with momentum 0.9;
EMA of the target.
"""

from __future__ import annotations

import copy
import json
import sys
import time
import types

import torch
import torch.nn.functional as F
from torch import nn


def import_pytorchvideo_resnet():
    """pytorchvideo.models.resnet, importing it without torchvision if need be.

    pytorchvideo.models imports torchvision for the detection head's RoIAlign only; where
    torchvision is absent (the CPU torch wheel has none that matches) a stand-in is used for the
    import (as tests/test_convert.py does).
    """
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or built for another torch
        ops = types.ModuleType("torchvision.ops")
        ops.RoIAlign = object
        tv = types.ModuleType("torchvision")
        tv.ops = ops
        sys.modules.update({"torchvision": tv, "torchvision.ops": ops})
    from pytorchvideo.models import resnet

    return resnet


class Backbone(nn.Module):
    """pytorchvideo's Slow ResNet (stem + res2..res5, no head) and a global space-time mean."""

    def __init__(self, width: int):
        super().__init__()
        resnet = import_pytorchvideo_resnet()
        net = resnet.create_resnet(model_depth=50, stem_dim_out=width, stem_conv_kernel_size=(1, 7, 7), head=None)
        self.blocks = net.blocks  # the same modules as hub.slow_r50's first five blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 3, T, H, W] -> [N, 32·width]
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=(2, 3, 4))


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(d_in, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, d_out)
    )


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise trust ratios (as optax.lars with rhovid's masks)."""

    def __init__(self, params, lr, weight_decay=1e-6, momentum=0.9, trust=1e-3):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, trust=trust))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if p.ndim > 1:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(g)
                    ratio = torch.where(
                        (w_norm > 0) & (g_norm > 0), group["trust"] * w_norm / g_norm, torch.ones_like(w_norm)
                    )
                    g = g * ratio
                buf = self.state[p].get("momentum")
                if buf is None:
                    buf = self.state[p]["momentum"] = torch.zeros_like(p)
                buf.mul_(group["momentum"]).add_(g)
                p.add_(buf, alpha=-group["lr"])


class BYOLStep:
    """One ρBYOL training step on uint8 clips [B·ρ, 3, T, H, W] (video-major)."""

    def __init__(self, case: dict):
        torch.manual_seed(0)
        self.b, self.v = case["videos"], case["rho"]
        self.online = nn.ModuleDict(
            {
                "backbone": Backbone(case["width"]),
                "projector": mlp(32 * case["width"], case["mlp_dim"], case["embed_dim"]),
                "predictor": mlp(case["embed_dim"], case["predictor_dim"], case["embed_dim"]),
            }
        ).train()
        self.target = copy.deepcopy(
            nn.ModuleDict({"backbone": self.online["backbone"], "projector": self.online["projector"]})
        ).train()
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.opt = LARS(self.online.parameters(), lr=0.01)
        self.momentum = 0.996
        n, t, s = self.b * self.v, case["frames"], case["crop"]
        self.clips = torch.randint(0, 256, (n, 3, t, s, s), dtype=torch.uint8)

    def __call__(self) -> float:
        x = (self.clips.float() / 255.0 - 0.45) / 0.225
        with torch.no_grad():
            z = self.target["projector"](self.target["backbone"](x))
        p = self.online["predictor"](self.online["projector"](self.online["backbone"](x)))
        p = F.normalize(p, dim=-1).view(self.b, self.v, -1)
        z = F.normalize(z, dim=-1).view(self.b, self.v, -1)
        pair = 2.0 - 2.0 * torch.einsum("bvd,bwd->bvw", p, z)  # [B, V, V]
        off = 1.0 - torch.eye(self.v)
        loss = (pair * off).sum(dim=(1, 2)).mean() / (self.v * (self.v - 1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            online = [self.online["backbone"], self.online["projector"]]
            t_params = [p for m in self.target.values() for p in m.parameters()]
            o_params = [p for m in online for p in m.parameters()]
            torch._foreach_mul_(t_params, self.momentum)
            torch._foreach_add_(t_params, o_params, alpha=1.0 - self.momentum)
        return loss.item()


class BackbonePart:
    """The backbone alone: forward (no grad) or forward + backward w.r.t. its parameters."""

    def __init__(self, case: dict):
        torch.manual_seed(0)
        self.net = Backbone(case["width"]).train()
        self.backward = case["kind"] == "fwd_bwd"
        self.x = torch.randn(case["clips"], 3, case["frames"], case["crop"], case["crop"])

    def __call__(self) -> None:
        if not self.backward:
            with torch.no_grad():
                self.net(self.x)
            return
        self.net.zero_grad(set_to_none=True)
        self.net(self.x).sum().backward()


class ConvPart:
    """One 3-D convolution: forward + backward w.r.t. its weight (and input)."""

    def __init__(self, case: dict):
        torch.manual_seed(0)
        n, t, h, w, c = case["x"]
        kt, kh, kw = case["kernel"]
        self.x = torch.randn(n, c, t, h, w, requires_grad=case["input_grad"])
        self.w = (torch.randn(case["features"], c, kt, kh, kw) * 0.01).requires_grad_()
        self.stride = tuple(case["strides"])
        self.padding = (kt // 2, kh // 2, kw // 2)
        with torch.no_grad():
            self.dy = torch.randn_like(F.conv3d(self.x, self.w, stride=self.stride, padding=self.padding))

    def __call__(self) -> None:
        self.w.grad = self.x.grad = None
        y = F.conv3d(self.x, self.w, stride=self.stride, padding=self.padding)
        y.backward(self.dy)


BUILDERS = {"step": BYOLStep, "forward": BackbonePart, "fwd_bwd": BackbonePart, "conv": ConvPart}


def serve() -> None:
    """Answers timing requests on stdin until it closes."""
    torch.set_num_threads(int(torch.get_num_threads()))
    built: dict[str, object] = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("info"):
            print(
                json.dumps(
                    {
                        "torch": torch.__version__,
                        "threads": torch.get_num_threads(),
                        "mkldnn": torch.backends.mkldnn.is_available(),
                    }
                ),
                flush=True,
            )
            continue
        key = json.dumps(req["case"], sort_keys=True)
        build_s = 0.0
        if key not in built:
            t = time.perf_counter()
            built[key] = BUILDERS[req["case"]["kind"]](req["case"])
            build_s = time.perf_counter() - t
            built[key]()  # warm-up (allocations, oneDNN primitive caches)
        fn, times, cpu = built[key], [], []
        for _ in range(req["n"]):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        print(json.dumps({"times": times, "cpu": cpu, "compile_s": build_s}), flush=True)


if __name__ == "__main__":
    serve()
