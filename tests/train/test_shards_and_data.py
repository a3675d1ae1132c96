"""Token shards (metadata prefixes, separators, held-out split, determinism) and the packed loader."""
from __future__ import annotations

import filecmp
import json

import numpy as np
import pytest

from starcoder.train.data import PackedLoader, heldout_windows, token_byte_lengths
from starcoder.train.shards import (TokenizeOptions, open_shards, read_info, star_bucket, token_dtype,
                                    tokenize_dataset)


def test_star_buckets_and_dtype():
    assert [star_bucket(s) for s in (0, 1, 10, 11, 100, 101, 1000, 1001, None)] == \
        ["0", "1-10", "1-10", "10-100", "10-100", "100-1000", "100-1000", "1000+", "0"]
    assert token_dtype(49152) == np.uint16 and token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32


def test_documents_prefix_separators_split(tmp_path, code_tokenizer, make_dataset):
    tok = code_tokenizer
    docs = [f"print({i})\n# ü 🚀\n" for i in range(100)]
    make_dataset(tmp_path / "ds", {"python": docs}, stars=7)
    meta = tokenize_dataset(tmp_path / "ds", tok, tmp_path / "all", TokenizeOptions(metadata_prob=1.0, workers=1),
                            progress=False)
    assert meta["dtype"] == "uint16" and meta["sources"]["python"]["val"]["docs"] == 3  # last 3%
    train, val = open_shards(tmp_path / "all")["python"], open_shards(tmp_path / "all", "val")["python"]
    assert train.tokens.dtype == np.uint16 and len(train.offsets) == 98
    for i in (0, 5, 96):
        text = tok.decode(train.document(i).tolist())
        assert text == f"<reponame>owner{i % 3}/repo{i}<filename>src/file_{i}.py<gh_stars>" \
                       f"{star_bucket(7 * i)}\n{docs[i]}<|endoftext|>"
    assert tok.decode(val.document(2).tolist()).endswith(docs[99] + "<|endoftext|>")
    # control tokens are ids, content is plain text: exactly one <|endoftext|> per document
    assert int((np.asarray(train.tokens) == tok.eos_token_id).sum()) == 97

    meta0 = tokenize_dataset(tmp_path / "ds", tok, tmp_path / "none", TokenizeOptions(metadata_prob=0.0, workers=1),
                             progress=False)
    plain = open_shards(tmp_path / "none")["python"]
    assert tok.decode(plain.document(3).tolist()) == docs[3] + "<|endoftext|>"
    assert meta0["sources"]["python"]["train"]["docs"] == 97


def test_metadata_rate_and_parallel_determinism(tmp_path, code_tokenizer, make_dataset):
    tok = code_tokenizer
    make_dataset(tmp_path / "ds", {"python": [f"x = {i}\n" for i in range(600)], "go": ["package main\n"] * 50})
    a = tokenize_dataset(tmp_path / "ds", tok, tmp_path / "a", TokenizeOptions(seed=3, workers=1, batch_rows=64),
                         progress=False)
    b = tokenize_dataset(tmp_path / "ds", tok, tmp_path / "b", TokenizeOptions(seed=3, workers=2, batch_rows=64),
                         progress=False)
    for src in ("python", "go"):
        for split in ("train", "val"):
            assert filecmp.cmp(tmp_path / "a" / src / f"{split}.bin", tmp_path / "b" / src / f"{split}.bin", shallow=False)
    assert a["sources"] == b["sources"]
    sh = open_shards(tmp_path / "a")["python"]
    ids = {t: tok.token_to_id(t) for t in ("<reponame>", "<filename>", "<gh_stars>")}
    n = len(sh.offsets) - 1
    for tag, tid in ids.items():
        rate = sum(tid in sh.document(i).tolist() for i in range(n)) / n
        assert abs(rate - 0.2) < 0.06, (tag, rate)  # 582 documents: 0.06 is > 3.5 standard deviations
    c = tokenize_dataset(tmp_path / "ds", tok, tmp_path / "c", TokenizeOptions(seed=4, workers=1), progress=False)
    assert not filecmp.cmp(tmp_path / "a/python/train.bin", tmp_path / "c/python/train.bin", shallow=False)
    assert c["sources"]["go"]["train"]["docs"] == 48
    assert json.loads((tmp_path / "a" / "shards.json").read_text())["seed"] == 3


def test_missing_shards_say_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="starcoder tokenize"):
        read_info(tmp_path)


def _loader(shards_dir, **kw):
    args = dict(weights={"python": 1.0, "markdown": 3.0}, seq_len=32, micro_batch=2, seed=5)
    args.update(kw)
    return PackedLoader(open_shards(shards_dir), **args)


def test_windows_labels_mixing_and_determinism(tiny_shards):
    a, b = _loader(tiny_shards), _loader(tiny_shards)
    for _ in range(3):
        for (xa, ya), (xb, yb) in zip(a.next_step(2), b.next_step(2)):
            assert xa.shape == (2, 32) and ya.shape == (2, 32)
            assert xa.equal(xb) and ya.equal(yb)
            assert xa[:, 1:].equal(ya[:, :-1])  # labels are the inputs shifted by one
    other = _loader(tiny_shards, seed=6).next_step(1)[0][0]
    assert not other.equal(_loader(tiny_shards).next_step(1)[0][0])
    picks = [a.source_of(k) for k in range(4000)]
    assert abs(picks.count("markdown") / 4000 - 0.75) < 0.03


def test_resume_at_exact_position(tiny_shards):
    a = _loader(tiny_shards)
    for _ in range(7):  # past an epoch of the small python source
        a.next_step(3)
    state = json.loads(json.dumps(a.state_dict()))  # survives serialisation
    b = _loader(tiny_shards)
    b.load_state_dict(state)
    for _ in range(3):
        for (xa, _), (xb, _) in zip(a.next_step(3), b.next_step(3)):
            assert xa.equal(xb)
    with pytest.raises(ValueError, match="seed"):
        _loader(tiny_shards, seed=9).load_state_dict(state)


def test_ranks_split_the_same_global_batch(tiny_shards, code_tokenizer):
    from starcoder.fim import FimTransform
    fim = FimTransform(code_tokenizer)
    one = _loader(tiny_shards, fim=fim)
    r0, r1 = (_loader(tiny_shards, fim=fim, rank=r, world=2) for r in (0, 1))
    for _ in range(3):
        single = one.next_step(4)  # 4 micro-batches on one process
        b0, b1 = r0.next_step(2), r1.next_step(2)  # 2 each on two ranks
        split = [b0[0][0], b1[0][0], b0[1][0], b1[1][0]]
        assert all(s.equal(t) for s, t in zip([x for x, _ in single], split))
    assert r0.state_dict()["cursors"] == one.state_dict()["cursors"] == r1.state_dict()["cursors"]


def test_unknown_source_and_short_source_errors(tiny_shards):
    with pytest.raises(ValueError, match="rust"):
        _loader(tiny_shards, weights={"rust": 1.0})
    with pytest.raises(ValueError, match="seq_len"):
        _loader(tiny_shards, seq_len=100_000)


def test_heldout_windows_and_byte_counts(tiny_shards, code_tokenizer):
    val = open_shards(tiny_shards, "val")
    wins = heldout_windows(val, seq_len=32, per_source=2)
    assert {s for s, _ in wins} == {"python", "markdown"}
    lens = token_byte_lengths(code_tokenizer)
    for s, w in wins:
        ids = w.tolist()
        text_bytes = b"".join(code_tokenizer.token_bytes[i] for i in ids if i not in code_tokenizer.special_ids)
        assert lens[w].sum() == len(text_bytes)
