"""Bits per byte of a model on held-out code (a curated dataset, docs/formats.md).

Each file is encoded, an end-of-text token is put in front (so the first real token is predicted
too), and the sequence is cut into windows of the model's context that overlap by one token, so
every token is predicted exactly once:

    bits per byte = sum over tokens of -log2 p(token | its window) / UTF-8 bytes of the files

Bits per byte does not depend on the tokenizer, so models with different vocabularies compare.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PerplexityOptions:
    languages: tuple[str, ...] | None = None  # keep only these `language` values (None: all)
    max_files: int | None = None
    max_bytes: int | None = None
    context: int | None = None  # window length in tokens (None: the model's n_positions)
    batch_size: int = 4
    progress: bool = True


@dataclass
class _Totals:
    nll: float = 0.0   # nats
    tokens: int = 0
    bytes: int = 0
    files: int = 0


def windows(ids: list[int], context: int) -> list[tuple[list[int], list[int]]]:
    """(inputs, targets) pairs covering `ids[1:]` once: each window is `context` inputs long."""
    out = []
    for start in range(0, len(ids) - 1, context):
        chunk = ids[start:start + context + 1]
        out.append((chunk[:-1], chunk[1:]))
    return out


@torch.inference_mode()
def _window_nll(model, batch: list[tuple[list[int], list[int]]], device) -> float:
    """Summed negative log-likelihood (nats) of the targets of same-length windows."""
    x = torch.tensor([w[0] for w in batch], device=device)
    y = torch.tensor([w[1] for w in batch], device=device)
    logits = model(x).float()  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()


def evaluate_texts(model, tokenizer, texts, opts: PerplexityOptions = PerplexityOptions()) -> dict:
    """Bits per byte of `model` over an iterable of strings."""
    context = opts.context or model.config.n_positions
    if context > model.config.n_positions or context < 1:
        raise ValueError(f"context {context} must be between 1 and the model's {model.config.n_positions} positions")
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    tot = _Totals()
    pending: dict[int, list] = {}  # window length -> windows waiting for a full batch
    from tqdm import tqdm

    bar = tqdm(desc="perplexity", unit="file", file=sys.stderr, disable=not opts.progress)
    for text in texts:
        if opts.max_files is not None and tot.files >= opts.max_files:
            break
        if opts.max_bytes is not None and tot.bytes >= opts.max_bytes:
            break
        ids = [eos] + tokenizer.encode(text)
        if len(ids) < 2:
            continue
        tot.files += 1
        tot.bytes += len(text.encode("utf-8"))
        tot.tokens += len(ids) - 1
        for w in windows(ids, context):
            group = pending.setdefault(len(w[0]), [])
            group.append(w)
            if len(group) == opts.batch_size:
                tot.nll += _window_nll(model, group, device)
                group.clear()
        bar.update(1)
    for group in pending.values():
        if group:
            tot.nll += _window_nll(model, group, device)
    bar.close()
    if tot.files == 0:
        raise ValueError("no text to score: the dataset (after --languages) is empty")
    return {"bits_per_byte": tot.nll / math.log(2) / tot.bytes, "nll_per_token": tot.nll / tot.tokens,
            "perplexity": math.exp(tot.nll / tot.tokens), "tokens": tot.tokens, "bytes": tot.bytes,
            "files": tot.files, "context": context}


def evaluate_dataset(model_dir, data_dir, opts: PerplexityOptions = PerplexityOptions(),
                     dtype: str = "float32", device: str = "cpu") -> dict:
    """Bits per byte of the model in `model_dir` on the curated dataset in `data_dir`."""
    import starcoder
    from starcoder.dataset import iter_rows

    model, tokenizer = starcoder.load(model_dir, dtype=dtype, device=device)
    if tokenizer is None:
        raise ValueError(f"{model_dir} has no tokenizer.json; bits per byte needs the model's tokenizer")
    langs = set(opts.languages) if opts.languages else None
    texts = (r["content"] for r in iter_rows(data_dir, columns=("content", "language"))
             if langs is None or r["language"] in langs)
    return {**evaluate_texts(model, tokenizer, texts, opts), "model": str(model_dir), "data": str(data_dir)}
