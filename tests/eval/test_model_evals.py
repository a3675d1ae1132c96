"""The model half: HumanEval generation (resumable), bits per byte against transformers, FIM exact match.

Uses the tiny random checkpoint from tests/conftest.py; scores of a random model are ~0, so the
tests check the machinery: what is written, what is resumed, and numbers against references.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from starcoder.cli import main
from starcoder.eval import fim_eval
from starcoder.eval.humaneval_run import HumanEvalRun, RunOptions, read_complete_lines
from starcoder.eval.perplexity import PerplexityOptions, evaluate_dataset, windows
from tests.conftest import stdlib_sources


def write_dataset(root: Path, texts: list[str], language: str = "python") -> Path:
    rows = {"content": texts, "repo": [f"o/r{i}" for i in range(len(texts))],
            "path": [f"f{i}.py" for i in range(len(texts))], "language": [language] * len(texts),
            "extension": ["py"] * len(texts), "license": ["MIT"] * len(texts), "stars": [0] * len(texts),
            "size": [len(t.encode()) for t in texts], "hexsha": ["0" * 40] * len(texts)}
    (root / "data" / language).mkdir(parents=True)
    pq.write_table(pa.table(rows), root / "data" / language / "000.parquet")
    return root


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    texts = [t[:1500] for t in stdlib_sources(n=80)[-3:]]  # files the tokenizer was not trained on
    return write_dataset(tmp_path_factory.mktemp("held_out"), texts), texts


# ------------------------------------------------------------------ HumanEval
def test_humaneval_run_resumes_after_an_interruption(tiny_model_dir, tmp_path, monkeypatch):
    opts = dict(model=str(tiny_model_dir), n=3, batch_size=2, temperature=0.8, top_p=0.95, max_length=220,
                limit=2, workers=2, progress=False, seed=7)
    out = tmp_path / "run"
    calls = {"n": 0}
    real = HumanEvalRun._generate_batch

    def crash_on_second(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated interruption")
        return real(self, *a, **k)

    monkeypatch.setattr(HumanEvalRun, "_generate_batch", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        HumanEvalRun(RunOptions(out=str(out), **opts)).run()
    first = read_complete_lines(out / "samples.jsonl")
    assert [(s["task_id"], s["sample"]) for s in first] == [("HumanEval/0", 0), ("HumanEval/0", 1)]
    with open(out / "samples.jsonl", "a") as f:
        f.write('{"task_id": "HumanEval/0", "sam')  # torn line from the crash
    monkeypatch.setattr(HumanEvalRun, "_generate_batch", real)

    summary = HumanEvalRun(RunOptions(out=str(out), **opts)).run()
    samples = read_complete_lines(out / "samples.jsonl")
    assert sorted((s["task_id"], s["sample"]) for s in samples) == [
        (t, i) for t in ("HumanEval/0", "HumanEval/1") for i in range(3)]
    assert samples[:2] == first  # what was written is kept as is
    results = read_complete_lines(out / "results.jsonl")
    assert len(results) == 6 and all(set(r) == {"task_id", "sample", "completion", "passed", "result"} for r in results)
    assert set(summary) >= {"pass@1", "problems", "samples", "sandbox"} and "pass@10" not in summary
    assert summary["samples"] == 6 and summary["problems"] == 2
    assert json.loads((out / "summary.json").read_text())["pass@1"] == summary["pass@1"]
    for s in samples:  # completions follow the harness's post-processing
        assert "\ndef" not in s["completion"] and "\nif" not in s["completion"]

    # a run that was never interrupted draws the same samples (seeds are per batch)
    fresh = tmp_path / "fresh"
    HumanEvalRun(RunOptions(out=str(fresh), **opts)).run()
    assert sorted(map(json.dumps, read_complete_lines(fresh / "samples.jsonl"))) == sorted(map(json.dumps, samples))

    with pytest.raises(ValueError, match="other settings"):
        HumanEvalRun(RunOptions(out=str(out), **{**opts, "temperature": 0.2})).run()


def test_greedy_batches_several_problems_with_the_same_output(tiny_model_dir, tmp_path, monkeypatch):
    from starcoder.generate import Generator

    problems = tmp_path / "problems.jsonl"
    specs = [("add", "a, b", "a + b", "(2, 3) == 5"), ("neg", "x", "-x", "(4) == -4"),
             ("double_the_value_of", "x", "2 * x", "(1) == 2")]
    problems.write_text("".join(json.dumps({
        "task_id": f"Toy/{i}", "entry_point": name,
        "prompt": f"def {name}({args}):\n    \"\"\"Compute {body}.\"\"\"\n",
        "canonical_solution": f"    return {body}\n",
        "test": f"def check(candidate):\n    assert candidate{call}\n"}) + "\n" for i, (name, args, body, call) in enumerate(specs)))
    calls = []
    real = Generator.generate
    monkeypatch.setattr(Generator, "generate", lambda self, prompts, config: calls.append(len(prompts)) or real(self, prompts, config))
    outs = {}
    for bs in (1, 3):
        out = tmp_path / f"bs{bs}"
        HumanEvalRun(RunOptions(model=str(tiny_model_dir), out=str(out), n=1, temperature=0.0, max_length=60,
                                batch_size=bs, problems=str(problems), workers=2, progress=False)).run()
        outs[bs] = [(s["task_id"], s["generation"]) for s in read_complete_lines(out / "samples.jsonl")]
    assert calls == [1, 1, 1, 3]  # three single calls, then one batch of three problems
    assert outs[1] == outs[3]  # left padding in a shared batch changes nothing, and each row keeps its own length


def test_humaneval_cli_greedy(tiny_model_dir, tmp_path, capsys):
    rc = main(["eval", "humaneval", "--model", str(tiny_model_dir), "--out", str(tmp_path / "o"), "--n", "1",
               "--temperature", "0", "--limit", "1", "--max-length", "200", "--quiet"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"pass@1": 0.0}


# ------------------------------------------------------------------ perplexity
def test_windows_predict_every_token_once():
    ids = list(range(11))
    ws = windows(ids, 4)
    assert [t for _, tgt in ws for t in tgt] == ids[1:]
    assert all(len(x) == len(y) <= 4 and x[1:] == y[:-1] for x, y in ws)


def _reference_bits_per_byte(model_dir, texts, context):
    """The same quantity from transformers' GPTBigCodeForCausalLM."""
    from transformers import GPTBigCodeForCausalLM

    from starcoder.tokenizer import Tokenizer

    hf = GPTBigCodeForCausalLM.from_pretrained(model_dir).eval()
    tok = Tokenizer.from_dir(model_dir)
    nll, nbytes = 0.0, 0
    for text in texts:
        ids = [tok.eos_token_id] + tok.encode(text)
        nbytes += len(text.encode())
        for start in range(0, len(ids) - 1, context):
            chunk = torch.tensor([ids[start:start + context + 1]])
            with torch.no_grad():
                logp = torch.log_softmax(hf(chunk[:, :-1]).logits.double(), -1)
            nll -= logp[0].gather(1, chunk[0, 1:, None]).sum().item()
    return nll / math.log(2) / nbytes


@pytest.mark.parametrize("context", [None, 48])
def test_bits_per_byte_matches_transformers(tiny_model_dir, held_out, context):
    data, texts = held_out
    ours = evaluate_dataset(tiny_model_dir, data, PerplexityOptions(context=context, batch_size=3, progress=False))
    ref = _reference_bits_per_byte(tiny_model_dir, texts, context or 256)
    assert ours["bits_per_byte"] == pytest.approx(ref, rel=1e-4)
    assert ours["files"] == 3 and ours["bytes"] == sum(len(t.encode()) for t in texts)
    # a random model over a 512-token vocabulary: about log2(512) bits per token
    assert 5 < ours["nll_per_token"] / math.log(2) < 13


def test_perplexity_cli_and_errors(tiny_model_dir, held_out, tmp_path, capsys):
    data, _ = held_out
    assert main(["eval", "perplexity", "--model", str(tiny_model_dir), "--data", str(data), "--max-files", "1",
                 "--quiet", "--out", str(tmp_path / "p.json")]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["files"] == 1 and printed == json.loads((tmp_path / "p.json").read_text())
    assert main(["eval", "perplexity", "--model", str(tiny_model_dir), "--data", str(data), "--languages", "rust",
                 "--quiet"]) == 2
    assert "no text to score" in capsys.readouterr().err


# ------------------------------------------------------------------ FIM
def test_fim_examples_reassemble_the_file():
    text = "import os\n\ndef f(x):\n    return x + 1\n\nprint(f(2))"
    exs = fim_eval.make_examples("r/p.py", text, 10, random.Random(0))
    assert [e.line_no for e in exs] == [1, 3, 4, 6]
    for e in exs:
        assert e.prefix + e.middle + e.suffix == text and "\n" not in e.middle
    assert fim_eval.is_match("    return x + 1  \nmore", "    return x + 1")
    assert not fim_eval.is_match("return x + 1", "    return x + 1")  # indentation counts


class _Scripted:
    """A stand-in generator that answers each prompt with a scripted text, in order."""

    def __init__(self, real, answers):
        self.tokenizer, self.model, self.answers = real.tokenizer, real.model, list(answers)

    def generate_ids(self, rows, config, suppress_special=False):
        from starcoder.generate import Completion

        assert suppress_special and config.temperature == 0 and "\n" in config.stop
        return [Completion(text=self.answers.pop(0)) for _ in rows]


def test_fim_exact_match_counts_and_prompt_layout(tiny_model_dir, held_out):
    import starcoder
    from starcoder.generate import Generator

    data, texts = held_out
    model, tok = starcoder.load(tiny_model_dir)
    real = Generator(model, tok)
    exs = fim_eval.make_examples("a", texts[0], 4, random.Random(1))
    answers = [e.middle if i % 2 == 0 else "nope" for i, e in enumerate(exs)]
    r = fim_eval.evaluate_examples(_Scripted(real, answers), exs, fim_eval.FimOptions(progress=False, batch_size=3))
    assert (r["matched"], r["lines"], r["exact_match"]) == (2, 4, 0.5)
    ids = fim_eval.prompt_ids(tok, exs[-1], 100, "psm")
    assert len(ids) <= 100 and ids[0] == 1 and ids[-1] == 2 and 3 in ids  # <fim_prefix> ... <fim_suffix> ... <fim_middle>
    pre = tok.encode(exs[-1].prefix)
    assert ids[1:ids.index(3)] == pre[len(pre) - (ids.index(3) - 1):]  # the end of the prefix is kept


def test_fim_end_to_end_with_the_tiny_model(tiny_model_dir, held_out, tmp_path, capsys):
    data, _ = held_out
    rc = main(["eval", "fim", "--model", str(tiny_model_dir), "--data", str(data), "--lines-per-file", "2",
               "--max-new-tokens", "8", "--quiet", "--out", str(tmp_path / "fim.json")])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["lines"] == 6 and printed["files"] == 3 and 0.0 <= printed["exact_match"] <= 1.0
    detail = json.loads((tmp_path / "fim.json").read_text())["examples"]
    assert len(detail) == 6 and all("\n" not in d["generated"] for d in detail)
