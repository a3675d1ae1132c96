"""Next-token choice from logits: greedy, temperature, top-k, top-p, repetition penalty.

Everything stays on the device as tensors (no `.item()`), so a decode loop never waits on it.
"""
from __future__ import annotations

import os

import torch

from starcoder.generate.config import GenerationConfig


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL/transformers rule on tokens already seen: positive logits / penalty, negative * penalty.

    logits (B, V) float; seen (B, V) bool.
    """
    if penalty == 1.0:
        return logits
    pen = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, pen, logits)


def filter_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def filter_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches p (at least one)."""
    if p >= 1.0:
        return logits
    sorted_logits, idx = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens
    drop_sorted = before >= p
    drop_sorted[:, 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, idx, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


class Sampler:
    """Chooses next tokens for a batch; `seen` tracks tokens for the repetition penalty."""

    def __init__(self, config: GenerationConfig, batch: int, vocab: int, device="cpu",
                 suppress: torch.Tensor | None = None):
        self.config = config
        self.generator = None
        if not config.greedy:
            seed = config.seed if config.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1
            self.generator = torch.Generator(device=device).manual_seed(seed)
        self.seen = torch.zeros(batch, vocab, device=device) if config.repetition_penalty != 1.0 else None
        self.suppress = suppress  # (V,) bool: tokens never to emit

    def observe(self, ids: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """Mark ids (B, T) as seen (where `valid` (B, T) is True)."""
        if self.seen is None:
            return
        w = torch.ones(ids.shape, device=ids.device) if valid is None else valid.float()
        self.seen.scatter_add_(1, ids, w)  # counts: duplicate ids add up instead of racing

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """logits (B, V) -> next ids (B,)."""
        c = self.config
        logits = logits.float()
        if self.suppress is not None:
            logits = logits.masked_fill(self.suppress, float("-inf"))
        if self.seen is not None:
            logits = apply_repetition_penalty(logits, self.seen > 0, c.repetition_penalty)
        if c.greedy:
            return logits.argmax(-1)
        logits = filter_top_p(filter_top_k(logits / c.temperature, c.top_k), c.top_p)
        probs = logits.softmax(-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
