"""Token ids -> text increments that are always whole UTF-8 characters.

Byte-level BPE tokens can split a character (an emoji is 4 bytes, a CJK character 3), so
bytes are buffered until they form complete characters; invalid byte sequences become U+FFFD.
Special tokens (FIM markers, <|endoftext|>, ...) contribute no text.
"""
from __future__ import annotations

import codecs

from starcoder.generate.stopping import StopMatcher


class TextAssembler:
    """Accumulates one sequence's generated text; applies stop sequences; yields safe increments."""

    def __init__(self, tokenizer, stops=()):
        self._bytes = tokenizer.token_bytes
        self._special = tokenizer.special_ids
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stop = StopMatcher(stops)
        self.text = ""
        self.stopped = False
        self._shown = 0  # characters already handed out by `increment`

    def push(self, token_id: int) -> bool:
        """Add one generated token; returns True when a stop sequence has just been completed."""
        if self.stopped:
            return True
        if token_id not in self._special and token_id < len(self._bytes):
            self.text += self._decoder.decode(self._bytes[token_id])
        cut = self.stop.find(self.text)
        if cut is not None:
            self.text = self.text[:cut]
            self.stopped = True
        return self.stopped

    def finish(self) -> str:
        """Flush incomplete bytes (as U+FFFD) at the end of generation; returns the final text."""
        if not self.stopped:
            self.text += self._decoder.decode(b"", final=True)
            cut = self.stop.find(self.text)
            if cut is not None:
                self.text, self.stopped = self.text[:cut], True
        return self.text

    def increment(self, final: bool = False) -> str:
        """Text not shown yet that can no longer change (holds back a possible stop-sequence start)."""
        end = len(self.text) if (final or self.stopped) else len(self.text) - self.stop.held_back(self.text)
        if end <= self._shown:
            return ""
        out, self._shown = self.text[self._shown:end], end
        return out
