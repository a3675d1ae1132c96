"""The training loop: pretraining and fine-tuning (full or LoRA) on token shards, with FIM.

`run(cfg, resume=...)` is the whole thing; `starcoder train` and `torchrun ... -m starcoder
train` call it. Output folder (train.out_dir):
    config.yaml            the resolved config
    metrics.jsonl          one JSON object per logged step / evaluation
    loss.png               loss curve (train and held-out)
    checkpoints/step-NNNNNNN/   HF model dir (or adapter/ for LoRA) + trainer_state.pt + rng-rankR.pt
    checkpoints/latest     name of the newest complete checkpoint
    final/                 HF model dir of the trained (LoRA: merged) model; final-adapter/ for LoRA
"""
from __future__ import annotations

import json
import math
import shutil
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from starcoder import checkpoint
from starcoder.config import ModelConfig, preset
from starcoder.fim import FimTransform
from starcoder.model import GPTBigCode
from starcoder.tokenizer import Tokenizer
from starcoder.train import dist, lora
from starcoder.train.config import TrainConfig, save_config
from starcoder.train.data import PackedLoader, heldout_windows, token_byte_lengths
from starcoder.train.metrics import plot_metrics, truncate_metrics
from starcoder.train.schedule import warmup_cosine
from starcoder.train.state import find_checkpoint, full_state, rng_state, set_rng_state
from starcoder.train.shards import open_shards, read_info


# ---- model ------------------------------------------------------------------------------------
def build_model(cfg: TrainConfig, vocab_size: int) -> GPTBigCode:
    """A fresh model (preset + overrides, BigCode init) or the weights of model.init_from."""
    m = cfg.model
    if m.init_from:
        base, _ = checkpoint.load(m.init_from)
        config = base.config.replace(**m.overrides) if m.overrides else base.config
        model = GPTBigCode(config)
        model.load_state_dict(base.state_dict())
        del base
    else:
        over = {"vocab_size": vocab_size, **m.overrides}
        config = preset(m.preset, **over)
        torch.manual_seed(cfg.train.seed)
        model = GPTBigCode(config).init_weights(m.init_std or 1.0 / math.sqrt(config.n_embd))
    if model.config.vocab_size < vocab_size:
        raise ValueError(f"the model's vocab_size {model.config.vocab_size} is smaller than the shards' tokenizer "
                         f"({vocab_size}); tokenize with the model's own tokenizer")
    if cfg.data.seq_len > model.config.n_positions:
        raise ValueError(f"data.seq_len {cfg.data.seq_len} exceeds the model's n_positions {model.config.n_positions}")
    return model


def enable_activation_checkpointing(model: GPTBigCode) -> None:
    """Recompute each block's activations in the backward pass (keeps HF parameter names)."""
    from torch.utils.checkpoint import checkpoint as ckpt

    for block in model.transformer.h:
        fwd = block.forward
        block.forward = lambda *a, _f=fwd, **k: ckpt(_f, *a, use_reentrant=False, **k)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices and embeddings; none on biases and LayerNorms (spec §4)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if name.endswith("bias") or ".ln_" in name or "ln_f" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, cfg: TrainConfig, info: dist.DistInfo) -> torch.optim.Optimizer:
    o = cfg.optim
    fused = o.fused if o.fused is not None else info.strategy != "fsdp"
    kw = {"fused": True} if fused else {}
    return torch.optim.AdamW(param_groups(model, o.weight_decay), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, **kw)


def lm_loss(model, input_ids: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross entropy over every position (no mask: pads and separators are trained on)."""
    logits = model(input_ids)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction=reduction)


def flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token: 6 x matmul parameters + attention scores (PaLM appendix B)."""
    e, L = config.n_embd, config.n_layer
    non_emb = config.num_parameters() - config.vocab_size * e - config.n_positions * e
    return 6 * (non_emb + config.vocab_size * e) + 12 * L * e * seq_len


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: str | None = None):
        self.cfg = cfg
        t = cfg.train
        self.info = dist.init(t.device, cfg.dist.strategy, cfg.dist.backend)
        self.out = Path(t.out_dir)
        info = read_info(cfg.data.shards)
        self.tokenizer = Tokenizer.from_file(Path(cfg.data.shards) / "tokenizer.json")
        self.ckpt = find_checkpoint(self.out if resume == "auto" else resume) if resume else None
        model = build_model(cfg, info["vocab_size"])
        if self.ckpt is not None and not cfg.lora.enabled:
            model.load_state_dict(checkpoint.load(self.ckpt)[0].state_dict())
        if cfg.lora.enabled:
            lora.apply_lora(model, cfg.lora)
            if self.ckpt is not None:
                lora.load_adapter(model, self.ckpt / "adapter")
        if t.activation_checkpointing:
            enable_activation_checkpointing(model)
        self.model_config = model.config
        model.to(self.info.device).train()
        self.model = dist.wrap(model, self.info)
        self.step_fn = torch.compile(self.model) if t.compile else self.model
        self.optimizer = make_optimizer(self.model, cfg, self.info)
        self.scheduler = warmup_cosine(self.optimizer, cfg.optim.warmup_steps, t.steps, cfg.optim.min_lr_ratio)
        fim = (FimTransform(self.tokenizer, cfg.data.fim_rate, cfg.data.fim_spm_rate)
               if cfg.data.fim_rate > 0 else None)
        self.loader = PackedLoader(open_shards(cfg.data.shards, "train"), cfg.data.weights, cfg.data.seq_len,
                                   t.micro_batch, cfg.data.seed, fim, self.info.rank, self.info.world)
        self.heldout = heldout_windows(open_shards(cfg.data.shards, "val"), cfg.data.seq_len, cfg.data.eval_windows)
        self.byte_lens = torch.from_numpy(token_byte_lengths(self.tokenizer))
        self.step = 0
        self.tokens_seen = 0
        if self.ckpt is not None:
            self._load_trainer_state()
        self._stop_signal = None

    # -- state
    def _load_trainer_state(self) -> None:
        st = torch.load(self.ckpt / "trainer_state.pt", map_location="cpu", weights_only=False)
        if self.info.strategy == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
            set_optimizer_state_dict(self.model, self.optimizer, st["optimizer"],
                                     options=StateDictOptions(full_state_dict=True))
        else:
            self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        if st["data"]["world"] * st["data"]["micro_batch"] != self.info.world * self.cfg.train.micro_batch:
            print(f"note: resuming with world x micro_batch = {self.info.world * self.cfg.train.micro_batch} "
                  f"(was {st['data']['world'] * st['data']['micro_batch']}); the data order stays the same, "
                  f"batches are grouped differently")
        self.loader.load_state_dict(st["data"])
        self.step, self.tokens_seen = st["step"], st["tokens_seen"]
        rng = self.ckpt / f"rng-rank{self.info.rank}.pt"
        if rng.is_file():
            set_rng_state(torch.load(rng, weights_only=False))

    def save_checkpoint(self) -> Path:
        ck_root = self.out / "checkpoints"
        name = f"step-{self.step:07d}"
        tmp, final = ck_root / (name + ".tmp"), ck_root / name
        model_sd, optim_sd = full_state(self.model, self.optimizer, self.info)
        if self.info.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            bare = dist.unwrap(self.model)
            if self.cfg.lora.enabled:
                lora.save_adapter(bare, tmp / "adapter", self.cfg.lora, self.cfg.model.init_from)
            else:
                self._save_hf(model_sd, tmp)
            torch.save({"step": self.step, "tokens_seen": self.tokens_seen, "optimizer": optim_sd,
                        "scheduler": self.scheduler.state_dict(), "data": self.loader.state_dict(),
                        "config": self.cfg.to_dict()}, tmp / "trainer_state.pt")
            torch.save(rng_state(), tmp / "rng-rank0.pt")
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
        dist.barrier()
        if not self.info.is_main:  # the folder exists now; every rank adds its RNG state
            torch.save(rng_state(), final / f"rng-rank{self.info.rank}.pt")
        dist.barrier()
        if self.info.is_main:  # complete: make it the one --resume finds
            (ck_root / "latest").write_text(name + "\n")
            self._prune(ck_root)
        return final

    def _save_hf(self, state_dict: dict, directory: Path) -> None:
        with torch.device("meta"):  # (building on a real device would draw from the RNG and break resume)
            model = GPTBigCode(self.model_config)
        model.load_state_dict({k: v.cpu() for k, v in state_dict.items()}, assign=True)
        model.tie_weights()
        checkpoint.save(model, directory, tokenizer=self.tokenizer)

    def _prune(self, root: Path) -> None:
        keep = self.cfg.train.keep_checkpoints
        steps = sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
        for p in steps[:-keep] if keep > 0 else []:
            shutil.rmtree(p, ignore_errors=True)

    # -- evaluation
    @torch.no_grad()
    def evaluate(self) -> dict:
        model = self.model if self.info.strategy == "fsdp" else dist.unwrap(self.model)
        was = model.training
        model.eval()
        mine = self.heldout if self.info.strategy == "fsdp" else self.heldout[self.info.rank::self.info.world]
        sums = torch.zeros(3, dtype=torch.float64)  # nll (nats), tokens, bytes
        for _, w in mine:
            x = torch.from_numpy(w[None, :-1]).to(self.info.device)
            y = torch.from_numpy(w[None, 1:])
            with self._autocast():
                nll = lm_loss(model, x, y.to(self.info.device), reduction="sum").double().cpu()
            sums += torch.stack([nll, torch.tensor(y.numel(), dtype=torch.float64),
                                 self.byte_lens[y].sum().double()])
        if self.info.strategy != "fsdp":
            dist.all_reduce(sums)
        model.train(was)
        nll, n, nbytes = sums.tolist()
        return {"val_loss": nll / max(n, 1), "val_bpb": nll / math.log(2) / nbytes if nbytes else float("nan")}

    # -- training
    def _autocast(self):
        if self.cfg.train.precision == "bf16":
            return torch.autocast(self.info.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def train_step(self) -> dict:
        accum = self.cfg.train.grad_accum
        batches = self.loader.next_step(accum)
        total = torch.zeros((), dtype=torch.float32, device=self.info.device)
        for a, (x, y) in enumerate(batches):
            x, y = x.to(self.info.device, non_blocking=True), y.to(self.info.device, non_blocking=True)
            with dist.no_sync(self.model, self.info, last=a == accum - 1):
                with self._autocast():  # forward only: the backward runs in the forward's dtypes
                    loss = lm_loss(self.step_fn, x, y)
                (loss / accum).backward()
            total += loss.detach()
        gnorm = torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.cfg.optim.grad_clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += accum * self.cfg.train.micro_batch * self.cfg.data.seq_len * self.info.world
        total = dist.all_reduce(total / accum) / self.info.world
        if hasattr(gnorm, "full_tensor"):  # FSDP: DTensor
            gnorm = gnorm.full_tensor()
        return {"loss": total, "grad_norm": gnorm, "lr": lr}

    def _on_signal(self, signum, frame):
        if self._stop_signal is not None:  # a second Ctrl-C: stop now, without a checkpoint
            raise KeyboardInterrupt
        self._stop_signal = signum
        if self.info.is_main:
            print(f"\nsignal {signal.Signals(signum).name}: saving a checkpoint after this step "
                  f"(press Ctrl-C again to quit without one)", flush=True)

    def _stop_requested(self) -> bool:
        flag = torch.tensor([1.0 if self._stop_signal else 0.0])
        if self.info.world > 1:
            if self.info.device.type == "cuda":
                flag = flag.to(self.info.device)
            dist.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def run(self) -> dict:
        from tqdm import tqdm

        t, main = self.cfg.train, self.info.is_main
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(self.cfg, self.out / "config.yaml")
            truncate_metrics(self.out / "metrics.jsonl", self.step)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        bar = tqdm(total=t.steps, initial=self.step, unit="step", disable=not (main and t.progress), dynamic_ncols=True)
        metrics = open(self.out / "metrics.jsonl", "a", encoding="utf-8") if main else None
        last: dict = {}
        t0, tok0 = time.perf_counter(), self.tokens_seen
        try:
            while self.step < t.steps:
                m = self.train_step()
                tps = (self.tokens_seen - tok0) / max(time.perf_counter() - t0, 1e-9)
                if self.step % t.log_every == 0 or self.step == t.steps:
                    last = {"step": self.step, "loss": float(m["loss"]), "lr": m["lr"],
                            "grad_norm": float(m["grad_norm"]), "tokens": self.tokens_seen, "tokens_per_s": round(tps, 1)}
                    if main:
                        metrics.write(json.dumps(last) + "\n")
                        metrics.flush()
                        bar.set_postfix(loss=f"{last['loss']:.4f}", tok_s=f"{tps:,.0f}")
                if t.eval_every and (self.step % t.eval_every == 0 or self.step == t.steps) and self.heldout:
                    ev = {"step": self.step, **self.evaluate()}
                    last.update(ev)
                    if main:
                        metrics.write(json.dumps(ev) + "\n")
                        metrics.flush()
                bar.update(1)
                stop = self._stop_requested()
                if stop or (t.save_every and self.step % t.save_every == 0):
                    self.save_checkpoint()
                    if main:
                        plot_metrics(self.out / "metrics.jsonl", self.out / "loss.png")
                if stop:
                    if main:
                        print(f"\nstopped by signal at step {self.step}; resume with --resume {self.out}")
                    return {**last, "stopped": True}
            if not (t.save_every and self.step % t.save_every == 0):
                self.save_checkpoint()  # the end is resumable too (e.g. to train for more steps)
            self.save_final()
            if main:
                plot_metrics(self.out / "metrics.jsonl", self.out / "loss.png")
            dist.barrier()
            return {**last, "stopped": False}
        finally:
            bar.close()
            if metrics:
                metrics.close()
            for s, h in old.items():
                signal.signal(s, h)

    def save_final(self) -> Path:
        """Write final/ (and final-adapter/ for LoRA); every rank calls it (FSDP gathers the weights)."""
        model_sd = full_state(self.model, self.optimizer, self.info)[0] if self.info.strategy == "fsdp" else None
        final = self.out / "final"
        if not self.info.is_main:
            return final
        bare = dist.unwrap(self.model)
        if not self.cfg.lora.enabled:
            self._save_hf(model_sd if model_sd is not None else bare.state_dict(), final)
            return final
        lora.save_adapter(bare, self.out / "final-adapter", self.cfg.lora, self.cfg.model.init_from)
        with torch.random.fork_rng(devices=[]):  # building and LoRA init draw random numbers
            merged = GPTBigCode(self.model_config)
            merged.load_state_dict({k.replace(".base.", "."): v.detach().cpu().clone()
                                    for k, v in bare.state_dict().items() if ".lora_" not in k})
            lora.apply_lora(merged, self.cfg.lora)
        lora.load_lora_state_dict(merged, lora.lora_state_dict(bare))
        return checkpoint.save(lora.merge_lora(merged), final, tokenizer=self.tokenizer)


def run(cfg: TrainConfig, resume: str | None = None) -> dict:
    """Train according to `cfg`; `resume` is a run folder, a checkpoint folder or "auto" (= out_dir)."""
    trainer = Trainer(cfg, resume)
    try:
        return trainer.run()
    finally:
        dist.shutdown()
