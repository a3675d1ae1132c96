"""pass@k with the unbiased estimator of Chen et al. (2021), spec §7.

Per problem with n samples of which c pass: pass@k = 1 - C(n-c, k) / C(n, k); the score is the
mean over problems. A k is reported only when every problem has at least k samples.
"""
from __future__ import annotations

from typing import Iterable, Sequence

DEFAULT_KS = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem (n samples, c correct)."""
    if not (0 <= c <= n) or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, this problem has {n}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i): no huge binomials, no overflow
    ratio = 1.0
    for i in range(n - c + 1, n + 1):
        ratio *= 1.0 - k / i
    return 1.0 - ratio


def mean_pass_at_k(counts: Sequence[tuple[int, int]], ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """{"pass@k": mean over problems} for every k that all problems' sample counts allow.

    `counts` holds one (n, c) pair per problem.
    """
    if not counts:
        raise ValueError("no problems to score: the samples file is empty or matched no task")
    least = min(n for n, _ in counts)
    return {f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)
            for k in ks if k <= least}
