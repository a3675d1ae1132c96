"""User/organisation -> repositories table behind the opt-out process ("Am I in the data?").

Built from each row's `repo` and, when the dataset has it, `repos` (every repository that
held the same content before exact deduplication: their owners' code is in the data too).
Stored as JSON: {"owners": {owner_lower: {repo: files}}}, owners and repos sorted.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


def owner_of(repo: str) -> str:
    return repo.strip().strip("/").split("/", 1)[0].lower()


@dataclass
class WhoResult:
    """Repositories of one user/organisation (or one `owner/repo`) and the opt-out line that removes them."""
    name: str
    repositories: list[str]
    files: dict[str, int]
    optout_line: str

    def to_dict(self) -> dict:
        return {"name": self.name, "repositories": self.repositories, "files": self.files,
                "optout_line": self.optout_line}


@dataclass
class WhoTable:
    owners: dict[str, dict[str, int]] = field(default_factory=dict)  # owner -> {repo as written: files}

    def add_row(self, row: dict) -> None:
        primary = row.get("repo") or ""
        repos = list(row.get("repos") or [])
        for repo in dict.fromkeys([primary, *repos]):
            if repo and "/" in repo:
                d = self.owners.setdefault(owner_of(repo), {})
                d[repo] = d.get(repo, 0) + 1

    def repos(self) -> list[str]:
        return sorted(r for d in self.owners.values() for r in d)

    def lookup(self, name: str) -> WhoResult:
        """`owner` -> all its repositories; `owner/repo` -> that repository (case-insensitive)."""
        from starcoder.optout import normalise_entry
        try:
            entry = normalise_entry(name)
        except ValueError as e:
            raise ValueError(f"{e}; give a GitHub user/organisation (`alice`) or a repository (`alice/tool`)") from None
        repos = self.owners.get(owner_of(entry), {})
        if "/" in entry:
            repos = {r: n for r, n in repos.items() if r.lower() == entry}
        names = sorted(repos)
        return WhoResult(name, names, {r: repos[r] for r in names}, entry)

    def remove(self, repos: list[str]) -> None:
        for repo in repos:
            d = self.owners.get(owner_of(repo))
            if d is not None:
                d.pop(repo, None)
                if not d:
                    del self.owners[owner_of(repo)]

    def save(self, path: str | Path) -> None:
        data = {"format": "starcoder-who/1",
                "owners": {o: dict(sorted(self.owners[o].items())) for o in sorted(self.owners)}}
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> "WhoTable":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing; rebuild the index with `starcoder index build`")
        return cls(json.loads(p.read_text(encoding="utf-8"))["owners"])
