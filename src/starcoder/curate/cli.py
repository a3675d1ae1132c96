"""`starcoder curate`: the command-line face of pipelines.py."""
from __future__ import annotations

import argparse
import os
import sys

from starcoder.curate.executors import QUIET_ENV
from starcoder.curate.pipelines import EXECUTORS, PII_MODES, CurateOptions


def curate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="*", metavar="SOURCE",
                        help="folders (a repository, or a mirror laid out OWNER/REPO/...), git repositories (working "
                             "tree or bare), .tar/.tar.gz/.zip archives, .parquet/.jsonl datasets with a `content` "
                             "column; none: the Python installation running this command (stdlib + site-packages)")
    parser.add_argument("--out", required=True, help="output dataset folder (data/<language>/*.parquet + data_card.*)")
    parser.add_argument("--manifest", help="CSV or JSONL with repo (owner/name), path, stars, license per repository")
    parser.add_argument("--languages", nargs="+", metavar="LANG",
                        help="keep only these languages (names from the extension table, e.g. python java)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help=f"tasks run at the same time (default: the CPU count, {os.cpu_count()} here)")
    parser.add_argument("--tasks", type=int, default=4,
                        help="number of tasks the work is split into (default 4, at most one per repository; "
                             "the output rows do not depend on it)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local processes (default) or Ray (a local instance is started unless --ray-address)")
    parser.add_argument("--ray-address", help="address of a running Ray cluster (e.g. ray://head:10001)")
    parser.add_argument("--keep-removed", action="store_true",
                        help="also write the removed files with their reason under OUT/removed/ for audit")
    parser.add_argument("--limit", type=int, default=-1, help="read at most N files per task (quick looks)")
    parser.add_argument("--overwrite", action="store_true", help="discard a previous run in --out instead of resuming it")
    parser.add_argument("--verbose", action="store_true", help="show datatrove's per-task logs")
    # Curation II options (the steps are wired in pipelines.governance)
    parser.add_argument("--no-near-dedup", dest="near_dedup", action="store_false", help="skip MinHash near-dedup")
    parser.add_argument("--pii", choices=PII_MODES, default="redact", help="PII handling (default redact)")
    parser.add_argument("--optout", help="opt-out list file (owner or owner/repo per line)")
    from starcoder.curate.decontam import add_decontam_arguments
    add_decontam_arguments(parser)  # --decontaminate FILE.jsonl [--field NAME] (repeatable), --no-humaneval


def _summary(card: dict) -> str:
    lines = [f"kept {card['kept']['files']:,} files, {card['kept']['bytes'] / 1e6:,.1f} MB", "",
             f"{'language':<20}{'files':>10}{'MB':>10}"]
    for lang, c in list(card["sections"].get("languages", {}).items())[:15]:
        lines.append(f"{lang:<20}{c.get('files', 0):>10,}{c.get('bytes', 0) / 1e6:>10.2f}")
    lines += ["", f"{'licence':<40}{'files':>10}"]
    for lic, c in list(card["sections"].get("licenses", {}).items())[:10]:
        lines.append(f"{lic[:39]:<40}{c.get('files', 0):>10,}")
    lines += ["", f"{'removed because':<40}{'files':>10}"]
    for reason, c in list(card["removed"].items())[:15]:
        lines.append(f"{reason:<40}{c['files']:>10,}")
    return "\n".join(lines)


def curate(args: argparse.Namespace) -> int:
    """Build a licence-clean, filtered, deduplicated code dataset (The Stack -> StarCoderData pipeline)."""
    from starcoder.curate import pipelines
    if not args.verbose:  # datatrove logs every task at INFO to stderr; keep the terminal to progress + summary
        from loguru import logger
        logger.disable("datatrove")
        os.environ[QUIET_ENV] = "1"  # worker processes: errors only on the terminal, full logs in files
    opts = CurateOptions(out=args.out, sources=list(args.sources), manifest=args.manifest, languages=args.languages,
                         workers=args.workers, tasks=args.tasks, executor=args.executor, ray_address=args.ray_address,
                         keep_removed=args.keep_removed, limit=args.limit, near_dedup=args.near_dedup, pii=args.pii,
                         optout=args.optout, decontaminate=[tuple(x) for x in args.decontaminate],
                         humaneval=args.humaneval)
    try:
        card = pipelines.run(opts, overwrite=args.overwrite)
    except (ValueError, FileNotFoundError) as e:
        print(f"starcoder curate: {e}", file=sys.stderr)
        return 2
    print(_summary(card))
    print(f"\nwrote {args.out}/data/<language>/*.parquet and {args.out}/data_card.md")
    return 0
