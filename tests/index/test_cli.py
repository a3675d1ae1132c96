"""`starcoder index ...`: outputs and --json shapes."""
from __future__ import annotations

import io
import json

from starcoder.cli import main


def _run(capsys, *argv):
    rc = main(["index", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_build_check_search_who_optout(tmp_path, capsys, corpus, dataset_dir, monkeypatch):
    out = tmp_path / "ix"
    rc, text, err = _run(capsys, "build", str(dataset_dir), "--out", str(out), "--fpr", "0.02")
    assert rc == 0 and f"indexed {len(corpus[0]):,} files" in text and "MB/s" in text
    assert "file/s" in err  # the progress bar goes to stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["membership"]["fpr"] == 0.02 and meta["membership"]["normaliser"]["version"] == 1

    f = next(f for f in corpus[0] if len(f.content) > 3000)
    src = tmp_path / "mine.py"
    src.write_text(f.content)
    rc, text, _ = _run(capsys, "check", "--index", str(out), str(src), "--json")
    r = json.loads(text)
    assert rc == 0 and r["in_dataset"] is True and r["coverage"] == 1.0
    assert r["matches"] == [{"start_line": 1, "end_line": f.content.count("\n") + (not f.content.endswith("\n"))}]
    monkeypatch.setattr("sys.stdin", io.StringIO(corpus[1][0].content))
    rc, text, _ = _run(capsys, "check", "--index", str(out), "-")
    assert rc == 0 and text.startswith("in dataset: no") and "matched lines:" in text

    rc, text, _ = _run(capsys, "search", "--index", str(out), "HTTP", "response", "-k", "3", "--json")
    hits = json.loads(text)["hits"]
    assert rc == 0 and 1 <= len(hits) <= 3
    assert all(set(h) == {"repo", "path", "license", "language", "score", "snippet"} for h in hits)
    rc, text, _ = _run(capsys, "search", "--index", str(out), "--phrase", "import sys", "-k", "2")
    assert rc == 0 and text.startswith(" 1. ") and "«sys»" in text

    rc, text, _ = _run(capsys, "who", "--index", str(out), "Alice", "--json")
    w = json.loads(text)
    assert w["name"] == "Alice" and w["repositories"] and w["optout_line"] == "alice"
    rc, text, _ = _run(capsys, "who", "--index", str(out), "alice")
    assert "add this line to the opt-out file:\n  alice\n" in text

    optout = tmp_path / "optout.txt"
    optout.write_text("alice\nnobody-here\n")
    rc, text, _ = _run(capsys, "optout", "--index", str(out), str(optout), "--quiet")
    assert rc == 0 and "removed 'alice':" in text and "matched nothing: 'nobody-here'" in text
    rc, text, _ = _run(capsys, "who", "--index", str(out), "alice", "--json")
    assert json.loads(text)["repositories"] == []


def test_errors_say_what_to_do(tmp_path, capsys, dataset_dir, index_dir):
    rc, _, err = _run(capsys, "check", "--index", str(tmp_path), "-")
    assert rc == 2 and "starcoder index build" in err
    rc, _, err = _run(capsys, "build", str(dataset_dir), "--out", str(index_dir))
    assert rc == 2 and "--force" in err
    rc, _, err = _run(capsys, "search", "--index", str(index_dir), "()")
    assert rc == 2 and "no searchable words" in err
    rc, _, err = _run(capsys, "check", "--index", str(index_dir), str(tmp_path / "missing.py"))
    assert rc == 2 and "not a file" in err
