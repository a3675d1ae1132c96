"""ModelConfig: every field of a GPTBigCode `config.json` that changes the computation.

Defaults are Hugging Face's GPTBigCodeConfig defaults, so a config.json that omits a field
means what it means to `transformers`. Named presets follow ../shared/spec/STARCODER.md §1.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

ACTIVATIONS = ("gelu", "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "relu", "silu")

# Keys of config.json that do not change what the model computes (metadata, HF bookkeeping).
_IGNORED_KEYS = {
    "model_type", "architectures", "transformers_version", "torch_dtype", "dtype", "use_cache",
    "_name_or_path", "n_ctx", "inference_runner", "max_batch_size", "max_sequence_length",
    "pad_key_length", "pre_allocate_kv_cache", "validate_runner_input", "summary_activation",
    "summary_first_dropout", "summary_proj_to_labels", "summary_type", "summary_use_proj",
    "pad_token_id", "return_dict", "output_hidden_states", "output_attentions", "id2label",
    "label2id", "task_specific_params", "problem_type", "tokenizer_class", "prefix",
    "attention_type", "fused_softmax", "use_return_dict", "chunk_size_feed_forward",
    "is_encoder_decoder", "is_decoder", "add_cross_attention", "tie_encoder_decoder",
    "finetuning_task", "cross_attention_hidden_size", "decoder_start_token_id", "sep_token_id",
    "_attn_implementation_autoset", "attn_implementation", "gradient_checkpointing",
    "quantization_config",  # validated by checkpoint.py
    "num_key_value_heads",  # checked against multi_query in from_hf_dict
}


@dataclass
class ModelConfig:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # None means 4 * n_embd
    activation_function: str = "gelu_pytorch_tanh"
    layer_norm_epsilon: float = 1e-5
    multi_query: bool = True
    scale_attn_weights: bool = True
    attention_softmax_in_fp32: bool = True
    scale_attention_softmax_in_fp32: bool = True
    tie_word_embeddings: bool = True
    bos_token_id: int | None = 50256
    eos_token_id: int | None = 50256
    initializer_range: float = 0.02
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    resid_pdrop: float = 0.1

    def __post_init__(self):
        self.validate()

    # derived sizes
    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def inner_dim(self) -> int:
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    @property
    def n_kv_heads(self) -> int:
        return 1 if self.multi_query else self.n_head

    def num_parameters(self) -> int:
        """Parameters, counting a tied output head once."""
        e, i, hd, kv = self.n_embd, self.inner_dim, self.head_dim, self.n_kv_heads
        attn = e * (e + 2 * kv * hd) + (e + 2 * kv * hd) + e * e + e
        mlp = e * i + i + i * e + e
        block = attn + mlp + 4 * e
        head = 0 if self.tie_word_embeddings else self.vocab_size * e
        return self.vocab_size * e + self.n_positions * e + self.n_layer * block + 2 * e + head

    def kv_cache_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """Bytes of K and V cache per token over all layers (MQA: one K and one V head)."""
        return 2 * self.n_layer * self.n_kv_heads * self.head_dim * dtype_bytes

    def validate(self) -> None:
        def bad(msg):
            raise ValueError(f"invalid GPTBigCode config: {msg}")
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                bad(f"{name} must be a positive integer, got {v!r}")
        if self.n_embd % self.n_head:
            bad(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.n_inner is not None and (not isinstance(self.n_inner, int) or self.n_inner <= 0):
            bad(f"n_inner must be null or a positive integer, got {self.n_inner!r}")
        if self.activation_function not in ACTIVATIONS:
            bad(f"activation_function {self.activation_function!r} is not supported; "
                f"supported: {', '.join(ACTIVATIONS)}")
        if not (0 < float(self.layer_norm_epsilon) < 1):
            bad(f"layer_norm_epsilon must be in (0, 1), got {self.layer_norm_epsilon!r}")

    # Hugging Face config.json
    @classmethod
    def from_hf_dict(cls, d: dict) -> "ModelConfig":
        mt = d.get("model_type")
        if mt != "gpt_bigcode":
            raise ValueError(f"config.json has model_type {mt!r}; this package runs GPTBigCode "
                             f"(StarCoder family) checkpoints, whose config says \"model_type\": \"gpt_bigcode\"")
        names = {f.name for f in fields(cls)}
        unknown = sorted(k for k in d if k not in names and k not in _IGNORED_KEYS)
        if unknown:
            raise ValueError(f"config.json has field(s) {unknown} that this implementation does not "
                             f"know; they may change the computation, so refusing to guess. Remove them "
                             f"if they are only metadata.")
        kw = {k: d[k] for k in names if k in d}
        kv = d.get("num_key_value_heads")  # written by transformers >= 5; must agree with multi_query
        n_kv = 1 if kw.get("multi_query", True) else kw.get("n_head", cls.n_head)
        if kv is not None and kv != n_kv:
            raise ValueError(f"config.json has num_key_value_heads={kv} but multi_query={kw.get('multi_query', True)} "
                             f"implies {n_kv}; GPTBigCode supports only multi-query (1) or multi-head (n_head)")
        for k in ("multi_query", "scale_attn_weights", "attention_softmax_in_fp32",
                  "scale_attention_softmax_in_fp32", "tie_word_embeddings"):
            if k in kw and not isinstance(kw[k], bool):
                raise ValueError(f"invalid GPTBigCode config: {k} must be true or false, got {kw[k]!r}")
        return cls(**kw)

    def to_hf_dict(self) -> dict:
        d = asdict(self)
        d.update(model_type="gpt_bigcode", architectures=["GPTBigCodeForCausalLM"], use_cache=True,
                 num_key_value_heads=self.n_kv_heads)
        return d

    @classmethod
    def from_json(cls, path: str | Path) -> "ModelConfig":
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{p} is not valid JSON ({e}); restore it from the original checkpoint") from None
        return cls.from_hf_dict(d)

    def to_json(self, path: str | Path, **extra) -> None:
        d = self.to_hf_dict()
        d.update(extra)
        Path(path).write_text(json.dumps(d, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def replace(self, **kw) -> "ModelConfig":
        return replace(self, **kw)


_STARCODER = dict(vocab_size=49152, n_positions=8192, bos_token_id=0, eos_token_id=0)

# Sources: the model cards / config.json files of bigcode/<name> on the Hugging Face Hub.
PRESETS: dict[str, ModelConfig] = {
    "starcoder": ModelConfig(**_STARCODER, n_layer=40, n_embd=6144, n_head=48, n_inner=24576, activation_function="gelu"),
    "starcoderbase": ModelConfig(**_STARCODER, n_layer=40, n_embd=6144, n_head=48, n_inner=24576, activation_function="gelu"),
    "starcoderbase-7b": ModelConfig(**_STARCODER, n_layer=42, n_embd=4096, n_head=32, n_inner=16384, activation_function="gelu"),
    "starcoderbase-3b": ModelConfig(**_STARCODER, n_layer=36, n_embd=2816, n_head=22, n_inner=11264),
    "starcoderbase-1b": ModelConfig(**_STARCODER, n_layer=24, n_embd=2048, n_head=16, n_inner=8192),
    "tiny_starcoder_py": ModelConfig(**_STARCODER, n_layer=20, n_embd=768, n_head=12, n_inner=3072),
    # tiny sizes for tests and debugging (our own)
    "test-tiny": ModelConfig(vocab_size=512, n_positions=128, n_layer=2, n_embd=64, n_head=4,
                             bos_token_id=0, eos_token_id=0),
    "debug-10m": ModelConfig(vocab_size=8192, n_positions=1024, n_layer=6, n_embd=256, n_head=8,
                             bos_token_id=0, eos_token_id=0),
}


def preset(name: str, **overrides) -> ModelConfig:
    """A named preset (see PRESETS), with optional field overrides."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides)
