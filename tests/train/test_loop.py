"""The training loop: learning, exact resume after SIGTERM, checkpoints that transformers loads, LoRA."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from starcoder import checkpoint
from starcoder.train.config import apply_overrides, from_dict
from starcoder.train.loop import Trainer, run
from starcoder.train.shards import TokenizeOptions, tokenize_dataset

NO_DROPOUT = {"embd_pdrop": 0.0, "attn_pdrop": 0.0, "resid_pdrop": 0.0}


def make_cfg(shards, out, *overrides):
    base = {"model": {"preset": "test-tiny", "overrides": {"n_positions": 64}},
            "data": {"shards": str(shards), "seq_len": 32, "eval_windows": 2},
            "optim": {"lr": 3e-3, "warmup_steps": 2},
            "train": {"out_dir": str(out), "steps": 8, "micro_batch": 4, "log_every": 1, "eval_every": 4,
                      "save_every": 0, "precision": "fp32", "device": "cpu", "progress": False}}
    cfg = from_dict(apply_overrides(base, list(overrides)))
    cfg.validate()
    return cfg


def losses(out):
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def hf_logits(directory, ids):
    from transformers import GPTBigCodeForCausalLM
    hf = GPTBigCodeForCausalLM.from_pretrained(directory, attn_implementation="eager").eval()
    with torch.no_grad():
        return hf(ids).logits


def test_tiny_model_learns_repetitive_corpus(tmp_path, code_tokenizer, make_dataset):
    make_dataset(tmp_path / "ds", {"python": ["def add(a, b):\n    return a + b\n\n" * 4] * 30})
    tokenize_dataset(tmp_path / "ds", code_tokenizer, tmp_path / "sh", TokenizeOptions(metadata_prob=0.0, workers=1),
                     progress=False)
    cfg = make_cfg(tmp_path / "sh", tmp_path / "run", "train.steps=150", "data.fim_rate=0", "optim.lr=1e-2",
                   "optim.warmup_steps=5", "train.eval_every=150", f"model.overrides={json.dumps({**NO_DROPOUT, 'n_positions': 64})}")
    result = run(cfg)
    hist = losses(tmp_path / "run")
    assert hist[1] > 4.0  # starts near ln(vocab)
    # train windows start at random offsets, so their first positions stay a little uncertain
    assert sum(hist[s] for s in range(141, 151)) / 10 < 0.1, hist
    assert result["val_loss"] < 0.03 and result["val_bpb"] < 0.03, result
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000


def test_sigterm_then_resume_matches_uninterrupted_run(tmp_path, tiny_shards, monkeypatch):
    # bf16 autocast, dropout on, FIM on, gradient accumulation, activation checkpointing: all must resume exactly
    over = ["train.steps=10", "train.grad_accum=2", "train.precision=bf16", "train.activation_checkpointing=true",
            "train.eval_every=5"]
    full = run(make_cfg(tiny_shards, tmp_path / "full", *over))
    kill_at = 4
    real_step = Trainer.train_step

    def step_then_signal(self):
        m = real_step(self)
        if self.step == kill_at:
            os.kill(os.getpid(), signal.SIGTERM)  # a real signal, caught by the trainer's handler
        return m
    monkeypatch.setattr(Trainer, "train_step", step_then_signal)
    first = run(make_cfg(tiny_shards, tmp_path / "cut", *over))
    assert first["stopped"] and first["step"] == kill_at
    assert (tmp_path / "cut/checkpoints/latest").read_text().strip() == f"step-{kill_at:07d}"
    assert not (tmp_path / "cut/final").exists()
    monkeypatch.setattr(Trainer, "train_step", real_step)
    resumed = run(make_cfg(tiny_shards, tmp_path / "cut", *over), resume="auto")
    a, b = losses(tmp_path / "full"), losses(tmp_path / "cut")
    assert sorted(b) == list(range(1, 11))
    assert [b[s] for s in range(kill_at + 1, 11)] == [a[s] for s in range(kill_at + 1, 11)]  # bit-identical
    assert resumed["val_loss"] == full["val_loss"]
    m1, _ = checkpoint.load(tmp_path / "full/final")
    m2, _ = checkpoint.load(tmp_path / "cut/final")
    assert all(torch.equal(p, q) for p, q in zip(m1.state_dict().values(), m2.state_dict().values()))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tiny_shards):
    out = tmp_path_factory.mktemp("pre")
    trainer = Trainer(make_cfg(tiny_shards, out, "train.steps=6", "train.save_every=3", "train.eval_every=0"))
    trainer.run()
    return out, trainer


def test_checkpoints_load_in_transformers_with_same_logits(pretrained):
    out, trainer = pretrained
    ids = torch.randint(0, trainer.tokenizer.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    ours = trainer.model.eval()
    with torch.no_grad():
        want = ours(ids)
    for d in (out / "final", out / "checkpoints" / "step-0000006"):
        torch.testing.assert_close(hf_logits(d, ids), want, atol=1e-4, rtol=1e-4)
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(out / "final")
    assert tok.encode("def f(x):\n", add_special_tokens=False) == trainer.tokenizer.encode("def f(x):\n")
    state = torch.load(out / "checkpoints/step-0000003/trainer_state.pt", weights_only=False)
    assert state["step"] == 3 and state["data"]["sample"] == 12 and "exp_avg" in str(state["optimizer"]["state"][0].keys())


def test_lora_adapter_and_merged_checkpoint(tmp_path, pretrained, tiny_shards):
    from peft import PeftModel
    from transformers import GPTBigCodeForCausalLM

    base_dir = pretrained[0] / "final"
    cfg = make_cfg(tiny_shards, tmp_path / "lora", "train.steps=4", "lora.enabled=true", "lora.r=4",
                   f"model.init_from={base_dir}", "optim.lr=2e-2", "optim.warmup_steps=0")
    trainer = Trainer(cfg)
    trainer.run()
    names = set(json.loads((tmp_path / "lora/final-adapter/adapter_config.json").read_text())["target_modules"])
    assert names == {"c_attn", "c_proj", "c_fc"}
    from safetensors.torch import load_file
    adapter = load_file(str(tmp_path / "lora/final-adapter/adapter_model.safetensors"))
    assert adapter and all(".lora_A." in k or ".lora_B." in k for k in adapter)
    assert any(v.abs().max() > 0 for k, v in adapter.items() if ".lora_B." in k)  # it trained

    ids = torch.randint(0, trainer.tokenizer.vocab_size, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = trainer.model.eval()(ids)  # unmerged LoRA model
        base = GPTBigCodeForCausalLM.from_pretrained(base_dir).eval()
        base_logits = base(ids).logits
        via_peft = PeftModel.from_pretrained(base, tmp_path / "lora/final-adapter").eval()(ids).logits
    merged = hf_logits(tmp_path / "lora/final", ids)
    assert (ours - base_logits).abs().max() > 1e-3  # the adapter changes the model
    torch.testing.assert_close(merged, ours, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(via_peft, ours, atol=1e-4, rtol=1e-4)
    # merging from files gives the same plain checkpoint
    from starcoder.train.lora import merge_adapter_dir
    merge_adapter_dir(base_dir, tmp_path / "lora/final-adapter", tmp_path / "merged2")
    torch.testing.assert_close(hf_logits(tmp_path / "merged2", ids), ours, atol=1e-4, rtol=1e-4)


def test_killed_process_resumes_in_a_new_one(tmp_path, tiny_shards, monkeypatch):
    """SIGTERM to a real `starcoder train` process, resume elsewhere: the next steps match a run never stopped."""
    import subprocess
    import sys
    import time

    import yaml

    over = ["train.steps=400", "train.micro_batch=8", "train.precision=bf16"]
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(make_cfg(tiny_shards, tmp_path / "killed", *over).to_dict()))
    proc = subprocess.Popen([sys.executable, "-m", "starcoder", "train", "--config", str(cfg_file)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "killed/metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(losses(tmp_path / "killed")) >= 3:
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "stopped by signal" in out, err[-2000:]
    k = int((tmp_path / "killed/checkpoints/latest").read_text().strip().removeprefix("step-"))
    assert 3 <= k < 400

    stop_at = k + 4
    real_step = Trainer.train_step

    def stop_later(self):
        m = real_step(self)
        if self.step == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return m
    monkeypatch.setattr(Trainer, "train_step", stop_later)
    run(make_cfg(tiny_shards, tmp_path / "killed", *over), resume=str(tmp_path / "killed"))
    run(make_cfg(tiny_shards, tmp_path / "straight", *over))
    a, b = losses(tmp_path / "straight"), losses(tmp_path / "killed")
    assert [b[s] for s in range(1, stop_at + 1)] == [a[s] for s in range(1, stop_at + 1)]
