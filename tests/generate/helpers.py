"""Helpers for the generation tests: a model that emits a fixed script of tokens."""
from __future__ import annotations

import torch
import torch.nn as nn


class ScriptedModel(nn.Module):
    """Stands in for GPTBigCode: the next token is script[k] at the k-th generated position
    (then end-of-text), so text-level behaviour (stops, UTF-8, special tokens) is tested exactly."""

    def __init__(self, config, script: list[int], prompt_len: int, eos: int = 0):
        super().__init__()
        self.config, self.script, self.prompt_len, self.eos = config, list(script), prompt_len, eos
        self.transformer = nn.Module()
        self.transformer.wpe = nn.Embedding(config.n_positions, 2)

    def forward(self, input_ids, position_ids=None, caches=None, slots=None, mask=None, logits_at=None):
        B = input_ids.shape[0]
        out = torch.full((B, 1, self.config.vocab_size), -10.0)
        for b in range(B):
            k = int(position_ids[b, -1]) + 1 - self.prompt_len
            out[b, 0, self.script[k] if k < len(self.script) else self.eos] = 10.0
        return out


def byte_ids(tokenizer, text: str) -> list[int]:
    """One token per UTF-8 byte (so multi-byte characters are split across tokens)."""
    single = {b: i for i, b in enumerate(tokenizer.token_bytes) if len(b) == 1 and i not in tokenizer.special_ids}
    return [single[bytes([c])] for c in text.encode("utf-8")]
