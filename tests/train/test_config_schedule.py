"""Configs (YAML + overrides), the learning-rate schedule and the optimizer's weight-decay groups."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from starcoder.config import preset
from starcoder.model import GPTBigCode
from starcoder.train.config import load_config
from starcoder.train.loop import flops_per_token, param_groups
from starcoder.train.schedule import lr_factor, warmup_cosine

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_shipped_configs_follow_the_recipe():
    debug = load_config(CONFIGS / "debug-cpu.yaml")
    assert debug.model.preset == "debug-10m" and debug.train.device == "cpu"
    big = load_config(CONFIGS / "starcoderbase-1b.yaml")
    cfg = preset(big.model.preset, **big.model.overrides)
    assert (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.multi_query) == (24, 2048, 16, True)
    # spec §4: 1B batch 128 sequences of 8192, lr 4e-4 -> 10%, 2000 warmup, AdamW(0.9, 0.95, 1e-8), wd 0.1, clip 1
    assert big.train.micro_batch * big.train.grad_accum * 8 == 128 and big.data.seq_len == 8192
    o = big.optim
    assert (o.lr, o.min_lr_ratio, o.warmup_steps, o.beta1, o.beta2, o.eps, o.weight_decay, o.grad_clip) == \
        (4e-4, 0.1, 2000, 0.9, 0.95, 1e-8, 0.1, 1.0)
    assert (big.data.fim_rate, big.data.fim_spm_rate, big.train.precision) == (0.5, 0.5, "bf16")


def test_overrides_and_errors(tmp_path):
    cfg = load_config(CONFIGS / "debug-cpu.yaml", ["optim.lr=3e-4", "data.weights={python: 2}", "model.overrides.n_layer=2"])
    assert cfg.optim.lr == 3e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.data.weights == {"python": 2} and cfg.model.overrides == {"n_layer": 2}
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lr'\] in train"):
        load_config(CONFIGS / "debug-cpu.yaml", ["train.lr=1"])
    with pytest.raises(ValueError, match="precision"):
        load_config(CONFIGS / "debug-cpu.yaml", ["train.precision=fp8"])
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(CONFIGS / "debug-cpu.yaml", ["steps"])
    with pytest.raises(FileNotFoundError, match="configs/"):
        load_config(tmp_path / "nope.yaml")


def test_warmup_then_cosine_to_ten_percent():
    f = [lr_factor(s, 10, 110, 0.1) for s in range(0, 130)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[60] == pytest.approx(0.55)  # half way: (1 + 0.1) / 2
    assert f[110] == pytest.approx(0.1) and f[129] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=2.0)
    sched = warmup_cosine(opt, 10, 110)
    for s in range(60):
        assert opt.param_groups[0]["lr"] == pytest.approx(2.0 * f[s])
        opt.step()
        sched.step()


def test_no_weight_decay_on_biases_and_norms():
    model = GPTBigCode(preset("test-tiny"))
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    nd = {names[id(p)] for p in no_decay["params"]}
    assert nd == {n for n in names.values() if n.endswith("bias") or ".ln_" in n or "ln_f" in n}
    assert "transformer.wte.weight" in {names[id(p)] for p in decay["params"]}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_flops_per_token_counts_every_matmul():
    cfg = preset("test-tiny")
    e, L, V, T = cfg.n_embd, cfg.n_layer, cfg.vocab_size, 128
    per_layer = e * (e + 2 * cfg.head_dim) + e * e + 2 * e * cfg.inner_dim  # c_attn, c_proj, c_fc, mlp c_proj
    want = 6 * (L * per_layer + V * e) + 12 * L * e * T
    assert flops_per_token(cfg, T) == pytest.approx(want, rel=0.02) and math.isfinite(want)
