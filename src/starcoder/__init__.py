"""StarCoder re-implemented: load and run GPTBigCode checkpoints, curate, search, train, evaluate.

    import starcoder
    model, tokenizer = starcoder.load("path/to/model", dtype="float32", device="cpu")
    logits = model(input_ids)            # (B, T) LongTensor -> (B, T, vocab)
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["load", "__version__"]


def load(path, dtype="float32", device="cpu", quantize=None):
    """Load a Hugging Face GPTBigCode directory: returns (model, tokenizer or None)."""
    from starcoder.checkpoint import load as _load

    return _load(path, dtype=dtype, device=device, quantize=quantize)
