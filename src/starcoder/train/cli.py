"""`starcoder tokenizer train`, `starcoder tokenize` and `starcoder train`."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def tokenizer_train_arguments(p) -> None:
    p.add_argument("dataset", help="curated dataset folder (made by `starcoder curate`)")
    p.add_argument("--vocab-size", type=int, default=49152, help="entries including the 19 special tokens (default 49152)")
    p.add_argument("--out", required=True, help="folder to write tokenizer.json (+ configs) into")
    p.add_argument("--max-docs", type=int, default=None, help="train on at most this many documents")
    p.add_argument("--min-frequency", type=int, default=2, help="minimum pair frequency for a merge (default 2)")


def tokenizer_train(args) -> int:
    """Train StarCoder's byte-level BPE (special tokens at ids 0-18, digits split) on a curated dataset."""
    from itertools import islice

    from starcoder.dataset import iter_rows
    from starcoder.tokenizer import Tokenizer

    texts = (r["content"] for r in iter_rows(args.dataset, columns=["content"]) if r["content"])
    try:
        tok = Tokenizer.train(islice(texts, args.max_docs), vocab_size=args.vocab_size,
                              min_frequency=args.min_frequency, show_progress=sys.stderr.isatty())
    except (ValueError, FileNotFoundError) as e:
        print(f"starcoder tokenizer train: {e}", file=sys.stderr)
        return 2
    tok.save(args.out)
    print(f"wrote {Path(args.out) / 'tokenizer.json'} ({tok.vocab_size} entries)")
    return 0


def tokenize_arguments(p) -> None:
    p.add_argument("dataset", help="curated dataset folder (made by `starcoder curate`)")
    p.add_argument("--tokenizer", required=True, help="folder with tokenizer.json (a model or `starcoder tokenizer train` output)")
    p.add_argument("--out", required=True, help="SHARDS_DIR to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the metadata-prefix draws (default 0)")
    p.add_argument("--metadata-prob", type=float, default=0.2, help="probability of each metadata field (default 0.2)")
    p.add_argument("--val-fraction", type=float, default=0.03, help="held-out tail of each source (default 0.03)")
    p.add_argument("--workers", type=int, default=1,
                   help="tokenizer processes (default 1: one process whose Rust tokenizer uses every core; "
                        "N > 1: N single-threaded processes, better on many-core machines; 0: one per CPU)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def tokenize(args) -> int:
    """Tokenize a curated dataset into memory-mapped token shards, one set per source, with a held-out split."""
    from starcoder.tokenizer import Tokenizer
    from starcoder.train.shards import TokenizeOptions, tokenize_dataset

    tok = Tokenizer.from_dir(args.tokenizer)
    if tok is None:
        print(f"starcoder tokenize: {args.tokenizer} has no tokenizer.json; train one with "
              f"`starcoder tokenizer train DATASET --out DIR`", file=sys.stderr)
        return 2
    opts = TokenizeOptions(seed=args.seed, metadata_prob=args.metadata_prob, val_fraction=args.val_fraction,
                           workers=args.workers)
    meta = tokenize_dataset(args.dataset, tok, args.out, opts, progress=not args.no_progress)
    for s, splits in meta["sources"].items():
        print(f"{s:<20} train {splits['train']['tokens']:>12,} tokens {splits['train']['docs']:>9,} docs   "
              f"val {splits['val']['tokens']:>10,} tokens {splits['val']['docs']:>7,} docs")
    print(f"wrote {args.out} ({meta['dtype']})")
    return 0


def train_arguments(p) -> None:
    p.add_argument("--config", help="YAML config (see configs/); sections model, data, optim, train, dist, lora")
    p.add_argument("overrides", nargs="*", metavar="section.key=value",
                   help="overrides, e.g. train.steps=100 data.seq_len=256 model.overrides.n_layer=4")
    p.add_argument("--shards", help="= data.shards")
    p.add_argument("--out", help="= train.out_dir")
    p.add_argument("--steps", type=int, help="= train.steps")
    p.add_argument("--init-from", help="= model.init_from (fine-tune an HF GPTBigCode directory)")
    p.add_argument("--lora", action="store_true", help="= lora.enabled=true")
    p.add_argument("--fsdp", action="store_true", help="= dist.strategy=fsdp (under torchrun)")
    p.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="continue exactly from the latest checkpoint of train.out_dir, or from the given "
                        "run/checkpoint folder")


def train(args) -> int:
    """Pretrain or fine-tune a GPTBigCode model on token shards (FIM, bf16, DDP/FSDP under torchrun, LoRA).

    Examples:
      starcoder train --config configs/debug-cpu.yaml --shards shards/ --out runs/debug
      torchrun --nproc_per_node 8 -m starcoder train --config configs/starcoderbase-1b.yaml
      starcoder train --config configs/debug-cpu.yaml --resume          # after Ctrl-C / SIGTERM
    """
    from starcoder.train.config import load_config
    from starcoder.train.loop import run

    over = list(args.overrides)
    if args.resume and "=" in args.resume and not Path(args.resume).exists():  # `--resume a.b=c`: an override
        over.append(args.resume)
        args.resume = "auto"
    for flag, key in ((args.shards, "data.shards"), (args.out, "train.out_dir"), (args.steps, "train.steps"),
                      (args.init_from, "model.init_from")):
        if flag is not None:
            over.append(f"{key}={flag}")
    if args.lora:
        over.append("lora.enabled=true")
    if args.fsdp:
        over.append("dist.strategy=fsdp")
    try:
        cfg = load_config(args.config, over)
    except (ValueError, FileNotFoundError) as e:
        print(f"starcoder train: {e}", file=sys.stderr)
        return 2
    try:
        result = run(cfg, resume=args.resume)
    except (ValueError, FileNotFoundError) as e:  # bad shards, config, checkpoint: say what to fix
        print(f"starcoder train: {e}", file=sys.stderr)
        return 2
    if result.get("loss") is not None and os.environ.get("RANK", "0") == "0":
        extra = f", held-out loss {result['val_loss']:.4f}, {result['val_bpb']:.3f} bits/byte" if "val_loss" in result else ""
        print(f"step {result.get('step')}: loss {result['loss']:.4f}{extra}")
    return 0
