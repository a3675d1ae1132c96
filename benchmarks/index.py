"""Benchmark the dataset index: build speed, index size, check and search latency (in-process).

Builds a curated-format dataset from this machine's Python standard library (all .py,
test suite included) plus C headers from /usr/include, then measures
  - build MB/s (full build, and membership + who only with --no-search),
  - index size as a share of corpus bytes (Bloom filter, tantivy, who table),
  - p50/p99 latency of DatasetIndex.check on 100-line snippets and of DatasetIndex.search
    on 3-line snippets and on two-word queries,
  - the Bloom filter's measured false-positive rate and, as a reference point, the memory a
    plain Python set of the same chunk hashes takes.

    python benchmarks/index.py [--mb 30] [--trials 500]
"""
from __future__ import annotations

import argparse
import hashlib
import random
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "index"))
from corpus import SourceFile, write_dataset  # noqa: E402

from starcoder.index import DatasetIndex, IndexConfig, build_index  # noqa: E402
from starcoder.index.membership import chunk_hashes  # noqa: E402


def _corpus(mb: float) -> list[SourceFile]:
    files, total, seen = [], 0, set()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = [(f, "python", "py", "PSF-2.0") for f in sorted(stdlib.rglob("*.py")) if "site-packages" not in f.parts]
    sources += [(f, "c", "h", "LGPL-2.1-or-later") for f in sorted(Path("/usr/include").rglob("*.h"))]
    for f, lang, ext, lic in sources:
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        key = hashlib.sha1(text.encode()).digest()
        if not 100 <= len(text) <= 200_000 or key in seen:
            continue
        seen.add(key)
        rel = f.relative_to(f.parents[len(f.parents) - 4]).as_posix()
        owner = ["python", "alice", "bob", "acme"][key[0] % 4]
        repo = f"{owner}/{rel.split('/')[0] if '/' in rel else 'root'}"
        files.append(SourceFile(text, repo, rel, lang, ext, lic, [repo]))
        total += len(text.encode())
        if total >= mb * 1e6:
            break
    return files


def _dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size


def _pct(xs: list[float]) -> tuple[float, float]:
    a = np.array(xs) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def _snippet(rng, files, n_lines):
    while True:
        f = rng.choice(files)
        lines = f.content.splitlines(keepends=True)
        if len(lines) >= n_lines:
            i = rng.randrange(len(lines) - n_lines + 1)
            s = "".join(lines[i:i + n_lines])
            if any(c.isalnum() for c in s):
                return f, s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=30.0, help="corpus size in MB (default 30)")
    ap.add_argument("--trials", type=int, default=500, help="queries per latency measurement (default 500)")
    args = ap.parse_args()

    files = _corpus(args.mb)
    corpus_bytes = sum(len(f.content.encode()) for f in files)
    tmp = Path(tempfile.mkdtemp(prefix="index-bench-"))
    ds = write_dataset(tmp / "ds", files, rows_per_shard=1000)

    t, c = time.perf_counter(), time.process_time()
    meta = build_index(ds, tmp / "ix", IndexConfig(progress=False))
    full_s, full_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    build_index(ds, tmp / "bloom-only", IndexConfig(search=False, progress=False))
    bloom_s, bloom_cpu = time.perf_counter() - t, time.process_time() - c

    ix = DatasetIndex.open(tmp / "ix")
    rng = random.Random(0)
    check_t, hundred = [], []
    for _ in range(args.trials):
        _, s = _snippet(rng, files, 100)
        t = time.perf_counter()
        r = ix.check(s)
        check_t.append(time.perf_counter() - t)
        hundred.append(r.in_dataset)
    content = {(f.repo, f.path): f.content for f in files}
    search_t, top1, holds = [], 0, 0
    for _ in range(args.trials):
        f, s = _snippet(rng, files, 3)
        t = time.perf_counter()
        hits = ix.search(s)
        search_t.append(time.perf_counter() - t)
        top1 += bool(hits) and (hits[0].repo, hits[0].path) == (f.repo, f.path)
        holds += bool(hits) and s.strip() in content[hits[0].repo, hits[0].path]
    words = [w for f in files[:200] for w in f.content.split() if w.isidentifier() and len(w) > 3]
    word_t = []
    for _ in range(args.trials):
        q = f"{rng.choice(words)} {rng.choice(words)}"
        t = time.perf_counter()
        ix.search(q)
        word_t.append(time.perf_counter() - t)
    probes = np.random.default_rng(0).integers(-2**63, 2**63 - 1, size=500_000, dtype=np.int64)
    fpr = float(ix.bloom.contains(probes).mean())
    hashes = set()
    for f in files:
        hashes.update(chunk_hashes(f.content).tolist())
    set_bytes = sys.getsizeof(hashes) + sum(sys.getsizeof(h) for h in hashes)

    mb = corpus_bytes / 1e6
    bloom_b = _dir_bytes(tmp / "ix" / "membership.bloom")
    search_b = _dir_bytes(tmp / "ix" / "search")
    who_b = _dir_bytes(tmp / "ix" / "who.json")
    rows = [
        ("corpus", f"{len(files):,} files, {mb:.1f} MB, {meta['membership']['chunks']:,} chunks"),
        ("build, full: MB/s wall (MB per CPU-s)", f"{mb / full_s:.1f} ({mb / full_cpu:.1f}); {full_s:.1f} s"),
        ("build, membership + who only: MB/s wall (MB per CPU-s)",
         f"{mb / bloom_s:.1f} ({mb / bloom_cpu:.1f}); {bloom_s:.1f} s"),
        ("Bloom filter / corpus bytes", f"{bloom_b / corpus_bytes:.2%}  ({bloom_b / 1e6:.2f} MB)"),
        ("tantivy index / corpus bytes", f"{search_b / corpus_bytes:.1%}  ({search_b / 1e6:.1f} MB)"),
        ("who table / corpus bytes", f"{who_b / corpus_bytes:.3%}"),
        ("peer: Python set of the same hashes", f"{set_bytes / 1e6:.1f} MB ({set_bytes / bloom_b:.0f}x the Bloom file)"),
        ("Bloom FPR measured (target 0.01)", f"{fpr:.4f}"),
        ("check, 100-line snippet p50 / p99 (ms)", "%.2f / %.2f" % _pct(check_t)),
        ("check, 100-line snippets found", f"{np.mean(hundred):.1%}"),
        ("search, 3-line snippet p50 / p99 (ms)", "%.2f / %.2f" % _pct(search_t)),
        ("search, 3-line snippet: its file at rank 1", f"{top1 / args.trials:.1%}"),
        ("search, 3-line snippet: rank-1 file holds it verbatim", f"{holds / args.trials:.1%}"),
        ("search, two-word query p50 / p99 (ms)", "%.2f / %.2f" % _pct(word_t)),
    ]
    w = max(len(a) for a, _ in rows)
    print(f"| {'measure':<{w}} | value |\n|{'-' * (w + 2)}|-------|")
    for a, b in rows:
        print(f"| {a:<{w}} | {b} |")


if __name__ == "__main__":
    main()
