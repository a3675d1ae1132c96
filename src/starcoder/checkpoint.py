"""Hugging Face GPTBigCode directories: load (safetensors, sharded, .bin) and save.

Loading builds the model on the meta device and fills it tensor by tensor from the files,
so a checkpoint is never held twice in memory. Every failure names the file or tensor and
says how to fix it.
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from starcoder.config import ModelConfig
from starcoder.model import GPTBigCode

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}
SAFE_INDEX = "model.safetensors.index.json"
BIN_INDEX = "pytorch_model.bin.index.json"
# Buffers that older GPTBigCode checkpoints carry and that hold nothing learnt.
_IGNORABLE = re.compile(r"transformer\.h\.\d+\.attn\.(masked_bias|bias)$")


class CheckpointError(ValueError):
    """A model directory is missing, incomplete or inconsistent."""


def torch_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of float32, bfloat16, float16")
    return DTYPES[dtype]


@dataclass
class WeightFiles:
    kind: str  # "safetensors" or "bin"
    files: list[Path]


def find_weight_files(d: Path) -> WeightFiles:
    for kind, single, index in (("safetensors", "model.safetensors", SAFE_INDEX), ("bin", "pytorch_model.bin", BIN_INDEX)):
        if (d / index).is_file():
            try:
                weight_map = json.loads((d / index).read_text(encoding="utf-8"))["weight_map"]
            except (json.JSONDecodeError, KeyError) as e:
                raise CheckpointError(f"{d / index} is not a valid shard index ({e}); copy it again from the checkpoint")
            files = [d / f for f in sorted(set(weight_map.values()))]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise CheckpointError(f"{d} is missing shard file(s) {missing} listed in {index}; "
                                      f"the download or copy is incomplete")
            return WeightFiles(kind, files)
        if (d / single).is_file():
            return WeightFiles(kind, [d / single])
    raise CheckpointError(f"{d} has no weights: expected model.safetensors, sharded model-*.safetensors with "
                          f"{SAFE_INDEX}, or pytorch_model*.bin")


def _read_model_dir(path) -> tuple[Path, ModelConfig, dict]:
    d = Path(path)
    if not d.is_dir():
        raise CheckpointError(f"model directory {d} does not exist; pass the folder that holds config.json "
                              f"and the weights (a Hugging Face GPTBigCode checkpoint)")
    if not (d / "config.json").is_file():
        raise CheckpointError(f"{d} has no config.json; it is not a Hugging Face model directory")
    raw = json.loads((d / "config.json").read_text(encoding="utf-8"))
    return d, ModelConfig.from_hf_dict(raw), raw


def _iter_file_tensors(wf: WeightFiles):
    """Yield (file, name, tensor) one tensor at a time."""
    for f in wf.files:
        try:
            if wf.kind == "safetensors":
                from safetensors import safe_open
                with safe_open(str(f), framework="pt", device="cpu") as sf:
                    for name in sf.keys():
                        yield f, name, sf.get_tensor(name)
            else:
                sd = torch.load(str(f), map_location="cpu", weights_only=True, mmap=True)
                for name, t in sd.items():
                    yield f, name, t
                del sd
        except CheckpointError:
            raise
        except Exception as e:  # safetensors / zipfile / pickle errors
            raise CheckpointError(f"cannot read {f}: the file is truncated or corrupted ({type(e).__name__}: {e}); "
                                  f"copy or download it again") from None


def _set_tensor(model: nn.Module, name: str, value: torch.Tensor) -> None:
    mod_name, _, attr = name.rpartition(".")
    mod = model.get_submodule(mod_name)
    if attr in mod._parameters:
        mod._parameters[attr] = nn.Parameter(value, requires_grad=value.is_floating_point())
    else:
        mod._buffers[attr] = value


def load(path, dtype="float32", device="cpu", quantize: str | None = None):
    """Load a model directory -> (GPTBigCode in eval mode, Tokenizer or None)."""
    from starcoder.tokenizer import Tokenizer

    d, config, raw = _read_model_dir(path)
    dt = torch_dtype(dtype)
    with torch.device("meta"):
        model = GPTBigCode(config)
    qcfg = raw.get("quantization_config")
    if qcfg is not None:
        from starcoder import quantize as q
        q.prepare_quantized(model, qcfg)  # swap Linears for empty quantized modules
    expected = {k: v for k, v in model.state_dict(keep_vars=True).items()}
    tied = config.tie_word_embeddings
    seen, extra = set(), []
    for f, name, t in _iter_file_tensors(find_weight_files(d)):
        if _IGNORABLE.match(name):
            continue
        if name == "lm_head.weight" and tied:
            continue  # tied to transformer.wte.weight
        if name not in expected:
            extra.append(name)
            continue
        want = expected[name]
        if tuple(t.shape) != tuple(want.shape):
            raise CheckpointError(f"tensor {name} in {f.name} has shape {tuple(t.shape)} but config.json implies "
                                  f"{tuple(want.shape)}; the weights do not belong to this config.json")
        if t.is_floating_point():
            t = t.to(dt)
        _set_tensor(model, name, t.to(device))
        seen.add(name)
    if extra:
        raise CheckpointError(f"{d} holds tensor(s) this architecture does not have: {sorted(extra)[:10]}"
                              f"{' ...' if len(extra) > 10 else ''}; is config.json (n_layer, multi_query, ...) "
                              f"the one for these weights?")
    missing = sorted(set(expected) - seen - ({"lm_head.weight"} if tied else set()))
    if missing:
        hint = " (config.json says tie_word_embeddings=false, so lm_head.weight must be stored)" if "lm_head.weight" in missing else ""
        raise CheckpointError(f"{d} lacks tensor(s) {missing[:10]}{' ...' if len(missing) > 10 else ''}{hint}; "
                              f"the checkpoint is incomplete")
    model.tie_weights()
    if quantize:
        from starcoder import quantize as q
        if qcfg is None:
            q.quantize_model(model, quantize)
        elif q.method_name(qcfg) != quantize:
            raise CheckpointError(f"{d} is already quantized ({qcfg}); load it without --quantize {quantize}")
    model.eval()
    return model, Tokenizer.from_dir(d)


def _state_dict_to_save(model: GPTBigCode, dtype) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    if model.config.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    dt = torch_dtype(dtype) if dtype is not None else None
    return {k: (v.to(dt) if dt is not None and v.is_floating_point() and not k.endswith("_scale") else v)
            .detach().contiguous().cpu() for k, v in sd.items()}


def save(model: GPTBigCode, directory, tokenizer=None, dtype=None, max_shard_size: int = 2 * 1024**3,
         model_card: str | None = None) -> Path:
    """Write a Hugging Face directory (config.json, safetensors shards, tokenizer) that
    `transformers.AutoModelForCausalLM.from_pretrained` loads."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    sd = _state_dict_to_save(model, dtype)
    shards: list[dict] = [{}]
    size = 0
    for k, v in sd.items():
        n = v.numel() * v.element_size()
        if shards[-1] and size + n > max_shard_size:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += n
    for old in list(d.glob("model*.safetensors")) + [d / SAFE_INDEX]:
        old.unlink(missing_ok=True)
    if len(shards) == 1:
        save_file(shards[0], str(d / "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map = {}
        for i, shard in enumerate(shards, 1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(d / name), metadata={"format": "pt"})
            weight_map.update({k: name for k in shard})
        total = sum(v.numel() * v.element_size() for v in sd.values())
        (d / SAFE_INDEX).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map},
                                               indent=2) + "\n", encoding="utf-8")
    stored = next((v.dtype for v in sd.values() if v.is_floating_point()), torch.float32)
    extra = {"torch_dtype": str(stored).removeprefix("torch.")}
    qcfg = getattr(model, "quantization_config", None)
    if qcfg:
        extra["quantization_config"] = qcfg
    model.config.to_json(d / "config.json", **extra)
    gen = {"bos_token_id": model.config.bos_token_id, "eos_token_id": model.config.eos_token_id,
           "_from_model_config": True}
    (d / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n", encoding="utf-8")
    if tokenizer is not None:
        tokenizer.save(d, model_max_length=model.config.n_positions)
    if model_card:
        (d / "model_card.md").write_text(model_card, encoding="utf-8")
    return d


def read_header_dtypes(path) -> tuple[ModelConfig, dict[str, int], int]:
    """Without loading weights: (config, {dtype name: element count}, bytes on disk)."""
    d, config, _ = _read_model_dir(path)
    wf = find_weight_files(d)
    counts: dict[str, int] = {}
    total = 0
    for f in wf.files:
        total += f.stat().st_size
        if wf.kind == "safetensors":
            with open(f, "rb") as fh:
                try:
                    (n,) = struct.unpack("<Q", fh.read(8))
                    header = json.loads(fh.read(n))
                except Exception as e:
                    raise CheckpointError(f"{f} has an unreadable safetensors header ({e}); the file is corrupted")
            for k, meta in header.items():
                if k != "__metadata__":
                    numel = 1
                    for s in meta["shape"]:
                        numel *= s
                    counts[meta["dtype"]] = counts.get(meta["dtype"], 0) + numel
        else:
            for _, _, t in _iter_file_tensors(WeightFiles("bin", [f])):
                key = str(t.dtype).removeprefix("torch.")
                counts[key] = counts.get(key, 0) + t.numel()
    return config, counts, total
