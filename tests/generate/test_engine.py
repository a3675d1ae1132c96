"""The engine against transformers' generate: greedy ids, batching, context limits, dtypes."""
from __future__ import annotations

import pytest
import torch

import starcoder
from starcoder.generate import Completion, GenerationConfig, Generator
from tests.conftest import make_hf_checkpoint

PROMPTS = ["def fibonacci(n):\n    ", "import os", "class Stack:\n    def __init__(self):\n        self.items = []\n",
           "x = [i * i for i in range(10) if i % 2]"]


@pytest.fixture(scope="module", params=["mqa", "mha"])
def pair(request, tmp_path_factory, tiny_tokenizer):
    d = tmp_path_factory.mktemp(request.param)
    hf = make_hf_checkpoint(d, tokenizer=tiny_tokenizer, vocab_size=tiny_tokenizer.vocab_size, n_positions=128,
                            multi_query=request.param == "mqa", seed=3)
    model, tok = starcoder.load(d)
    return hf, Generator(model, tok), tok


def _hf_greedy(hf, ids, n):
    x = torch.tensor([ids])
    out = hf.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=n, pad_token_id=0)
    return out[0, x.shape[1]:].tolist()


def _until_eos(ids, eos=0):
    return ids[:ids.index(eos) + 1] if eos in ids else ids


def test_greedy_ids_equal_transformers_single_and_batch(pair):
    hf, gen, tok = pair
    cfg = GenerationConfig(max_new_tokens=24)
    batch = gen.generate(PROMPTS, cfg)
    assert len({len(tok.encode(p)) for p in PROMPTS}) == 4  # four different lengths
    for p, c in zip(PROMPTS, batch):
        ref = _until_eos(_hf_greedy(hf, tok.encode(p), 24))
        alone = gen.generate([p], cfg)[0]
        assert alone.token_ids == ref
        assert c.token_ids == ref
        assert c.generated_tokens == len(ref) and c.prompt_tokens == len(tok.encode(p))
        assert c.finish_reason == ("eos_token" if ref[-1] == 0 else "length")


def test_hf_batched_generate_agrees(pair):
    """transformers with left padding gives the same ids as our batch."""
    hf, gen, tok = pair
    rows = [tok.encode(p) for p in PROMPTS]
    L = max(map(len, rows))
    x = torch.tensor([[0] * (L - len(r)) + r for r in rows])
    am = torch.tensor([[0] * (L - len(r)) + [1] * len(r) for r in rows])
    ref = hf.generate(x, attention_mask=am, do_sample=False, max_new_tokens=16, pad_token_id=0)[:, L:].tolist()
    ours = gen.generate(PROMPTS, GenerationConfig(max_new_tokens=16))
    for r, c in zip(ref, ours):
        assert c.token_ids == _until_eos(r)


def test_completion_fields_and_rates(pair):
    _, gen, _ = pair
    c = gen.generate(["def f(x):"], GenerationConfig(max_new_tokens=8))[0]
    assert isinstance(c, Completion)
    assert c.prefill_tokens_per_s > 0 and c.decode_tokens_per_s > 0
    assert set(c.to_dict()) >= {"text", "token_ids", "finish_reason", "prompt_tokens", "generated_tokens",
                                "prefill_tokens_per_s", "decode_tokens_per_s"}


def test_overlong_prompt_errors_or_left_truncates(pair):
    _, gen, tok = pair
    long_prompt = "x = 1\n" * 200
    n = len(tok.encode(long_prompt))
    assert n > 128
    with pytest.raises(ValueError, match="exceeds the model's context of 128.*truncate"):
        gen.generate([long_prompt], GenerationConfig(max_new_tokens=8))
    with pytest.raises(ValueError, match="exceeds"):  # fits alone, not with the new tokens
        gen.generate(["x" * 10], GenerationConfig(max_new_tokens=128))
    c = gen.generate([long_prompt], GenerationConfig(max_new_tokens=8, truncate=100))[0]
    assert c.prompt_tokens == 100
    # left truncation: same as giving the last 100 tokens yourself
    tail = gen.generate_ids([tok.encode(long_prompt)[-100:]], GenerationConfig(max_new_tokens=8))[0]
    assert c.token_ids == tail.token_ids


def test_bf16_engine_tracks_fp32(tiny_model_dir):
    model, tok = starcoder.load(tiny_model_dir, dtype="bfloat16")
    gen = Generator(model, tok)
    c = gen.generate(["def main():\n"], GenerationConfig(max_new_tokens=16))[0]
    assert len(c.token_ids) >= 1 and c.finish_reason in ("length", "eos_token")
    # the bf16 first token is the fp32 argmax or within bf16 rounding of it
    m32, _ = starcoder.load(tiny_model_dir)
    ids = torch.tensor([tok.encode("def main():\n")])
    with torch.no_grad():
        l32 = m32(ids)[0, -1]
    assert l32[c.token_ids[0]] >= l32.max() - 0.05 * l32.abs().max()


def test_bad_parameters_say_what_is_wrong():
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        GenerationConfig(temperature=-1)
    with pytest.raises(ValueError, match="top_p must be in"):
        GenerationConfig(top_p=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        GenerationConfig(max_new_tokens=0)
    assert GenerationConfig(stop="\n").stop == ("\n",)


def test_torch_compile_option_gives_the_same_ids(tiny_model_dir):
    model, tok = starcoder.load(tiny_model_dir)
    cfg = GenerationConfig(max_new_tokens=10)
    ref = Generator(model, tok, kernels=False).generate(["def foo(x):\n    return"], cfg)[0]
    model2, _ = starcoder.load(tiny_model_dir)
    gen = Generator(model2, tok, compile=True)
    assert gen.plan is None  # the C kernels are opaque to torch.compile
    assert gen.generate(["def foo(x):\n    return"], cfg)[0].token_ids == ref.token_ids


def test_chunked_prefill_gives_the_same_ids(pair):
    """Prompts longer than one prefill chunk (first chunk causal, later chunks masked), single and batched."""
    hf, gen, tok = pair
    cfg = GenerationConfig(max_new_tokens=10)
    want = gen.generate(PROMPTS, cfg)
    gen.prefill_chunk = 5
    try:
        got = gen.generate(PROMPTS, cfg)
        alone = gen.generate([PROMPTS[2]], cfg)[0]
    finally:
        gen.prefill_chunk = 1024
    assert [c.token_ids for c in got] == [c.token_ids for c in want]
    assert alone.token_ids == _until_eos(_hf_greedy(hf, tok.encode(PROMPTS[2]), 10))
