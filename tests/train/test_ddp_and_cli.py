"""Distributed data parallel under torchrun (gloo, CPU) and the command-line verbs."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from starcoder import checkpoint
from starcoder.cli import main as cli_main
from starcoder.train.loop import run

NO_DROPOUT = {"embd_pdrop": 0.0, "attn_pdrop": 0.0, "resid_pdrop": 0.0, "n_positions": 64}


def _config(shards, out, **train):
    return {"model": {"preset": "test-tiny", "overrides": NO_DROPOUT},
            "data": {"shards": str(shards), "seq_len": 32, "eval_windows": 2},
            "optim": {"lr": 3e-3, "warmup_steps": 2},
            "train": {"out_dir": str(out), "steps": 5, "micro_batch": 2, "log_every": 1, "eval_every": 5,
                      "save_every": 0, "precision": "fp32", "device": "cpu", "progress": False, **train}}


def _losses(out):
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r], [r["val_loss"] for r in rows if "val_loss" in r]


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one_process(tmp_path, tiny_shards, strategy):
    from starcoder.train.config import from_dict

    # one process: 2 micro-batches of 2 accumulated; two processes: 1 micro-batch of 2 each
    run(from_dict(_config(tiny_shards, tmp_path / "one", grad_accum=2)))
    cfg = tmp_path / "ddp.yaml"
    two = _config(tiny_shards, tmp_path / "two", grad_accum=1)
    two["dist"] = {"strategy": strategy}
    cfg.write_text(yaml.safe_dump(two))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "starcoder", "train", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (l1, v1), (l2, v2) = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(l1) == len(l2) == 5
    torch.testing.assert_close(torch.tensor(l2), torch.tensor(l1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.tensor(v2), torch.tensor(v1), rtol=1e-5, atol=1e-5)
    m1, _ = checkpoint.load(tmp_path / "one/final")
    m2, _ = checkpoint.load(tmp_path / "two/final")
    e, hd = m1.config.n_embd, m1.config.head_dim
    for (name, p), q in zip(m1.state_dict().items(), m2.state_dict().values()):
        if name.endswith("attn.c_attn.bias"):
            # the key bias gets a mathematically zero gradient (softmax ignores a per-query constant);
            # Adam turns its rounding noise into updates, so only the query and value parts are compared
            p, q = torch.cat([p[:e], p[e + hd:]]), torch.cat([q[:e], q[e + hd:]])
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)
    assert (tmp_path / "two/loss.png").is_file()


def test_cli_tokenizer_tokenize_train(tmp_path, make_dataset, capsys):
    make_dataset(tmp_path / "ds", {"python": [f"def f{i}(x):\n    return x * {i}\n" * 6 for i in range(40)]})
    assert cli_main(["tokenizer", "train", str(tmp_path / "ds"), "--vocab-size", "300", "--out", str(tmp_path / "tok")]) == 0
    assert cli_main(["tokenize", str(tmp_path / "ds"), "--tokenizer", str(tmp_path / "tok"), "--out",
                     str(tmp_path / "sh"), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "python" in out and "uint16" in out
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(_config("unused", "unused")))
    rc = cli_main(["train", "--config", str(cfg), "--shards", str(tmp_path / "sh"), "--out", str(tmp_path / "run"),
                   "--steps", "3", "train.micro_batch=1", "optim.lr=1e-3"])
    assert rc == 0
    saved = yaml.safe_load((tmp_path / "run/config.yaml").read_text())
    assert saved["train"]["steps"] == 3 and saved["optim"]["lr"] == 1e-3 and saved["train"]["micro_batch"] == 1
    assert (tmp_path / "run/final/model.safetensors").is_file()
    # continue the finished run for two more steps: `--resume` followed by an override is not a path
    assert cli_main(["train", "--config", str(cfg), "--shards", str(tmp_path / "sh"), "--out", str(tmp_path / "run"),
                     "--steps", "5", "train.micro_batch=1", "--resume", "optim.lr=1e-3"]) == 0
    steps = [json.loads(x)["step"] for x in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [s for s in steps] == [1, 2, 3, 3, 4, 5, 5]  # (the held-out rows at steps 3 and 5)
    # bad input: a message that says what to fix, exit code 2
    assert cli_main(["train", "--config", str(cfg), "--shards", str(tmp_path / "sh"), "train.stepz=3"]) == 2
    assert "unknown key(s) ['stepz']" in capsys.readouterr().err
