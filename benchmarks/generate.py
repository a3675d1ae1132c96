"""Generation speed on a CPU: ours (fp32, bf16, int8) against transformers and CTranslate2.

    python benchmarks/generate.py [--threads 2] [--repeats 3] [--workdir DIR]

Builds a random checkpoint of the tiny_starcoder_py shape (164M parameters, saved once into
--workdir), converts it with CTranslate2's transformers converter (float32 and int8), and prints
one table: decode tokens/s (64-token prompt, 128 new tokens, batch 1, greedy, no early stop),
prefill tokens/s (1,024-token prompt), each engine's fraction of the memory-bandwidth bound
(measured read bandwidth / weight bytes read per decoded token) and the ratio to the peer the
issue names. Then the peak RSS of an int8 run with a 2,048-token cache, in a fresh process.
Every number is the best of --repeats runs (the machine may be shared).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

SHAPE = "tiny_starcoder_py"
PROMPT, NEW, PREFILL = 64, 128, 1024


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    return max(fn() for _ in range(repeats))


def read_bandwidth(threads: int, repeats: int) -> float:
    """Bytes/s of a streaming read (sum over 1 GiB of fp32) with the benchmark's threads."""
    torch.set_num_threads(threads)
    a = torch.ones(256 * 1024 * 1024)

    def run():
        t = time.perf_counter()
        a.sum()
        return a.numel() * 4 / (time.perf_counter() - t)
    bw = best_of(run, repeats)
    del a
    return bw


def weight_bytes_per_token(config, kind: str) -> int:
    """Weights every decoded token reads: the block Linears and the output head (embedding rows,
    norms and biases are negligible)."""
    e, i, kv = config.n_embd, config.inner_dim, config.n_kv_heads * config.head_dim
    linear = config.n_layer * (e * (e + 2 * kv) + e * e + 2 * e * i)
    head = config.vocab_size * e
    per = {"fp32": 4, "bf16": 2, "int8": 1}[kind]
    rows = config.n_layer * (e + 2 * kv + e + i + e) + config.vocab_size
    return (linear + head) * per + (rows * 4 if kind == "int8" else 0)


def make_checkpoint(workdir: Path) -> Path:
    from starcoder.checkpoint import save
    from starcoder.config import preset
    from starcoder.model import GPTBigCode
    from starcoder.quantize import quantize_model
    from starcoder.tokenizer import Tokenizer

    d = workdir / "fp32"
    if not (d / "model.safetensors").exists():
        torch.manual_seed(0)
        texts = [p.read_text(errors="replace") for p in sorted(Path(os.__file__).parent.glob("*.py"))[:60]]
        tok = Tokenizer.train(texts, vocab_size=512)  # CTranslate2's converter wants a tokenizer
        model = GPTBigCode(preset(SHAPE)).init_weights()
        save(model, d, tokenizer=tok)
        quantize_model(model)
        save(model, workdir / "int8", tokenizer=tok, dtype="bfloat16")
    return d


def prompt_ids(n: int, seed: int = 0) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(19, 512, (n,), generator=g).tolist()  # ordinary tokens of the small tokenizer


def bench_ours(path: Path, dtype: str, quantize: str | None, repeats: int) -> tuple[float, float]:
    import starcoder
    from starcoder.generate import GenerationConfig, Generator

    model, tok = starcoder.load(path, dtype=dtype, quantize=quantize)
    gen = Generator(model, tok)
    gen.eos_id = -1  # fixed-length runs, like the peers' min_length
    short, long_ = prompt_ids(PROMPT), prompt_ids(PREFILL, 1)
    decode = best_of(lambda: gen.generate_ids([short], GenerationConfig(max_new_tokens=NEW))[0].decode_tokens_per_s,
                     repeats)
    prefill = best_of(lambda: gen.generate_ids([long_], GenerationConfig(max_new_tokens=1))[0].prefill_tokens_per_s,
                      repeats)
    return decode, prefill


def bench_long_context(path: Path, repeats: int) -> float:
    """Decode speed late in a long context (attention over ~2K cached positions per token)."""
    import starcoder
    from starcoder.generate import GenerationConfig, Generator

    model, tok = starcoder.load(path, dtype="bfloat16")
    gen = Generator(model, tok)
    gen.eos_id = -1
    ids = prompt_ids(2048 - NEW, 2)
    return best_of(lambda: gen.generate_ids([ids], GenerationConfig(max_new_tokens=NEW))[0].decode_tokens_per_s,
                   repeats)


def bench_transformers(path: Path, dtype: torch.dtype, repeats: int) -> tuple[float, float]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    short, long_ = torch.tensor([prompt_ids(PROMPT)]), torch.tensor([prompt_ids(PREFILL, 1)])

    def gen(x, n):
        t = time.perf_counter()
        with torch.inference_mode():
            model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=n,
                           min_new_tokens=n, pad_token_id=0)
        return time.perf_counter() - t

    def decode():
        return (NEW - 1) / (gen(short, NEW) - gen(short, 1))

    def prefill():
        t = time.perf_counter()
        with torch.inference_mode():
            model(long_, logits_to_keep=1)
        return PREFILL / (time.perf_counter() - t)
    return best_of(decode, repeats), best_of(prefill, repeats)


def bench_ctranslate2(path: Path, workdir: Path, quant: str, threads: int, repeats: int) -> tuple[float, float]:
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    out = workdir / f"ct2-{quant}"
    if not (out / "model.bin").exists():
        TransformersConverter(str(path)).convert(str(out), quantization=quant, force=True)
    gen = ctranslate2.Generator(str(out), device="cpu", compute_type=quant, intra_threads=threads)
    vocab = json.loads((out / "vocabulary.json").read_text()) if (out / "vocabulary.json").exists() else None
    if vocab is None:
        vocab = (out / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    short = [vocab[i] for i in prompt_ids(PROMPT)]
    long_ = [vocab[i] for i in prompt_ids(PREFILL, 1)]

    def run(tokens, n):
        t = time.perf_counter()
        gen.generate_batch([tokens], max_length=n, min_length=n, sampling_topk=1, include_prompt_in_result=False)
        return time.perf_counter() - t

    decode = best_of(lambda: (NEW - 1) / (run(short, NEW) - run(short, 1)), repeats)
    prefill = best_of(lambda: PREFILL / run(long_, 1), repeats)
    return decode, prefill


_RSS_CHILD = r"""
import sys, torch
torch.set_num_threads(int(sys.argv[2]))
import starcoder
from starcoder.generate import GenerationConfig, Generator
model, tok = starcoder.load(sys.argv[1], dtype="bfloat16")
gen = Generator(model, tok)
gen.eos_id = -1
ids = torch.randint(19, 512, (2048 - 128,), generator=torch.Generator().manual_seed(0)).tolist()
c = gen.generate_ids([ids], GenerationConfig(max_new_tokens=128))[0]
assert c.prompt_tokens + c.generated_tokens == 2048
# VmHWM: this process's own peak (ru_maxrss would include the parent's peak from before exec)
print(next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""


def peak_rss_int8(workdir: Path, threads: int) -> int:
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(workdir / "int8"), str(threads)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/starcoder-bench-generate"))
    ap.add_argument("--skip-peers", action="store_true", help="only our engine (quick check)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from starcoder.config import preset

    config = preset(SHAPE)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"building the random {SHAPE} checkpoint in {args.workdir} ...", file=sys.stderr)
    path = make_checkpoint(args.workdir)
    bw = read_bandwidth(args.threads, args.repeats)
    rows = []  # (engine, weights, kind, decode, prefill)
    runs = [("ours", "fp32", lambda: bench_ours(path, "float32", None, args.repeats)),
            ("ours", "bf16", lambda: bench_ours(path, "bfloat16", None, args.repeats)),
            ("ours", "int8", lambda: bench_ours(args.workdir / "int8", "bfloat16", None, args.repeats))]
    if not args.skip_peers:
        runs += [("transformers", "fp32", lambda: bench_transformers(path, torch.float32, args.repeats)),
                 ("transformers", "bf16", lambda: bench_transformers(path, torch.bfloat16, args.repeats)),
                 ("ctranslate2", "fp32", lambda: bench_ctranslate2(path, args.workdir, "float32", args.threads, args.repeats)),
                 ("ctranslate2", "int8", lambda: bench_ctranslate2(path, args.workdir, "int8", args.threads, args.repeats))]
    for engine, kind, fn in runs:
        print(f"  {engine} {kind} ...", file=sys.stderr)
        decode, prefill = fn()
        rows.append((engine, kind, decode, prefill))
        gc.collect()
    peers = {("ours", "fp32"): ("transformers", "fp32", 1.5), ("ours", "bf16"): ("transformers", "bf16", 2.0),
             ("ours", "int8"): ("ctranslate2", "int8", 2.0)}
    table = {(e, k): (d, p) for e, k, d, p in rows}
    print(f"\n{SHAPE} shape (164M, random weights), batch 1, {args.threads} threads, best of {args.repeats}; "
          f"read bandwidth {bw / 1e9:.1f} GB/s")
    print(f"| engine | weights | decode tok/s | bound tok/s | of bound | prefill tok/s (1,024) | vs peer (target) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for e, k, d, p in rows:
        bound = bw / weight_bytes_per_token(config, k)
        vs = ""
        if (e, k) in peers and peers[(e, k)][:2] in table:
            pe, pk, target = peers[(e, k)]
            vs = f"{d / table[(pe, pk)][0]:.2f}x {pe} {pk} decode (>= {target}x)"
        print(f"| {e} | {k} | {d:.1f} | {bound:.1f} | {d / bound:.0%} | {p:.0f} | {vs} |")
    long_ctx = bench_long_context(args.workdir / "int8", args.repeats)
    print(f"\nours int8 decode with a 1,920-token prompt (2,048-token cache): {long_ctx:.1f} tok/s")
    rss = peak_rss_int8(args.workdir, args.threads)
    print(f"\npeak RSS, ours int8 (bf16 rest), 2,048-token cache, fresh process: {rss / 1e9:.3f} GB (target < 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
