"""Fixture datasets in the curated format (docs/formats.md), filled with real source files.

Python files of this machine's standard library and C headers from /usr/include are split
deterministically into "in the dataset" and "held out"; exact duplicates (after whitespace
normalisation) are dropped first, as curation does, so a held-out file is never a copy of
a training file.
"""
from __future__ import annotations

import hashlib
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from starcoder.index.membership import normalise

STDLIB = Path(sysconfig.get_paths()["stdlib"])
INCLUDE = Path("/usr/include")
OWNERS = ["python", "Alice", "bob-dev", "ACME-Org"]


@dataclass
class SourceFile:
    content: str
    repo: str
    path: str
    language: str
    extension: str
    license: str
    repos: list[str]


def _h(s: str) -> int:
    return int(hashlib.sha1(s.encode()).hexdigest()[:8], 16)


def _python_files(limit: int) -> list[SourceFile]:
    out = []
    skip = {"test", "tests", "idlelib", "site-packages", "__pycache__", "lib2to3", "turtledemo"}
    for f in sorted(STDLIB.rglob("*.py")):
        rel = f.relative_to(STDLIB)
        if skip & set(rel.parts):
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        if not 100 <= len(text) <= 40_000:
            continue
        pkg = rel.parts[0].removesuffix(".py")
        owner = OWNERS[_h(pkg) % len(OWNERS)]
        repo = f"{owner}/{pkg}"
        repos = [repo, "mirror-user/cpython-mirror"] if _h(str(rel)) % 10 == 0 else [repo]
        out.append(SourceFile(text, repo, rel.as_posix(), "python", "py", "PSF-2.0", repos))
        if len(out) == limit:
            break
    return out


def _c_files(limit: int) -> list[SourceFile]:
    out = []
    for f in sorted(INCLUDE.rglob("*.h")):
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not 100 <= len(text) <= 40_000:
            continue
        rel = f.relative_to(INCLUDE)
        # versioned copies (GLES, GLES2, GLES3) are one project: near-duplicates stay on one side
        top = re.sub(r"(?<=[A-Za-z]{3})[0-9]+$", "", rel.parts[0]) if len(rel.parts) > 1 else "libc"
        repo = f"{OWNERS[_h(top) % len(OWNERS)]}/include-{top.replace('.', '-')}"
        out.append(SourceFile(text, repo, rel.as_posix(), "c", "h", "LGPL-2.1-or-later", [repo]))
        if len(out) == limit:
            break
    return out


def _python_test_files(limit: int, every: int = 5) -> list[SourceFile]:
    """Modules of the standard library's own test suite: a project that is never in the training split."""
    out = []
    for i, f in enumerate(sorted((STDLIB / "test").glob("test_*.py"))):
        text = f.read_text(encoding="utf-8", errors="replace")
        if i % every or not 100 <= len(text) <= 40_000:
            continue
        rel = f.relative_to(STDLIB).as_posix()
        out.append(SourceFile(text, "python/cpython-tests", rel, "python", "py", "PSF-2.0", ["python/cpython-tests"]))
        if len(out) == limit:
            break
    return out


def make_corpus(n_python: int = 420, n_c: int = 160, n_tests: int = 120, held_out_share: float = 0.25):
    """(training files, held-out files), deduplicated on the normal form, deterministic.

    Held out: whole repositories (about `held_out_share` of them) plus `n_tests` modules of
    the standard library's test suite."""
    seen: set[str] = set()
    train, held = [], []
    tests = _python_test_files(n_tests)
    for sf in _python_files(n_python) + _c_files(n_c) + tests:
        if sf.repo == "python/cpython-tests":
            key = normalise(sf.content)
            if key not in seen:
                seen.add(key)
                held.append(sf)
            continue
        key = normalise(sf.content)
        if key in seen:
            continue
        seen.add(key)
        # whole repositories are held out: a held-out file is one whose project is not in the data
        (held if _h("split:" + sf.repo) % 1000 < held_out_share * 1000 else train).append(sf)
    return train, held


def write_dataset(root: Path, files: list[SourceFile], rows_per_shard: int = 150) -> Path:
    """Write `files` as data/<language>/<shard>.parquet with the curated columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    by_lang: dict[str, list[SourceFile]] = {}
    for sf in files:
        by_lang.setdefault(sf.language, []).append(sf)
    for lang, group in by_lang.items():
        d = root / "data" / lang
        d.mkdir(parents=True, exist_ok=True)
        for k in range(0, len(group), rows_per_shard):
            part = group[k:k + rows_per_shard]
            blobs = [sf.content.encode("utf-8") for sf in part]
            table = pa.table({
                "content": [sf.content for sf in part],
                "repo": [sf.repo for sf in part],
                "path": [sf.path for sf in part],
                "language": [sf.language for sf in part],
                "extension": [sf.extension for sf in part],
                "license": [sf.license for sf in part],
                "stars": pa.array([_h(sf.repo) % 500 for sf in part], pa.int64()),
                "size": pa.array([len(b) for b in blobs], pa.int64()),
                "hexsha": [hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest() for b in blobs],
                "repos": pa.array([sf.repos for sf in part], pa.list_(pa.string())),
            })
            pq.write_table(table, d / f"{k // rows_per_shard:05d}.parquet")
    return root
