"""Build an index folder over a curated dataset, and apply opt-out files to it.

INDEX_DIR/
  meta.json          chunking, normaliser, FPR, verdict rule, corpus counts, applied opt-outs
  membership.bloom   rbloom filter of chunk hashes (see membership.py)
  search/            tantivy index (see search.py)
  who.json           owner -> repositories (see who.py)

One pass over the dataset feeds all three; chunk hashes go to a temporary file first so
the Bloom filter is sized for the exact number of chunks. Opting out deletes documents
from search and `who` and rebuilds the Bloom filter from the dataset (Bloom filters
cannot delete), so the dataset must still be readable then.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from starcoder.dataset import dataset_files, iter_rows
from starcoder.index.membership import HASH, NORMALISER, BloomIndex, VerdictRule, chunk_hashes
from starcoder.index.who import WhoTable
from starcoder.optout import OptOutList

FORMAT = "starcoder-index/1"
META, BLOOM, SEARCH, WHO = "meta.json", "membership.bloom", "search", "who.json"
REQUIRED = ("content", "repo", "path", "language", "license")


@dataclass
class IndexConfig:
    """Build options (all recorded in meta.json)."""
    chunk_chars: int = 50
    fpr: float = 0.01
    min_run: int = 2
    min_coverage: float = 0.8
    search: bool = True
    progress: bool = True

    def validate(self) -> None:
        if self.chunk_chars < 8:
            raise ValueError(f"chunk size {self.chunk_chars} is too small to be selective; use >= 8 (default 50)")
        if not 0 < self.fpr < 0.5:
            raise ValueError(f"false-positive rate {self.fpr} must be in (0, 0.5); default 0.01")
        if self.min_run < 1:
            raise ValueError(f"min_run must be >= 1, got {self.min_run}")
        if not 0 < self.min_coverage <= 1:
            raise ValueError(f"min_coverage must be in (0, 1], got {self.min_coverage}")


@dataclass
class BuildReport:
    files: int = 0
    bytes: int = 0
    chunks: int = 0
    short_files: int = 0  # normal form shorter than one chunk: not in the Bloom filter
    skipped_optout: int = 0
    seconds: float = 0.0
    languages: dict[str, int] = field(default_factory=dict)


def _shards(dataset: Path) -> list[dict]:
    return [{"path": str(f.relative_to(dataset)), "bytes": f.stat().st_size} for f in dataset_files(dataset)]


def _columns(dataset: Path) -> list[str]:
    import pyarrow.parquet as pq
    cols = list(REQUIRED)
    if all("repos" in pq.ParquetFile(f).schema_arrow.names for f in dataset_files(dataset)):
        cols.append("repos")
    return cols


def _total_rows(dataset: Path) -> int:
    import pyarrow.parquet as pq
    return sum(pq.ParquetFile(f).metadata.num_rows for f in dataset_files(dataset))


def _rows(dataset: Path, progress: bool, desc: str):
    from tqdm import tqdm
    rows = iter_rows(dataset, _columns(dataset))
    return tqdm(rows, total=_total_rows(dataset), desc=desc, unit="file", file=sys.stderr,
                disable=not progress, mininterval=0.5)


def _bloom_pass(dataset: Path, out: Path, cfg: IndexConfig, optout: OptOutList | None, on_row=None,
                desc: str = "index"):
    """Read the dataset once; write chunk hashes to a temp file, call on_row for kept rows.

    Returns (report, per-entry removed-file counts, temp hash file)."""
    rep, removed = BuildReport(), {}
    tmp = out / (BLOOM + ".chunks.tmp")
    t0 = time.perf_counter()
    with open(tmp, "wb") as fh:
        for row in _rows(dataset, cfg.progress, desc):
            entry = optout.match(row["repo"]) if optout else None
            if entry is not None:
                removed[entry] = removed.get(entry, 0) + 1
                rep.skipped_optout += 1
                continue
            content = row["content"] or ""
            h = chunk_hashes(content, cfg.chunk_chars)
            fh.write(h.tobytes())
            rep.files += 1
            rep.bytes += len(content.encode("utf-8"))
            rep.chunks += len(h)
            rep.short_files += len(h) == 0
            lang = row.get("language") or ""
            rep.languages[lang] = rep.languages.get(lang, 0) + 1
            if on_row is not None:
                on_row(rep.files - 1, row)
    rep.seconds = time.perf_counter() - t0
    return rep, removed, tmp


def _write_bloom(tmp: Path, n: int, fpr: float, dest: Path) -> int:
    bloom = BloomIndex.create(n, fpr)
    hashes = np.memmap(tmp, dtype=np.int64, mode="r") if n else np.empty(0, np.int64)
    for i in range(0, n, 1 << 20):
        bloom.update(hashes[i:i + (1 << 20)].tolist())
    del hashes
    part = Path(str(dest) + ".tmp")
    bloom.save(str(part))
    os.replace(part, dest)
    tmp.unlink()
    return bloom.size_in_bits


def build_index(dataset_dir: str | Path, out_dir: str | Path, config: IndexConfig | None = None,
                optout_file: str | Path | None = None, force: bool = False) -> dict:
    """Build membership, search and who indexes over a curated dataset; returns meta.json's content."""
    cfg = config or IndexConfig()
    cfg.validate()
    dataset, out = Path(dataset_dir).resolve(), Path(out_dir)
    shards = _shards(dataset)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} is not empty; choose a new --out folder or pass --force to replace it")
        if not (out / META).is_file():
            raise FileExistsError(f"{out} is not empty and holds no finished index ({META}), e.g. after an "
                                  f"interrupted build; delete it yourself or choose another --out")
        for name in (META, BLOOM, WHO):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / SEARCH, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    optout = OptOutList.from_file(optout_file) if optout_file else None

    who = WhoTable()
    writer = None
    if cfg.search:
        from starcoder.index.search import SearchWriter
        writer = SearchWriter(out / SEARCH)

    def on_row(i: int, row: dict) -> None:
        who.add_row(row)
        if writer is not None:
            writer.add(i, row)

    t0 = time.perf_counter()
    rep, removed, tmp = _bloom_pass(dataset, out, cfg, optout, on_row)
    if writer is not None:
        writer.close()
    bits = _write_bloom(tmp, rep.chunks, cfg.fpr, out / BLOOM)
    who.save(out / WHO)
    rep.seconds = time.perf_counter() - t0
    meta = {
        "format": FORMAT,
        "dataset": str(dataset),
        "shards": shards,
        "membership": {"file": BLOOM, "chunk_chars": cfg.chunk_chars, "stride": cfg.chunk_chars,
                       "fpr": cfg.fpr, "normaliser": NORMALISER, "hash": HASH, "chunks": rep.chunks,
                       "size_bits": bits, "verdict": asdict(VerdictRule(cfg.min_run, cfg.min_coverage))},
        "search": {"dir": SEARCH if cfg.search else None, "exact_tokens": "\\w+ lower-cased",
                   "subwords": "identifiers split on case, _ and digits"},
        "who": {"file": WHO, "owners": len(who.owners), "repositories": len(who.repos())},
        "corpus": {"files": rep.files, "bytes": rep.bytes, "short_files": rep.short_files,
                   "languages": dict(sorted(rep.languages.items()))},
        "optout": {"entries": list(optout.entries) if optout else [], "files_removed": rep.skipped_optout},
        "build_seconds": round(rep.seconds, 3),
    }
    write_meta(out, meta)
    return meta


def read_meta(index_dir: str | Path) -> dict:
    p = Path(index_dir) / META
    if not p.is_file():
        raise FileNotFoundError(f"{index_dir} is not an index folder (no {META}); "
                                f"build one with `starcoder index build DATASET_DIR --out {index_dir}`")
    meta = json.loads(p.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{p} has format {meta.get('format')!r}, this version reads {FORMAT!r}; rebuild the index")
    return meta


def write_meta(index_dir: str | Path, meta: dict) -> None:
    p = Path(index_dir) / META
    tmp = Path(str(p) + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, p)


@dataclass
class OptOutLine:
    line: str  # as written in the opt-out file
    entry: str  # normalised (`owner` or `owner/repo`)
    repositories: list[str]  # removed from search and who
    files: int  # files removed from search and membership


@dataclass
class OptOutReport:
    removed: list[OptOutLine]
    unmatched: list[str]  # lines that matched nothing in the index
    already_applied: list[str]  # lines whose entry an earlier opt-out already removed
    files_before: int
    files_after: int

    def to_dict(self) -> dict:
        return asdict(self)


def apply_optout(index_dir: str | Path, optout_file: str | Path, dataset_dir: str | Path | None = None,
                 progress: bool = True) -> OptOutReport:
    """Remove the repositories an opt-out file names from search and who; rebuild the Bloom filter.

    Idempotent: re-running after a crash (or with the same file) converges to the same index."""
    out = Path(index_dir)
    meta = read_meta(out)
    new = OptOutList.from_file(optout_file)
    dataset = Path(dataset_dir or meta["dataset"]).resolve()
    if not dataset.is_dir():
        raise FileNotFoundError(f"the dataset {dataset} is needed to rebuild the Bloom filter; "
                                f"pass --dataset DATASET_DIR")
    if _shards(dataset) != meta["shards"]:
        raise ValueError(f"the dataset at {dataset} differs from the one indexed (shard names or sizes "
                         f"changed); rebuild with `starcoder index build`")
    who = WhoTable.load(out / WHO)
    repos = who.repos()
    matched = {e: [r for r in repos if OptOutList.from_lines([e]).match(r)] for e in new.entries}
    every = OptOutList.from_lines([*meta["optout"]["entries"], *new.entries])

    to_delete = sorted({r for rs in matched.values() for r in rs})
    if meta["search"]["dir"]:
        from starcoder.index.search import delete_repos
        delete_repos(out / SEARCH, to_delete)
    m = meta["membership"]
    cfg = IndexConfig(chunk_chars=m["chunk_chars"], fpr=m["fpr"], progress=progress)
    rep, removed, tmp = _bloom_pass(dataset, out, cfg, every, desc="opt-out: rebuild Bloom")
    bits = _write_bloom(tmp, rep.chunks, cfg.fpr, out / BLOOM)
    who.remove(to_delete)
    who.save(out / WHO)

    files_before = meta["corpus"]["files"]
    lines, unmatched, already = [], [], []
    for e in new.entries:
        files = removed.get(e, 0) if e not in meta["optout"]["entries"] else 0
        if e in meta["optout"]["entries"] and not matched[e]:
            already.append(new.source_lines[e])
        elif matched[e] or files:
            lines.append(OptOutLine(new.source_lines[e], e, matched[e], files))
        else:
            unmatched.append(new.source_lines[e])
    meta["optout"] = {"entries": every.entries, "files_removed": rep.skipped_optout}
    meta["membership"].update(chunks=rep.chunks, size_bits=bits)
    meta["corpus"].update(files=rep.files, bytes=rep.bytes, short_files=rep.short_files,
                          languages=dict(sorted(rep.languages.items())))
    meta["who"].update(owners=len(who.owners), repositories=len(who.repos()))
    write_meta(out, meta)
    return OptOutReport(lines, unmatched, already, files_before, rep.files)
