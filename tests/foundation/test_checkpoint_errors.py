"""Every broken model directory fails with a message that names the problem."""
import json
import re

import pytest
import torch
from safetensors.torch import load_file, save_file

import starcoder
from starcoder.checkpoint import CheckpointError
from tests.conftest import make_hf_checkpoint


@pytest.fixture()
def ckpt(tmp_path):
    make_hf_checkpoint(tmp_path)
    return tmp_path


def _load_err(path):
    with pytest.raises((CheckpointError, ValueError)) as e:
        starcoder.load(path)
    return str(e.value)


def test_missing_directory(tmp_path):
    assert "does not exist" in _load_err(tmp_path / "nope")


def test_missing_config(ckpt):
    (ckpt / "config.json").unlink()
    assert "no config.json" in _load_err(ckpt)


def test_wrong_model_type(ckpt):
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["model_type"] = "gpt2"
    (ckpt / "config.json").write_text(json.dumps(cfg))
    assert "model_type 'gpt2'" in _load_err(ckpt)


def test_no_weights(ckpt):
    (ckpt / "model.safetensors").unlink()
    assert "has no weights" in _load_err(ckpt)


def test_missing_tensor_is_named(ckpt):
    sd = load_file(ckpt / "model.safetensors")
    del sd["transformer.h.1.mlp.c_fc.bias"]
    save_file(sd, ckpt / "model.safetensors", metadata={"format": "pt"})
    assert "transformer.h.1.mlp.c_fc.bias" in _load_err(ckpt)


def test_extra_tensor_is_named(ckpt):
    sd = load_file(ckpt / "model.safetensors")
    sd["transformer.h.7.attn.c_attn.weight"] = torch.zeros(3)
    save_file(sd, ckpt / "model.safetensors", metadata={"format": "pt"})
    msg = _load_err(ckpt)
    assert "transformer.h.7.attn.c_attn.weight" in msg and "does not have" in msg


def test_shape_mismatch_names_tensor_and_both_shapes(ckpt):
    sd = load_file(ckpt / "model.safetensors")
    sd["transformer.wpe.weight"] = torch.zeros(64, 64)
    save_file(sd, ckpt / "model.safetensors", metadata={"format": "pt"})
    msg = _load_err(ckpt)
    assert "transformer.wpe.weight" in msg and "(64, 64)" in msg and "(128, 64)" in msg


def test_untied_head_missing_lm_head(tmp_path):
    make_hf_checkpoint(tmp_path, tie_word_embeddings=False)
    sd = load_file(tmp_path / "model.safetensors")
    del sd["lm_head.weight"]
    save_file(sd, tmp_path / "model.safetensors", metadata={"format": "pt"})
    msg = _load_err(tmp_path)
    assert "lm_head.weight" in msg and "tie_word_embeddings=false" in msg


def test_truncated_safetensors(ckpt):
    f = ckpt / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    msg = _load_err(ckpt)
    assert "model.safetensors" in msg and re.search("truncated or corrupted", msg)


def test_corrupted_bin(tmp_path):
    make_hf_checkpoint(tmp_path, fmt="bin")
    f = tmp_path / "pytorch_model.bin"
    f.write_bytes(b"not a zip file at all" * 10)
    assert "truncated or corrupted" in _load_err(tmp_path)


def test_missing_shard(tmp_path):
    make_hf_checkpoint(tmp_path, max_shard_size="100KB")
    shard = sorted(tmp_path.glob("model-*.safetensors"))[0]
    shard.unlink()
    msg = _load_err(tmp_path)
    assert shard.name in msg and "incomplete" in msg


def test_loaded_tensors_are_real_and_tied_weights_share_storage(tmp_path):
    """No meta tensors remain after loading, and the tied head is the embedding, not a copy."""
    make_hf_checkpoint(tmp_path)
    model, _ = starcoder.load(tmp_path, dtype="bfloat16")
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
