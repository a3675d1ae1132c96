"""int8 weight-only quantization: accuracy against fp32, save/reload, load-time switch."""
from __future__ import annotations

import json

import pytest
import torch

import starcoder
from starcoder.checkpoint import save
from starcoder.generate import GenerationConfig, Generator
from starcoder.quantize import Int8Linear, TiedInt8Head, quantize_model, quantize_weight
from tests.conftest import make_hf_checkpoint

CASES = {"mqa": {}, "mha": dict(multi_query=False), "untied": dict(tie_word_embeddings=False)}


def _ids(T=32, seed=1):
    return torch.randint(0, 512, (2, T), generator=torch.Generator().manual_seed(seed))


def _rel_l2(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_quantize_weight_is_per_row_and_bf16_exact():
    w = torch.randn(16, 64) * torch.logspace(-3, 1, 16)[:, None]  # rows of very different sizes
    q, s = quantize_weight(w)
    assert q.dtype == torch.int8 and s.shape == (16,)
    assert torch.equal(s.to(torch.bfloat16).float(), s)  # survives a bfloat16 round trip
    err = (q.float() * s[:, None] - w).abs().amax(1)
    assert (err <= s / 2 + 1e-7).all()  # at most half a step per row


@pytest.mark.parametrize("case", list(CASES))
def test_int8_logits_within_3_percent_and_reload(tmp_path, case):
    make_hf_checkpoint(tmp_path / "fp32", **CASES[case])
    ref_model, _ = starcoder.load(tmp_path / "fp32")
    q_model, _ = starcoder.load(tmp_path / "fp32", quantize="int8")  # load-time switch
    assert isinstance(q_model.transformer.h[0].mlp.c_fc, Int8Linear)
    x = _ids()
    with torch.no_grad():
        ref, ours = ref_model(x), q_model(x)
    assert _rel_l2(ours, ref) < 0.03
    save(q_model, tmp_path / "int8")
    cfg = json.loads((tmp_path / "int8" / "config.json").read_text())
    assert cfg["quantization_config"]["quant_method"] == "starcoder_int8"
    from safetensors import safe_open
    with safe_open(str(tmp_path / "int8" / "model.safetensors"), "pt") as f:
        assert f.get_tensor("transformer.h.0.attn.c_attn.weight").dtype == torch.int8
        assert "transformer.h.0.attn.c_attn.weight_scale" in f.keys()
    again, _ = starcoder.load(tmp_path / "int8")
    with torch.no_grad():
        assert torch.equal(again(x), ours)
    with pytest.raises(ValueError, match="already quantized"):
        quantize_model(again)


def test_int8_checkpoint_in_bf16_and_generation(tmp_path, tiny_model_dir):
    fp, tok = starcoder.load(tiny_model_dir)
    quantize_model(fp)
    assert isinstance(fp.lm_head, TiedInt8Head)
    save(fp, tmp_path / "q", tokenizer=tok, dtype="bfloat16")
    size = sum(f.stat().st_size for f in (tmp_path / "q").glob("*.safetensors"))
    model, tok = starcoder.load(tmp_path / "q", dtype="bfloat16")
    ref, _ = starcoder.load(tiny_model_dir)
    x = _ids(seed=4)
    with torch.no_grad():
        assert _rel_l2(model(x).float(), ref(x)) < 0.03
    n_float = sum(p.numel() for p in ref.parameters())
    assert size < 0.4 * 4 * n_float  # int8 + bf16 on disk vs fp32
    c = Generator(model, tok).generate(["def f(x):"], GenerationConfig(max_new_tokens=10))[0]
    assert c.generated_tokens >= 1


def test_head_can_stay_float(tiny_model_dir):
    m, _ = starcoder.load(tiny_model_dir)
    quantize_model(m, lm_head=False)
    assert isinstance(m.lm_head, torch.nn.Linear) and m.quantization_config["lm_head"] is False
