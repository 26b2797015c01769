"""Int8 linear layers: same shapes and dtypes as the float layers, close outputs, per-token scales."""

from __future__ import annotations

import torch
from torch import nn

from rag.quantization import Int8Linear, quantize_linears


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def test_every_nested_linear_is_replaced_and_outputs_stay_close():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 48), nn.GELU(), nn.Sequential(nn.Linear(48, 16, bias=False)))
    inputs = torch.randn(3, 7, 64)
    expected = model(inputs)
    assert quantize_linears(model) == 2
    assert [type(m) for m in model.modules()].count(Int8Linear) == 2
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    got = model(inputs)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert cosine(got, expected) > 0.999


def test_bfloat16_inputs_come_back_in_bfloat16():
    layer = Int8Linear(nn.Linear(32, 8))
    assert layer(torch.randn(4, 32, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_an_outlier_token_does_not_spoil_the_other_tokens():
    """One scale per token: a token 1,000x larger than the rest leaves their precision alone."""
    torch.manual_seed(1)
    linear = nn.Linear(256, 128, bias=False)
    tokens = torch.randn(10, 256)
    tokens[0] *= 1000
    expected = linear(tokens)
    got = Int8Linear(linear)(tokens)
    for row in range(10):
        assert cosine(got[row], expected[row]) > 0.999
