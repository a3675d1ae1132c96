"""Where files come from: folders, mirrors (OWNER/REPO/...), git repositories, archives, datasets.

`discover_units(sources)` turns command-line sources into `SourceUnit`s, one per repository
(or per dataset file). A unit is small and picklable; `iter_files(unit)` yields the raw files
of a repository as `RawFile`s, in a stable order, with skipped entries reported by reason.
"""
from __future__ import annotations

import os
import stat
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from starcoder.curate.manifest import Manifest

MAX_FILE_BYTES = 1_000_000  # files over 1 MB are not stored (spec §5)
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
DATASET_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json.gz")

# skip reasons (counted as `dropped_<reason>` by the reader)
SKIP_TOO_LARGE = "too_large"
SKIP_BINARY = "binary"
SKIP_NOT_UTF8 = "not_utf8"
SKIP_VCS = "vcs_dir"
SKIP_CACHE = "bytecode_cache_dir"  # __pycache__: compiled .pyc files only
SKIP_SPECIAL = "not_regular_file"


@dataclass(frozen=True)
class SourceUnit:
    """One repository (or one dataset file) to read. kind: dir | git | archive | dataset | files."""
    kind: str
    path: str
    repo: str
    stars: int = 0
    declared_license: str | None = None  # from the manifest or package metadata
    license_authoritative: bool = False  # True: use declared_license as is (e.g. the stdlib is PSF-2.0)
    files: tuple[str, ...] = ()  # kind == "files": explicit paths relative to `path`
    exclude: tuple[str, ...] = ()  # top-level folder names to leave out (kind == dir)


@dataclass
class RawFile:
    """A file of a repository: `data` is None when the file was skipped (then `skip` names why)."""
    path: str
    size: int
    data: bytes | None = None
    skip: str | None = None
    hexsha: str | None = None


def _is_git_dir(p: Path) -> bool:
    return (p / ".git").exists() or ((p / "HEAD").is_file() and (p / "objects").is_dir() and (p / "refs").is_dir())


def _has_suffix(p: Path, suffixes) -> bool:
    return any(p.name.lower().endswith(s) for s in suffixes)


def _strip_suffix(name: str) -> str:
    for s in ARCHIVE_SUFFIXES + (".git",):
        if name.lower().endswith(s):
            return name[: -len(s)]
    return name


def _is_mirror(p: Path) -> bool:
    """A mirror holds OWNER/REPO folders and no files of its own (dotfiles aside)."""
    if _is_git_dir(p):
        return False
    children = [c for c in p.iterdir() if not c.name.startswith(".")]
    return bool(children) and all(c.is_dir() and not _is_git_dir(c) for c in children) and all(
        any(g.is_dir() or _has_suffix(g, ARCHIVE_SUFFIXES) for g in c.iterdir()) for c in children)


def _unit_for(p: Path, repo: str, manifest: Manifest | None) -> SourceUnit:
    entry = manifest.lookup(p, repo) if manifest else None
    kind = "git" if p.is_dir() and _is_git_dir(p) else "dir" if p.is_dir() else "archive"
    unit = SourceUnit(kind=kind, path=str(p.resolve()), repo=repo)
    if entry:
        unit = replace(unit, repo=entry.repo, stars=entry.stars, declared_license=entry.license)
    return unit


def discover_units(sources: list[str], manifest: Manifest | None = None) -> list[SourceUnit]:
    """Expand sources into units, sorted by (repo, path) so that task assignment is deterministic."""
    units: list[SourceUnit] = []
    for s in sources:
        p = Path(s).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"source {s} does not exist; pass a folder, git repository, archive "
                                    f"({', '.join(ARCHIVE_SUFFIXES)}) or dataset ({', '.join(DATASET_SUFFIXES)})")
        if p.is_file() and _has_suffix(p, DATASET_SUFFIXES):
            units.append(SourceUnit(kind="dataset", path=str(p.resolve()), repo=""))
        elif p.is_file() and _has_suffix(p, ARCHIVE_SUFFIXES):
            units.append(_unit_for(p, _strip_suffix(p.name), manifest))
        elif p.is_file():
            raise ValueError(f"source {s} is a file of an unknown kind; expected an archive "
                             f"({', '.join(ARCHIVE_SUFFIXES)}) or a dataset ({', '.join(DATASET_SUFFIXES)})")
        elif _is_mirror(p) and not (manifest and manifest.lookup(path=p)):  # a manifest path names one repository
            for owner in sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".")):
                for repo in sorted(c for c in owner.iterdir() if not c.name.startswith(".")):
                    if repo.is_dir() or _has_suffix(repo, ARCHIVE_SUFFIXES):
                        units.append(_unit_for(repo, f"{owner.name}/{_strip_suffix(repo.name)}", manifest))
        else:
            units.append(_unit_for(p, _strip_suffix(p.resolve().name), manifest))
    return sorted(units, key=lambda u: (u.repo, u.path))


def _iter_dir(root: Path, exclude: tuple[str, ...] = (), only=None) -> Iterator[RawFile]:
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        for d in list(dirnames):
            if d == ".git" or (not rel_dir and d in exclude) or d == "__pycache__":
                dirnames.remove(d)
                if only is None and d in (".git", "__pycache__"):
                    yield RawFile(rel_dir + d, 0, skip=SKIP_VCS if d == ".git" else SKIP_CACHE)
        dirnames.sort()
        for name in sorted(filenames):
            if only is None or only(rel_dir + name):
                yield _read_path(Path(dirpath) / name, rel_dir + name)


def _read_path(full: Path, rel: str) -> RawFile:
    try:
        st = os.stat(full, follow_symlinks=False)
    except OSError:
        return RawFile(rel, 0, skip=SKIP_SPECIAL)
    if not stat.S_ISREG(st.st_mode):
        return RawFile(rel, 0, skip=SKIP_SPECIAL)
    if st.st_size > MAX_FILE_BYTES:
        return RawFile(rel, st.st_size, skip=SKIP_TOO_LARGE)
    with open(full, "rb") as f:
        return RawFile(rel, st.st_size, f.read())


def _iter_files(root: Path, files: tuple[str, ...], only=None) -> Iterator[RawFile]:
    for rel in sorted(files):
        if only is not None and not only(rel):
            continue
        yield _read_path(root / rel, rel)


def _iter_git(path: Path) -> Iterator[RawFile]:
    """Files at HEAD, read through `git cat-file --batch` (works for bare repositories too)."""
    def git(*args, **kw):
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, check=True, **kw)
    try:
        listing = git("ls-tree", "-r", "-l", "-z", "HEAD").stdout
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"cannot list HEAD of git repository {path}: {e.stderr.decode(errors='replace').strip()} "
                           f"(an empty repository has no HEAD; commit something or leave it out)") from None
    wanted: list[tuple[str, str]] = []
    entries = []
    for rec in listing.split(b"\0"):
        if not rec:
            continue
        meta, name = rec.split(b"\t", 1)
        mode, typ, sha, size = meta.split()
        rel = name.decode("utf-8", errors="surrogateescape")
        if typ != b"blob" or mode == b"120000":
            entries.append(RawFile(rel, 0, skip=SKIP_SPECIAL))
            continue
        n = int(size)
        if n > MAX_FILE_BYTES:
            entries.append(RawFile(rel, n, skip=SKIP_TOO_LARGE, hexsha=sha.decode()))
            continue
        entries.append(RawFile(rel, n, hexsha=sha.decode()))
        wanted.append((rel, sha.decode()))
    blobs = {}
    if wanted:
        out = git("cat-file", "--batch", input=b"".join(s.encode() + b"\n" for _, s in wanted)).stdout
        pos = 0
        for _, sha in wanted:
            header_end = out.index(b"\n", pos)
            _, _, size = out[pos:header_end].split()
            start = header_end + 1
            blobs[sha] = out[start:start + int(size)]
            pos = start + int(size) + 1
    for e in sorted(entries, key=lambda e: e.path):
        if e.skip is None:
            e.data = blobs[e.hexsha]
        yield e


def _top_prefix(names: list[str]) -> str:
    """GitHub archives wrap everything in one folder (`repo-sha/`): strip it."""
    tops = {n.split("/", 1)[0] for n in names}
    return tops.pop() + "/" if len(tops) == 1 and all("/" in n for n in names) else ""


def _iter_archive(path: Path) -> Iterator[RawFile]:
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if not i.is_dir()]
            prefix = _top_prefix([i.filename for i in infos])
            for i in sorted(infos, key=lambda i: i.filename):
                rel = i.filename[len(prefix):]
                if rel.startswith(".git/") or "/.git/" in rel:
                    continue
                if i.file_size > MAX_FILE_BYTES:
                    yield RawFile(rel, i.file_size, skip=SKIP_TOO_LARGE)
                else:
                    yield RawFile(rel, i.file_size, z.read(i))
        return
    files: list[RawFile] = []
    with tarfile.open(path) as t:
        members = t.getmembers()
        prefix = _top_prefix([m.name for m in members if m.isfile()])
        for m in members:
            rel = m.name[len(prefix):] if m.name.startswith(prefix) else m.name
            if rel.startswith(".git/") or "/.git/" in rel or m.isdir():
                continue
            if not m.isfile():
                files.append(RawFile(rel, 0, skip=SKIP_SPECIAL))
            elif m.size > MAX_FILE_BYTES:
                files.append(RawFile(rel, m.size, skip=SKIP_TOO_LARGE))
            else:
                files.append(RawFile(rel, m.size, t.extractfile(m).read()))
    yield from sorted(files, key=lambda f: f.path)


def iter_files(unit: SourceUnit, only=None) -> Iterator[RawFile]:
    """Raw files of a repository unit in a stable order, `.git` left out; `only(path)` limits what is read."""
    p = Path(unit.path)
    if unit.kind == "dir":
        yield from _iter_dir(p, unit.exclude, only)
    elif unit.kind == "files":
        yield from _iter_files(p, unit.files, only)
    elif unit.kind == "git":
        yield from (f for f in _iter_git(p) if only is None or only(f.path))
    elif unit.kind == "archive":
        yield from (f for f in _iter_archive(p) if only is None or only(f.path))
    else:
        raise ValueError(f"unit kind {unit.kind!r} has no files iterator")
