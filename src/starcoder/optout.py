"""Opt-out lists: GitHub users/organisations and `owner/repo` lines that must leave the data.

Format (one entry per line): `owner` removes every repository of that user or
organisation, `owner/repo` removes one repository. Matching is case-insensitive; a
leading `https://github.com/` or `github.com/`, a leading `@`, a trailing `/` or `.git`
are ignored; `#` starts a comment; blank lines are skipped. Used by curation (to drop
files) and by the index (to drop repositories from search and membership).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

_PREFIXES = ("https://github.com/", "http://github.com/", "github.com/", "@")


def normalise_entry(raw: str) -> str:
    """`  GitHub.com/Owner/Repo.git/ ` -> `owner/repo`; raises ValueError on a malformed line."""
    s = raw.strip()
    for p in _PREFIXES:
        if s.lower().startswith(p):
            s = s[len(p):]
    s = s.strip("/")
    if s.lower().endswith(".git"):
        s = s[:-4]
    s = s.lower()
    parts = s.split("/")
    if not s or len(parts) > 2 or any(not p or " " in p for p in parts):
        raise ValueError(f"opt-out line {raw!r} is neither `owner` nor `owner/repo`")
    return s


@dataclass
class OptOutList:
    """Parsed opt-out file. `match(repo)` returns the entry that removes `repo`, or None."""
    entries: list[str] = field(default_factory=list)  # normalised, in file order, unique
    source_lines: dict[str, str] = field(default_factory=dict)  # normalised -> line as written

    @classmethod
    def from_lines(cls, lines) -> "OptOutList":
        out = cls()
        for n, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                entry = normalise_entry(text)
            except ValueError as e:
                raise ValueError(f"line {n}: {e}") from None
            if entry not in out.source_lines:
                out.entries.append(entry)
                out.source_lines[entry] = text
        return out

    @classmethod
    def from_file(cls, path: str | Path) -> "OptOutList":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"opt-out file {p} does not exist")
        try:
            return cls.from_lines(p.read_text(encoding="utf-8").splitlines())
        except ValueError as e:
            raise ValueError(f"{p}: {e}") from None

    def match(self, repo: str) -> str | None:
        """The entry (normalised) that opts `repo` (`owner/name`) out, or None."""
        r = repo.strip().strip("/").lower()
        if r in self.source_lines:
            return r
        owner = r.split("/", 1)[0]
        return owner if owner in self.source_lines else None

    def __contains__(self, repo: str) -> bool:
        return self.match(repo) is not None

    def __len__(self) -> int:
        return len(self.entries)
