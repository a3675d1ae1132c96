"""Search: 3-line verbatim snippets at rank 1, code-friendly tokens, phrase, attribution, determinism."""
from __future__ import annotations

import json
import random
import re

import pytest

from starcoder.index import DatasetIndex, IndexConfig, build_index
from starcoder.index.search import identifier_parts, subword_text


def _snippets(files, n, seed):
    """n (file, verbatim 3-line snippet with searchable words) pairs from random training files."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        f = rng.choice(files)
        lines = f.content.splitlines(keepends=True)
        if len(lines) < 3:
            continue
        i = rng.randrange(len(lines) - 2)
        snippet = "".join(lines[i:i + 3])
        if any(c.isalnum() for c in snippet):
            out.append((f, snippet))
    return out


def test_three_line_snippet_returns_its_file_first(ix, corpus):
    train = corpus[0]
    unique_ok = unique = dup_ok = dup = strict = 0
    trials = _snippets(train, 300, seed=1)
    for f, snippet in trials:
        top = ix.search(snippet, k=10)[0]
        holders = {(g.repo, g.path) for g in train if snippet.strip() in g.content}
        strict += (top.repo, top.path) == (f.repo, f.path)
        if len(holders) == 1:  # only this file holds the snippet: it must come first
            unique += 1
            unique_ok += (top.repo, top.path) == (f.repo, f.path)
        else:  # the snippet is boilerplate held by several files: one of them must come first
            dup += 1
            dup_ok += (top.repo, top.path) in holders
    print(f"rank-1: {strict / len(trials):.3f} strict; unique {unique_ok}/{unique}; duplicated {dup_ok}/{dup}")
    assert unique >= 150 and unique_ok / unique >= 0.95
    assert dup_ok / max(dup, 1) >= 0.95


def test_identifier_parts():
    assert identifier_parts("getHTTPResponse_code") == ["get", "http", "response", "code"]
    assert identifier_parts("parse_args2") == ["parse", "args", "2"]
    assert identifier_parts("plain") == ["plain"]
    assert subword_text("x = readLine(fooBar); fooBar") == "read line foo bar foo bar"


def test_query_word_matches_inside_identifiers(ix, corpus):
    # `Parser` occurs inside compound identifiers only in some files (e.g. HTMLParser, ArgumentParser)
    hits = ix.search("argument parser", k=10)
    assert hits and any("argparse" in h.path or "ArgumentParser" in h.snippet for h in hits)
    holders = [f for f in corpus[0] if "ArgumentParser" in f.content]
    assert holders
    top_paths = {h.path for h in ix.search("ArgumentParser", k=10)}
    assert top_paths & {f.path for f in holders}


def test_phrase_needs_the_words_in_order(ix, corpus):
    content = {(f.repo, f.path): f.content for f in corpus[0]}
    phrase = re.compile(r"\bwarnings\W+warn\b", re.I)  # tokens ignore punctuation: `warnings.warn(`
    hits = ix.search("warnings warn", k=200, phrase=True)
    assert hits and all(phrase.search(content[h.repo, h.path]) for h in hits)
    want = {k for k, text in content.items() if phrase.search(text)}
    assert {(h.repo, h.path) for h in hits} == want
    loose = ix.search("warnings warn", k=200)
    assert len(loose) > len(hits)  # files with both words apart match only without --phrase


def test_hits_carry_attribution_and_highlights(ix, corpus):
    f = next(f for f in corpus[0] if f.language == "c" and len(f.content) > 2000)
    snippet = "".join(f.content.splitlines(keepends=True)[10:14])
    top = ix.search(snippet, k=3)[0]
    assert (top.repo, top.path, top.license, top.language) == (f.repo, f.path, f.license, "c")
    assert top.score > 0 and "<b>" in top.snippet
    assert all(h.language == "python" for h in ix.search("define include", k=5, language="python"))
    with pytest.raises(ValueError, match="no searchable words"):
        ix.search("(){};")


def test_second_build_gives_the_same_answers(tmp_path, dataset_dir, index_dir, ix, corpus):
    build_index(dataset_dir, tmp_path / "again", IndexConfig(progress=False))
    again = DatasetIndex.open(tmp_path / "again")
    assert (tmp_path / "again" / "membership.bloom").read_bytes() == (index_dir / "membership.bloom").read_bytes()
    assert (tmp_path / "again" / "who.json").read_text() == (index_dir / "who.json").read_text()
    for f, snippet in _snippets(corpus[0], 40, seed=7):
        assert [h.to_dict() for h in again.search(snippet)] == [h.to_dict() for h in ix.search(snippet)]
        assert again.check(snippet) == ix.check(snippet)
    meta = json.loads((tmp_path / "again" / "meta.json").read_text())
    assert meta["search"]["dir"] == "search" and meta["corpus"]["files"] == len(corpus[0])
