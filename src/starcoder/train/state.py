"""Checkpoint helpers: RNG state of a rank, full (gathered) model/optimizer state, finding a checkpoint."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from starcoder.train import dist


def rng_state() -> dict:
    s = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def full_state(model, optimizer, info: dist.DistInfo) -> tuple[dict, dict]:
    if info.strategy == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict
        return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return dist.unwrap(model).state_dict(), optimizer.state_dict()


def find_checkpoint(path) -> Path:
    """A checkpoint folder, or the latest one of a run folder."""
    p = Path(path)
    if (p / "trainer_state.pt").is_file():
        return p
    latest = p / "checkpoints" / "latest"
    if latest.is_file():
        return p / "checkpoints" / latest.read_text().strip()
    raise FileNotFoundError(f"{p} holds no checkpoint (no trainer_state.pt, no checkpoints/latest); pass a run's "
                            f"out_dir or one of its checkpoints/step-* folders")
