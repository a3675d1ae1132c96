"""Curation II benchmark: PII precision/recall per kind, and the governed pipeline's time per stage.

    python benchmarks/pii.py              # PII quality tables + PII speed on the standard library
    python benchmarks/pii.py --pipeline   # also: whole pipeline on the standard library, per stage,
                                          # with and without the Curation II steps

The planted corpus (fake-but-well-formed secrets in 7 languages) and the clean corpus are the
ones the tests build (tests/curate/test_pii_corpus.py).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _corpus_module():
    spec = importlib.util.spec_from_file_location("pii_corpus", ROOT / "tests" / "curate" / "test_pii_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def quality() -> None:
    from starcoder.curate.pii import redact
    c = _corpus_module()
    corpus = c.planted_corpus()
    recall, precision = c.score(corpus)
    print(f"planted corpus: {len(corpus)} files, {sum(len(p) for _, _, p in corpus)} secrets, "
          f"{len(c.KINDS)} kinds, {len(c.TEMPLATES)} languages\n")
    print(f"{'planted kind':<18}{'planted':>8}{'found':>8}{'recall':>8}")
    for k in c.KINDS:
        n, f = recall[k, "planted"], recall[k, "found"]
        print(f"{k:<18}{n:>8}{f:>8}{f / n:>8.2f}")
    print(f"\n{'finding kind':<18}{'findings':>9}{'correct':>8}{'precision':>10}")
    for k in ("email", "ip_address", "key", "password", "private_key"):
        n, tp = precision[k, "findings"], precision[k, "tp"]
        print(f"{k:<18}{n:>9}{tp:>8}{tp / max(n, 1):>10.2f}")
    clean = c.clean_corpus()
    changed = sum(redact(t).text != t for t in clean)
    print(f"\nclean code (hashes, UUIDs, versions, 127.0.0.1, private IPs, example.com + stdlib modules): "
          f"{changed}/{len(clean)} files changed ({changed / len(clean):.1%})")


def stdlib_speed() -> None:
    from starcoder.curate.pii import find_pii
    lib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for p in sorted(lib.rglob("*.py")):
        if "site-packages" not in p.parts:
            try:
                texts.append(p.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, OSError):
                pass
    mb = sum(len(t.encode()) for t in texts) / 1e6
    t0 = time.perf_counter()
    files, kinds = Counter(), Counter()
    for t in texts:
        found = find_pii(t)
        kinds.update(f.kind for f in found)
        files.update({f.kind for f in found})
    dt = time.perf_counter() - t0
    print(f"\nPII detection on the standard library: {len(texts)} files, {mb:.1f} MB in {dt:.1f} s "
          f"= {mb / dt:.1f} MB/s on one core")
    print("  findings per kind (files): " + ", ".join(f"{k} {kinds[k]} ({files[k]})" for k in sorted(kinds)))


def pipeline(workers: int, tasks: int) -> None:
    from loguru import logger

    from starcoder.curate.executors import make_executor
    from starcoder.curate.pipelines import CurateOptions, build_stages
    from starcoder.curate.pyenv import stdlib_units
    logger.disable("datatrove")
    units = stdlib_units()
    rows = {}
    for label, gov in (("governed (all steps on)", {}),
                       ("Curation I only", dict(near_dedup=False, pii="off", humaneval=False))):
        out = Path(tempfile.mkdtemp(prefix="bench_curate_"))
        opts = CurateOptions(out=str(out), workers=workers, tasks=tasks, **gov).validate()
        total = time.perf_counter()
        for stage in build_stages(opts, units):
            t0 = time.perf_counter()
            make_executor("local", stage.pipeline, stage.tasks, workers, out / "logs" / stage.name).run()
            rows.setdefault(stage.name, {})[label] = time.perf_counter() - t0
        rows.setdefault("TOTAL", {})[label] = time.perf_counter() - total
        if label.startswith("governed"):
            steps = _step_times(out / "logs" / "write")
        shutil.rmtree(out, ignore_errors=True)
    print(f"\nwhole pipeline on the standard library (python/cpython units), local executor, "
          f"{workers} workers, {tasks} tasks: wall seconds per stage")
    labels = ["governed (all steps on)", "Curation I only"]
    print(f"{'stage':<24}" + "".join(f"{x:>26}" for x in labels))
    for name, r in rows.items():
        print(f"{name:<24}" + "".join(f"{r[x]:>26.1f}" if x in r else f"{'-':>26}" for x in labels))
    print("\nwrite stage, time per step summed over tasks (s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))


def _step_times(stage_logs: Path) -> dict[str, float]:
    stats = json.loads((stage_logs / "stats.json").read_text())
    out = {}
    for s in stats:
        ts = s.get("time_stats", 0)
        out[s["name"].split(": ", 1)[-1]] = ts["total"] if isinstance(ts, dict) else float(ts)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", action="store_true", help="also time the whole pipeline on the standard library")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=4)
    args = ap.parse_args()
    quality()
    stdlib_speed()
    if args.pipeline:
        pipeline(args.workers, args.tasks)


if __name__ == "__main__":
    main()
