"""Shared fixtures: tiny random GPTBigCode checkpoints made with `transformers` (nothing downloaded)
and a small byte-level BPE tokenizer trained on this machine's Python standard library."""
from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

import torch

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def stdlib_sources(n: int = 60, min_chars: int = 2000) -> list[str]:
    """Real Python source files (deterministic choice) for tokenizer training and tests."""
    out = []
    for f in sorted(STDLIB.glob("*.py")):
        text = f.read_text(encoding="utf-8", errors="replace")
        if len(text) >= min_chars:
            out.append(text)
        if len(out) == n:
            break
    return out


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from starcoder.tokenizer import Tokenizer
    return Tokenizer.train(stdlib_sources(), vocab_size=512)


def make_hf_checkpoint(directory, *, seed: int = 0, tokenizer=None, fmt: str = "safetensors",
                       max_shard_size: str | None = None, **config):
    """Save a random transformers GPTBigCodeForCausalLM to `directory`; returns the HF model (fp32, eval).

    fmt: "safetensors" (optionally sharded with max_shard_size) or "bin".
    """
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    kw = dict(vocab_size=512, n_positions=128, n_embd=64, n_layer=2, n_head=4, bos_token_id=0,
              eos_token_id=0, initializer_range=0.1, attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0)
    kw.update(config)
    torch.manual_seed(seed)
    hf = GPTBigCodeForCausalLM(GPTBigCodeConfig(**kw)).eval()
    with torch.no_grad():  # non-trivial LayerNorm/bias values so every parameter matters
        for name, p in hf.named_parameters():
            if name.endswith("bias") or ".ln_" in name or "ln_f" in name:
                p.add_(torch.randn_like(p) * 0.1)
    d = Path(directory)
    if fmt == "bin":
        d.mkdir(parents=True, exist_ok=True)
        hf.config.save_pretrained(d)
        torch.save(hf.state_dict(), d / "pytorch_model.bin")
    else:
        extra = {"max_shard_size": max_shard_size} if max_shard_size else {}
        hf.save_pretrained(d, **extra)
    if tokenizer is not None:
        tokenizer.save(d, model_max_length=kw["n_positions"])
    return hf


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """A tiny MQA checkpoint (gelu_pytorch_tanh, 2 layers, 64 wide, 256 positions) with a tokenizer."""
    d = tmp_path_factory.mktemp("tiny_model")
    make_hf_checkpoint(d, tokenizer=tiny_tokenizer, vocab_size=tiny_tokenizer.vocab_size, n_positions=256)
    return d


@pytest.fixture(autouse=True, scope="session")
def _quiet_threads():
    # two cores: keep torch from oversubscribing when tests run beside subprocesses
    torch.set_num_threads(min(2, os.cpu_count() or 1))
