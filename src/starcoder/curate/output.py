"""The dataset writer: Parquet shards `data/<language>/<rank>.parquet` in the format of docs/formats.md.

`CardStats` (just before the writer) counts kept files and bytes per language and per licence as
stats named `card/<section>/<row>/<metric>`; the data card (card.py) turns every such stat of every step
into a table, so any step can add a section to the card the same way.
"""
from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.parquet import ParquetWriter

COLUMNS = ("content", "repo", "path", "language", "extension", "license", "stars", "size", "hexsha", "repos")


def dataset_schema():
    import pyarrow as pa
    return pa.schema([("content", pa.string()), ("repo", pa.string()), ("path", pa.string()), ("language", pa.string()),
                      ("extension", pa.string()), ("license", pa.string()), ("stars", pa.int64()), ("size", pa.int64()),
                      ("hexsha", pa.string()), ("repos", pa.list_(pa.string()))])


def card_stat(step: PipelineStep, section: str, row: str, nbytes: int | None = None) -> None:
    """Count one file (and `nbytes` bytes) in row `row` of data-card section `section`.

    Any step may call this (or `stat_update("card/<section>/<row>/<metric>", value=...)` directly):
    the card shows every such section without knowing the step.
    """
    step.stat_update(f"card/{section}/{row}/files")
    if nbytes is not None:
        step.stat_update(f"card/{section}/{row}/bytes", value=nbytes, unit="bytes")


class RemovedBytes:
    """Mixin for a datatrove BaseFilter: also counts the bytes of what it drops, per reason, for the card."""

    def filter_batch(self, batch: list[Document]) -> list:
        results = [self.filter(doc) for doc in batch]
        for doc, res in zip(batch, results):
            if isinstance(res, tuple) and not res[0] and len(res) > 1:
                size = doc.metadata.get("size") or len(doc.text.encode("utf-8"))
                self.stat_update(f"card/removed/{res[1]}/bytes", value=size, unit="bytes")
        return results


class CardStats(PipelineStep):
    """Counts the files and bytes that reach the output, per language and per licence."""
    name = "kept files"
    type = "📊 - STATS"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            size = doc.metadata.get("size") or len(doc.text.encode("utf-8"))
            card_stat(self, "languages", doc.metadata.get("language") or "?", size)
            card_stat(self, "licenses", doc.metadata.get("license") or "none", size)
            yield doc


def _adapter(self, doc: Document) -> dict:
    m = doc.metadata
    return {"content": doc.text, "repo": m["repo"], "path": m["path"], "language": m["language"],
            "extension": m["extension"], "license": m.get("license") or "", "stars": int(m.get("stars") or 0),
            "size": int(m["size"]), "hexsha": m["hexsha"], "repos": list(m.get("repos") or [m["repo"]])}


class DatasetWriter(ParquetWriter):
    """datatrove's ParquetWriter with the curated-dataset schema, one folder per language."""
    name = "dataset writer"

    def __init__(self, data_dir: str):
        super().__init__(data_dir, output_filename="${language}/${rank}.parquet", adapter=_adapter,
                         schema=dataset_schema(), compression="zstd", use_content_defined_chunking=False)
