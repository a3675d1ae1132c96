"""LoRA (Hu et al. 2021) for GPTBigCode: low-rank updates on chosen Linears, saved in PEFT's
adapter format (adapter_config.json + adapter_model.safetensors, `base_model.model.` names) so
`peft.PeftModel.from_pretrained(transformers_model, DIR)` loads them, and mergeable into a
plain HF checkpoint.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn as nn

from starcoder.train.config import LoraSection

PEFT_PREFIX = "base_model.model."


class LoRALinear(nn.Module):
    """y = base(x) + (alpha / r) * B(A(dropout(x))); B starts at zero, so training starts at the base."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False, device=base.weight.device)
        self.lora_B = nn.Linear(r, base.out_features, bias=False, device=base.weight.device)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(self.drop(x))) * self.scaling

    def merged(self) -> nn.Linear:
        with torch.no_grad():
            delta = (self.lora_B.weight.float() @ self.lora_A.weight.float()) * self.scaling
            self.base.weight.add_(delta.to(self.base.weight.dtype))
        return self.base


def _targets(model: nn.Module, names: list[str]) -> list[str]:
    out = [n for n, m in model.named_modules()
           if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in names and n != "lm_head"]
    if not out:
        raise ValueError(f"lora.target_modules {names} match no Linear of the model; "
                         f"GPTBigCode has c_attn, c_proj (attention and MLP) and c_fc")
    return out


def apply_lora(model: nn.Module, cfg: LoraSection) -> list[str]:
    """Freeze the model and wrap target Linears; returns the wrapped module names."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = _targets(model, list(cfg.target_modules))
    for n in names:
        parent, _, child = n.rpartition(".")
        owner = model.get_submodule(parent)
        setattr(owner, child, LoRALinear(getattr(owner, child), cfg.r, cfg.alpha, cfg.dropout))
    return names


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Adapter tensors under PEFT's names."""
    return {PEFT_PREFIX + k.replace(".base.", "."): v.detach().cpu().contiguous()
            for k, v in model.state_dict().items() if ".lora_A." in k or ".lora_B." in k}


def load_lora_state_dict(model: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    own = {k: v for k, v in model.state_dict().items() if ".lora_" in k}
    mapped = {}
    for k, v in sd.items():
        name = k.removeprefix(PEFT_PREFIX)
        mod, _, tail = name.rpartition(".lora_")
        key = f"{mod}.lora_{tail}"
        if key not in own:
            raise ValueError(f"adapter tensor {k} has no place in this model (is lora.target_modules the same?)")
        mapped[key] = v
    missing = sorted(set(own) - set(mapped))
    if missing:
        raise ValueError(f"the adapter lacks {missing[:4]}...; it was trained with other lora settings")
    model.load_state_dict(mapped, strict=False)


def save_adapter(model: nn.Module, directory, cfg: LoraSection, base: str | None) -> Path:
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_file(lora_state_dict(model), str(d / "adapter_model.safetensors"), metadata={"format": "pt"})
    conf = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": cfg.r, "lora_alpha": cfg.alpha,
            "lora_dropout": cfg.dropout, "target_modules": sorted(set(cfg.target_modules)), "bias": "none",
            "fan_in_fan_out": False, "inference_mode": True, "base_model_name_or_path": base,
            "modules_to_save": None, "init_lora_weights": True}
    (d / "adapter_config.json").write_text(json.dumps(conf, indent=2) + "\n", encoding="utf-8")
    return d


def load_adapter(model: nn.Module, directory) -> None:
    from safetensors.torch import load_file

    f = Path(directory) / "adapter_model.safetensors"
    if not f.is_file():
        raise FileNotFoundError(f"{f} does not exist; pass the adapter folder written by `starcoder train` with lora")
    load_lora_state_dict(model, load_file(str(f)))


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA update into its base Linear and drop the adapters (in place)."""
    for n, m in list(model.named_modules()):
        if isinstance(m, LoRALinear):
            parent, _, child = n.rpartition(".")
            setattr(model.get_submodule(parent), child, m.merged())
    return model


def merge_adapter_dir(base_dir, adapter_dir, out_dir) -> Path:
    """Write base + adapter as one plain HF checkpoint (what `transformers` loads without peft)."""
    from starcoder import checkpoint

    model, tok = checkpoint.load(base_dir)
    conf = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    cfg = LoraSection(enabled=True, r=conf["r"], alpha=conf["lora_alpha"], dropout=0.0,
                      target_modules=list(conf["target_modules"]))
    apply_lora(model, cfg)
    load_adapter(model, adapter_dir)
    merge_lora(model)
    for p in model.parameters():
        p.requires_grad_(True)
    return checkpoint.save(model, out_dir, tokenizer=tok)
