"""`starcoder complete | infill | chat | quantize`: the generation engine on the command line."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

from starcoder.generate.config import GenerationConfig

MODEL_ENV = "STARCODER_MODEL"
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}
ESCAPE_HELP = "backslash escapes \\n, \\t and \\\\ are decoded"


def unescape(text: str) -> str:
    """Decode \\n, \\t and \\\\ typed on a command line (other backslashes stay as they are)."""
    return re.sub(r"\\([nt\\])", lambda m: _ESCAPES[m.group(1)], text)


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=os.environ.get(MODEL_ENV),
                   help=f"model directory (Hugging Face GPTBigCode format); default: ${MODEL_ENV}")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                   help="weight and activation dtype (default float32)")
    p.add_argument("--quantize", choices=["int8"], default=None,
                   help="quantize Linear weights to int8 while loading (weight-only, per output channel)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, static shapes)")
    p.add_argument("--no-kernels", action="store_true", help="use plain torch ops instead of the fused CPU kernels")


def _generation_arguments(p: argparse.ArgumentParser, max_new_tokens: int = 100) -> None:
    g = p.add_argument_group("generation")
    g.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help=f"default {max_new_tokens}")
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0 = off)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 = off)")
    g.add_argument("--repetition-penalty", type=float, default=1.0, help="1 = off; 1.2 is a common choice")
    g.add_argument("--seed", type=int, default=None, help="random seed for sampling (same seed, same output)")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT",
                   help=f"stop when TEXT is generated (repeatable; {ESCAPE_HELP}); TEXT is removed from the output")
    g.add_argument("--truncate", type=int, default=None,
                   help="keep only the last N prompt tokens (default: error when the prompt is too long)")
    g.add_argument("--stream", action="store_true", help="print text as it is generated")
    g.add_argument("--json", action="store_true",
                   help="print one JSON object: text, token_ids, finish_reason, prompt_tokens, "
                        "generated_tokens, prefill_tokens_per_s, decode_tokens_per_s")


def _gen_config(args) -> GenerationConfig:
    return GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                            top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed,
                            stop=tuple(unescape(t) for t in args.stop), truncate=args.truncate)


def _load_generator(args):
    from starcoder.checkpoint import load
    from starcoder.generate.engine import Generator

    if not args.model:
        raise SystemExit(f"no model given: pass --model DIR (a GPTBigCode directory) or set ${MODEL_ENV}")
    model, tok = load(args.model, dtype=args.dtype, quantize=args.quantize)
    if tok is None:
        raise SystemExit(f"{args.model} has no tokenizer.json; copy the tokenizer files into it")
    return Generator(model, tok, compile=args.compile, kernels=not args.no_kernels)


def _emit(args, run_stream, run_once, gen) -> int:
    if args.stream:
        for piece in run_stream():
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        c = gen.last_completion
        if args.json:
            print(json.dumps(c.to_dict(), ensure_ascii=False))
        return 0
    c = run_once()
    print(json.dumps(c.to_dict(), ensure_ascii=False) if args.json else c.text)
    return 0


def complete_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help=f"the code to continue ({ESCAPE_HELP}); '-' reads it verbatim from stdin")
    _model_arguments(p)
    _generation_arguments(p)


def complete(args) -> int:
    """Continue a code prompt.

    example: starcoder complete --model DIR --max-new-tokens 64 --stop '\\n\\n' 'def fib(n):'
    """
    prompt = sys.stdin.read() if args.prompt == "-" else unescape(args.prompt)
    cfg = _gen_config(args)
    gen = _load_generator(args)
    return _emit(args, lambda: gen.stream(prompt, cfg), lambda: gen.generate([prompt], cfg)[0], gen)


def infill_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", required=True, help=f"text before the gap ({ESCAPE_HELP}; '-' reads stdin verbatim)")
    p.add_argument("--suffix", default="", help=f"text after the gap ({ESCAPE_HELP})")
    p.add_argument("--mode", choices=["psm", "spm"], default="psm", help="FIM layout (default psm)")
    _model_arguments(p)
    _generation_arguments(p, max_new_tokens=60)


def infill(args) -> int:
    """Fill in the middle between --prefix and --suffix (StarCoder FIM); no special tokens in the output.

    example: starcoder infill --model DIR --prefix 'def add(a, b):\\n    return ' --suffix '\\n'
    """
    prefix = sys.stdin.read() if args.prefix == "-" else unescape(args.prefix)
    cfg = _gen_config(args)
    gen = _load_generator(args)
    suffix = unescape(args.suffix)
    return _emit(args, lambda: gen.stream_infill(prefix, suffix, cfg, args.mode),
                 lambda: gen.infill(prefix, suffix, cfg, args.mode), gen)


def chat_arguments(p: argparse.ArgumentParser) -> None:
    _model_arguments(p)
    _generation_arguments(p, max_new_tokens=256)


def chat(args) -> int:
    """Multi-turn technical-assistant chat in the terminal (empty line or Ctrl-D ends it)."""
    from starcoder.generate.chat import Chat

    gen = _load_generator(args)
    conv = Chat(gen, _gen_config(args))
    print("starcoder chat: type a question; an empty line or Ctrl-D quits.", file=sys.stderr)
    while True:
        try:
            msg = input("you> ").strip()
        except EOFError:
            break
        if not msg:
            break
        if args.stream:
            sys.stdout.write("assistant> ")
            for piece in conv.stream_reply(msg):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
        else:
            c = conv.reply(msg)
            print(json.dumps(c.to_dict(), ensure_ascii=False) if args.json else f"assistant> {c.text}")
    return 0


def quantize_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=os.environ.get(MODEL_ENV), help=f"source model directory; default: ${MODEL_ENV}")
    p.add_argument("--output", required=True, help="directory to write the int8 model to")
    p.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"],
                   help="dtype of the tensors left in floating point (embeddings, norms, biases); default bfloat16")
    p.add_argument("--no-lm-head", action="store_true", help="keep the output head (and tied embedding) in floating point")


def quantize(args) -> int:
    """Write an int8 weight-only copy of a model directory (per-output-channel scales).

    Load it like any model directory; transformers cannot read it (it is this package's format).
    """
    from starcoder.checkpoint import load, save
    from starcoder.quantize import quantize_model

    if not args.model:
        raise SystemExit(f"no model given: pass --model DIR or set ${MODEL_ENV}")
    model, tok = load(args.model, dtype="float32")
    quantize_model(model, "int8", lm_head=not args.no_lm_head)
    out = save(model, args.output, tokenizer=tok, dtype=args.dtype)
    print(f"wrote int8 model to {out}", file=sys.stderr)
    return 0
