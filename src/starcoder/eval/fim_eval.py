"""Single-line fill-in-the-middle exact match (SantaCoder's FIM task, spec §7) on held-out code.

From each file a few non-blank lines are chosen (seeded); for each, the model sees the code
before the line as prefix and the code after it (starting with the line's newline) as suffix,
and writes the middle greedily. The first line of its output must equal the removed line
(trailing whitespace ignored; indentation counts).
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from starcoder import fim


@dataclass(frozen=True)
class FimOptions:
    languages: tuple[str, ...] = ("python",)
    lines_per_file: int = 5
    max_files: int | None = 100
    max_new_tokens: int = 48
    mode: str = "psm"
    seed: int = 0
    batch_size: int = 8
    progress: bool = True

    def __post_init__(self):
        if self.mode not in fim.MODES:
            raise ValueError(f"mode must be one of {fim.MODES}, got {self.mode!r}")
        if self.lines_per_file < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("lines_per_file, max_new_tokens and batch_size must be >= 1")


@dataclass(frozen=True)
class FimExample:
    source: str      # repo/path of the file
    line_no: int     # 1-based
    prefix: str
    middle: str      # the removed line, without its newline
    suffix: str


def make_examples(source: str, text: str, n: int, rng: random.Random) -> list[FimExample]:
    """Up to `n` single-line examples from one file: prefix + middle + suffix == text."""
    lines = text.splitlines(keepends=True)
    candidates = [i for i, line in enumerate(lines) if line.strip()]
    out = []
    for i in sorted(rng.sample(candidates, min(n, len(candidates)))):
        line = lines[i]
        middle = line.rstrip("\r\n")
        out.append(FimExample(source, i + 1, "".join(lines[:i]), middle, line[len(middle):] + "".join(lines[i + 1:])))
    return out


def is_match(generated: str, middle: str) -> bool:
    first = generated.split("\n", 1)[0]
    return first.rstrip() == middle.rstrip()


def prompt_ids(tokenizer, ex: FimExample, budget: int, mode: str) -> list[int]:
    """FIM prompt ids within `budget` tokens: the prefix's end and the suffix's start are kept."""
    pre, suf = tokenizer.encode(ex.prefix), tokenizer.encode(ex.suffix)
    room = budget - 3
    if room < 2:
        raise ValueError(f"the context leaves {budget} tokens for the prompt; lower --max-new-tokens")
    suf_keep = min(len(suf), max(room // 4, room - len(pre)))
    pre_keep = min(len(pre), room - suf_keep)
    pre, suf = pre[len(pre) - pre_keep:], suf[:suf_keep]
    p, s, m = (tokenizer.token_to_id(t) for t in (fim.FIM_PREFIX, fim.FIM_SUFFIX, fim.FIM_MIDDLE))
    if None in (p, s, m):
        raise ValueError("this tokenizer has no FIM tokens; the model was not trained for fill-in-the-middle")
    return [p, *pre, s, *suf, m] if mode == "psm" else [p, s, *suf, m, *pre]


def evaluate_examples(generator, examples: list[FimExample], opts: FimOptions = FimOptions()) -> dict:
    """Exact match of `generator` (a starcoder.generate.Generator) over the examples."""
    from tqdm import tqdm

    from starcoder.generate import GenerationConfig

    if not examples:
        raise ValueError("no examples: the dataset (after --languages) has no non-blank lines")
    tok = generator.tokenizer
    config = GenerationConfig(max_new_tokens=opts.max_new_tokens, temperature=0.0, stop=("\n",))
    budget = generator.model.config.n_positions - opts.max_new_tokens
    rows = [prompt_ids(tok, ex, budget, opts.mode) for ex in examples]
    outputs: list[str] = []
    bar = tqdm(total=len(rows), desc="fim", unit="line", file=sys.stderr, disable=not opts.progress)
    for start in range(0, len(rows), opts.batch_size):
        comps = generator.generate_ids(rows[start:start + opts.batch_size], config, suppress_special=True)
        outputs += [c.text for c in comps]
        bar.update(len(comps))
    bar.close()
    detail = [{"source": ex.source, "line_no": ex.line_no, "target": ex.middle,
               "generated": out.split("\n", 1)[0], "match": is_match(out, ex.middle)}
              for ex, out in zip(examples, outputs)]
    matched = sum(d["match"] for d in detail)
    return {"exact_match": matched / len(detail), "matched": matched, "lines": len(detail),
            "files": len({ex.source for ex in examples}), "mode": opts.mode, "examples": detail}


def evaluate_dataset(model_dir, data_dir, opts: FimOptions = FimOptions(), dtype: str = "float32",
                     device: str = "cpu") -> dict:
    """Single-line FIM exact match of the model in `model_dir` on the curated dataset `data_dir`."""
    import starcoder
    from starcoder.dataset import iter_rows
    from starcoder.generate import Generator

    model, tokenizer = starcoder.load(model_dir, dtype=dtype, device=device)
    if tokenizer is None:
        raise ValueError(f"{model_dir} has no tokenizer.json; FIM needs the model's tokenizer")
    rng = random.Random(opts.seed)
    examples, files = [], 0
    for row in iter_rows(data_dir, columns=("content", "language", "repo", "path")):
        if row["language"] not in opts.languages:
            continue
        if opts.max_files is not None and files >= opts.max_files:
            break
        got = make_examples(f"{row['repo']}/{row['path']}", row["content"], opts.lines_per_file, rng)
        files += bool(got)
        examples += got
    result = evaluate_examples(Generator(model, tokenizer), examples, opts)
    return {**result, "model": str(model_dir), "data": str(data_dir)}
