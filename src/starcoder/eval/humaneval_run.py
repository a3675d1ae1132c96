"""`starcoder eval humaneval`: generate n samples per problem, execute them, score. Resumable.

Output folder:
  samples.jsonl   {"task_id", "sample", "completion", "generation", "finish_reason"} per sample,
                  appended and fsync'ed after every batch
  results.jsonl   {"task_id", "sample", "completion", "passed", "result"}, appended as programs finish
  summary.json    pass@k, settings, counts, sandbox isolation (written last)
An interrupted run started again with the same folder keeps every complete line already
written (a torn last line is dropped) and does only what is missing. Changing the settings
that shape samples (model, temperature, top-p, max length, seed) between runs is refused.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from starcoder.eval import humaneval
from starcoder.eval.metrics import DEFAULT_KS, mean_pass_at_k
from starcoder.eval.sandbox import Sandbox, SandboxConfig


@dataclass(frozen=True)
class RunOptions:
    model: str
    out: str
    n: int = 20
    temperature: float = 0.2
    top_p: float = 0.95
    max_length: int = 512
    batch_size: int = 10
    seed: int = 0
    limit: int | None = None
    dtype: str = "float32"
    device: str = "cpu"
    ks: tuple[int, ...] = DEFAULT_KS
    workers: int | None = None
    problems: str | None = None
    progress: bool = True

    def __post_init__(self):
        if self.n < 1 or self.batch_size < 1 or self.max_length < 2:
            raise ValueError("--n and --batch-size must be >= 1 and --max-length >= 2")

    def identity(self) -> dict:
        """Settings that shape the samples: a resumed run must use the same ones."""
        return {k: v for k, v in asdict(self).items()
                if k in ("model", "temperature", "top_p", "max_length", "seed", "dtype", "problems")}


def read_complete_lines(path: Path) -> list[dict]:
    """JSON lines of a file being appended to; a torn or broken last line is cut off the file."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    rows, good = [], 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
        good += len(line)
    if good != len(raw):
        with open(path, "r+b") as f:
            f.truncate(good)
    return rows


def _append(path: Path, rows: list[dict], lock: threading.Lock | None = None) -> None:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if lock:
        lock.acquire()
    try:
        with open(path, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    finally:
        if lock:
            lock.release()


class HumanEvalRun:
    def __init__(self, opts: RunOptions, sandbox: SandboxConfig | None = None):
        self.opts = opts
        self.sandbox = sandbox or SandboxConfig()
        self.out = Path(opts.out)
        problems = humaneval.read_problems(opts.problems)
        ids = list(problems)[: opts.limit] if opts.limit else list(problems)
        self.problems = {t: problems[t] for t in ids}

    def run(self) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_settings()
        start = time.monotonic()
        samples = self.generate()
        results, isolation = self.execute(samples)
        per_task: dict[str, list[bool]] = {t: [] for t in self.problems}
        for r in results:
            per_task[r["task_id"]].append(r["passed"])
        summary = {**mean_pass_at_k([(len(v), sum(v)) for v in per_task.values()], self.opts.ks),
                   "problems": len(per_task), "samples_per_problem": self.opts.n,
                   "passed": sum(sum(v) for v in per_task.values()), "samples": len(results),
                   "settings": self.opts.identity(), "sandbox": {"timeout": self.sandbox.timeout,
                                                                "isolation": list(isolation)},
                   "seconds_this_run": round(time.monotonic() - start, 1)}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def _check_settings(self) -> None:
        path = self.out / "settings.json"
        mine = self.opts.identity()
        if path.exists():
            old = json.loads(path.read_text())
            if old != mine:
                diff = {k: (old.get(k), v) for k, v in mine.items() if old.get(k) != v}
                raise ValueError(f"{self.out} holds a run with other settings {diff} (old, new); "
                                 f"use a new --out folder or the same settings to resume")

    # ------------------------------------------------------------------ generation
    def _todo(self, have: list[dict]) -> list[tuple[str, list[int]]]:
        done: dict[str, set[int]] = {}
        for s in have:
            done.setdefault(s["task_id"], set()).add(s["sample"])
        todo = []
        for t in self.problems:
            missing = [i for i in range(self.opts.n) if i not in done.get(t, set())]
            for b in range(0, len(missing), self.opts.batch_size):
                todo.append((t, missing[b:b + self.opts.batch_size]))
        return todo

    def generate(self) -> list[dict]:
        path = self.out / "samples.jsonl"
        have = [s for s in read_complete_lines(path) if s["task_id"] in self.problems and s["sample"] < self.opts.n]
        todo = self._todo(have)
        if todo:
            gen, tokenizer = self._generator()
            settings = self.out / "settings.json"
            if not settings.exists():  # written once the model loads: a failed start leaves nothing
                settings.write_text(json.dumps(self.opts.identity(), indent=2) + "\n")
            from tqdm import tqdm

            bar = tqdm(total=sum(len(ix) for _, ix in todo), desc="generating", unit="sample",
                       file=sys.stderr, disable=not self.opts.progress)
            for group in self._groups(todo, gen, tokenizer):
                rows = self._generate_batch(gen, tokenizer, group)
                _append(path, rows)
                have += rows
                bar.update(len(rows))
            bar.close()
        order = {t: i for i, t in enumerate(self.problems)}
        unique = {(s["task_id"], s["sample"]): s for s in have}
        return sorted(unique.values(), key=lambda s: (order[s["task_id"]], s["sample"]))

    def _generator(self):
        import starcoder
        from starcoder.generate import Generator

        model, tokenizer = starcoder.load(self.opts.model, dtype=self.opts.dtype, device=self.opts.device)
        if tokenizer is None:
            raise ValueError(f"{self.opts.model} has no tokenizer.json; HumanEval needs the model's tokenizer")
        return Generator(model, tokenizer), tokenizer

    def _prompt_len(self, tokenizer, task_id: str) -> int:
        return len(tokenizer.encode(humaneval.prompt_of(self.problems[task_id]), allow_special=True))

    def _groups(self, todo, gen, tokenizer):
        """Batches of (task_id, sample indices). Sampling keeps one problem per batch (its seed
        then depends only on the problem and first sample, so a resumed run draws the same);
        greedy decoding also fills a batch with several problems whose prompts fit together."""
        if self.opts.temperature > 0:
            yield from ([job] for job in todo)
            return
        n_ctx = gen.model.config.n_positions
        limit = min(self.opts.max_length, n_ctx)
        group, lens = [], []
        for job in todo:
            plen = self._prompt_len(tokenizer, job[0])
            rows = sum(len(ix) for _, ix in group) + len(job[1])
            spread = max(lens + [plen]) - min(lens + [plen])
            if group and (rows > self.opts.batch_size or plen >= limit or max(lens) >= limit
                          or spread > n_ctx - limit):
                yield group
                group, lens = [], []
            group.append(job)
            lens.append(plen)
        if group:
            yield group

    def _generate_batch(self, gen, tokenizer, group: list[tuple[str, list[int]]]) -> list[dict]:
        from starcoder.generate import GenerationConfig

        n_ctx = gen.model.config.n_positions
        limit = min(self.opts.max_length, n_ctx)
        rows = [(t, i) for t, ix in group for i in ix]
        plens = [self._prompt_len(tokenizer, t) for t, _ in rows]
        budgets = [max(1, limit - p) for p in plens]  # each row's own prompt + generation <= limit
        new = max(budgets)
        truncate = n_ctx - new if max(plens) + new > n_ctx else None
        # one seed per (problem, first sample): a resumed batch draws what the lost one would have
        first_task, first = rows[0]
        seed = (self.opts.seed * 1_000_003 + list(self.problems).index(first_task) * 1000 + first) % 2**31
        config = GenerationConfig(max_new_tokens=new, temperature=self.opts.temperature,
                                  top_p=self.opts.top_p if self.opts.temperature > 0 else 1.0,
                                  seed=seed, stop=humaneval.STOP_SEQUENCES, truncate=truncate)
        comps = gen.generate([humaneval.prompt_of(self.problems[t]) for t, _ in rows], config)
        out = []
        for (task_id, i), c, budget in zip(rows, comps, budgets):
            text = c.text
            if len(c.token_ids) > budget:  # ran past this row's own length in a shared batch
                text = humaneval.truncate_at_stop(tokenizer.decode(c.token_ids[:budget]))
            out.append({"task_id": task_id, "sample": i,
                        "completion": humaneval.completion_from_generation(self.problems[task_id], text),
                        "generation": text, "finish_reason": c.finish_reason if len(c.token_ids) <= budget else "length"})
        return out

    # ------------------------------------------------------------------ execution
    def execute(self, samples: list[dict]) -> tuple[list[dict], tuple[str, ...]]:
        path = self.out / "results.jsonl"
        keep = {(s["task_id"], s["sample"]) for s in samples}
        done = {(r["task_id"], r["sample"]): r for r in read_complete_lines(path)
                if (r["task_id"], r["sample"]) in keep}
        todo = [s for s in samples if (s["task_id"], s["sample"]) not in done]
        isolation: tuple[str, ...] = tuple(self._previous_isolation())
        if todo:
            sandbox, lock = Sandbox(self.sandbox), threading.Lock()
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="executing", unit="sample", file=sys.stderr,
                       disable=not self.opts.progress)

            def one(s: dict) -> tuple[dict, tuple[str, ...]]:
                r = sandbox.run(humaneval.program_of(self.problems[s["task_id"]], s["completion"]))
                row = {"task_id": s["task_id"], "sample": s["sample"], "completion": s["completion"],
                       "passed": r.passed, "result": r.result}
                _append(path, [row], lock)
                bar.update(1)
                return row, r.isolation

            with ThreadPoolExecutor(max_workers=self.opts.workers or os.cpu_count() or 1) as pool:
                pairs = list(pool.map(one, todo))
            bar.close()
            done.update({(r["task_id"], r["sample"]): r for r, _ in pairs})
            isolation = min({iso for _, iso in pairs}, key=len)
        return [done[(s["task_id"], s["sample"])] for s in samples], isolation

    def _previous_isolation(self) -> list[str]:
        try:
            return json.loads((self.out / "summary.json").read_text())["sandbox"]["isolation"]
        except (OSError, ValueError, KeyError):
            return []
