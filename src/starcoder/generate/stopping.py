"""Stop sequences: strings matched on the decoded text, across token boundaries."""
from __future__ import annotations


class StopMatcher:
    """Finds the first occurrence of any stop string in a growing text.

    `find(text)` searches only the part that can hold a new match since the last call, so a
    long generation costs O(new text x stop length) per token.
    """

    def __init__(self, stops: tuple[str, ...] | list[str]):
        self.stops = tuple(stops)
        self.longest = max((len(s) for s in self.stops), default=0)
        self._searched = 0  # text[:_searched] holds no complete match starting before it

    def find(self, text: str) -> int | None:
        """Index where the earliest stop string starts, or None."""
        if not self.stops:
            return None
        start = max(0, self._searched - self.longest + 1)
        hits = [i for i in (text.find(s, start) for s in self.stops) if i >= 0]
        self._searched = len(text)
        return min(hits) if hits else None

    def held_back(self, text: str) -> int:
        """How many trailing characters of `text` might be the start of a stop string (not safe to show yet)."""
        for n in range(min(self.longest - 1, len(text)), 0, -1):
            tail = text[-n:]
            if any(s.startswith(tail) for s in self.stops):
                return n
        return 0
