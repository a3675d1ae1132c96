"""int8 weight-only quantization: symmetric, one scale per output channel (row) of each weight.

`quantize_model(model)` swaps every Linear of the transformer blocks (and, by default, the
output head) for `Int8Linear` in place; `checkpoint.save` then writes `*.weight` as int8 with
`*.weight_scale` beside it and `quantization_config` in config.json, and `checkpoint.load`
rebuilds the same modules through `prepare_quantized` (docs/formats.md). With a tied output
head the int8 matrix is shared: the embedding looks rows up in it and the head multiplies by it.

Scales are rounded up to bfloat16-representable values, so a checkpoint stored or loaded in
bfloat16 keeps them exactly.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

METHOD = "starcoder_int8"
METHODS = ("int8",)
_BLOCK_LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


def _bf16_ceil(x: torch.Tensor) -> torch.Tensor:
    """Smallest bfloat16-representable float32 >= x (x > 0)."""
    b = x.float().contiguous().view(torch.int32)
    up = (b + 0xFFFF) & ~0xFFFF  # round the low 16 mantissa bits up
    return up.view(torch.float32)


def quantize_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) float -> (int8 (N, K), float32 scale (N,)) with w ~= q * scale[:, None]."""
    w = w.detach().float()
    absmax = w.abs().amax(dim=1).clamp(min=1e-12)
    scale = _bf16_ceil(absmax / 127.0)
    q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q, scale


class Int8Linear(nn.Module):
    """y = (x @ q.T) * scale + bias; weight int8 (out, in), weight_scale (out,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=torch.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.zeros(out_features, in_features, dtype=torch.int8, device=device))
        self.register_buffer("weight_scale", torch.ones(out_features, dtype=dtype, device=device))
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=dtype, device=device), requires_grad=False) if bias else None

    @classmethod
    def from_linear(cls, lin: nn.Linear) -> "Int8Linear":
        m = cls(lin.in_features, lin.out_features, lin.bias is not None, lin.weight.device, lin.weight.dtype)
        q, s = quantize_weight(lin.weight)
        m.weight.copy_(q)
        m.weight_scale.copy_(s)
        if lin.bias is not None:
            m.bias.data.copy_(lin.bias.data)
        return m

    def forward(self, x):
        # int8 -> x.dtype is exact (|q| <= 127); the per-row scale commutes with the matmul.
        # In place: a long prompt's (T, out) activations are the largest temporaries of prefill.
        y = F.linear(x, self.weight.to(x.dtype)).mul_(self.weight_scale.to(x.dtype))
        return y if self.bias is None else y.add_(self.bias.to(x.dtype))

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, int8"


class Int8Embedding(nn.Module):
    """Embedding table stored as int8 rows with one scale per row (shared with a tied head)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, device=None, dtype=torch.float32):
        super().__init__()
        self.register_buffer("weight", torch.zeros(num_embeddings, embedding_dim, dtype=torch.int8, device=device))
        self.register_buffer("weight_scale", torch.ones(num_embeddings, dtype=dtype, device=device))

    def forward(self, ids):
        return self.weight[ids].to(self.weight_scale.dtype) * self.weight_scale[ids].unsqueeze(-1)


class TiedInt8Head(nn.Module):
    """Output head that multiplies by the int8 embedding matrix it is tied to (holds no tensors)."""

    def __init__(self, embedding: Int8Embedding):
        super().__init__()
        object.__setattr__(self, "embedding", embedding)  # not a submodule: no duplicate state_dict keys

    @property
    def weight_scale(self):
        return self.embedding.weight_scale

    def forward(self, x):
        e = self.embedding
        return F.linear(x, e.weight.to(x.dtype)) * e.weight_scale.to(x.dtype)


def method_name(qcfg: dict) -> str:
    """The --quantize name of a config.json `quantization_config` ("int8")."""
    if not isinstance(qcfg, dict) or qcfg.get("quant_method") != METHOD:
        raise ValueError(f"unsupported quantization_config {qcfg!r}: this package reads only "
                         f"{{\"quant_method\": \"{METHOD}\"}} (written by `starcoder quantize`)")
    if qcfg.get("bits", 8) != 8:
        raise ValueError(f"quantization_config has bits={qcfg.get('bits')}; only 8-bit weights are supported")
    return "int8"


def _swap(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, new)


def _targets(model) -> list[str]:
    return [f"transformer.h.{i}.{n}" for i in range(model.config.n_layer) for n in _BLOCK_LINEARS]


def _convert(model, qcfg: dict, from_weights: bool) -> None:
    for name in _targets(model):
        lin = model.get_submodule(name)
        if from_weights:
            new = Int8Linear.from_linear(lin)
        else:
            new = Int8Linear(lin.in_features, lin.out_features, lin.bias is not None, lin.weight.device, lin.weight.dtype)
        _swap(model, name, new)
    if not qcfg.get("lm_head", False):
        return
    head = model.lm_head
    if model.config.tie_word_embeddings:
        wte = model.transformer.wte
        emb = Int8Embedding(wte.num_embeddings, wte.embedding_dim, wte.weight.device, wte.weight.dtype)
        if from_weights:
            q, s = quantize_weight(wte.weight)
            emb.weight.copy_(q)
            emb.weight_scale.copy_(s)
        model.transformer.wte = emb
        model.lm_head = TiedInt8Head(emb)
    else:
        model.lm_head = (Int8Linear.from_linear(head) if from_weights else
                         Int8Linear(head.in_features, head.out_features, False, head.weight.device, head.weight.dtype))


def quantize_model(model, method: str = "int8", lm_head: bool = True):
    """Quantize `model` in place to int8 weight-only (per output channel); returns it.

    `lm_head=True` also quantizes the output head (for a tied head: the shared embedding matrix).
    """
    if method not in METHODS:
        raise ValueError(f"unknown quantization method {method!r}; supported: {', '.join(METHODS)}")
    if getattr(model, "quantization_config", None):
        raise ValueError("model is already quantized; quantize the original (float) checkpoint instead")
    qcfg = {"quant_method": METHOD, "bits": 8, "scheme": "symmetric_per_output_channel", "lm_head": bool(lm_head)}
    with torch.no_grad():
        _convert(model, qcfg, from_weights=True)
    model.quantization_config = qcfg
    return model


def prepare_quantized(model, qcfg: dict) -> None:
    """Swap in empty int8 modules matching `qcfg` so a quantized checkpoint's tensors load into them."""
    method_name(qcfg)
    _convert(model, qcfg, from_weights=False)
    model.quantization_config = dict(qcfg)
