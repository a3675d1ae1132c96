"""GenerationConfig (what to generate) and Completion (what came out); field names follow TGI."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

FINISH_REASONS = ("length", "eos_token", "stop_sequence")


@dataclass
class GenerationConfig:
    max_new_tokens: int = 100
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    repetition_penalty: float = 1.0  # 1 = off (CTRL-style: divide positive logits, multiply negative)
    seed: int | None = None  # None = a fresh random seed per call
    stop: tuple[str, ...] = ()  # strings that end generation; removed from the text
    truncate: int | None = None  # keep only the last `truncate` prompt tokens (TGI's `truncate`)

    def __post_init__(self):
        if isinstance(self.stop, str):
            self.stop = (self.stop,)
        self.stop = tuple(self.stop)
        self.validate()

    def validate(self) -> None:
        def bad(msg):
            raise ValueError(f"invalid generation parameter: {msg}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            bad(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if self.temperature < 0:
            bad(f"temperature must be >= 0 (0 means greedy), got {self.temperature}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            bad(f"top_k must be an integer >= 0 (0 turns it off), got {self.top_k!r}")
        if not 0 < self.top_p <= 1:
            bad(f"top_p must be in (0, 1] (1 turns it off), got {self.top_p}")
        if self.repetition_penalty <= 0:
            bad(f"repetition_penalty must be > 0 (1 turns it off), got {self.repetition_penalty}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            bad(f"stop sequences must be non-empty strings, got {self.stop!r}")
        if self.truncate is not None and (not isinstance(self.truncate, int) or self.truncate < 1):
            bad(f"truncate must be None or an integer >= 1, got {self.truncate!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Completion:
    text: str  # generated text (no prompt, no special tokens, stop sequence removed)
    token_ids: list[int] = field(default_factory=list)  # generated ids (an end-of-text id included)
    finish_reason: str = "length"  # "length" | "eos_token" | "stop_sequence"
    prompt_tokens: int = 0
    generated_tokens: int = 0
    prefill_tokens_per_s: float = 0.0
    decode_tokens_per_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)
