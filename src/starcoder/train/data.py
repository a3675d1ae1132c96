"""Packed, mixed, deterministic, resumable training batches from token shards.

Each source's token stream is cut into windows of `seq_len + 1` tokens (stride `seq_len`, so
inputs and next-token labels come from one window); every epoch of a source visits its windows
in a fresh seeded order. Global sample k draws its source from the mixture weights with an RNG
seeded by (seed, k), takes that source's next window and applies the FIM transform with an RNG
seeded by (seed, k). So a run is a pure function of the seed, and the position is two numbers
per source: the loader's state_dict() resumes exactly, on any number of ranks.
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

from starcoder.fim import FimTransform
from starcoder.train.shards import Shard

_MIX, _FIM = 1, 2  # RNG stream tags


class WindowedSource:
    """Windows of one source's train split, shuffled per epoch."""

    def __init__(self, shard: Shard, seq_len: int, seed: int):
        self.shard, self.seq_len, self.seed = shard, seq_len, seed
        self.n_windows = (len(shard) - 1) // seq_len
        if self.n_windows < 1:
            raise ValueError(f"source {shard.source!r} has {len(shard)} training tokens, fewer than one window of "
                             f"seq_len+1 = {seq_len + 1}; lower data.seq_len or give it a weight of 0")
        self._epoch, self._perm = -1, None

    def window(self, cursor: int) -> np.ndarray:
        epoch, j = divmod(cursor, self.n_windows)
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, zlib.crc32(self.shard.source.encode()), epoch])
            self._perm, self._epoch = rng.permutation(self.n_windows), epoch
        start = int(self._perm[j]) * self.seq_len
        return np.asarray(self.shard.tokens[start:start + self.seq_len + 1], dtype=np.int64)


class PackedLoader:
    """`next_step(accum)` -> this rank's `accum` micro-batches (input_ids, labels), each (micro_batch, seq_len).

    One call consumes `micro_batch * accum * world` global samples; rank r takes the
    micro-batches a*world + r, so any world size sees the same global batch.
    """

    def __init__(self, shards: dict[str, Shard], weights: dict[str, float] | None, seq_len: int, micro_batch: int,
                 seed: int = 0, fim: FimTransform | None = None, rank: int = 0, world: int = 1):
        weights = dict(weights or {s: float(len(sh)) for s, sh in shards.items()})  # default: by size
        unknown = sorted(set(weights) - set(shards))
        if unknown:
            raise ValueError(f"data.weights names source(s) {unknown} that the shards do not have; "
                             f"available: {sorted(shards)}")
        self.names = [s for s in sorted(weights) if weights[s] > 0]
        if not self.names:
            raise ValueError("every source has weight 0; give at least one source a positive data.weights entry")
        p = np.array([weights[s] for s in self.names], dtype=np.float64)
        self.probs = p / p.sum()
        self.sources = {s: WindowedSource(shards[s], seq_len, seed) for s in self.names}
        self.seq_len, self.micro_batch, self.seed = seq_len, micro_batch, seed
        self.fim, self.rank, self.world = fim, rank, world
        self.sample = 0
        self.cursors = {s: 0 for s in self.names}

    def source_of(self, k: int) -> str:
        u = np.random.default_rng([self.seed, _MIX, k]).random()
        return self.names[min(int(np.searchsorted(np.cumsum(self.probs), u, side="right")), len(self.names) - 1)]

    def next_step(self, accum: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        mb, world = self.micro_batch, self.world
        rows: list[list[np.ndarray]] = [[] for _ in range(accum)]
        for i in range(mb * accum * world):
            k = self.sample + i
            src = self.source_of(k)
            cursor = self.cursors[src]
            self.cursors[src] += 1
            chunk, within = divmod(i, mb)  # chunk = a * world + rank
            a, r = divmod(chunk, world)
            if r != self.rank:
                continue
            w = self.sources[src].window(cursor)
            if self.fim is not None:
                w = np.asarray(self.fim(w.tolist(), np.random.default_rng([self.seed, _FIM, k])), dtype=np.int64)
            rows[a].append(w)
        self.sample += mb * accum * world
        out = []
        for a in range(accum):
            t = torch.from_numpy(np.stack(rows[a]))
            out.append((t[:, :-1].contiguous(), t[:, 1:].contiguous()))
        return out

    def state_dict(self) -> dict:
        return {"sample": self.sample, "cursors": dict(self.cursors), "seed": self.seed, "world": self.world,
                "micro_batch": self.micro_batch}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"the checkpoint's data seed {state['seed']} differs from data.seed {self.seed}; "
                             f"resume with the same seed to continue the same data order")
        missing = set(self.names) - set(state["cursors"])
        if missing:
            raise ValueError(f"the checkpoint has no data position for source(s) {sorted(missing)}; resume with "
                             f"the data.weights the run started with")
        self.sample = int(state["sample"])
        self.cursors = {s: int(state["cursors"][s]) for s in self.names}


def heldout_windows(shards: dict[str, Shard], seq_len: int, per_source: int) -> list[tuple[str, np.ndarray]]:
    """Up to `per_source` consecutive windows (seq_len + 1 tokens, shorter if the split is) per source."""
    out = []
    for s in sorted(shards):
        toks = shards[s].tokens
        if len(toks) < 2:
            continue
        n = max(1, min(per_source, (len(toks) - 1) // seq_len))
        for j in range(n):
            out.append((s, np.asarray(toks[j * seq_len:j * seq_len + seq_len + 1], dtype=np.int64)))
    return out


def token_byte_lengths(tokenizer) -> np.ndarray:
    """UTF-8 bytes each id stands for; control tokens count 0 (they are not text)."""
    lens = np.array([len(b) for b in tokenizer.token_bytes], dtype=np.int64)
    lens[list(tokenizer.special_ids)] = 0
    return lens
