"""Process groups and model wrapping: one process, or `torchrun` with DDP (gloo on CPU, nccl on
GPU) or FSDP (fully_shard per block, for models larger than one device)."""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    strategy: str = "none"  # none, ddp, fsdp

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init(device: str = "auto", strategy: str = "ddp", backend: str = "auto") -> DistInfo:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) and join the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("train.device is cuda but torch sees no GPU; set train.device=cpu")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    elif device == "cpu":
        dev = torch.device("cpu")
    else:
        raise ValueError(f"train.device must be auto, cpu or cuda, got {device!r}")
    if world > 1 and not dist.is_initialized():
        be = backend if backend != "auto" else ("nccl" if dev.type == "cuda" else "gloo")
        dist.init_process_group(be, device_id=dev if dev.type == "cuda" else None)
    return DistInfo(rank, world, local, dev, strategy if world > 1 else "none")


def wrap(model: torch.nn.Module, info: DistInfo, bf16: bool = False) -> torch.nn.Module:
    """DDP or FSDP around `model` (already on its device); unchanged for one process."""
    if info.strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP
        ids = [info.device.index] if info.device.type == "cuda" else None
        return DDP(model, device_ids=ids)
    if info.strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard
        for block in model.transformer.h:
            fully_shard(block)
        fully_shard(model)
        return model
    return model


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") and not hasattr(model, "transformer") else model


def no_sync(model, info: DistInfo, last: bool):
    """Skip gradient synchronisation on all but the last micro-batch of an accumulation."""
    if info.strategy == "ddp" and not last:
        return model.no_sync()
    if info.strategy == "fsdp":
        model.set_requires_gradient_sync(last)
    return nullcontext()


def all_reduce(t: torch.Tensor, op=None) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
