"""`starcoder <verb>`: one table of verbs, each backed by a typed function.

Every row names the module that implements the verb and a function name ``NAME``; the
module defines ``NAME_arguments(parser)`` (adds the verb's options) and ``NAME(args)``
(runs it and returns an exit code or None). Modules are imported only when their verb
runs, so `starcoder --help` is instant and a missing optional extra only breaks its verb.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# (verb words, module, function name, one-line help)
VERBS: list[tuple[str, str, str, str]] = [
    ("info", "starcoder.info", "info", "describe a model directory: architecture, size, memory, KV cache"),
    ("complete", "starcoder.generate.cli", "complete", "complete a code prompt"),
    ("infill", "starcoder.generate.cli", "infill", "fill in the middle between a prefix and a suffix"),
    ("chat", "starcoder.generate.cli", "chat", "multi-turn technical-assistant chat in the terminal"),
    ("quantize", "starcoder.generate.cli", "quantize", "write an int8 weight-only copy of a model directory"),
    ("curate", "starcoder.curate.cli", "curate", "build a licence-clean, filtered, deduplicated code dataset"),
    ("index build", "starcoder.index.cli", "build", "build membership, search and who indexes over a dataset"),
    ("index check", "starcoder.index.cli", "check", "is this code in the dataset? (membership test)"),
    ("index search", "starcoder.index.cli", "search", "full-text search over the dataset with attribution"),
    ("index who", "starcoder.index.cli", "who", "repositories of a user or organisation in the dataset"),
    ("index optout", "starcoder.index.cli", "optout", "apply an opt-out file to an existing index"),
    ("tokenizer train", "starcoder.train.cli", "tokenizer_train", "train a byte-level BPE tokenizer on a dataset"),
    ("tokenize", "starcoder.train.cli", "tokenize", "turn a curated dataset into token shards"),
    ("train", "starcoder.train.cli", "train", "pretrain or fine-tune (FIM, DDP/FSDP, LoRA) from a YAML config"),
    ("eval humaneval", "starcoder.eval.cli", "humaneval", "HumanEval pass@k: generate, execute in a sandbox, score"),
    ("eval execute", "starcoder.eval.cli", "execute", "score HumanEval samples (JSONL) from any model"),
    ("eval perplexity", "starcoder.eval.cli", "perplexity", "bits per byte of a model on a held-out dataset"),
    ("eval fim", "starcoder.eval.cli", "fim", "single-line fill-in-the-middle exact match"),
]


def _groups() -> dict[str, list[tuple[str, str, str, str]]]:
    groups: dict[str, list] = {}
    for row in VERBS:
        groups.setdefault(row[0].split()[0], []).append(row)
    return groups


def _top_help() -> str:
    lines = ["usage: starcoder <verb> [options]   (starcoder <verb> --help for a verb's options)", "", "verbs:"]
    for verb, _, _, help_ in VERBS:
        lines.append(f"  {verb:<17} {help_}")
    return "\n".join(lines)


def _run_row(row: tuple[str, str, str, str], argv: list[str]) -> int:
    verb, module_name, func, help_ = row
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:  # an optional extra is not installed
        missing = getattr(e, "name", None) or str(e)
        print(f"starcoder {verb}: cannot import {missing!r} ({e}).\n"
              f"Install the optional parts with: pip install 'starcoder[all]'", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog=f"starcoder {verb}", description=(module.__dict__[func].__doc__ or help_).strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    getattr(module, f"{func}_arguments")(parser)
    args = parser.parse_args(argv)
    try:
        rc = getattr(module, func)(args)
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"\nstarcoder {verb}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    groups = _groups()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_top_help())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from starcoder import __version__
        print(__version__)
        return 0
    rows = groups.get(argv[0])
    if rows is None:
        print(f"starcoder: unknown verb {argv[0]!r}.\n\n{_top_help()}", file=sys.stderr)
        return 2
    if len(rows) == 1 and rows[0][0] == argv[0]:
        return _run_row(rows[0], argv[1:])
    # a group such as `starcoder index build`
    sub = {row[0].split(maxsplit=1)[1]: row for row in rows if " " in row[0]}
    if len(argv) < 2 or argv[1] not in sub:
        print(f"usage: starcoder {argv[0]} <{'|'.join(sub)}> [options]\n", file=sys.stderr)
        for name, row in sub.items():
            print(f"  {name:<12} {row[3]}", file=sys.stderr)
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    return _run_row(sub[argv[1]], argv[2:])


if __name__ == "__main__":
    sys.exit(main())
