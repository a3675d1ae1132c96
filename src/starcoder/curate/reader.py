"""The source step: repositories and datasets -> one datatrove Document per file.

Document.text is the file's content; metadata holds repo, path, size, hexsha (git blob id), stars
and license (the SPDX expression for that path, "" when none). Skipped files are counted as
`dropped_<reason>` (too_large, binary, not_utf8, vcs_dir, bytecode_cache_dir, not_regular_file).
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
from pathlib import Path
from typing import Iterator

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from starcoder.curate.license_policy import combine_and, normalise
from starcoder.curate.license_scope import RepoLicenses, wants_file
from starcoder.curate.sources import (MAX_FILE_BYTES, SKIP_BINARY, SKIP_NOT_UTF8, SKIP_TOO_LARGE, SourceUnit,
                                      iter_files)

# The Stack's column names first, then plain ones.
_REPO_COLS = ("max_stars_repo_name", "repo_name", "repo")
_PATH_COLS = ("max_stars_repo_path", "path")
_STARS_COLS = ("max_stars_count", "stars")
_LICENSE_COLS = ("max_stars_repo_licenses", "licenses", "license")


def git_blob_sha(data: bytes) -> str:
    """Git's blob id: sha1 of `blob <size>\\0<bytes>`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def decode_text(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) for UTF-8 text; (None, reason) for binary or undecodable bytes."""
    if b"\0" in data[:8192]:
        return None, SKIP_BINARY
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, SKIP_NOT_UTF8


def _first(row: dict, cols) -> object:
    for c in cols:
        if row.get(c) not in (None, ""):
            return row[c]
    return None


def _dataset_rows(path: str) -> Iterator[dict]:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq
        for batch in pq.ParquetFile(path).iter_batches(batch_size=512):
            yield from batch.to_pylist()
    else:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{path}:{n}: not a JSON line ({e})") from None


class RepositoryReader(PipelineStep):
    """Reads the units assigned to this task (unit i goes to task i % world_size)."""
    name = "sources"
    type = "📖 - READER"

    def __init__(self, units: list[SourceUnit], limit: int = -1, skipped_writer=None):
        super().__init__()
        self.units = list(units)
        self.limit = limit  # at most this many documents per task (-1: all)
        self.skipped_writer = skipped_writer  # a datatrove writer: one record (no text) per skipped file

    def _skip(self, repo: str, path: str, size: int, reason: str, rank: int) -> None:
        self.stat_update(f"dropped_{reason}")
        self.stat_update(f"card/removed/{reason}/bytes", value=size, unit="bytes")
        if self.skipped_writer is not None:
            self.skipped_writer.write(Document(text="", id=f"{repo}:{path}", metadata={
                "repo": repo, "path": path, "size": size, "filter_reason": reason}), rank)

    def _doc(self, unit_repo: str, path: str, data: bytes, stars: int, license: str | None, hexsha: str | None = None,
             rank: int = 0):
        text, reason = decode_text(data)
        if reason:
            self._skip(unit_repo, path, len(data), reason, rank)
            return None
        self.stat_update("documents")
        self.stat_update("bytes", value=len(data), unit="bytes")
        return Document(text=text, id=f"{unit_repo}:{path}", metadata={
            "repo": unit_repo, "path": path, "size": len(data), "hexsha": hexsha or git_blob_sha(data),
            "stars": int(stars or 0), "license": license or ""})

    def _read_repo(self, unit: SourceUnit, rank: int) -> Iterator[Document]:
        lic_files = {}
        for raw in iter_files(unit, only=wants_file):
            if raw.data is not None:
                text, _ = decode_text(raw.data)
                if text is not None:
                    lic_files[raw.path] = text
        licenses = RepoLicenses.build(lic_files, unit.declared_license, unit.license_authoritative)
        for raw in iter_files(unit):
            if raw.skip:
                self._skip(unit.repo, raw.path, raw.size, raw.skip, rank)
                continue
            text_head = raw.data[:4096].decode("utf-8", errors="ignore")
            doc = self._doc(unit.repo, raw.path, raw.data, unit.stars, licenses.for_path(raw.path, text_head), raw.hexsha,
                            rank)
            if doc is not None:
                yield doc

    def _read_dataset(self, unit: SourceUnit, rank: int) -> Iterator[Document]:
        for n, row in enumerate(_dataset_rows(unit.path)):
            content = row.get("content")
            if not isinstance(content, str):
                raise ValueError(f"{unit.path}: row {n} has no string `content` column; datasets need `content` "
                                 f"plus repo/path metadata (The Stack's max_stars_repo_* names are understood)")
            data = content.encode("utf-8")
            repo = str(_first(row, _REPO_COLS) or Path(unit.path).name)
            path = str(_first(row, _PATH_COLS) or f"row-{n}")
            if len(data) > MAX_FILE_BYTES:
                self._skip(repo, path, len(data), SKIP_TOO_LARGE, rank)
                continue
            lic = _first(row, _LICENSE_COLS)
            lic = combine_and(normalise(x) for x in lic) if isinstance(lic, (list, tuple)) else normalise(lic)
            doc = self._doc(repo, path, data, _first(row, _STARS_COLS) or 0, lic, row.get("hexsha"), rank)
            if doc is not None:
                yield doc

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        count = 0
        with self.skipped_writer if self.skipped_writer is not None else contextlib.nullcontext():
            for unit in self.units[rank::world_size]:
                docs = self._read_dataset(unit, rank) if unit.kind == "dataset" else self._read_repo(unit, rank)
                for doc in docs:
                    if 0 <= self.limit <= count:
                        return
                    count += 1
                    with self.track_time():
                        yield doc
