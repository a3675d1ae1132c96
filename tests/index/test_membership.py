"""Membership test: found verbatim and re-indented, held-out files not flagged, lines, FPR, size."""
from __future__ import annotations

import json
import random
import textwrap

import numpy as np
import pytest

from starcoder.index import DatasetIndex, IndexConfig, build_index
from starcoder.index.membership import NORMALISER, chunk_hashes, normalise, window_hashes


def test_normalise_collapses_whitespace_and_strips():
    assert normalise("  def f(x):\r\n\t\treturn   x\n\n") == "def f(x): return x"
    assert normalise("a\u00a0\u2003b") == "a b"  # Unicode spaces count as whitespace too


def test_window_hash_depends_only_on_the_window():
    rng = random.Random(0)
    text = "".join(rng.choice("abcdefgh (){}_\u00e9\U0001d11e") for _ in range(3000))
    every = window_hashes(text, 50, 1)
    assert len(every) == len(text) - 49
    for i in rng.sample(range(len(every)), 50):
        assert window_hashes(text[i:i + 50], 50)[0] == every[i]
    assert (window_hashes(text, 50, 50) == every[::50][: len(text) // 50]).all()
    distinct = {text[i:i + 50] for i in range(len(every))}
    assert len(set(every.tolist())) == len(distinct)  # no collisions among distinct windows


def test_chunks_are_aligned_plus_tail():
    text = "x" * 30 + " " * 10 + "y" * 90  # normal form: 30 x, one space, 90 y = 121 chars
    norm = normalise(text)
    h = chunk_hashes(text)
    want = [window_hashes(norm[i:i + 50], 50)[0] for i in (0, 50)] + [window_hashes(norm[-50:], 50)[0]]
    assert h.tolist() == want
    assert len(chunk_hashes("a" * 49)) == 0


def _reindent(text: str, how: str) -> str:
    if how == "tabs":
        return text.replace("    ", "\t")
    if how == "two-spaces":
        return text.replace("    ", "  ")
    if how == "nested-crlf":
        return "\r\n".join(textwrap.indent(text, "        ").splitlines())
    raise ValueError(how)


def test_every_training_file_found_verbatim_and_reindented(ix, corpus):
    train = [f for f in corpus[0] if len(f.content) >= 100]
    assert len(train) > 300
    verbatim = [ix.check(f.content) for f in train]
    missed = [f.path for f, r in zip(train, verbatim) if not r.in_dataset]
    assert not missed, f"training files not found verbatim: {missed[:5]}"
    assert all(r.coverage == 1.0 and r.reliable for r in verbatim if r.chars >= 149)
    for how in ("tabs", "two-spaces", "nested-crlf"):
        found = np.mean([ix.check(_reindent(f.content, how)).in_dataset for f in train])
        assert found >= 0.99, (how, found)


def test_held_out_files_rarely_flagged(ix, corpus):
    held = corpus[1]
    assert len(held) >= 200
    flagged = [f.path for f in held if ix.check(f.content).in_dataset]
    assert len(flagged) / len(held) <= 0.01, flagged


def test_snippet_inside_new_code_reports_its_lines(ix, corpus):
    train = max(corpus[0][:50], key=lambda f: len(f.content))
    lines = train.content.splitlines(keepends=True)
    copied = "".join(lines[20:45])
    # surround it with held-out code that shares nothing with the dataset
    fresh = [f.content.splitlines(keepends=True)[:30] for f in corpus[1]]
    fresh = [ls for ls in fresh if len(ls) == 30 and ix.check("".join(ls)).coverage == 0][:2]
    new_top, new_bottom = fresh
    doc = "".join(new_top) + copied + "".join(new_bottom)
    r = ix.check(doc)
    assert len(r.matches) == 1
    m = r.matches[0]
    # the copied block sits at lines 31-55; aligned chunks can leave out a line at either end
    assert 31 <= m["start_line"] <= 32 and 54 <= m["end_line"] <= 55, m
    assert not r.in_dataset and 0.05 < r.coverage < 0.8
    alone = ix.check(copied)
    assert alone.in_dataset and alone.matches == [{"start_line": 1, "end_line": 25}]


def test_short_and_empty_snippets(ix, corpus):
    assert not ix.check("").in_dataset and not ix.check("   \n").reliable
    short = ix.check("x = 1\n")
    assert short.windows == 0 and not short.in_dataset and not short.reliable


def test_false_positive_rate_and_size(ix, index_dir):
    meta = json.loads((index_dir / "meta.json").read_text())
    m = meta["membership"]
    assert m["normaliser"] == NORMALISER and m["chunk_chars"] == 50 and m["stride"] == 50 and m["fpr"] == 0.01
    rng = np.random.default_rng(0)
    probes = rng.integers(-2**63, 2**63 - 1, size=200_000, dtype=np.int64)
    fpr = ix.bloom.contains(probes).mean()
    assert 0.003 < fpr < 0.015, fpr
    bloom_bytes = (index_dir / m["file"]).stat().st_size
    assert bloom_bytes / meta["corpus"]["bytes"] <= 0.05


def test_fpr_is_configurable(tmp_path, dataset_dir, index_dir):
    out = build_index(dataset_dir, tmp_path / "tight", IndexConfig(fpr=0.001, search=False, progress=False))
    base = json.loads((index_dir / "meta.json").read_text())["membership"]
    assert out["membership"]["fpr"] == 0.001
    assert out["membership"]["size_bits"] > 1.3 * base["size_bits"]
    tight = DatasetIndex.open(tmp_path / "tight")
    probes = np.random.default_rng(1).integers(-2**63, 2**63 - 1, size=200_000, dtype=np.int64)
    assert tight.bloom.contains(probes).mean() < 0.003
    with pytest.raises(RuntimeError, match="without a search index"):
        tight.search("anything")


def test_chunk_size_is_configurable(tmp_path, dataset_dir, corpus):
    meta = build_index(dataset_dir, tmp_path / "c40", IndexConfig(chunk_chars=40, search=False, progress=False))
    assert meta["membership"]["chunk_chars"] == 40 and meta["membership"]["stride"] == 40
    ix40 = DatasetIndex.open(tmp_path / "c40")
    train = [f for f in corpus[0] if len(f.content) >= 100][:60]
    assert all(ix40.check(f.content).in_dataset for f in train)
    assert not any(ix40.check(f.content).in_dataset for f in corpus[1][:60])


def test_bad_config_is_explained(tmp_path, dataset_dir):
    with pytest.raises(ValueError, match="false-positive rate"):
        build_index(dataset_dir, tmp_path / "x", IndexConfig(fpr=2.0))
    with pytest.raises(FileNotFoundError, match="starcoder curate"):
        build_index(tmp_path / "missing", tmp_path / "y")
