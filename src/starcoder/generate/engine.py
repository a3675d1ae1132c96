"""The generation engine: batched prefill + cached decode over a pre-allocated static KV cache.

    gen = Generator(model, tokenizer)
    [c] = gen.generate(["def fib(n):"], GenerationConfig(max_new_tokens=64))
    for piece in gen.stream("def fib(n):", GenerationConfig()): print(piece, end="")
    gen.infill("def f(x):\n    return ", "\n", GenerationConfig(max_new_tokens=16))

Prompts of different lengths share one batch left-padded: each row gets its own position ids
and a mask that hides its padding, so a row yields exactly the tokens it yields alone (greedy).
The cache holds prompt + max_new_tokens slots (MQA: one key and one value head per layer);
prefill runs the output head only at the last position; the decode loop issues no host sync
beyond reading the chosen ids, which end-of-text and stop sequences need.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import torch

from starcoder.fim import infill_prompt_ids
from starcoder.generate.config import Completion, GenerationConfig
from starcoder.generate.kernels import MAX_ROWS
from starcoder.generate.sampling import Sampler
from starcoder.generate.streaming import TextAssembler
from starcoder.model import new_kv_caches


@dataclass
class _Timing:
    prefill_s: float = 0.0
    decode_s: float = 0.0
    decode_steps: int = 0


class Generator:
    """Runs a GPTBigCode model for completion, streaming and infilling.

    compile: wrap the model's forward in `torch.compile` (static shapes; the cache length is
    rounded up to a multiple of 256 so requests of similar size reuse one compiled graph).
    kernels: use the package's fused CPU matrix-vector kernels for decode when they build.
    """

    def __init__(self, model, tokenizer, compile: bool = False, kernels: bool = True):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = model.config
        ref = model.transformer.wpe.weight
        self.dtype, self.device = ref.dtype, ref.device
        self.eos_id = tokenizer.eos_token_id if tokenizer is not None else model.config.eos_token_id
        self.kernels, self.plan = 0, None
        if kernels and not compile:  # the C kernels are opaque to torch.compile
            from starcoder.generate import kernels as k
            self.kernels = k.accelerate(model)
            self.plan = k.DecodePlan.build(model)
        self.compiled = compile
        self._forward = torch.compile(model, dynamic=False, fullgraph=False) if compile else model
        self.last_completion: Completion | None = None
        self.prefill_chunk = 1024  # prompt tokens per prefill forward pass

    # public API
    def generate(self, prompts: list[str], config: GenerationConfig | None = None) -> list[Completion]:
        """Complete each prompt (special-token strings such as <fim_prefix> act as control tokens, as in TGI)."""
        if isinstance(prompts, str):
            prompts = [prompts]
        tok = self._tok()
        return self.generate_ids([tok.encode(p, allow_special=True) for p in prompts], config)

    def generate_ids(self, rows: list[list[int]], config: GenerationConfig | None = None,
                     suppress_special: bool = False) -> list[Completion]:
        config = config or GenerationConfig()
        return self._run(rows, config, suppress_special, stream=False)[0]

    def stream(self, prompt: str, config: GenerationConfig | None = None) -> Iterator[str]:
        """Yield text increments (whole characters only); `last_completion` holds the result afterwards."""
        ids = self._tok().encode(prompt, allow_special=True)
        return self._run([ids], config or GenerationConfig(), False, stream=True)

    def infill(self, prefix: str, suffix: str, config: GenerationConfig | None = None, mode: str = "psm") -> Completion:
        """Fill in the middle between prefix and suffix (FIM); the output never holds special tokens."""
        ids = infill_prompt_ids(self._tok(), prefix, suffix, mode)
        return self.generate_ids([ids], config, suppress_special=True)[0]

    def stream_infill(self, prefix: str, suffix: str, config: GenerationConfig | None = None,
                      mode: str = "psm") -> Iterator[str]:
        ids = infill_prompt_ids(self._tok(), prefix, suffix, mode)
        return self._run([ids], config or GenerationConfig(), True, stream=True)

    # internals
    def _tok(self):
        if self.tokenizer is None:
            raise ValueError("this model directory has no tokenizer.json; text generation needs one "
                             "(use generate_ids with token ids, or copy the tokenizer into the directory)")
        return self.tokenizer

    def check_prompt(self, ids: list[int], config: GenerationConfig) -> list[int]:
        """Apply `truncate`; raise a clear error when prompt + max_new_tokens exceeds the context."""
        n_ctx = self.config.n_positions
        if config.truncate is not None and len(ids) > config.truncate:
            ids = ids[-config.truncate:]
        if not ids:
            raise ValueError("the prompt is empty; give at least one token of text")
        total = len(ids) + config.max_new_tokens
        if total > n_ctx:
            room = n_ctx - config.max_new_tokens
            hint = (f"set truncate={room} to keep the last {room} prompt tokens" if room > 0 else
                    f"lower max_new_tokens below {n_ctx}")
            raise ValueError(f"prompt of {len(ids)} tokens + max_new_tokens={config.max_new_tokens} = {total} "
                             f"exceeds the model's context of {n_ctx} tokens; shorten the prompt, lower "
                             f"max_new_tokens, or {hint}")
        return ids

    def _suppress_mask(self, vocab: int) -> torch.Tensor:
        m = torch.zeros(vocab, dtype=torch.bool, device=self.device)
        special = [i for i in self._tok().special_ids if i != self.eos_id and i < vocab]
        m[special] = True
        return m

    def _run(self, rows, config: GenerationConfig, suppress_special: bool, stream: bool):
        rows = [self.check_prompt(list(r), config) for r in rows]
        tok = self._tok() if (stream or config.stop or self.tokenizer is not None) else None
        asm = [TextAssembler(tok, config.stop) if tok is not None else None for _ in rows]
        suppress = self._suppress_mask(self.config.vocab_size) if suppress_special else None
        timing = _Timing()
        steps = self._steps(rows, config, suppress, timing)
        out: list[list[int]] = [[] for _ in rows]
        reason: list[str | None] = [None] * len(rows)

        def consume():
            for toks in steps:
                for b, t in enumerate(toks):
                    if reason[b]:
                        continue
                    out[b].append(t)
                    if t == self.eos_id:
                        reason[b] = "eos_token"
                    elif asm[b] is not None and asm[b].push(t):
                        reason[b] = "stop_sequence"
                    elif len(out[b]) >= config.max_new_tokens:
                        reason[b] = "length"
                yield
                if all(reason):
                    break
            steps.close()

        def result():
            comps = []
            prompt_total = sum(len(r) for r in rows)
            decoded = sum(len(o) for o in out) - len(out)
            for b, r in enumerate(rows):
                text = asm[b].finish() if asm[b] is not None else ""
                comps.append(Completion(
                    text=text, token_ids=out[b], finish_reason=reason[b] or "length", prompt_tokens=len(r),
                    generated_tokens=len(out[b]),
                    prefill_tokens_per_s=prompt_total / timing.prefill_s if timing.prefill_s else 0.0,
                    decode_tokens_per_s=decoded / timing.decode_s if timing.decode_s and decoded > 0 else 0.0))
            self.last_completion = comps[0]
            return comps

        if not stream:
            for _ in consume():
                pass
            return result(), timing

        def gen():
            a = asm[0]
            for _ in consume():
                piece = a.increment()
                if piece:
                    yield piece
            result()
            rest = a.increment(final=True)
            if rest:
                yield rest
        return gen()

    def _cache_len(self, n: int) -> int:
        if not self.compiled:
            return n
        return min(-(-n // 256) * 256, self.config.n_positions)

    @torch.inference_mode()
    def _steps(self, rows, config: GenerationConfig, suppress, timing: _Timing):
        """Yield the chosen ids (list of B ints) for each generated position."""
        dev, B = self.device, len(rows)
        L = max(len(r) for r in rows)
        S = self._cache_len(L + config.max_new_tokens)
        pad = torch.tensor([L - len(r) for r in rows], device=dev)
        padded = any(len(r) != L for r in rows)
        ids = torch.tensor([[0] * (L - len(r)) + r for r in rows], device=dev)
        caches = new_kv_caches(self.config, B, S, self.dtype, dev)
        ar = torch.arange(S, device=dev)
        valid = ar[None, :] >= pad[:, None]  # (B, S) keys that are not padding
        pos = (ar[None, :L] - pad[:, None]).clamp(min=0)  # (B, L)

        def prefill_mask(a: int, b: int):  # (B, 1, b - a, S): causal, no padding; pad queries see themselves
            q = ar[a:b, None]
            return ((q >= ar[None, :])[None] & valid[:, None, :] | (q == ar[None, :])[None])[:, None]
        if self.plan is not None:
            self.plan.check()
        sampler = Sampler(config, B, self.config.vocab_size, dev, suppress)
        sampler.observe(ids, valid[:, :L])

        t0 = time.perf_counter()
        # prefill in chunks: activations and attention scratch stay bounded for long prompts
        for a in range(0, L, self.prefill_chunk):
            b = min(a + self.prefill_chunk, L)
            m = None if (a == 0 and not padded) else prefill_mask(a, b)  # None: plain causal prefill
            logits = self._forward(ids[:, a:b], pos[:, a:b], caches, ar[a:b], m, logits_at=-1)[:, -1]
        nxt = sampler(logits)
        sampler.observe(nxt[:, None])
        chosen = nxt.tolist()
        timing.prefill_s = time.perf_counter() - t0
        yield chosen
        t1 = time.perf_counter()
        pos = torch.tensor([len(r) for r in rows], device=dev)[:, None]  # (B, 1) next position
        for step in range(1, config.max_new_tokens):
            slot = L + step - 1
            m = (valid & (ar <= slot))[:, None, None, :]  # (B, 1, 1, S)
            if self.plan is not None and B <= MAX_ROWS:  # the kernels re-read weights per 2 rows
                nxt = self.plan.step(nxt[:, None], pos, caches, slot, m, sample=sampler)
            else:
                nxt = sampler(self._forward(nxt[:, None], pos, caches, ar[slot:slot + 1], m)[:, -1])
            sampler.observe(nxt[:, None])
            pos = pos + 1
            chosen = nxt.tolist()
            timing.decode_s = time.perf_counter() - t1
            timing.decode_steps = step
            yield chosen
