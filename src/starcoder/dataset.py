"""Read a curated dataset folder (the format `starcoder curate` writes; see docs/formats.md).

Only pyarrow is needed, so the index, the tokenizer trainer and the trainer can all read
curated data without importing the curation engine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

COLUMNS = ("content", "repo", "path", "language", "extension", "license", "stars", "size", "hexsha", "repos")


def dataset_files(dataset_dir: str | Path) -> list[Path]:
    """All Parquet shards of a curated dataset, in a stable order (language, then name)."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist; create one with `starcoder curate SOURCE --out {root}`")
    data = root / "data"
    files = sorted(data.glob("**/*.parquet")) if data.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{root} holds no Parquet shards under data/; is it a curated dataset "
                                f"(made by `starcoder curate`)?")
    return files


def iter_rows(dataset_dir: str | Path, columns: tuple[str, ...] | list[str] | None = None,
              batch_size: int = 1024) -> Iterator[dict]:
    """Yield one dict per file of the dataset, with the requested columns (default: all)."""
    import pyarrow.parquet as pq

    for f in dataset_files(dataset_dir):
        pf = pq.ParquetFile(f)
        cols = list(columns) if columns else None
        if cols:
            missing = [c for c in cols if c not in pf.schema_arrow.names]
            if missing:
                raise ValueError(f"{f} lacks column(s) {missing}; expected the curated format {COLUMNS}")
        for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
            yield from batch.to_pylist()
