"""Int8 linear layers for CPU inference: weights per output channel, activations per token at run time.

Per-token activation scales matter for EmbeddingGemma: with one scale per tensor (torch's and ONNX
Runtime's dynamic quantisation) its MLP down-projections lose the tokens next to an outlier
(cosine 0.90 to float32); per token it stays at 0.998 with float32's recall. The products run as
int8 x int8 -> int32 through `torch._int_mm` (oneDNN, VNNI on x86), ~1.8x a bfloat16 product here.
"""

from __future__ import annotations

import torch
from torch import nn


class Int8Linear(nn.Module):
    """Drop-in for a float `nn.Linear`: same inputs and outputs, int8 arithmetic inside."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
        quantized = (weight / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight_t", quantized.t())  # (in, out), the layout _int_mm takes
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127
        quantized = (rows / scale).round_().to(torch.int8)
        out = torch._int_mm(quantized, self.weight_t).float().mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def quantize_linears(module: nn.Module) -> int:
    """Replace every `nn.Linear` inside `module` by an `Int8Linear`, in place; returns how many."""
    targets = [(name, child) for name, child in module.named_modules() if name and isinstance(child, nn.Linear)]
    for name, linear in targets:
        parent_name, _, attribute = name.rpartition(".")
        setattr(module.get_submodule(parent_name) if parent_name else module, attribute, Int8Linear(linear))
    return len(targets)
