"""Token shards: a curated dataset tokenized into flat memory-mapped arrays, one set per source.

Layout of SHARDS_DIR (see docs/train.md):
    shards.json                      dtype, vocab size, seed, per-source/split counts
    tokenizer.json (+ configs)       the tokenizer that made the shards
    <source>/train.bin  val.bin      uint16 (vocab <= 65536) or uint32 token ids, documents
                                     back to back, each followed by <|endoftext|>
    <source>/train.idx.npy val.idx.npy  int64 start offsets of the documents (+ the end)

A source is a folder under the dataset's data/ (a language). Each document gets StarCoder's
metadata prefix (spec §2): `<reponame>repo`, `<filename>path`, `<gh_stars>bucket`, each with
probability 0.2, in that order, then a newline. Everything is a pure function of (seed, source,
row number), so any number of workers writes the same bytes.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from starcoder.dataset import dataset_files
from starcoder.tokenizer import EOS, Tokenizer

FORMAT_VERSION = 1
META_FIELDS = (("<reponame>", "repo"), ("<filename>", "path"), ("<gh_stars>", "stars"))
SPLITS = ("train", "val")


def star_bucket(stars: int | None) -> str:
    """StarCoder's star buckets: 0, 1-10, 10-100, 100-1000, 1000+."""
    s = int(stars or 0)
    if s <= 0:
        return "0"
    if s <= 10:
        return "1-10"
    if s <= 100:
        return "10-100"
    if s <= 1000:
        return "100-1000"
    return "1000+"


def token_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= 2**16 else np.uint32


@dataclass
class TokenizeOptions:
    seed: int = 0
    metadata_prob: float = 0.2
    val_fraction: float = 0.03
    workers: int = 1  # 1: in this process, the Rust tokenizer threads over all cores; N: N processes
    batch_rows: int = 256


def doc_rng(seed: int, source: str, row: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(source.encode()), row])


def metadata_ids(tok: Tokenizer, row: dict, rng: np.random.Generator, prob: float) -> list[int]:
    """The metadata prefix of one document: included fields, in order, then a newline."""
    draws = [rng.random() < prob for _ in META_FIELDS]  # always three draws: stable streams
    fields = [(tag, col) for (tag, col), keep in zip(META_FIELDS, draws) if keep]
    ids: list[int] = []
    for k, (tag, col) in enumerate(fields):
        value = star_bucket(row.get(col)) if col == "stars" else str(row.get(col) or "")
        ids.append(tok.token_to_id(tag))
        ids.extend(tok.encode(value + ("\n" if k == len(fields) - 1 else "")))
    return ids


# ---- worker side (one tokenizer per process) --------------------------------------------------
_TOK: Tokenizer | None = None


def _init_worker(tokenizer_file: str, single_thread: bool = False) -> None:
    global _TOK
    if single_thread:  # one tokenizer thread per worker process: the processes are the parallelism
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _TOK = Tokenizer.from_file(tokenizer_file)


def _tokenize_batch(job: tuple[str, int, list[dict], float, int]) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, document lengths) of a batch of rows of one source starting at row `first`."""
    source, first, rows, prob, seed = job
    tok = _TOK
    eos = tok.eos_token_id
    contents = tok.encode_batch([r.get("content") or "" for r in rows])
    docs = []
    for i, (row, content) in enumerate(zip(rows, contents)):
        meta = metadata_ids(tok, row, doc_rng(seed, source, first + i), prob)
        docs.append(meta + content + [eos])
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    flat = np.fromiter((t for d in docs for t in d), dtype=np.int64, count=int(lengths.sum()))
    return flat, lengths


# ---- main side --------------------------------------------------------------------------------
def _sources(dataset_dir: Path) -> dict[str, list[Path]]:
    data = Path(dataset_dir) / "data"
    out: dict[str, list[Path]] = {}
    for f in dataset_files(dataset_dir):
        out.setdefault(f.parent.relative_to(data).as_posix() if f.parent != data else "default", []).append(f)
    return out


def _jobs(source: str, files: list[Path], opts: TokenizeOptions):
    import pyarrow.parquet as pq

    row = 0
    for f in files:
        pf = pq.ParquetFile(f)
        if "content" not in pf.schema_arrow.names:
            raise ValueError(f"{f} has no 'content' column; is it a curated dataset shard (docs/formats.md)?")
        cols = [c for c in ("content", "repo", "path", "stars") if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=opts.batch_rows, columns=cols):
            rows = batch.to_pylist()
            yield (source, row, rows, opts.metadata_prob, opts.seed)
            row += len(rows)


def _pool(workers: int, tokenizer_file: str):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn: the Rust tokenizer's thread pool does not survive fork
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=(tokenizer_file, True))


def _ordered_map(pool, jobs, in_flight: int):
    """pool.map with at most `in_flight` batches queued (rows are not all read into memory)."""
    from collections import deque

    queue: deque = deque()
    for job in jobs:
        queue.append(pool.submit(_tokenize_batch, job))
        if len(queue) >= in_flight:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


class _SplitWriter:
    def __init__(self, path: Path, dtype):
        self.f = open(path.with_suffix(".bin"), "wb")
        self.path, self.dtype = path, dtype
        self.offsets = [0]

    def add(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        if len(lengths):
            self.f.write(tokens.astype(self.dtype).tobytes())
            self.offsets.extend((self.offsets[-1] + np.cumsum(lengths)).tolist())

    def close(self) -> dict:
        self.f.close()
        np.save(self.path.with_suffix(".idx.npy"), np.asarray(self.offsets, dtype=np.int64))
        return {"tokens": self.offsets[-1], "docs": len(self.offsets) - 1}


def tokenize_dataset(dataset_dir, tokenizer: Tokenizer, out_dir, opts: TokenizeOptions | None = None,
                     progress: bool = True) -> dict:
    """Tokenize every source of a curated dataset into SHARDS_DIR; returns the shards.json dict.

    The last `val_fraction` of each source's documents (at least one when a source has two or
    more) form the held-out split, as in StarCoderData.
    """
    import pyarrow.parquet as pq
    from tqdm import tqdm

    opts = opts or TokenizeOptions()
    if not 0 <= opts.metadata_prob <= 1 or not 0 <= opts.val_fraction < 1:
        raise ValueError("metadata_prob must be in [0, 1] and val_fraction in [0, 1)")
    if tokenizer.eos_token_id is None or any(tokenizer.token_to_id(t) is None for t, _ in META_FIELDS):
        raise ValueError(f"the tokenizer lacks {EOS} or the metadata tokens; train one with `starcoder tokenizer train`")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(out)
    dtype = token_dtype(tokenizer.vocab_size)
    sources = _sources(Path(dataset_dir))
    n_rows = {s: sum(pq.ParquetFile(f).metadata.num_rows for f in fs) for s, fs in sources.items()}
    workers = opts.workers if opts.workers > 0 else (os.cpu_count() or 1)
    meta = {"format": FORMAT_VERSION, "dtype": np.dtype(dtype).name, "vocab_size": tokenizer.vocab_size,
            "seed": opts.seed, "metadata_prob": opts.metadata_prob, "val_fraction": opts.val_fraction,
            "dataset": str(Path(dataset_dir).resolve()), "sources": {}}
    bar = tqdm(total=sum(n_rows.values()), unit="doc", desc="tokenize", disable=not progress, file=None)
    pool = _pool(workers, str(out / "tokenizer.json")) if workers > 1 else None
    if pool is None:
        _init_worker(str(out / "tokenizer.json"))
    try:
        for source, files in sources.items():
            n = n_rows[source]
            n_val = int(round(n * opts.val_fraction))
            n_val = max(n_val, 1) if n >= 2 and opts.val_fraction > 0 else n_val
            (out / source).mkdir(parents=True, exist_ok=True)
            writers = {s: _SplitWriter(out / source / s, dtype) for s in SPLITS}
            jobs = _jobs(source, files, opts)
            results = _ordered_map(pool, jobs, 2 * workers) if pool else map(_tokenize_batch, jobs)
            row = 0
            for tokens, lengths in results:
                cut = min(max(n - n_val - row, 0), len(lengths))  # rows before the held-out tail
                split_at = int(lengths[:cut].sum())
                writers["train"].add(tokens[:split_at], lengths[:cut])
                writers["val"].add(tokens[split_at:], lengths[cut:])
                row += len(lengths)
                bar.update(len(lengths))
            meta["sources"][source] = {s: w.close() for s, w in writers.items()}
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        bar.close()
    (out / "shards.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


class Shard:
    """One split of one source: `tokens` (memory-mapped) and `offsets` (document starts + end)."""

    def __init__(self, directory: Path, source: str, split: str, dtype: str):
        base = directory / source / split
        if not base.with_suffix(".bin").is_file():
            raise FileNotFoundError(f"{base}.bin is missing; re-run `starcoder tokenize` to rebuild {directory}")
        self.source, self.split = source, split
        size = base.with_suffix(".bin").stat().st_size
        self.tokens = (np.memmap(base.with_suffix(".bin"), dtype=dtype, mode="r") if size
                       else np.zeros(0, dtype=dtype))
        self.offsets = np.load(base.with_suffix(".idx.npy"))

    def __len__(self) -> int:
        return len(self.tokens)

    def document(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]


def open_shards(directory, split: str = "train") -> dict[str, Shard]:
    """{source: Shard} of a SHARDS_DIR for one split."""
    d = Path(directory)
    info = read_info(d)
    return {s: Shard(d, s, split, info["dtype"]) for s in info["sources"]}


def read_info(directory) -> dict:
    d = Path(directory)
    f = d / "shards.json"
    if not f.is_file():
        raise FileNotFoundError(f"{d} has no shards.json; create token shards with "
                                f"`starcoder tokenize DATASET_DIR --tokenizer DIR --out {d}`")
    info = json.loads(f.read_text(encoding="utf-8"))
    if info.get("format") != FORMAT_VERSION:
        raise ValueError(f"{f} has format {info.get('format')!r}, this version reads {FORMAT_VERSION}; re-tokenize")
    return info
