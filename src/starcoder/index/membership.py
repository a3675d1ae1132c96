"""Membership test: a Bloom filter over normalised 50-character chunks of every training file.

Normalisation collapses every run of whitespace to one space and strips both ends, so
re-indenting, re-wrapping blank lines or switching tabs/spaces/CRLF leaves a file's
normal form unchanged. The index holds the chunks that start at 0, 50, 100, ... of each
file's normal form, plus its last 50 characters (the tail chunk). A query hashes the
50-character window at *every* offset of its own normal form, so any query that covers a
whole aligned chunk of a training file hits it regardless of where the query starts.

False positives are independent per window (rate p), but a true match hits a chain of
windows exactly 50 characters apart. Only hits in such chains of >= `min_run` windows
count toward coverage (a spurious chain of two needs two false positives, p**2); the
snippet's last window may link to a chain 1..50 characters before it (a file's tail
chunk). The up-to-49 characters before the first and after the last matched window
count as covered when the run reaches that close to the snippet's edge (no aligned chunk
can fit there). The verdict is `coverage >= min_coverage` (default 0.8).

Window hashes are a polynomial rolling hash mod 2**64 over code points (numpy, all
windows at once) followed by the splitmix64 finaliser, handed to rbloom as 64-bit ints.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

NORMALISER = {"name": "whitespace-collapse", "version": 1,
              "params": {"whitespace": "str.isspace runs -> one ' '", "strip": True}}
HASH = {"name": "poly64-splitmix64", "version": 1, "base": "0x9E3779B97F4A7C15"}

_BASE = 0x9E3779B97F4A7C15  # odd, so invertible mod 2**64
_MASK = (1 << 64) - 1
_WORD = re.compile(r"\S+")


def normalise(text: str) -> str:
    """The normal form the index is built on: whitespace runs -> one space, ends stripped."""
    return " ".join(text.split())


class _Powers:
    """B**i and B**-i mod 2**64 for i < n, grown on demand (shared by all hashing)."""

    def __init__(self) -> None:
        self.pow = np.ones(1, dtype=np.uint64)
        self.inv = np.ones(1, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pow) < n:
            m = max(n, 2 * len(self.pow), 4096)
            with np.errstate(over="ignore"):
                self.pow = np.cumprod(np.full(m, _BASE, dtype=np.uint64), dtype=np.uint64)
                self.inv = np.cumprod(np.full(m, pow(_BASE, -1, 1 << 64), dtype=np.uint64), dtype=np.uint64)
            # shift so index 0 holds B**0
            self.pow = np.concatenate([np.ones(1, np.uint64), self.pow[:-1]])
            self.inv = np.concatenate([np.ones(1, np.uint64), self.inv[:-1]])
        return self.pow[:n], self.inv[:n]


_POWERS = _Powers()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the linear hash over all 64 bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def window_hashes(norm: str, width: int, stride: int = 1) -> np.ndarray:
    """int64 hashes of norm[i:i+width] for i = 0, stride, 2*stride, ... (whole windows only)."""
    n = len(norm)
    if n < width:
        return np.empty(0, dtype=np.int64)
    cps = np.frombuffer(norm.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    pw, inv = _POWERS.get(n + 1)
    with np.errstate(over="ignore"):
        prefix = np.empty(n + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(cps * pw[:n], dtype=np.uint64, out=prefix[1:])
        starts = np.arange(0, n - width + 1, stride)
        h = (prefix[starts + width] - prefix[starts]) * inv[starts]
        return _mix(h).view(np.int64)


def chunk_hashes(text: str, chunk: int = 50) -> np.ndarray:
    """Hashes of a training file's chunks: every `chunk` characters of its normal form, plus
    the last `chunk` characters when the length is not a multiple (so the tail is indexed)."""
    norm = normalise(text)
    h = window_hashes(norm, chunk, chunk)
    if len(norm) > chunk and len(norm) % chunk:
        h = np.concatenate([h, window_hashes(norm[-chunk:], chunk)])
    return h


@dataclass
class VerdictRule:
    """How hits become a verdict: runs of >= min_run chunk hits 50 chars apart, coverage >= min_coverage."""
    min_run: int = 2
    min_coverage: float = 0.8


@dataclass
class CheckResult:
    """Answer of the membership test for one snippet."""
    in_dataset: bool
    coverage: float  # share of the snippet's normalised characters covered by matched runs
    matches: list[dict] = field(default_factory=list)  # [{"start_line", "end_line"}], 1-based, inclusive
    chars: int = 0  # normalised characters in the snippet
    windows: int = 0  # 50-character windows tested
    hits: int = 0  # windows the Bloom filter answered "present" (incl. false positives)
    reliable: bool = True  # False when the snippet is too short to hold min_run aligned chunks for sure

    def to_dict(self) -> dict:
        return asdict(self)


class _LineMap:
    """Maps offsets in the normal form back to 1-based line numbers of the original text."""

    def __init__(self, text: str) -> None:
        self.norm_starts: list[int] = []
        self.orig_starts: list[int] = []
        words = []
        pos = 0
        for m in _WORD.finditer(text):
            self.norm_starts.append(pos)
            self.orig_starts.append(m.start())
            words.append(m.group())
            pos += len(m.group()) + 1
        self.norm = " ".join(words)
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def line(self, norm_offset: int) -> int:
        k = bisect.bisect_right(self.norm_starts, norm_offset) - 1
        orig = self.orig_starts[k] + (norm_offset - self.norm_starts[k])
        return bisect.bisect_left(self.newlines, orig) + 1


def _chain_starts(hit: np.ndarray, width: int, m: int) -> np.ndarray:
    """starts[i]: windows i, i+width, ..., i+(m-1)*width all hit."""
    starts = hit.copy()
    for j in range(1, m):
        shifted = np.zeros_like(hit)
        if j * width < len(hit):
            shifted[: len(hit) - j * width] = hit[j * width:]
        starts &= shifted
    return starts


def _covered(hit: np.ndarray, width: int, min_run: int, n: int) -> np.ndarray:
    """Boolean per normalised char: inside a window that belongs to a chain of >= min_run hits.

    Chains link hits exactly `width` apart (aligned chunks of one training file). The one
    exception is the snippet's last window, which may be a file's tail chunk (indexed at
    len - width, off the grid): it links to a hit 1..width characters before it."""
    starts = _chain_starts(hit, width, min_run)
    chained = starts.copy()
    for j in range(1, min_run):
        if j * width < len(hit):
            chained[j * width:] |= starts[: len(hit) - j * width]
    last = len(hit) - 1
    if hit[last] and not chained[last]:
        ends = _chain_starts(hit, width, min_run - 1) if min_run > 1 else hit
        lo = max(0, last - width)
        for i in range(last - 1, lo - 1, -1):  # the nearest chain (of min_run - 1) ending 1..width before
            first = i - (min_run - 2) * width
            if min_run == 1 or (first >= 0 and ends[first]):
                chained[last] = True
                for j in range(min_run - 1):
                    chained[i - j * width] = True
                break
    delta = np.zeros(n + 1, dtype=np.int32)
    idx = np.flatnonzero(chained)
    np.add.at(delta, idx, 1)
    np.add.at(delta, idx + width, -1)
    cover = np.cumsum(delta[:n]) > 0
    # no aligned chunk can start in the first or end in the last width-1 characters of a snippet
    # cut from the middle of a file: give those edges the benefit of an adjacent matched run
    if len(idx):
        s, e = int(idx[0]), int(idx[-1]) + width
        if s < width:
            cover[:s] = True
        if e > n - width:
            cover[e:] = True
    return cover


def _ranges(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) ranges of True runs."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


class BloomIndex:
    """An rbloom filter of chunk hashes plus the chunk width and verdict rule it was built with."""

    def __init__(self, bloom, chunk: int = 50, rule: VerdictRule | None = None) -> None:
        self.bloom = bloom
        self.chunk = chunk
        self.rule = rule or VerdictRule()

    @staticmethod
    def create(expected_items: int, fpr: float):
        from rbloom import Bloom
        if not 0 < fpr < 1:
            raise ValueError(f"false-positive rate must be in (0, 1), got {fpr}; try 0.01")
        return Bloom(max(1, expected_items), fpr, hash_func=int)

    @classmethod
    def load(cls, path: str | Path, chunk: int = 50, rule: VerdictRule | None = None) -> "BloomIndex":
        from rbloom import Bloom
        return cls(Bloom.load(str(path), int), chunk, rule)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        b = self.bloom
        return np.fromiter((h in b for h in hashes.tolist()), dtype=bool, count=len(hashes))

    def check(self, text: str) -> CheckResult:
        """Slide a chunk-wide window over every offset of the snippet's normal form."""
        lm = _LineMap(text)
        n, w, rule = len(lm.norm), self.chunk, self.rule
        hit = self.contains(window_hashes(lm.norm, w, 1))
        reliable = n >= rule.min_run * w + w - 1  # enough room for min_run aligned chunks
        if n == 0:
            return CheckResult(False, 0.0, [], 0, 0, 0, False)
        cover = _covered(hit, w, rule.min_run, n) if len(hit) else np.zeros(n, dtype=bool)
        coverage = float(cover.sum()) / n
        matches: list[dict] = []
        for s, e in _ranges(cover):
            a, b = lm.line(s), lm.line(e - 1)
            if matches and a <= matches[-1]["end_line"]:
                matches[-1]["end_line"] = max(b, matches[-1]["end_line"])
            else:
                matches.append({"start_line": a, "end_line": b})
        return CheckResult(coverage >= rule.min_coverage, round(coverage, 6), matches, n, len(hit),
                           int(hit.sum()), reliable)
