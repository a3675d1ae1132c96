"""The C decode kernels against the plain torch computation they replace."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import starcoder
from starcoder.generate import GenerationConfig, Generator, kernels
from starcoder.model import new_kv_caches
from starcoder.quantize import Int8Linear
from tests.conftest import make_hf_checkpoint


@pytest.fixture(scope="module")
def lib():
    lib = kernels.library()
    assert lib is not None, "the kernels must build on this machine (gcc is installed)"
    return lib


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 3])
def test_linear_kernels_match_torch(lib, dtype, rows):
    torch.manual_seed(0)
    for K_, N in ((100, 37), (768, 200)):  # 100: a K that is not a multiple of 16
        lin = torch.nn.Linear(K_, N).to(dtype)
        q = Int8Linear.from_linear(torch.nn.Linear(K_, N))
        x = torch.randn(rows, 1, K_).to(dtype)
        with torch.no_grad():
            for m in (lin, q):
                want = m(x).float()
                kernels.accelerate(m)
                got = m(x).float()
                kernels.restore(m)
                tol = 1e-5 if dtype == torch.float32 else 2e-2 * want.abs().max().item()
                assert (got - want).abs().max().item() <= tol
        # more rows than MAX_ROWS fall back to torch exactly
        kernels.accelerate(lin)
        big = torch.randn(kernels.MAX_ROWS + 1, K_).to(dtype)
        with torch.no_grad():
            assert torch.equal(lin(big), F.linear(big, lin.weight, lin.bias))
        kernels.restore(lin)


@pytest.mark.parametrize("mq", [True, False])
def test_decode_plan_matches_model_forward(tmp_path, lib, mq):
    make_hf_checkpoint(tmp_path, multi_query=mq, activation_function="gelu" if mq else "gelu_pytorch_tanh")
    model, _ = starcoder.load(tmp_path)
    plan = kernels.DecodePlan.build(model)
    assert plan is not None
    B, T0, S = 2, 9, 16
    ids = torch.randint(0, 512, (B, T0 + 1), generator=torch.Generator().manual_seed(0))
    causal = torch.ones(S, S, dtype=torch.bool).tril()
    pos = torch.arange(T0)
    with torch.no_grad():
        c1, c2 = new_kv_caches(model.config, B, S), new_kv_caches(model.config, B, S)
        for c in (c1, c2):
            model(ids[:, :T0], pos[None].expand(B, -1), c, pos, causal[pos][None, None])
        p = torch.tensor([T0])
        mask = causal[p][None, None].expand(B, 1, 1, S).contiguous()
        want = model(ids[:, T0:], p[None].expand(B, 1), c1, p, mask)[:, -1]
        got = plan.step(ids[:, T0:], p[None].expand(B, 1), c2, T0, mask)
    assert (got - want).abs().max().item() < 1e-4
    assert torch.allclose(c1[0].k, c2[0].k, atol=1e-5) and torch.allclose(c1[1].v, c2[1].v, atol=1e-5)


def test_engine_with_and_without_kernels_agree(tiny_model_dir, lib):
    for dtype, quant in (("float32", None), ("float32", "int8"), ("bfloat16", None)):
        model, tok = starcoder.load(tiny_model_dir, dtype=dtype, quantize=quant)
        prompts = ["def fib(n):\n", "import sys\nprint("]
        cfg = GenerationConfig(max_new_tokens=12)
        slow = Generator(model, tok, kernels=False).generate(prompts, cfg)
        fast_gen = Generator(model, tok)
        assert fast_gen.plan is not None and fast_gen.kernels > 0
        fast = fast_gen.generate(prompts, cfg)
        for a, b in zip(slow, fast):
            if dtype == "float32":
                assert a.token_ids == b.token_ids
            else:  # bf16 activations round differently in the two paths; the first token must agree
                assert a.token_ids[0] == b.token_ids[0]
        kernels.restore(model)


def test_repeated_requests_are_deterministic(tiny_model_dir, lib):
    """Each request allocates a fresh cache; the kernel plan must never keep a stale cache pointer."""
    model, tok = starcoder.load(tiny_model_dir)
    gen = Generator(model, tok)
    a, b = tok.encode("x = 1\n" * 20), tok.encode("def f():\n    return 2\n")
    cfg = GenerationConfig(max_new_tokens=8)
    ref_a, ref_b = gen.generate_ids([a], cfg)[0].token_ids, gen.generate_ids([b], cfg)[0].token_ids
    for _ in range(10):
        assert gen.generate_ids([a], cfg)[0].token_ids == ref_a
        assert gen.generate_ids([b], cfg)[0].token_ids == ref_b


def test_portable_build_without_avx512_matches_torch(tmp_path, lib):
    """The plain-C path (CPUs without AVX-512) computes the same products."""
    try:
        so = kernels.compile_library(tmp_path / "portable.so", march="x86-64-v2")
    except Exception as e:  # noqa: BLE001 - only meaningful on x86-64
        raise AssertionError(f"could not build the portable kernels: {e}")
    portable = kernels.load_library(so)
    torch.manual_seed(1)
    K_, N = 100, 37
    x = torch.randn(2, K_)
    w32 = torch.randn(N, K_)
    bias = torch.randn(N)
    q = Int8Linear.from_linear(torch.nn.Linear(K_, N))
    for w, wtype, scale in ((w32, kernels.W_F32, None), (w32.to(torch.bfloat16), kernels.W_BF16, None),
                            (q.weight, kernels.W_I8, q.weight_scale.float())):
        y = torch.empty(2, N)
        portable.sc_gemv(2, N, K_, x.data_ptr(), 0, w.data_ptr(), wtype, None if scale is None else scale.data_ptr(),
                         bias.data_ptr(), 0, y.data_ptr(), 0, 2)
        want = F.linear(x, w.float() * (1 if scale is None else scale[:, None]), bias)
        assert (y - want).abs().max().item() < 1e-4
