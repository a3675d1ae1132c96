"""Exact dedup across repositories, as a multi-stage job (like datatrove's own dedup stages).

1. `StageWriter` (end of the scan stage) stores every surviving document of task r in
   `WORK/docs/<r>.parquet` (always written, even when empty, so that stages line up by rank).
2. `ExactDedupReduce` (one task) reads the (hexsha, repo, path, stars, license_class) columns
   of every task file, groups identical content and decides per row:
   - no copy in a permissive repository -> drop (`license_not_permissive` or `no_license`);
   - otherwise keep ONE permissive copy: most stars, then smallest (repo, path); the others
     are `exact_duplicate`; `repos` lists every repository holding the content (sorted).
   Decisions go to `WORK/dedup/<r>.parquet`, row-aligned with the task's docs file.
3. `StageReader` reads docs + decisions of task r; `LicenseFilter` and `ExactDedupFilter`
   apply the decisions with their reasons.
"""
from __future__ import annotations

import os
from collections import defaultdict

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from starcoder.curate.license_policy import NO_LICENSE, PERMISSIVE
from starcoder.curate.output import RemovedBytes

LICENSE_NOT_PERMISSIVE = "license_not_permissive"
NO_LICENSE_FOUND = "no_license"
EXACT_DUPLICATE = "exact_duplicate"

# metadata carried between stages (besides the text)
STAGE_FIELDS = {"repo": "string", "path": "string", "language": "string", "extension": "string",
                "license": "string", "license_class": "string", "stars": "int64", "size": "int64", "hexsha": "string"}


def _schema():
    import pyarrow as pa
    return pa.schema([("content", pa.string())] + [(k, getattr(pa, v)()) for k, v in STAGE_FIELDS.items()])


def _atomic_write_table(table, path: str) -> None:
    import pyarrow.parquet as pq
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)  # a killed task never leaves a half-written file behind


class StageWriter(PipelineStep):
    """Writes this task's documents to `<folder>/<rank>.parquet` (atomically, even if empty)."""
    name = "stage writer"
    type = "💽 - WRITER"

    def __init__(self, folder: str, batch_rows: int = 2048):
        super().__init__()
        self.folder = folder
        self.batch_rows = batch_rows

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow as pa
        import pyarrow.parquet as pq
        schema = _schema()
        path = os.path.join(self.folder, f"{rank:05d}.parquet")
        os.makedirs(self.folder, exist_ok=True)
        tmp = path + ".tmp"
        rows: list[dict] = []
        with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
            for doc in data or []:
                rows.append({"content": doc.text, **{k: doc.metadata.get(k) for k in STAGE_FIELDS}})
                self.stat_update("documents")
                if len(rows) >= self.batch_rows:
                    w.write_table(pa.Table.from_pylist(rows, schema=schema))
                    rows = []
                yield doc
            if rows:
                w.write_table(pa.Table.from_pylist(rows, schema=schema))
        os.replace(tmp, path)


class ExactDedupReduce(PipelineStep):
    """Single task: reads all stage files' keys, decides keep/drop per row, writes decision files."""
    name = "exact dedup (reduce)"
    type = "🫂 - DEDUP"

    def __init__(self, docs_folder: str, out_folder: str, n_files: int):
        super().__init__()
        self.docs_folder, self.out_folder, self.n_files = docs_folder, out_folder, n_files

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow as pa
        import pyarrow.parquet as pq
        if world_size != 1:
            raise ValueError("the exact-dedup reduce stage runs as a single task (tasks=1)")
        cols = ["hexsha", "repo", "path", "stars", "license_class"]
        tables = []
        for r in range(self.n_files):
            path = os.path.join(self.docs_folder, f"{r:05d}.parquet")
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path} is missing: the scan stage did not finish task {r}; rerun the command")
            tables.append(pq.read_table(path, columns=cols).to_pydict())
        groups: dict[str, list[tuple]] = defaultdict(list)
        for r, t in enumerate(tables):
            for i, (sha, repo, path, stars, cls) in enumerate(zip(*(t[c] for c in cols))):
                groups[sha].append((r, i, repo, path, stars, cls))
        keep = [[None] * len(t["hexsha"]) for t in tables]
        repos = [[None] * len(t["hexsha"]) for t in tables]
        for sha, members in groups.items():
            holders = sorted({m[2] for m in members})
            permissive = [m for m in members if m[5] == PERMISSIVE]
            if permissive:
                winner = min(permissive, key=lambda m: (-(m[4] or 0), m[2], m[3]))
                self.stat_update("unique_contents")
                if len(members) > 1:
                    self.stat_update("duplicated_contents")
            for m in members:
                r, i = m[0], m[1]
                repos[r][i] = holders
                if not permissive:
                    cls = {x[5] for x in members}
                    keep[r][i] = NO_LICENSE_FOUND if cls == {NO_LICENSE} else LICENSE_NOT_PERMISSIVE
                else:
                    keep[r][i] = "" if m is winner else EXACT_DUPLICATE
        schema = pa.schema([("drop_reason", pa.string()), ("repos", pa.list_(pa.string()))])
        for r in range(self.n_files):
            _atomic_write_table(pa.table({"drop_reason": keep[r], "repos": repos[r]}, schema=schema),
                                os.path.join(self.out_folder, f"{r:05d}.parquet"))
        return
        yield  # a generator step that yields nothing


class StageReader(PipelineStep):
    """Reads `<docs>/<rank>.parquet` (+ the row-aligned `<decisions>/<rank>.parquet` when given)."""
    name = "stage reader"
    type = "📖 - READER"

    def __init__(self, docs_folder: str, decisions_folder: str | None = None):
        super().__init__()
        self.docs_folder, self.decisions_folder = docs_folder, decisions_folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow.parquet as pq
        docs = pq.ParquetFile(os.path.join(self.docs_folder, f"{rank:05d}.parquet"))
        dec_batches = (pq.ParquetFile(os.path.join(self.decisions_folder, f"{rank:05d}.parquet")).iter_batches(batch_size=1024)
                       if self.decisions_folder else None)
        pending: list[dict] = []
        for batch in docs.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                if dec_batches is not None and not pending:
                    pending = next(dec_batches).to_pylist()[::-1]
                meta = {k: row[k] for k in STAGE_FIELDS}
                if dec_batches is not None:
                    dec = pending.pop()
                    meta["drop_reason"], meta["repos"] = dec["drop_reason"], dec["repos"]
                self.stat_update("documents")
                yield Document(text=row["content"], id=f"{meta['repo']}:{meta['path']}", metadata=meta)


class LicenseFilter(RemovedBytes, BaseFilter):
    """Drops content that no permissive repository holds (decided by ExactDedupReduce)."""
    name = "licence filter"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        reason = doc.metadata.get("drop_reason")
        if reason in (LICENSE_NOT_PERMISSIVE, NO_LICENSE_FOUND):
            return False, reason
        return True


class ExactDedupFilter(RemovedBytes, BaseFilter):
    """Drops every copy but the chosen one of identical content (decided by ExactDedupReduce)."""
    name = "exact dedup"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("drop_reason") == EXACT_DUPLICATE:
            return False, EXACT_DUPLICATE
        return True
