"""End to end on fixture repositories: each file's keep/drop and reason, output format, card, determinism."""
from __future__ import annotations

import json

import pytest
from tests.curate.conftest import EXPECTED, PY
from tests.curate.helpers import card_counts, removed, rows

from starcoder.curate.output import COLUMNS
from starcoder.curate.pipelines import CurateOptions, run
from starcoder.dataset import iter_rows


# The fixture files are tiny and alike on purpose, so MinHash near-dedup would merge them: these tests
# are about sources, licences, filters and exact dedup (near-dedup/PII/decontamination have their own).
BASE = dict(near_dedup=False, pii="off", humaneval=False)


@pytest.fixture(scope="module")
def curated(mirror, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    card = run(CurateOptions(out=str(out), sources=[str(mirror)], keep_removed=True, tasks=3, **BASE), progress=False)
    return out, card


def test_each_file_keep_or_drop_with_reason(curated):
    out, card = curated
    kept = {(r["repo"], r["path"]) for r in rows(out)}
    dropped = removed(out)
    for key, reason in EXPECTED.items():
        if reason is None:
            assert key in kept, key
        else:  # filters' drops and the reader's skips (too_large, binary, not_utf8) are all kept for audit
            assert key not in kept and dropped.get(key) == reason, (key, dropped.get(key))
    assert card["removed"]["too_large"] == {"files": 1, "bytes": 1_200_000, "step": "sources"}
    assert kept <= {k for k, v in EXPECTED.items() if v is None} | {("bsd/repo", "LICENSE.md")}


def test_duplicate_keeps_permissive_copy_and_lists_repos(curated):
    out, _ = curated
    shared = [r for r in rows(out) if r["path"] == "shared.py"]
    assert len(shared) == 1
    assert shared[0]["repo"] == "mit/repo" and shared[0]["license"] == "MIT"
    assert shared[0]["repos"] == ["gpl/repo", "mit/repo"]


def test_output_format(curated):
    out, _ = curated
    files = sorted(p.relative_to(out).as_posix() for p in (out / "data").glob("*/*.parquet"))
    assert {f.split("/")[1] for f in files} == {"python", "javascript", "markdown"}
    r = {(x["repo"], x["path"]): x for x in rows(out)}
    a = r[("dual/repo", "a.js")]
    assert list(a) == list(COLUMNS)
    assert a["language"] == "javascript" and a["extension"] == "js" and a["license"] == "MIT OR GPL-3.0-only"
    assert a["size"] == len(a["content"].encode()) and len(a["hexsha"]) == 40 and a["stars"] == 0
    assert {x["path"] for x in iter_rows(out, columns=["path"])} == {p for _, p in r}  # the shared reader reads it


def test_data_card(curated):
    out, card = curated
    assert card["kept"]["files"] == len(rows(out))
    assert card["sections"]["languages"]["python"]["files"] == sum(1 for x in rows(out) if x["language"] == "python")
    assert card["sections"]["licenses"]["MIT"]["files"] >= 3
    assert card["removed"]["license_not_permissive"]["files"] == 7
    assert card["removed"]["exact_duplicate"] == {"files": 1, "bytes": len(PY), "step": "exact dedup"}
    md = (out / "data_card.md").read_text()
    assert "## Removed per reason" in md and "license_not_permissive" in md
    assert (out / "data_card.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "data_card.json").read_text())["kept"] == card["kept"]


def test_other_step_sections_reach_the_card(tmp_path):
    """A step the card does not know (here a PII filter) shows its drops and its own section."""
    from datatrove.utils.stats import PipelineStats, Stats

    from starcoder.curate.card import build_card
    st = Stats("🔻 - FILTER: pii")
    for _ in range(2):
        st["dropped_secret"].update(1)
    for _ in range(3):
        st["card/pii/email/files"].update(1)
    (tmp_path / "s" / "stats").mkdir(parents=True)
    with open(tmp_path / "s" / "stats" / "00000.json", "w") as f:
        PipelineStats([st]).save_to_disk(f)
    card = build_card(tmp_path, ["s"])
    assert card["sections"]["pii"]["email"]["files"] == 3
    assert card["removed"]["secret"] == {"files": 2, "bytes": None, "step": "pii"}


def test_same_rows_whatever_tasks_and_workers(curated, mirror, tmp_path):
    out, _ = curated
    other = tmp_path / "o"
    run(CurateOptions(out=str(other), sources=[str(mirror)], tasks=2, workers=2, **BASE), progress=False)
    assert rows(other) == rows(out)
    assert card_counts(other) == card_counts(out)


def test_languages_option_and_resume_guard(mirror, tmp_path):
    out = tmp_path / "js"
    run(CurateOptions(out=str(out), sources=[str(mirror)], languages=["javascript"], tasks=2, **BASE), progress=False)
    assert {r["language"] for r in rows(out)} == {"javascript"}
    with pytest.raises(ValueError, match="other options"):
        run(CurateOptions(out=str(out), sources=[str(mirror)], tasks=2, **BASE), progress=False)


def test_sharded_reduce_decides_like_one_task(curated, tmp_path):
    """Exact dedup sharded by hash (one shard per reduce task) gives the decisions of a single task."""
    import pyarrow.parquet as pq

    from starcoder.curate.dedup import ExactDedupReduce, _decisions
    out, _ = curated
    docs = out / ".work" / "docs"
    n_files = len(list(docs.glob("*.parquet")))
    results = {}
    for shards in (1, 4):
        dest = tmp_path / f"d{shards}"
        for r in range(shards):
            list(ExactDedupReduce(str(docs), str(dest), n_files).run(None, r, shards))
        results[shards] = [_decisions(str(dest / f"{f:05d}"), pq.ParquetFile(docs / f"{f:05d}.parquet").metadata.num_rows)
                           for f in range(n_files)]
        assert len(list(dest.glob("*/*.parquet"))) == n_files * shards
    assert results[1] == results[4]
    assert any("exact_duplicate" in reasons for reasons, _ in results[1])
