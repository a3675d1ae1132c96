"""Optional manifest (CSV or JSONL) attaching repo name, stars and a declared licence to repositories.

One record per repository with the fields `repo` (owner/name), and optionally `path` (where the
repository, git directory or archive lies; relative paths are relative to the manifest's folder),
`stars` (int) and `license` (an SPDX expression or a licence name such as "MIT License").
Records are matched to sources by `path` first, then by `repo`.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ManifestEntry:
    repo: str
    path: str | None = None
    stars: int = 0
    license: str | None = None


@dataclass
class Manifest:
    by_path: dict[str, ManifestEntry]
    by_repo: dict[str, ManifestEntry]

    @classmethod
    def load(cls, file: str | Path) -> "Manifest":
        p = Path(file)
        if not p.is_file():
            raise FileNotFoundError(f"manifest {p} does not exist; pass a CSV or JSONL file with a `repo` column")
        text = p.read_text(encoding="utf-8")
        if p.suffix.lower() in (".jsonl", ".json", ".ndjson"):
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = list(csv.DictReader(text.splitlines()))
        by_path, by_repo = {}, {}
        for n, row in enumerate(rows, 1):
            repo = str(row.get("repo") or row.get("repo_name") or "").strip()
            if not repo:
                raise ValueError(f"{p}: record {n} has no `repo` field (expected owner/name): {row}")
            stars_raw = row.get("stars") or 0
            try:
                stars = int(stars_raw)
            except (TypeError, ValueError):
                raise ValueError(f"{p}: record {n}: stars {stars_raw!r} is not an integer") from None
            path = row.get("path") or None
            if path:
                path = str((p.parent / path).resolve())
            entry = ManifestEntry(repo=repo, path=path, stars=stars, license=(row.get("license") or None))
            by_repo[repo.lower()] = entry
            if path:
                by_path[path] = entry
        return cls(by_path, by_repo)

    def lookup(self, path: str | Path | None = None, repo: str | None = None) -> ManifestEntry | None:
        if path is not None:
            hit = self.by_path.get(str(Path(path).resolve()))
            if hit:
                return hit
        return self.by_repo.get(repo.lower()) if repo else None
