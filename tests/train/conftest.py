"""Fixtures for training tests: curated datasets written as Parquet in docs/formats.md's layout."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


def write_dataset(root: Path, sources: dict[str, list[str]], stars: int = 42) -> Path:
    """A curated dataset folder: data/<language>/00000.parquet with the formats.md columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for lang, docs in sources.items():
        d = root / "data" / lang
        d.mkdir(parents=True, exist_ok=True)
        rows = []
        for i, text in enumerate(docs):
            raw = text.encode("utf-8")
            rows.append({"content": text, "repo": f"owner{i % 3}/repo{i}", "path": f"src/file_{i}.{lang[:2]}",
                         "language": lang, "extension": lang[:2], "license": "MIT", "stars": stars * i,
                         "size": len(raw), "hexsha": hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest(),
                         "repos": [f"owner{i % 3}/repo{i}"]})
        pq.write_table(pa.Table.from_pylist(rows), d / "00000.parquet")
    return root


def repetitive_corpus(n: int = 40) -> list[str]:
    """Short, highly regular programs (a model can learn them almost exactly)."""
    return [f"def add_{i % 4}(a, b):\n    return a + b\n\n" * 3 for i in range(n)]


@pytest.fixture(scope="session")
def code_tokenizer():
    """A byte-level BPE tokenizer (StarCoder special tokens) trained on stdlib sources + some UTF-8."""
    import sysconfig

    from starcoder.tokenizer import Tokenizer

    stdlib = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:30]
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in stdlib]
    extra = ["# héllo wörld — ünïcode 数据 файл 🚀\n", "def add(a, b):\n    return a + b\n"] * 20
    return Tokenizer.train(texts + extra, vocab_size=400)


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory, code_tokenizer):
    """Token shards of two sources (python repetitive code, text with multi-byte characters)."""
    from starcoder.train.shards import TokenizeOptions, tokenize_dataset

    root = tmp_path_factory.mktemp("ds")
    write_dataset(root, {"python": repetitive_corpus(40),
                         "markdown": [f"# Überschrift {i}\nTexte en français, 中文字符 and emoji 🚀 {i}\n" * 4
                                      for i in range(30)]})
    out = tmp_path_factory.mktemp("shards")
    tokenize_dataset(root, code_tokenizer, out, TokenizeOptions(seed=1, workers=1), progress=False)
    return out


@pytest.fixture(scope="session")
def make_dataset():
    """write_dataset(root, {language: [texts]}, stars=42) as a fixture (test folders are not packages)."""
    return write_dataset


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread; on a busy 2-core machine two threads spin-wait (10x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
