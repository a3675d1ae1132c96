"""`who` lookups and opt-out application on fixture data."""
from __future__ import annotations

import shutil
from collections import Counter

import pytest

from tests.index.corpus import write_dataset
from starcoder.index import DatasetIndex, IndexConfig, apply_optout, build_index


def test_who_lists_repositories_case_insensitively(ix, corpus):
    train = corpus[0]
    want = Counter(f.repo for f in train if f.repo.lower().startswith("alice/"))
    r = ix.who("ALICE")
    assert r.repositories == sorted(want) and r.files == dict(want) and r.optout_line == "alice"
    assert ix.who("@Alice").repositories == r.repositories
    one = sorted(want)[0]
    assert ix.who(f"https://github.com/{one.upper()}").repositories == [one]
    # repositories that held a file before exact dedup (`repos` column) are listed too
    mirror = ix.who("mirror-user")
    assert mirror.repositories == ["mirror-user/cpython-mirror"]
    assert mirror.files["mirror-user/cpython-mirror"] == sum("mirror-user/cpython-mirror" in f.repos for f in train)
    assert ix.who("nobody-here").repositories == []
    with pytest.raises(ValueError, match="neither"):
        ix.who("a/b/c")


@pytest.fixture
def small(tmp_path, corpus):
    """A small dataset (files of several owners) and an index over it."""
    files = [f for f in corpus[0] if f.language == "python"][:150]
    ds = write_dataset(tmp_path / "ds", files, rows_per_shard=60)
    build_index(ds, tmp_path / "ix", IndexConfig(progress=False))
    return files, ds, tmp_path / "ix"


def _optout_file(tmp_path, lines):
    p = tmp_path / "optout.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_optout_removes_repositories_everywhere(tmp_path, small):
    files, ds, index = small
    alice = [f for f in files if f.repo.startswith("Alice/")]
    others = [f for f in files if not f.repo.startswith("Alice/")]
    assert alice and others
    p = _optout_file(tmp_path, ["# requests of 2026-11", "https://github.com/Alice", "nobody-here/tool",
                                "mirror-user/cpython-mirror"])
    rep = apply_optout(index, p, progress=False)
    by_line = {r.line: r for r in rep.removed}
    assert by_line["https://github.com/Alice"].repositories == sorted({f.repo for f in alice})
    assert by_line["https://github.com/Alice"].files == len(alice)
    # only listed as a pre-dedup holder: leaves `who`, but the files' own repositories keep them
    assert by_line["mirror-user/cpython-mirror"].files == 0
    assert rep.unmatched == ["nobody-here/tool"]
    assert (rep.files_before, rep.files_after) == (len(files), len(others))

    ix = DatasetIndex.open(index)
    assert ix.who("alice").repositories == [] and ix.who("mirror-user").repositories == []
    assert ix.meta["optout"]["entries"] == ["alice", "nobody-here/tool", "mirror-user/cpython-mirror"]
    for f in alice[:10]:
        snippet = "".join(f.content.splitlines(keepends=True)[:12])
        assert not ix.check(f.content).in_dataset
        assert all(not h.repo.startswith("Alice/") for h in ix.search(snippet, k=50))
    assert all(ix.check(f.content).in_dataset for f in others if len(f.content) >= 100)

    again = apply_optout(index, p, progress=False)  # idempotent
    assert again.removed == [] and again.files_after == len(others)
    assert set(again.already_applied) == {"https://github.com/Alice", "nobody-here/tool", "mirror-user/cpython-mirror"}

    # the same opt-out file given at build time yields the same Bloom filter
    build_index(ds, tmp_path / "fresh", IndexConfig(progress=False), optout_file=p)
    assert (tmp_path / "fresh" / "membership.bloom").read_bytes() == (index / "membership.bloom").read_bytes()


def test_optout_needs_the_same_dataset(tmp_path, small):
    files, ds, index = small
    p = _optout_file(tmp_path, ["bob-dev"])
    moved = tmp_path / "moved"
    shutil.move(ds, moved)
    with pytest.raises(FileNotFoundError, match="--dataset"):
        apply_optout(index, p, progress=False)
    rep = apply_optout(index, p, dataset_dir=moved, progress=False)
    assert rep.files_after == sum(not f.repo.startswith("bob-dev/") for f in files)
    (moved / "data" / "python" / "00000.parquet").unlink()
    with pytest.raises(ValueError, match="differs from the one indexed"):
        apply_optout(index, p, dataset_dir=moved, progress=False)
    bad = _optout_file(tmp_path, ["a/b/c"])
    with pytest.raises(ValueError, match="line 1"):
        apply_optout(index, bad, dataset_dir=moved, progress=False)
