"""Technical-assistant chat: a dialogue preamble (ours) + the running conversation as one prompt.

A base code model has no chat training; the preamble shows it the shape of a helpful exchange,
and the stop sequences end a reply where the model would start the user's next turn.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

from starcoder.generate.config import Completion, GenerationConfig

PREAMBLE = """\
The following is a transcript of a working session between a programmer and a technical
assistant. The assistant knows many programming languages, libraries and tools well. It
answers precisely, shows code in fenced blocks, explains the reason behind each suggestion
in a sentence or two, points out bugs and security problems it notices, and says so plainly
when it is unsure instead of inventing an answer.
-----
Human: How do I reverse a list in Python without changing the original?
Assistant: Slice it with a step of -1, which builds a new list:

```python
items = [1, 2, 3]
backwards = items[::-1]  # [3, 2, 1]; items is unchanged
```

`reversed(items)` also leaves the original alone, but returns an iterator; wrap it in
`list(...)` when you need a list.
-----
Human: Why does `0.1 + 0.2 == 0.3` print False?
Assistant: Floating-point numbers are stored in binary, where 0.1 and 0.2 have no exact
representation, so their sum is 0.30000000000000004. Compare with a tolerance instead:
`math.isclose(0.1 + 0.2, 0.3)` returns True.
-----
"""
USER, ASSISTANT, SEPARATOR = "Human:", "Assistant:", "-----"
STOPS = ("\nHuman:", "\n-----", "<|endoftext|>")


@dataclass
class Chat:
    """A multi-turn conversation; `reply(message)` answers and remembers the exchange."""

    generator: object  # starcoder.generate.Generator
    config: GenerationConfig = field(default_factory=lambda: GenerationConfig(max_new_tokens=256))
    preamble: str = PREAMBLE
    turns: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        self.config = replace(self.config, stop=tuple(dict.fromkeys((*self.config.stop, *STOPS))))

    def prompt(self, message: str, history: list[tuple[str, str]] | None = None) -> str:
        history = self.turns if history is None else history
        parts = [self.preamble]
        for user, answer in history:
            parts.append(f"{USER} {user}\n{ASSISTANT} {answer}\n{SEPARATOR}\n")
        parts.append(f"{USER} {message}\n{ASSISTANT}")
        return "".join(parts)

    def _fitting_prompt(self, message: str) -> str:
        """Drop the oldest turns until the prompt and the reply fit the context."""
        tok, n_ctx = self.generator.tokenizer, self.generator.config.n_positions
        budget = n_ctx - self.config.max_new_tokens
        history = list(self.turns)
        while True:
            p = self.prompt(message, history)
            if len(tok.encode(p)) <= budget or not history:
                return p
            history.pop(0)

    def reply(self, message: str) -> Completion:
        cfg = self.config if self.config.truncate else replace(
            self.config, truncate=self.generator.config.n_positions - self.config.max_new_tokens)
        c = self.generator.generate([self._fitting_prompt(message)], cfg)[0]
        c.text = c.text.strip()
        self.turns.append((message, c.text))
        return c

    def stream_reply(self, message: str) -> Iterator[str]:
        cfg = self.config if self.config.truncate else replace(
            self.config, truncate=self.generator.config.n_positions - self.config.max_new_tokens)
        pieces = []
        first = True
        for piece in self.generator.stream(self._fitting_prompt(message), cfg):
            if first:
                piece = piece.lstrip()
                first = not piece
            pieces.append(piece)
            if piece:
                yield piece
        self.turns.append((message, "".join(pieces).strip()))
