"""Training configuration: typed sections read from YAML, overridable as `section.key=value`.

Defaults follow StarCoderBase's recipe (spec §4): AdamW(0.9, 0.95, eps 1e-8, wd 0.1), cosine
decay to 10% after warmup, clipping 1.0, bf16, FIM rate 0.5 with SPM 0.5.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import yaml


@dataclass
class ModelSection:
    preset: str | None = "debug-10m"  # a name from starcoder.config.PRESETS (ignored with init_from)
    init_from: str | None = None  # fine-tune: a Hugging Face GPTBigCode directory
    overrides: dict = field(default_factory=dict)  # ModelConfig fields, e.g. {n_layer: 4, resid_pdrop: 0.0}
    init_std: float | None = None  # None: 1/sqrt(n_embd), BigCode's initialisation


@dataclass
class DataSection:
    shards: str = ""  # SHARDS_DIR from `starcoder tokenize`
    weights: dict | None = None  # {source: weight}; None: proportional to tokens
    seq_len: int = 1024
    fim_rate: float = 0.5
    fim_spm_rate: float = 0.5
    seed: int = 0
    eval_windows: int = 8  # held-out windows per source


@dataclass
class OptimSection:
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    fused: bool | None = None  # None: fused AdamW where torch supports it


@dataclass
class TrainSection:
    out_dir: str = "runs/debug"
    steps: int = 1000
    micro_batch: int = 8
    grad_accum: int = 1
    precision: str = "bf16"  # bf16 (autocast, fp32 master weights) or fp32
    activation_checkpointing: bool = False
    compile: bool = False
    seed: int = 0  # weight init and dropout
    log_every: int = 10
    eval_every: int = 200
    save_every: int = 500
    keep_checkpoints: int = 2  # 0: keep all
    device: str = "auto"  # auto, cpu, cuda
    progress: bool = True


@dataclass
class DistSection:
    strategy: str = "ddp"  # ddp or fsdp (used when launched under torchrun with WORLD_SIZE > 1)
    backend: str = "auto"  # auto: nccl on GPU, gloo on CPU


@dataclass
class LoraSection:
    enabled: bool = False
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list = field(default_factory=lambda: ["c_attn", "c_proj", "c_fc"])


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)
    dist: DistSection = field(default_factory=DistSection)
    lora: LoraSection = field(default_factory=LoraSection)

    def validate(self) -> None:
        def bad(msg):
            raise ValueError(f"invalid training config: {msg}")
        t, o, d = self.train, self.optim, self.data
        for name, v in (("train.steps", t.steps), ("train.micro_batch", t.micro_batch),
                        ("train.grad_accum", t.grad_accum), ("data.seq_len", d.seq_len)):
            if not isinstance(v, int) or v < 1:
                bad(f"{name} must be a positive integer, got {v!r}")
        if t.precision not in ("bf16", "fp32"):
            bad(f"train.precision must be bf16 or fp32, got {t.precision!r}")
        if self.dist.strategy not in ("ddp", "fsdp"):
            bad(f"dist.strategy must be ddp or fsdp, got {self.dist.strategy!r}")
        if not 0 <= o.min_lr_ratio <= 1 or o.lr <= 0:
            bad("optim.lr must be > 0 and optim.min_lr_ratio in [0, 1]")
        if not d.shards:
            bad("data.shards is empty; point it at a SHARDS_DIR made by `starcoder tokenize`")
        if self.model.init_from is None and not self.model.preset:
            bad("set model.preset (a name from starcoder.config.PRESETS) or model.init_from (an HF directory)")

    def to_dict(self) -> dict:
        return asdict(self)


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where or 'the config'}; valid keys: {sorted(names)}")
    kw = {}
    for k, v in data.items():
        default = getattr(cls(), k) if k in names else None
        if is_dataclass(default):
            v = _build(type(default), v or {}, f"{where}.{k}".strip("."))
        elif "float" in str(names[k].type) and isinstance(v, (str, int)) and not isinstance(v, bool):
            try:  # YAML reads 3e-4 as a string
                v = float(v)
            except ValueError:
                raise ValueError(f"{where}.{k} must be a number, got {v!r}".lstrip(".")) from None
        kw[k] = v
    return cls(**kw)


def from_dict(data: dict) -> TrainConfig:
    return _build(TrainConfig, data or {}, "")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `section.key=value` strings (values parsed as YAML) to a config dict."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like section.key=value, e.g. train.steps=100")
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {p} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    data = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {p} does not exist; see configs/ for examples")
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    cfg = from_dict(apply_overrides(data, list(overrides)))
    cfg.validate()
    return cfg


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
