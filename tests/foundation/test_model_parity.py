"""Our GPTBigCode against transformers' on random checkpoints of every layout we must load."""
from __future__ import annotations

import pytest
import torch

import starcoder
from starcoder.checkpoint import save
from starcoder.model import new_kv_caches
from tests.conftest import make_hf_checkpoint

CASES = {
    "mqa_tanh": dict(activation_function="gelu_pytorch_tanh"),
    "mqa_exact_gelu": dict(activation_function="gelu"),
    "mha": dict(multi_query=False),
    "n_inner_6x": dict(n_inner=384, activation_function="gelu"),
    "untied_head": dict(tie_word_embeddings=False),
    "sharded_safetensors": dict(_fmt="safetensors", _shard="100KB"),
    "pytorch_bin": dict(_fmt="bin", multi_query=False),
    "gelu_new_relu_mix": dict(activation_function="gelu_new"),
    "relu": dict(activation_function="relu"),
}


def _make(tmp_path, case):
    cfg = dict(CASES[case])
    fmt, shard = cfg.pop("_fmt", "safetensors"), cfg.pop("_shard", None)
    hf = make_hf_checkpoint(tmp_path, fmt=fmt, max_shard_size=shard, **cfg)
    return hf


def _ids(batch=2, T=24, vocab=512, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, T), generator=g)


@pytest.mark.parametrize("case", list(CASES))
def test_fp32_logits_match_transformers(tmp_path, case):
    hf = _make(tmp_path, case)
    if case == "sharded_safetensors":
        assert (tmp_path / "model.safetensors.index.json").exists()
    model, tok = starcoder.load(tmp_path, dtype="float32")
    assert tok is None  # no tokenizer files in this directory
    x = _ids()
    with torch.no_grad():
        ours, ref = model(x), hf(x).logits
    assert ours.shape == (2, 24, 512)
    assert (ours - ref).abs().max().item() <= 1e-4


def test_bf16_logits_within_bf16_rounding(tmp_path):
    hf = _make(tmp_path, "mqa_exact_gelu")
    model, _ = starcoder.load(tmp_path, dtype="bfloat16")
    assert model.transformer.wte.weight.dtype == torch.bfloat16
    x = _ids()
    with torch.no_grad():
        ours = model(x).float()
        ref32 = hf(x).logits
        ref16 = hf.to(torch.bfloat16)(x).logits.float()
    scale = ref32.abs().max().item()
    # our bf16 error against fp32 is of the same size as transformers' own bf16 error
    ours_err = (ours - ref32).abs().max().item()
    hf_err = (ref16 - ref32).abs().max().item()
    assert ours_err <= max(2 * hf_err, 0.02 * scale), (ours_err, hf_err, scale)


def _greedy(model, ids, n):
    for _ in range(n):
        with torch.no_grad():
            nxt = model(ids)[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], 1)
    return ids


@pytest.mark.parametrize("case", ["mqa_tanh", "mha"])
def test_greedy_32_tokens_identical_to_transformers_generate(tmp_path, case):
    hf = _make(tmp_path, case)
    model, _ = starcoder.load(tmp_path)
    x = _ids(batch=1, T=8, seed=3)
    ours = _greedy(model, x, 32)
    ref = hf.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=32,
                      min_new_tokens=32, pad_token_id=0)
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("case", ["mqa_tanh", "mha"])
def test_cached_incremental_decoding_equals_full_recompute(tmp_path, case):
    _make(tmp_path, case)
    model, _ = starcoder.load(tmp_path)
    x = _ids(batch=2, T=20, seed=5)
    with torch.no_grad():
        full = model(x)
        caches = new_kv_caches(model.config, batch=2, max_len=32)
        S = 32
        # prefill 12 tokens, then one token at a time
        T0 = 12
        causal = torch.ones(S, S, dtype=torch.bool).tril()
        pos = torch.arange(T0)
        out = [model(x[:, :T0], position_ids=pos[None].expand(2, -1), caches=caches, slots=pos,
                     mask=causal[pos][None, None])]
        for t in range(T0, 20):
            p = torch.tensor([t])
            out.append(model(x[:, t:t + 1], position_ids=p[None].expand(2, -1), caches=caches, slots=p,
                             mask=causal[p][None, None]))
        inc = torch.cat(out, 1)
    assert (inc - full).abs().max().item() <= 1e-4


def test_logits_at_last_position_only(tmp_path):
    _make(tmp_path, "mqa_tanh")
    model, _ = starcoder.load(tmp_path)
    x = _ids()
    with torch.no_grad():
        assert torch.allclose(model(x, logits_at=-1)[:, 0], model(x)[:, -1], atol=1e-5)


@pytest.mark.parametrize("case", ["mqa_tanh", "untied_head", "mha"])
def test_our_saved_checkpoint_loads_in_transformers(tmp_path, case):
    from transformers import AutoModelForCausalLM

    _make(tmp_path / "src", case)
    model, _ = starcoder.load(tmp_path / "src")
    save(model, tmp_path / "out", max_shard_size=200_000)  # forces shards
    assert (tmp_path / "out" / "model.safetensors.index.json").exists()
    hf2 = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    x = _ids()
    with torch.no_grad():
        assert (hf2(x).logits - model(x)).abs().max().item() <= 1e-4
    again, _ = starcoder.load(tmp_path / "out")
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_training_mode_dropout_is_active(tmp_path):
    from starcoder.config import preset
    from starcoder.model import GPTBigCode

    m = GPTBigCode(preset("test-tiny")).init_weights()
    x = _ids(vocab=512)
    m.train()
    torch.manual_seed(0)
    a = m(x)
    b = m(x)
    assert not torch.equal(a, b)  # dropout 0.1 changes the outputs in training
    m.eval()
    assert torch.equal(m(x), m(x))


def test_cached_prefill_without_slots_is_a_fresh_prompt(tmp_path):
    _make(tmp_path, "mqa_tanh")
    model, _ = starcoder.load(tmp_path)
    x = _ids(batch=2, T=16, seed=7)
    with torch.no_grad():
        caches = new_kv_caches(model.config, batch=2, max_len=24)
        assert (model(x, caches=caches) - model(x)).abs().max().item() <= 1e-5
        assert torch.count_nonzero(caches[0].k[:, :, 16:]) == 0  # only slots 0..15 were written


@pytest.mark.parametrize("case", ["mqa_exact_gelu", "mha", "relu"])
def test_onednn_inference_path_equals_the_autograd_path(tmp_path, case):
    """Prompt-sized inputs at inference go through oneDNN's fused Linear(+activation)."""
    from starcoder import model as model_mod

    _make(tmp_path, case)
    model, _ = starcoder.load(tmp_path)
    x = _ids(batch=2, T=24)
    assert model_mod._ONEDNN  # the CPU build of torch has oneDNN; otherwise this test means nothing
    with torch.no_grad():
        assert model_mod._onednn_ok(model.transformer.h[0].mlp.c_fc, torch.zeros(2, 24, 64))
        fast = model(x)
    slow = model(x).detach()  # grad enabled: plain nn.Linear
    assert (fast - slow).abs().max().item() <= 1e-4
