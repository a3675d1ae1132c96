"""Training-step throughput: our loop's step vs a plain transformers GPTBigCode step, same shapes, same run.

    python benchmarks/train.py [--layers 6 --embd 512 --heads 8 --vocab 8192 --batch 4 --seq 256]
                               [--rounds 8] [--compile] [--threads N]

Each variant is one full optimizer step (forward, loss, backward, clip, AdamW). Variants are
timed in interleaved rounds (A B C A B C ...) so load from other jobs on a shared machine hits
them alike; the table shows the median. MFU = model FLOPs per second (6 x params + attention,
see starcoder.train.loop.flops_per_token) / the peak matmul throughput measured here in the
same dtype (a large square matmul), because a shared CPU has no trustworthy datasheet peak.
"""
from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch


def measured_peak(dtype, n: int = 1536, reps: int = 4) -> float:
    """Best matmul FLOP/s seen in a few square matmuls (called every round; the max is kept)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def ours(cfg, args, precision: str, compile_: bool):
    from starcoder.model import GPTBigCode
    from starcoder.train.loop import lm_loss, param_groups

    torch.manual_seed(0)
    model = GPTBigCode(cfg).init_weights().train()
    fwd = torch.compile(model) if compile_ else model
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=3e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else None

    def step(x, y):  # what Trainer.train_step does for grad_accum=1 on one process
        with (ctx() if ctx else nullcontext()):
            loss = lm_loss(fwd, x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()
    return step


def transformers_step(cfg, precision: str):
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    hf_cfg = GPTBigCodeConfig(**{k: v for k, v in cfg.to_hf_dict().items()
                                 if k not in ("model_type", "architectures", "num_key_value_heads")})
    torch.manual_seed(0)
    model = GPTBigCodeForCausalLM(hf_cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)

    def step(x, y):
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else torch.autocast("cpu", enabled=False)
        with ctx:
            loss = model(input_ids=x, labels=x).loss  # transformers shifts the labels itself
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--embd", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="also time our step under torch.compile")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from starcoder.config import ModelConfig
    from starcoder.train.loop import flops_per_token

    cfg = ModelConfig(vocab_size=args.vocab, n_positions=max(512, args.seq), n_embd=args.embd, n_layer=args.layers,
                      n_head=args.heads, bos_token_id=0, eos_token_id=0)
    tokens = args.batch * args.seq
    flops = flops_per_token(cfg, args.seq) * tokens
    peak = {"fp32": 0.0, "bf16": 0.0}
    variants = {
        "transformers fp32 (plain)": (transformers_step(cfg, "fp32"), "fp32"),
        "transformers bf16 autocast": (transformers_step(cfg, "bf16"), "bf16"),
        "starcoder fp32": (ours(cfg, args, "fp32", False), "fp32"),
        "starcoder bf16 autocast": (ours(cfg, args, "bf16", False), "bf16"),
    }
    if args.compile:
        variants["starcoder bf16 + compile"] = (ours(cfg, args, "bf16", True), "bf16")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=g)
    inp, lab = x[:, :-1].contiguous(), x[:, 1:].contiguous()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.warmup + args.rounds):
        for dt, torch_dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            peak[dt] = max(peak[dt], measured_peak(torch_dt))
        for name, (step, _) in variants.items():
            t = time.perf_counter()
            step(inp, lab)
            if r >= args.warmup:
                times[name].append(time.perf_counter() - t)
    print(f"model: {cfg.num_parameters() / 1e6:.1f}M params ({args.layers} layers, {args.embd} wide, {args.heads} heads, "
          f"MQA, vocab {args.vocab}); batch {args.batch} x {args.seq} tokens; {torch.get_num_threads()} threads")
    print(f"best measured matmul throughput: fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s")
    base = statistics.median(times["transformers fp32 (plain)"])
    print("\n| variant | step (ms, median) | tokens/s | MFU vs measured peak | speed-up vs plain transformers |")
    print("|---|---|---|---|---|")
    for name, (_, dt) in variants.items():
        med = statistics.median(times[name])
        print(f"| {name} | {med * 1e3:.0f} | {tokens / med:,.0f} | {flops / med / peak[dt]:.1%} ({dt}) | {base / med:.2f}x |")


if __name__ == "__main__":
    main()
