"""Exact dedup across repositories, as a multi-stage job (like datatrove's own dedup stages).

1. `StageWriter` (end of the scan stage) stores every surviving document of task r in
   `WORK/docs/<r>.parquet` (always written, even when empty, so that stages line up by rank).
2. `ExactDedupReduce` (one task per hash shard: task r owns the hashes with crc32 % tasks == r)
   reads the (hexsha, repo, path, stars, license_class) columns of every scan file, groups
   identical content and decides per row:
   - no copy in a permissive repository -> drop (`license_not_permissive` or `no_license`);
   - otherwise keep ONE permissive copy: most stars, then smallest (repo, path); the others
     are `exact_duplicate`; `repos` lists every repository holding the content (sorted).
   Decisions go to `WORK/dedup/<scan task>/<shard>.parquet` (row index, reason, repos).
3. `StageReader` reads docs + decisions of task r; `LicenseFilter` and `ExactDedupFilter`
   apply the decisions with their reasons.
"""
from __future__ import annotations

import os
import zlib
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


def shard_of(hexsha: str, shards: int) -> int:
    """The reduce task that owns a content hash."""
    return zlib.crc32(hexsha.encode()) % shards


class ExactDedupReduce(PipelineStep):
    """Reduce task r of `world_size`: owns the hashes with shard_of(hash) == r; for each scan file f it writes
    the decisions of its rows to `<out>/<f>/<r>.parquet` (row index, drop_reason, repos)."""
    name = "exact dedup (reduce)"
    type = "🫂 - DEDUP"

    def __init__(self, docs_folder: str, out_folder: str, n_files: int):
        super().__init__()
        self.docs_folder, self.out_folder, self.n_files = docs_folder, out_folder, n_files

    def _keys(self, rank: int, world_size: int) -> list[dict]:
        import pyarrow.parquet as pq
        cols = ["hexsha", "repo", "path", "stars", "license_class"]
        out = []
        for f in range(self.n_files):
            path = os.path.join(self.docs_folder, f"{f:05d}.parquet")
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path} is missing: the scan stage did not finish task {f}; rerun the command")
            t = pq.read_table(path, columns=cols).to_pydict()
            mine = [i for i, sha in enumerate(t["hexsha"]) if shard_of(sha, world_size) == rank]
            out.append({"row": mine, **{c: [t[c][i] for i in mine] for c in cols}})
        return out

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow as pa
        keys = self._keys(rank, world_size)
        groups: dict[str, list[tuple]] = defaultdict(list)
        for f, t in enumerate(keys):
            rows = zip(t["hexsha"], t["repo"], t["path"], t["stars"], t["license_class"])
            for j, (sha, repo, path, stars, cls) in enumerate(rows):
                groups[sha].append((f, j, repo, path, stars, cls))
        reasons = [[""] * len(t["row"]) for t in keys]
        repos = [[None] * len(t["row"]) for t in keys]
        for members in groups.values():
            holders = sorted({m[2] for m in members})
            permissive = [m for m in members if m[5] == PERMISSIVE]
            winner = min(permissive, key=lambda m: (-(m[4] or 0), m[2], m[3])) if permissive else None
            if permissive:
                self.stat_update("unique_contents")
                if len(members) > 1:
                    self.stat_update("duplicated_contents")
            classes = {m[5] for m in members}
            for m in members:
                f, j = m[0], m[1]
                repos[f][j] = holders
                if winner is None:
                    reasons[f][j] = NO_LICENSE_FOUND if classes == {NO_LICENSE} else LICENSE_NOT_PERMISSIVE
                elif m is not winner:
                    reasons[f][j] = EXACT_DUPLICATE
        schema = pa.schema([("row", pa.int64()), ("drop_reason", pa.string()), ("repos", pa.list_(pa.string()))])
        for f, t in enumerate(keys):
            table = pa.table({"row": t["row"], "drop_reason": reasons[f], "repos": repos[f]}, schema=schema)
            _atomic_write_table(table, os.path.join(self.out_folder, f"{f:05d}", f"{rank:05d}.parquet"))
        return
        yield  # a generator step that yields nothing


def _decisions(folder: str, n_rows: int) -> tuple[list, list]:
    """(drop_reason, repos) per row of one scan file, gathered from every reduce shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    files = sorted(f for f in os.listdir(folder) if f.endswith(".parquet")) if os.path.isdir(folder) else []
    table = pa.concat_tables([pq.read_table(os.path.join(folder, f)) for f in files]) if files else None
    got = 0 if table is None else table.num_rows
    if got != n_rows:
        raise FileNotFoundError(f"{folder} holds decisions for {got} of {n_rows} rows: the exact-dedup stage did not "
                                f"finish; rerun the command")
    if table is None:
        return [], []
    table = table.sort_by("row")
    return table.column("drop_reason").to_pylist(), table.column("repos").to_pylist()


class StageReader(PipelineStep):
    """Reads `<docs>/<rank>.parquet` (+ its exact-dedup decisions from `<decisions>/<rank>/*.parquet` when given)."""
    name = "stage reader"
    type = "📖 - READER"

    def __init__(self, docs_folder: str, decisions_folder: str | None = None):
        super().__init__()
        self.docs_folder, self.decisions_folder = docs_folder, decisions_folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow.parquet as pq
        docs = pq.ParquetFile(os.path.join(self.docs_folder, f"{rank:05d}.parquet"))
        reasons = repos = None
        if self.decisions_folder:
            reasons, repos = _decisions(os.path.join(self.decisions_folder, f"{rank:05d}"), docs.metadata.num_rows)
        i = 0
        for batch in docs.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                meta = {k: row[k] for k in STAGE_FIELDS}
                if reasons is not None:
                    meta["drop_reason"], meta["repos"] = reasons[i], repos[i]
                i += 1
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
