"""`starcoder info MODEL_DIR`: what a checkpoint is and what it costs to run, without loading it."""
from __future__ import annotations

import json
import sys

_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "I32": 4, "I64": 8, "F64": 8,
          "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "uint8": 1, "int32": 4, "int64": 8, "float64": 8}


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def _int8_bytes(config) -> int:
    """int8 weight-only: Linear weights in int8 + one bf16 scale per output row; the rest bf16."""
    e, i, kv = config.n_embd, config.inner_dim, config.n_kv_heads * config.head_dim
    linear_out = e + 2 * kv + e + i + e  # c_attn, attn.c_proj, c_fc, mlp.c_proj output rows
    linear = config.n_layer * (e * (e + 2 * kv) + e * e + 2 * e * i)
    return linear + 2 * config.n_layer * linear_out + 2 * (config.num_parameters() - linear)


def describe(model_dir) -> dict:
    """Architecture, parameter count, dtype on disk, memory to load, KV-cache bytes per token."""
    from starcoder.checkpoint import read_header_dtypes

    config, dtype_counts, disk_bytes = read_header_dtypes(model_dir)
    n_params = config.num_parameters()
    main_dtype = max(dtype_counts, key=dtype_counts.get) if dtype_counts else "unknown"
    return {
        "model_dir": str(model_dir),
        "architecture": "GPTBigCode " + ("multi-query" if config.multi_query else "multi-head") + " attention",
        "n_layer": config.n_layer, "n_embd": config.n_embd, "n_head": config.n_head,
        "head_dim": config.head_dim, "n_inner": config.inner_dim, "n_positions": config.n_positions,
        "vocab_size": config.vocab_size, "activation_function": config.activation_function,
        "tie_word_embeddings": config.tie_word_embeddings,
        "parameters": n_params,
        "dtype_on_disk": {k: v for k, v in sorted(dtype_counts.items())},
        "main_dtype_on_disk": main_dtype,
        "bytes_on_disk": disk_bytes,
        "memory_to_load_bytes": {"float32": 4 * n_params, "bfloat16": 2 * n_params, "int8": _int8_bytes(config)},
        "kv_cache_bytes_per_token": {"float32": config.kv_cache_bytes_per_token(4),
                                     "bfloat16": config.kv_cache_bytes_per_token(2)},
        "kv_cache_bytes_full_context_bf16": config.kv_cache_bytes_per_token(2) * config.n_positions,
    }


def info_arguments(p) -> None:
    p.add_argument("model_dir", help="a Hugging Face GPTBigCode directory (config.json + weights)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def info(args) -> int:
    """Describe a model directory: architecture, parameter count, dtype on disk, memory needed
    to load it in each dtype, and KV-cache bytes per token (MQA: 2 x n_layer x head_dim x dtype
    bytes). Reads only config.json and the weight-file headers."""
    from starcoder.checkpoint import CheckpointError

    try:
        d = describe(args.model_dir)
    except (CheckpointError, ValueError) as e:
        print(f"starcoder info: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    rows = [
        ("architecture", d["architecture"]),
        ("layers / width / heads", f"{d['n_layer']} / {d['n_embd']} / {d['n_head']} (head_dim {d['head_dim']})"),
        ("MLP inner size", f"{d['n_inner']} ({d['activation_function']})"),
        ("context / vocabulary", f"{d['n_positions']} / {d['vocab_size']}"),
        ("output head", "tied to token embedding" if d["tie_word_embeddings"] else "separate"),
        ("parameters", f"{d['parameters']:,} ({d['parameters'] / 1e9:.2f} B)"),
        ("dtype on disk", ", ".join(f"{k}: {v:,}" for k, v in d["dtype_on_disk"].items())),
        ("size on disk", _human(d["bytes_on_disk"])),
        ("memory to load", ", ".join(f"{k} {_human(v)}" for k, v in d["memory_to_load_bytes"].items())),
        ("KV cache per token", ", ".join(f"{k} {_human(v)}" for k, v in d["kv_cache_bytes_per_token"].items())),
        ("KV cache, full context", f"{_human(d['kv_cache_bytes_full_context_bf16'])} (bfloat16, batch 1)"),
    ]
    w = max(len(k) for k, _ in rows)
    print(f"{d['model_dir']}")
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")
    return 0
