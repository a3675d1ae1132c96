"""The extension table (assets/extension_filters.csv) and language selection.

A file's language comes from a well-known file name (Dockerfile, Makefile, ...) or else from
its extension. Extensions missing from the table, or with include = 0, are dropped.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from starcoder.curate.output import RemovedBytes

UNKNOWN_EXTENSION = "unknown_extension"
EXCLUDED_EXTENSION = "excluded_extension"
NOT_SELECTED_LANGUAGE = "language_not_selected"

# Rows of the table that come from linguist *file name* patterns, not extensions: matching them
# as extensions would make every `.txt` a Makefile. They are matched through WELL_KNOWN_NAMES only.
_FILENAME_ONLY_ROWS = {("makefile", "txt"), ("dockerfile", "1"), ("dockerfile", "3"), ("dockerfile", "mustache")}

# Well-known file names (lower case) -> (language, the `extension` value stored for them).
WELL_KNOWN_NAMES: dict[str, tuple[str, str]] = {
    "dockerfile": ("dockerfile", "dockerfile"),
    "containerfile": ("dockerfile", "dockerfile"),
    "makefile": ("makefile", "makefile"),
    "gnumakefile": ("makefile", "makefile"),
    "cmakelists.txt": ("cmake", "cmake"),
    "rakefile": ("ruby", "rb"),
    "gemfile": ("ruby", "rb"),
    "jenkinsfile": ("groovy", "groovy"),
    "build.gradle": ("groovy", "gradle"),
}


@dataclass(frozen=True)
class ExtensionRule:
    """One row of the extension table; None means the filter is off for this extension."""
    language: str
    extension: str
    include: bool
    min_alnum_fraction: float | None
    max_line_length: int | None
    max_mean_line_length: float | None
    min_alpha_fraction: float | None
    xml_filter: bool
    near_dedup_override: str | None


def _num(s: str, cast):
    return cast(s) if s.strip() else None


@lru_cache(maxsize=1)
def extension_table() -> dict[str, ExtensionRule]:
    """extension (lower case, no dot) -> rule; the first row wins for an extension listed twice."""
    text = resources.files("starcoder.assets").joinpath("extension_filters.csv").read_text(encoding="utf-8")
    table: dict[str, ExtensionRule] = {}
    for row in csv.DictReader(text.splitlines()):
        lang, ext = row["language"].strip().lower(), row["extension"].strip().lower()
        if (lang, ext) in _FILENAME_ONLY_ROWS or ext in table:
            continue
        table[ext] = ExtensionRule(
            language=lang, extension=ext, include=row["include"].strip() == "1",
            min_alnum_fraction=_num(row["min_alnum_fraction"], float),
            max_line_length=_num(row["max_line_length"], int),
            max_mean_line_length=_num(row["max_mean_line_length"], float),
            min_alpha_fraction=_num(row["min_alpha_fraction"], float),
            xml_filter=row["xml_filter"].strip() != "0",
            near_dedup_override=row["near_dedup_override"].strip() or None)
    return table


def all_languages() -> list[str]:
    """Languages with at least one included extension, sorted."""
    return sorted({r.language for r in extension_table().values() if r.include} | {v[0] for v in WELL_KNOWN_NAMES.values()})


def classify_path(path: str) -> tuple[str | None, str, ExtensionRule | None]:
    """(language or None, extension, rule) for a repository path such as `src/Makefile`."""
    name = path.rsplit("/", 1)[-1]
    low = name.lower()
    if low in WELL_KNOWN_NAMES:
        lang, ext = WELL_KNOWN_NAMES[low]
        rule = extension_table().get(ext)
        if rule is None or rule.language != lang:  # e.g. Makefile: use its language's first listed rule
            rule = next((r for r in extension_table().values() if r.language == lang and r.include), None)
        return lang, ext, rule
    ext = low.rsplit(".", 1)[1] if "." in low.lstrip(".") else ""
    rule = extension_table().get(ext)
    if rule is None:
        return None, ext, None
    return rule.language, ext, rule


def check_languages(languages: list[str] | None) -> list[str] | None:
    """Validate a `--languages` selection (case-insensitive); None means all."""
    if not languages:
        return None
    known = set(all_languages())
    wanted = [x.strip().lower() for x in languages if x.strip()]
    bad = [x for x in wanted if x not in known]
    if bad:
        raise ValueError(f"unknown language(s) {bad}; choose from the extension table: {', '.join(sorted(known))}")
    return sorted(set(wanted))


class LanguageSelector(RemovedBytes, BaseFilter):
    """Sets metadata `language`/`extension` from the path; drops unknown, excluded or unselected ones."""
    name = "language selection"

    def __init__(self, languages: list[str] | None = None, exclusion_writer=None):
        super().__init__(exclusion_writer=exclusion_writer)
        self.languages = set(check_languages(languages) or []) or None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang, ext, rule = classify_path(doc.metadata["path"])
        doc.metadata["extension"] = ext
        if lang is None:
            return False, UNKNOWN_EXTENSION
        doc.metadata["language"] = lang
        if rule is not None and not rule.include and doc.metadata["path"].rsplit("/", 1)[-1].lower() not in WELL_KNOWN_NAMES:
            return False, EXCLUDED_EXTENSION
        if self.languages is not None and lang not in self.languages:
            return False, NOT_SELECTED_LANGUAGE
        return True
