"""Near-dedup: quality on a synthetic set built from real standard-library files, and the keeper rule."""
from __future__ import annotations

import itertools
import random
import re
import sysconfig
from pathlib import Path

import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor

from starcoder.curate.neardedup import (NEAR_DUPLICATE, NearDedupConfig, code_shingles, jaccard,
                                        near_dedup_stages)


def run_near_dedup(docs: list[Document], work: Path, tasks: int = 2, config=NearDedupConfig()):
    """Run the four stages locally; returns (kept docs, removed docs, cluster-stage stats)."""
    def source(data, rank=0, world_size=1):
        yield from (d for i, d in enumerate(docs) if i % world_size == rank)

    st = near_dedup_stages(str(work), [source], config)
    kept, removed = [], []

    def collect(data, rank=0, world_size=1):
        for d in data:
            kept.append(d)
            yield d

    class Removed:  # an exclusion writer that keeps the docs in memory
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def write(self, doc, rank=0, **kw):
            removed.append(doc)

    st.filter.exclusion_writer = Removed()
    cluster_exec = None
    for name, pipeline, n in (("sig", st.signature, tasks), ("buckets", st.buckets, config.bands),
                              ("cluster", st.cluster, 1), ("filter", [source, st.filter, collect], tasks)):
        ex = LocalPipelineExecutor(pipeline, tasks=n, workers=1, logging_dir=str(work / "logs" / name))
        stats = ex.run()
        if name == "cluster":
            cluster_exec = stats
    return kept, removed, cluster_exec


def _stdlib_bases(n: int, rng: random.Random) -> list[str]:
    lib = Path(sysconfig.get_paths()["stdlib"])
    paths = [p for p in sorted(lib.glob("*.py")) if 4000 < p.stat().st_size < 25000]
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in rng.sample(paths, n)]
    return texts


def _rename(text: str, rng: random.Random, k: int) -> str:
    names = sorted({w for w in re.findall(r"\b[a-z_][a-z_0-9]{3,}\b", text)})
    mapping = {w: w + "_" + str(rng.randint(10, 99)) for w in rng.sample(names, min(k, len(names)))}
    return re.sub(r"\b[a-z_][a-z_0-9]{3,}\b", lambda m: mapping.get(m.group(0), m.group(0)), text)


def _reformat(text: str) -> str:
    lines = [ln.replace("    ", "  ").replace(", ", " , ") for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines) + "\n"


def _edit_lines(text: str, rng: random.Random, delete: float, insert: float, donor: str) -> str:
    lines, donor_lines = text.splitlines(), donor.splitlines()
    out = []
    for ln in lines:
        if rng.random() >= delete:
            out.append(ln)
        if rng.random() < insert:
            out.append(rng.choice(donor_lines))
    return "\n".join(out) + "\n"


def synthetic_set(n_bases: int = 30, seed: int = 0) -> list[tuple[int, str]]:
    """[(group, text)]: real files plus edited copies (light to heavy) of each."""
    rng = random.Random(seed)
    bases = _stdlib_bases(n_bases + 1, rng)
    donor, bases = bases[-1], bases[:-1]
    out = []
    for g, base in enumerate(bases):
        out.append((g, base))
        out.append((g, _reformat(base)))
        out.append((g, _rename(base, rng, 2)))
        out.append((g, _edit_lines(base, rng, 0.03, 0.03, donor)))
        out.append((g, _reformat(_edit_lines(_rename(base, rng, 3), rng, 0.08, 0.05, donor))))
        out.append((g, _edit_lines(_rename(base, rng, 8), rng, 0.2, 0.2, donor)))
        out.append((g, _edit_lines(_rename(base, rng, 20), rng, 0.45, 0.3, donor)))
    return out


def pair_quality(items: list[tuple[int, str]], clusters: dict[str, int]):
    """Pairs by true Jaccard of the shingle sets: recall on J >= 0.8, FPR on J <= 0.5, precision
    (share of same-cluster pairs with J > 0.5; `precision_at_0.7`: with J >= 0.7, the LSH threshold)."""
    sh = [code_shingles(t) for _, t in items]
    pos = pos_hit = neg = neg_hit = pred = pred_ok = pred_07 = 0
    for i, j in itertools.combinations(range(len(items)), 2):
        same = clusters.get(str(i), -1 - i) == clusters.get(str(j), -1 - j)
        if items[i][0] != items[j][0] and not same:
            neg += 1  # distinct files: share almost nothing (checked on a sample below)
            continue
        jac = jaccard(sh[i], sh[j])
        if jac >= 0.8:
            pos, pos_hit = pos + 1, pos_hit + same
        elif jac <= 0.5:
            neg, neg_hit = neg + 1, neg_hit + same
        pred, pred_ok, pred_07 = pred + same, pred_ok + (same and jac > 0.5), pred_07 + (same and jac >= 0.7)
    return {"recall": pos_hit / pos, "fpr": neg_hit / neg, "precision": pred_ok / max(pred, 1),
            "precision_at_0.7": pred_07 / max(pred, 1), "positives": pos, "negatives": neg}


@pytest.fixture(scope="module")
def quality(tmp_path_factory):
    items = synthetic_set()
    docs = [Document(text=t, id=str(i), metadata={"stars": 0}) for i, (_, t) in enumerate(items)]
    kept, removed, _ = run_near_dedup(docs, tmp_path_factory.mktemp("nd"))
    clusters = {d.id: int(d.id) for d in kept}  # a kept file names its cluster
    by_id = {d.id: d for d in kept}
    for d in removed:
        clusters[d.id] = int(by_id[str(d.metadata["near_duplicate_of"])].id)
    return items, clusters, kept, removed


def test_quality_on_synthetic_set(quality):
    items, clusters, kept, removed = quality
    q = pair_quality(items, clusters)
    print(f"\nnear-dedup quality: {q}")
    assert q["positives"] >= 100 and q["negatives"] >= 1000
    assert q["recall"] >= 0.9 and q["fpr"] <= 0.01 and q["precision"] >= 0.95, q
    assert len(kept) + len(removed) == len(items) and {d.metadata["minhash_cluster_size"] for d in removed} != set()


def test_distinct_files_really_are_distinct():
    # pair_quality counts cross-group pairs as negatives without computing their Jaccard
    items = synthetic_set()
    bases = [code_shingles(t) for i, (g, t) in enumerate(items) if i % 7 == 0]
    assert max(jaccard(a, b) for a, b in itertools.combinations(bases, 2)) < 0.3


def test_keeper_is_most_stars_then_smallest_id(tmp_path):
    base = Path(sysconfig.get_paths()["stdlib"], "textwrap.py").read_text()
    docs = [Document(text=base, id="b/repo:x.py", metadata={"stars": 3}),
            Document(text=base + "\n# tweak\n", id="a/repo:x.py", metadata={"stars": 3}),
            Document(text=base.replace("    ", "\t"), id="c/repo:x.py", metadata={"stars": 1}),
            Document(text=Path(sysconfig.get_paths()["stdlib"], "shlex.py").read_text(), id="d:y.py",
                     metadata={"stars": 0})]
    kept, removed, _ = run_near_dedup(docs, tmp_path, tasks=2)
    assert sorted(d.id for d in kept) == ["a/repo:x.py", "d:y.py"]
    assert {d.id: d.metadata["near_duplicate_of"] for d in removed} == {"b/repo:x.py": "a/repo:x.py",
                                                                         "c/repo:x.py": "a/repo:x.py"}
    assert all(d.metadata["minhash_cluster_size"] == 3 for d in removed)
    # more stars wins over the smaller id
    docs[0].metadata["stars"] = 10
    kept, _, _ = run_near_dedup(docs, tmp_path / "again", tasks=3)
    assert sorted(d.id for d in kept) == ["b/repo:x.py", "d:y.py"]


def test_cluster_sizes_reach_the_card_stats(tmp_path):
    base = Path(sysconfig.get_paths()["stdlib"], "textwrap.py").read_text()
    docs = [Document(text=base + "\n" * i + f"# {i}\n", id=f"r{i}:a.py", metadata={}) for i in range(3)]
    run_near_dedup(docs, tmp_path, tasks=1)
    import json
    stats = json.loads((tmp_path / "logs" / "cluster" / "stats.json").read_text())
    keys = {k: v["total"] if isinstance(v, dict) else v for step in stats for k, v in step["stats"].items()}
    assert keys["card/near_dedup_clusters/3-4/clusters"] == 1 and keys["card/near_dedup_clusters/3-4/files"] == 3
    assert keys["files_removed"] == 2


def test_config_threshold_and_validation():
    assert abs(NearDedupConfig().threshold - 0.7248) < 1e-3
    assert NearDedupConfig().minhash().num_buckets * NearDedupConfig().minhash().hashes_per_bucket == 250
    with pytest.raises(ValueError, match="bands"):
        NearDedupConfig(bands=0)
    assert NEAR_DUPLICATE == "near_duplicate"


def test_signature_agreement_estimates_jaccard(tmp_path):
    """The mod-2^64 permutations keep MinHash unbiased: agreement of the 250 values ~ true Jaccard."""
    import numpy as np

    from starcoder.curate.neardedup import CodeMinhashSignature
    step = CodeMinhashSignature(str(tmp_path))
    items = synthetic_set(6)
    errors = []
    for g in range(6):
        base = items[g * 7][1]
        for _, variant in items[g * 7 + 1:g * 7 + 7]:
            sa, sb = step.get_shingles(base), step.get_shingles(variant)
            true = len(np.intersect1d(sa, sb)) / len(np.union1d(sa, sb))
            est = np.mean(np.concatenate(step.get_signature(sa)) == np.concatenate(step.get_signature(sb)))
            errors.append(abs(est - true))
    assert np.mean(errors) < 0.03 and max(errors) < 0.1, errors
