"""GPTBigCode (StarCoder): a GPT-2 style decoder with multi-query attention.

Parameter names are Hugging Face's, so a state dict moves between this module and
`transformers.GPTBigCodeForCausalLM` without renaming. The KV cache is owned by the caller
(the generation engine): `KVCache` is a pre-allocated buffer indexed by cache slot.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from starcoder.config import ModelConfig


def activation(name: str):
    if name == "gelu":
        return lambda x: F.gelu(x)
    if name in ("gelu_pytorch_tanh", "gelu_new", "gelu_fast"):  # same function, tanh approximation
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    if name == "silu":
        return F.silu
    raise ValueError(f"unsupported activation_function {name!r}")


# oneDNN's fused Linear(+activation) is faster than MKL's GEMM plus a separate activation for
# prompt-sized inputs on a CPU (164M model, 1,024-token prefill: ~18% less time in the MLP and
# projections); used only at inference, where no gradient is needed.
_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
_ONEDNN_ACT = {"gelu": ("gelu", "none"), "gelu_pytorch_tanh": ("gelu", "tanh"), "gelu_new": ("gelu", "tanh"),
               "gelu_fast": ("gelu", "tanh"), "relu": ("relu", "")}


def _onednn_ok(layer: nn.Module, x: torch.Tensor) -> bool:
    w = getattr(layer, "weight", None)
    return (_ONEDNN and type(layer) is nn.Linear and not torch.is_grad_enabled() and x.device.type == "cpu"
            and w.dtype == x.dtype and w.dtype in (torch.float32, torch.bfloat16)
            and x.numel() > 8 * x.shape[-1] and not torch.compiler.is_compiling())


def linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`layer(x)`; through oneDNN for prompt-sized CPU inputs at inference."""
    if _onednn_ok(layer, x):
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, "none", [], "")
    return layer(x)


def linear_act(layer: nn.Module, x: torch.Tensor, act_name: str, act) -> torch.Tensor:
    """`act(layer(x))`, with the activation fused into oneDNN's GEMM where `linear` would use it."""
    if act_name in _ONEDNN_ACT and _onednn_ok(layer, x):
        attr, algorithm = _ONEDNN_ACT[act_name]
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, attr, [], algorithm)
    return act(linear(layer, x))


class KVCache(nn.Module):
    """Pre-allocated keys and values of one layer: (B, n_kv_heads, max_len, head_dim)."""

    def __init__(self, batch: int, max_len: int, n_kv_heads: int, head_dim: int,
                 dtype=torch.float32, device=None):
        super().__init__()
        shape = (batch, n_kv_heads, max_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    def update(self, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """Write k, v (B, n_kv, T, hd) at cache slots (T,); return the whole cache."""
        self.k.index_copy_(2, slots, k)
        self.v.index_copy_(2, slots, v)
        return self.k, self.v


def new_kv_caches(config: ModelConfig, batch: int, max_len: int, dtype=torch.float32, device=None):
    return [KVCache(batch, max_len, config.n_kv_heads, config.head_dim, dtype, device)
            for _ in range(config.n_layer)]


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int):
        super().__init__()
        self.n_head, self.head_dim, self.n_kv = config.n_head, config.head_dim, config.n_kv_heads
        self.multi_query = config.multi_query
        self.scale = 1.0 / math.sqrt(self.head_dim) if config.scale_attn_weights else 1.0
        self.layer_idx = layer_idx
        self.c_attn = nn.Linear(config.n_embd, config.n_embd + 2 * self.n_kv * self.head_dim)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_pdrop = config.attn_pdrop
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x, mask=None, cache: KVCache | None = None, slots=None):
        B, T, C = x.shape
        qkv = linear(self.c_attn, x)
        if self.multi_query:  # layout: all queries, then one key head, then one value head
            q, k, v = qkv.split((C, self.head_dim, self.head_dim), dim=2)
            q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hd)
            k, v = k.unsqueeze(1), v.unsqueeze(1)  # (B, 1, T, hd)
        else:  # layout per head: (n_head, 3, head_dim)
            q, k, v = qkv.view(B, T, self.n_head, 3 * self.head_dim).transpose(1, 2).split(self.head_dim, dim=3)
        causal = mask is None
        if cache is not None:
            k, v = cache.update(slots, k, v)  # (B, n_kv, S, hd)
            if mask is None:  # a fresh prompt at slots 0..T-1: causal attention over those slots only
                k, v = k[:, :, :T], v[:, :, :T]
            elif T <= 8 and not self.training:
                y = self._few_query_attention(q, k, v, mask).transpose(1, 2).reshape(B, T, C)
                return self.resid_dropout(self.c_proj(y))
        if self.multi_query:
            k = k.expand(B, self.n_head, k.shape[2], self.head_dim)
            v = v.expand(B, self.n_head, v.shape[2], self.head_dim)
        # The softmax runs in fp32 (SDPA accumulates half-precision inputs in fp32 on CPU and GPU).
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal,
            dropout_p=self.attn_pdrop if self.training else 0.0, scale=self.scale)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_dropout(linear(self.c_proj, y))

    def _few_query_attention(self, q, k, v, mask):
        """Decoding: a few queries against the cache with plain matmuls. MQA queries of all heads
        share the one key head, so they go through one matmul without expanding k and v."""
        B, nh, T, hd = q.shape
        kv, S = k.shape[1], k.shape[2]
        q = (q * self.scale).reshape(B, kv, (nh // kv) * T, hd)
        s = torch.matmul(q, k.transpose(-1, -2)).view(B, nh, T, S)
        s = torch.where(mask, s, float("-inf"))  # mask (B, 1, T, S)
        p = torch.softmax(s, -1, dtype=torch.float32).to(v.dtype)
        return torch.matmul(p.view(B, kv, (nh // kv) * T, S), v).view(B, nh, T, hd)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.inner_dim)
        self.act_name = config.activation_function
        self.act = activation(config.activation_function)
        self.c_proj = nn.Linear(config.inner_dim, config.n_embd)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        return self.dropout(linear(self.c_proj, linear_act(self.c_fc, x, self.act_name, self.act)))


class Block(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = Attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x, mask=None, cache=None, slots=None):
        x = x + self.attn(self.ln_1(x), mask, cache, slots)
        return x + self.mlp(self.ln_2(x))


def _embedding(num: int, dim: int) -> nn.Embedding:
    """nn.Embedding with its usual N(0, 1) init, except on the meta device (checkpoint loading),
    where initialising would pull in torch's Python meta kernels (~800 modules, ~70 MB of RSS)."""
    w = torch.empty(num, dim)
    if w.device.type != "meta":
        nn.init.normal_(w)
    return nn.Embedding(num, dim, _weight=w)


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.wte = _embedding(config.vocab_size, config.n_embd)
        self.wpe = _embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)


class GPTBigCode(nn.Module):
    """`model(input_ids)` -> logits (B, T, vocab).

    For cached decoding pass `caches` (from `new_kv_caches`), `slots` (T,) cache slots to
    write, `position_ids` (B, T) and `mask` (B, 1, T, S) boolean, True = may attend (S is the
    cache length). With `caches` and `mask=None` the input is a fresh causal prompt written at
    slots 0..T-1 (faster than an explicit mask). `logits_at` limits the output head to some
    positions (e.g. -1 = last).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.transformer = Transformer(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight

    def tie_weights(self):
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight

    def init_weights(self, std: float | None = None):
        """Normal(0, std) for weights (output projections scaled by 1/sqrt(2*n_layer)), zero biases."""
        std = self.config.initializer_range if std is None else std
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("transformer.ln_f"):
                nn.init.ones_(p)
            elif name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.config.n_layer))
            else:
                nn.init.normal_(p, 0.0, std)
        self.tie_weights()
        return self

    def forward(self, input_ids, position_ids=None, caches=None, slots=None, mask=None, logits_at=None):
        B, T = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(T, device=input_ids.device).unsqueeze(0)
        if caches is not None and slots is None:
            if mask is not None:
                raise ValueError("with caches and a mask, pass the cache slots the new tokens go to")
            slots = torch.arange(T, device=input_ids.device)  # a fresh prompt at slots 0..T-1
        if T > self.config.n_positions:  # (positions beyond it are the caller's to check: no host sync here)
            raise ValueError(f"sequence of {T} tokens exceeds the model's context of "
                             f"{self.config.n_positions} positions; shorten or truncate the input")
        t = self.transformer
        x = t.drop(t.wte(input_ids) + t.wpe(position_ids))  # (B, T, C)
        for i, block in enumerate(t.h):
            x = block(x, mask, caches[i] if caches is not None else None, slots)
        if logits_at is not None:  # skip the (large) output head where no logits are needed
            x = x[:, logits_at] if isinstance(logits_at, torch.Tensor) else x[:, [logits_at]]
        return self.lm_head(t.ln_f(x))
