"""The FIM training transform: exact layouts, rates, UTF-8 safety, lengths (spec §3)."""
from __future__ import annotations

import numpy as np
import pytest

from starcoder.fim import EOS_ID, FIM_MIDDLE_ID, FIM_PAD_ID, FIM_PREFIX_ID, FIM_SUFFIX_ID, FimTransform


class ScriptedRng:
    """Stands in for numpy's Generator: returns the draws a test scripts."""

    def __init__(self, randoms, cuts):
        self.randoms, self.cuts = list(randoms), list(cuts)

    def random(self):
        return self.randoms.pop(0)

    def integers(self, low, high, size):
        lo, hi = self.cuts.pop(0)
        assert 0 <= lo < high and 0 <= hi < high
        return np.array([hi, lo])  # unsorted on purpose: the transform sorts


TEXT = "def add(a, b):\n    return a + b\n"
OTHER = "x = 1\n"


@pytest.mark.parametrize("spm_draw,layout", [(0.9, "psm"), (0.1, "spm")])
def test_exact_layouts(code_tokenizer, spm_draw, layout):
    tok = code_tokenizer
    window = tok.encode(TEXT) + [EOS_ID] + tok.encode(OTHER)
    fim = FimTransform(tok, rate=0.5, spm_rate=0.5)
    lo, hi = 4, 20
    # draws: fragment 1 -> FIM (0.1 < 0.5), cuts, PSM/SPM draw; fragment 2 -> untouched (0.7)
    out = fim.permute(window[:len(tok.encode(TEXT))], ScriptedRng([spm_draw], [(lo, hi)]))
    pre, mid, suf = tok.encode(TEXT[:lo]), tok.encode(TEXT[lo:hi]), tok.encode(TEXT[hi:])
    if layout == "psm":
        assert out == [FIM_PREFIX_ID, *pre, FIM_SUFFIX_ID, *suf, FIM_MIDDLE_ID, *mid]
        want = f"<fim_prefix>{TEXT[:lo]}<fim_suffix>{TEXT[hi:]}<fim_middle>{TEXT[lo:hi]}"
    else:
        assert out == [FIM_PREFIX_ID, FIM_SUFFIX_ID, *suf, FIM_MIDDLE_ID, *pre, *mid]
        want = f"<fim_prefix><fim_suffix>{TEXT[hi:]}<fim_middle>{TEXT[:lo]}{TEXT[lo:hi]}"
    assert tok.decode(out) == want
    # the whole window: the second fragment is kept, the result is cut back to the window length
    full = fim(window, ScriptedRng([0.1, spm_draw, 0.7], [(lo, hi)]))
    expect = (out + [EOS_ID] + tok.encode(OTHER))[:len(window)]
    assert full == expect + [FIM_PAD_ID] * (len(window) - len(expect))


def test_pads_when_shorter_and_empty_pieces(code_tokenizer):
    tok = code_tokenizer
    window = tok.encode(TEXT)
    fim = FimTransform(tok, rate=1.0, spm_rate=0.0)
    # cut at 0 and len(text): empty prefix and suffix; the whole text is the middle
    out = fim(window, ScriptedRng([0.0, 0.9], [(0, len(TEXT))]))
    assert len(out) == len(window)
    assert out[:3] == [FIM_PREFIX_ID, FIM_SUFFIX_ID, FIM_MIDDLE_ID]
    # re-tokenising the middle gives the same tokens, so the 3 markers push 3 tokens out
    assert out[3:] == window[:-3]


def test_rates_within_tolerance(code_tokenizer):
    tok = code_tokenizer
    frag = tok.encode(TEXT)
    window = (frag + [EOS_ID]) * 4  # four fragments per window
    fim = FimTransform(tok, rate=0.5, spm_rate=0.3)
    n_frag = n_fim = n_spm = n_known = 0
    for k in range(400):
        out = fim(window, np.random.default_rng([7, k]))
        assert len(out) == len(window)
        n_frag += 4
        for i, t in enumerate(out):
            if t == FIM_PREFIX_ID:
                n_fim += 1
                if i + 1 < len(out):  # (the window end may cut the last fragment right after it)
                    n_known += 1
                    n_spm += out[i + 1] == FIM_SUFFIX_ID
    rate, spm = n_fim / n_frag, n_spm / max(n_known, 1)
    # 1600 fragments: 4 standard deviations of a binomial(0.5) is 0.05
    assert abs(rate - 0.5) < 0.05, rate
    assert abs(spm - 0.3) < 0.07, spm
    assert FimTransform(tok, rate=0.0)(window, np.random.default_rng(0)) == window


def _pieces(out: list[int]):
    """(prefix, middle, suffix) token lists of one permuted fragment without header."""
    if out[1] == FIM_SUFFIX_ID:  # SPM: pre suf S mid P+M (prefix and middle are contiguous)
        m = out.index(FIM_MIDDLE_ID)
        return None, out[m + 1:], out[2:m]
    s, m = out.index(FIM_SUFFIX_ID), out.index(FIM_MIDDLE_ID)
    return out[1:s], out[m + 1:], out[s + 1:m]


def test_multibyte_never_corrupted(code_tokenizer):
    tok = code_tokenizer
    text = "# Überschrift: 数据 файл 🚀🚀 naïve — ünï\nprint('日本語') # ok\n" * 2
    ids = tok.encode(text)
    raw = tok.decode_bytes(ids)
    assert any(len(tok.token_bytes[i]) == 1 and tok.token_bytes[i][0] >= 0x80 for i in ids), \
        "the test needs multi-byte characters split over byte tokens"
    fim = FimTransform(tok, rate=1.0, spm_rate=0.5)
    checked = 0
    for start in range(len(ids)):  # every window start, so windows begin and end inside characters
        frag = ids[start:start + 24]
        for seed in range(3):
            out = fim.permute(frag, np.random.default_rng([start, seed]))
            pre, mid, suf = _pieces(out)
            original = tok.decode_bytes(frag)
            if pre is None:  # SPM
                assert tok.decode_bytes(mid) + tok.decode_bytes(suf) == original
            else:
                assert tok.decode_bytes(pre) + tok.decode_bytes(mid) + tok.decode_bytes(suf) == original
                tok.decode_bytes(mid).decode("utf-8")  # the middle holds whole characters only
            checked += 1
    assert raw.decode("utf-8") == text and checked > 100


def test_lengths_preserved_and_literal_markers_stay_text(code_tokenizer):
    tok = code_tokenizer
    doc = "s = '<fim_middle> is just text here'\n" * 3
    window = (tok.encode(doc) + [EOS_ID]) * 3
    fim = FimTransform(tok, rate=1.0)
    for k in range(50):
        for n in (len(window), len(window) - 7, 10):
            out = fim(window[:n], np.random.default_rng(k))
            assert len(out) == n
        out = fim.permute(tok.encode(doc), np.random.default_rng(k))
        # exactly one marker of each kind: the literal "<fim_middle>" text is not a control token
        assert [out.count(t) for t in (FIM_PREFIX_ID, FIM_SUFFIX_ID, FIM_MIDDLE_ID)] == [1, 1, 1]


def test_metadata_header_kept_in_place(code_tokenizer):
    tok = code_tokenizer
    header = [tok.token_to_id("<reponame>")] + tok.encode("owner/repo") + \
        [tok.token_to_id("<gh_stars>")] + tok.encode("10-100\n")
    frag = header + tok.encode(TEXT)
    fim = FimTransform(tok, rate=1.0)
    for k in range(20):
        out = fim.permute(frag, np.random.default_rng(k))
        assert out[:len(header)] == header and out[len(header)] == FIM_PREFIX_ID


def test_bad_rates_and_tokenizer_rejected(code_tokenizer):
    with pytest.raises(ValueError, match="fim_rate"):
        FimTransform(code_tokenizer, rate=1.5)

    class NoFim:
        def token_to_id(self, t):
            return None
    with pytest.raises(ValueError, match="lacks"):
        FimTransform(NoFim())
