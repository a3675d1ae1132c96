"""Reading a curated output back for comparisons."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq


def rows(out: Path) -> list[dict]:
    """Every output row, sorted (shard layout may differ between runs; row content may not)."""
    out_rows = []
    for f in sorted((out / "data").glob("*/*.parquet")):
        out_rows += pq.read_table(f).to_pylist()
    return sorted(out_rows, key=lambda r: (r["repo"], r["path"]))


def removed(out: Path) -> dict[tuple[str, str], str]:
    res = {}
    for f in (out / "removed").glob("*/*.jsonl.gz"):
        with gzip.open(f, "rt") as fh:
            for line in fh:
                d = json.loads(line)
                res[(d["metadata"]["repo"], d["metadata"]["path"])] = d["metadata"]["filter_reason"]
    return res


def card_counts(out: Path) -> dict:
    card = json.loads((out / "data_card.json").read_text())
    return {"kept": card["kept"], "sections": card["sections"], "removed": card["removed"]}
