"""Training: token shards, packed FIM batches, the loop (DDP/FSDP, LoRA), configs and CLI."""
