"""The complete / infill / chat / quantize verbs, run in-process through the verb table."""
from __future__ import annotations

import io
import json

import pytest

from starcoder.cli import main


def _json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_complete_json_and_stdin(tiny_model_dir, capsys, monkeypatch):
    assert main(["complete", "--model", str(tiny_model_dir), "--max-new-tokens", "5", "--json", "def f():"]) == 0
    d = _json(capsys.readouterr().out)
    assert set(d) >= {"text", "token_ids", "finish_reason", "prompt_tokens", "generated_tokens",
                      "prefill_tokens_per_s", "decode_tokens_per_s"}
    assert d["generated_tokens"] == len(d["token_ids"]) <= 5
    monkeypatch.setattr("sys.stdin", io.StringIO("def f():"))
    assert main(["complete", "--model", str(tiny_model_dir), "--max-new-tokens", "5", "--json", "-"]) == 0
    assert _json(capsys.readouterr().out)["token_ids"] == d["token_ids"]


def test_complete_stream_sampling_with_seed(tiny_model_dir, capsys):
    args = ["complete", "--model", str(tiny_model_dir), "--max-new-tokens", "8", "--temperature", "0.8",
            "--top-k", "20", "--seed", "3", "--stream", "--json", "import os"]
    main(args)
    a = capsys.readouterr().out
    main(args)
    b = capsys.readouterr().out
    assert _json(a)["token_ids"] == _json(b)["token_ids"]
    streamed = a[:a.rindex("\n{")]  # the streamed text, then a newline and the JSON object
    assert streamed == b[:b.rindex("\n{")] and streamed == _json(a)["text"]


def test_infill_and_quantize_verbs(tiny_model_dir, tmp_path, capsys):
    assert main(["infill", "--model", str(tiny_model_dir), "--prefix", "def f(a):\n    return ", "--suffix", "\n",
                 "--max-new-tokens", "6", "--json"]) == 0
    d = _json(capsys.readouterr().out)
    assert not set(d["token_ids"]) & set(range(1, 19))
    assert main(["quantize", "--model", str(tiny_model_dir), "--output", str(tmp_path / "q")]) == 0
    assert json.loads((tmp_path / "q" / "config.json").read_text())["quantization_config"]["bits"] == 8
    assert main(["complete", "--model", str(tmp_path / "q"), "--max-new-tokens", "4", "--json", "x = "]) == 0
    assert _json(capsys.readouterr().out)["generated_tokens"] >= 1


def test_chat_reads_turns_until_empty_line(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("How do I sort a list?\nAnd in reverse?\n\n"))
    assert main(["chat", "--model", str(tiny_model_dir), "--max-new-tokens", "6"]) == 0
    out = capsys.readouterr().out
    assert out.count("assistant> ") == 2


def test_missing_model_is_explained(capsys, monkeypatch):
    monkeypatch.delenv("STARCODER_MODEL", raising=False)
    with pytest.raises(SystemExit, match="--model"):
        main(["complete", "def f():"])


def test_command_line_escapes(tiny_model_dir, tiny_tokenizer, capsys):
    from starcoder.fim import infill_prompt_ids
    from starcoder.generate.cli import unescape

    assert unescape(r"a\nb\tc\\n\x") == "a\nb\tc\\n\\x"
    assert main(["infill", "--model", str(tiny_model_dir), "--prefix", r"def f():\n    return ", "--suffix", r"\n",
                 "--max-new-tokens", "2", "--json"]) == 0
    want = len(infill_prompt_ids(tiny_tokenizer, "def f():\n    return ", "\n"))
    assert _json(capsys.readouterr().out)["prompt_tokens"] == want
