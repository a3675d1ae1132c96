"""The Python installation this process runs in, as curation sources (the `starcoder curate` demo).

The standard library becomes repository `python/cpython` (PSF-2.0, the licence Python ships
under), split into several units so that tasks share the work; every installed distribution
becomes repository `pypi/<name>`, its files taken from its RECORD, its licence from its own
metadata and licence files (METADATA, dist-info/licenses/...), through the normal detector.
"""
from __future__ import annotations

import os
import re
import sysconfig
from importlib import metadata
from pathlib import Path

from starcoder.curate.sources import SourceUnit

STDLIB_REPO, STDLIB_LICENSE = "python/cpython", "PSF-2.0"
_SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}


def _stdlib_files(root: Path) -> list[tuple[str, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
        for name in sorted(filenames):
            path = name if rel == "." else f"{rel}/{name}"
            try:
                out.append((path, os.path.getsize(os.path.join(dirpath, name))))
            except OSError:
                continue
    return out


def _chunks(files: list[tuple[str, int]], n: int) -> list[tuple[str, ...]]:
    """Split a sorted file list into n contiguous chunks of about equal bytes."""
    total = sum(s for _, s in files) or 1
    chunks, cur, acc = [], [], 0
    for path, size in files:
        cur.append(path)
        acc += size
        if acc >= total * (len(chunks) + 1) / n and len(chunks) < n - 1:
            chunks.append(tuple(cur))
            cur = []
    if cur:
        chunks.append(tuple(cur))
    return chunks


def stdlib_units(chunks: int = 8) -> list[SourceUnit]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return [SourceUnit(kind="files", path=str(root), repo=STDLIB_REPO, declared_license=STDLIB_LICENSE,
                       license_authoritative=True, files=c) for c in _chunks(_stdlib_files(root), chunks)]


def distribution_units() -> list[SourceUnit]:
    units = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or not dist.files:
            continue
        key = re.sub(r"[-_.]+", "-", name).lower()
        base = Path(dist.locate_file(""))
        files = tuple(sorted({str(f).replace(os.sep, "/") for f in dist.files
                              if not str(f).startswith("..") and "__pycache__" not in str(f)}))
        if key not in units and files:
            units[key] = SourceUnit(kind="files", path=str(base), repo=f"pypi/{key}", files=files)
    return [units[k] for k in sorted(units)]


def python_env_units(include_stdlib: bool = True, include_packages: bool = True) -> list[SourceUnit]:
    """Units for the running Python: standard library and installed distributions."""
    return (stdlib_units() if include_stdlib else []) + (distribution_units() if include_packages else [])
