"""`starcoder index build|check|search|who|optout` (see docs/index.md)."""
from __future__ import annotations

import argparse
import functools
import html
import json
import re
import sys
from pathlib import Path


def _errors(verb: str):
    """Turn expected user errors into one clear line on stderr and exit code 2."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(args):
            try:
                return fn(args)
            except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as e:
                print(f"starcoder index {verb}: error: {e}", file=sys.stderr)
                return 2
        return run
    return wrap


def _index_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", required=True, metavar="INDEX_DIR", help="index folder made by `starcoder index build`")


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


# ---------------------------------------------------------------- build
def build_arguments(p: argparse.ArgumentParser) -> None:
    from starcoder.index.build import IndexConfig
    d = IndexConfig()
    p.add_argument("dataset", metavar="DATASET_DIR", help="curated dataset folder (data/<language>/*.parquet)")
    p.add_argument("--out", required=True, metavar="INDEX_DIR", help="folder to write the index to (new or empty)")
    p.add_argument("--chunk", type=int, default=d.chunk_chars, help=f"chunk/window size in characters (default {d.chunk_chars})")
    p.add_argument("--fpr", type=float, default=d.fpr, help=f"Bloom false-positive rate (default {d.fpr})")
    p.add_argument("--min-run", type=int, default=d.min_run,
                   help=f"consecutive chunk hits a match needs (default {d.min_run})")
    p.add_argument("--min-coverage", type=float, default=d.min_coverage,
                   help=f"share of a snippet that matches must cover for 'in dataset' (default {d.min_coverage})")
    p.add_argument("--no-search", action="store_true", help="skip the full-text index (membership and who only)")
    p.add_argument("--optout", metavar="FILE", help="leave out the repositories this opt-out file names")
    p.add_argument("--force", action="store_true", help="replace an existing index in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _json_arg(p)


@_errors("build")
def build(args) -> int:
    """Build the membership (Bloom), search (BM25) and who indexes over a curated dataset."""
    from starcoder.index.build import IndexConfig, build_index
    cfg = IndexConfig(args.chunk, args.fpr, args.min_run, args.min_coverage, not args.no_search, not args.quiet)
    meta = build_index(args.dataset, args.out, cfg, optout_file=args.optout, force=args.force)
    if args.json:
        print(json.dumps(meta, indent=1))
        return 0
    c, m = meta["corpus"], meta["membership"]
    mb = c["bytes"] / 1e6
    print(f"indexed {c['files']:,} files ({mb:.1f} MB) in {meta['build_seconds']:.1f} s "
          f"({mb / max(meta['build_seconds'], 1e-9):.1f} MB/s) -> {args.out}")
    print(f"  membership: {m['chunks']:,} chunks of {m['chunk_chars']} chars, "
          f"{m['size_bits'] / 8e6:.2f} MB Bloom filter at FPR {m['fpr']}")
    print(f"  who: {meta['who']['owners']:,} owners, {meta['who']['repositories']:,} repositories"
          + ("" if meta["search"]["dir"] else "; search: skipped (--no-search)"))
    if c["short_files"]:
        print(f"  note: {c['short_files']} files are shorter than one chunk after normalisation "
              f"and cannot be found by `check`")
    if meta["optout"]["files_removed"]:
        print(f"  opt-out: {meta['optout']['files_removed']:,} files left out")
    return 0


# ---------------------------------------------------------------- check
def check_arguments(p: argparse.ArgumentParser) -> None:
    _index_arg(p)
    p.add_argument("path", metavar="PATH|-", help="file with the code to test, or - for standard input")
    _json_arg(p)


def _line_ranges(matches: list[dict]) -> str:
    return ", ".join(f"{m['start_line']}" if m["start_line"] == m["end_line"] else
                     f"{m['start_line']}-{m['end_line']}" for m in matches) or "none"


@_errors("check")
def check(args) -> int:
    """Is this code in the dataset? Slides a 50-character window over every offset of the
    whitespace-normalised snippet and reports coverage, matched lines and a verdict."""
    from starcoder.index.api import DatasetIndex
    ix = DatasetIndex.open(args.index)  # fail on a bad index before waiting for stdin
    if args.path == "-":
        code = sys.stdin.read()
    else:
        p = Path(args.path)
        if not p.is_file():
            raise FileNotFoundError(f"{p} is not a file; pass a file with code, or - to read standard input")
        code = p.read_text(encoding="utf-8", errors="replace")
    r = ix.check(code)
    if args.json:
        print(json.dumps(r.to_dict()))
        return 0
    rule = ix.bloom.rule
    print(f"in dataset: {'yes' if r.in_dataset else 'no'} (coverage {r.coverage:.1%} of {r.chars:,} normalised "
          f"characters; rule: >= {rule.min_coverage:.0%} covered by runs of >= {rule.min_run} chunks)")
    print(f"matched lines: {_line_ranges(r.matches)}")
    if not r.reliable:
        print(f"note: the snippet is short ({r.chars} normalised characters); below "
              f"{rule.min_run * ix.bloom.chunk + ix.bloom.chunk - 1} a match can be missed")
    return 0


# ---------------------------------------------------------------- search
def search_arguments(p: argparse.ArgumentParser) -> None:
    _index_arg(p)
    p.add_argument("query", nargs="+", metavar="QUERY", help="words or code to search for")
    p.add_argument("-k", type=int, default=10, help="number of hits (default 10)")
    p.add_argument("--phrase", action="store_true", help="only files holding the query's words in this order")
    p.add_argument("--language", help="only files of this language (as in the dataset, e.g. python)")
    _json_arg(p)


def _terminal(snippet_html: str, tty: bool) -> str:
    on, off = ("\033[1m", "\033[0m") if tty else ("«", "»")
    s = re.sub(r"<b>(.*?)</b>", lambda m: on + m.group(1) + off, snippet_html, flags=re.S)
    return html.unescape(s)


@_errors("search")
def search(args) -> int:
    """Full-text BM25 search over the dataset; each hit shows repository, path, licence,
    language, score and a snippet with the matches highlighted."""
    from starcoder.index.api import DatasetIndex
    hits = DatasetIndex.open(args.index).search(" ".join(args.query), k=args.k, phrase=args.phrase,
                                                language=args.language)
    if args.json:
        print(json.dumps({"hits": [h.to_dict() for h in hits]}))
        return 0
    if not hits:
        print("no hits")
    tty = sys.stdout.isatty()
    for n, h in enumerate(hits, 1):
        print(f"{n:>2}. {h.repo}  {h.path}  [{h.license or 'unknown licence'}, {h.language}]  score {h.score:.2f}")
        for line in _terminal(h.snippet, tty).strip("\n").splitlines():
            print(f"      {line}")
    return 0


# ---------------------------------------------------------------- who
def who_arguments(p: argparse.ArgumentParser) -> None:
    _index_arg(p)
    p.add_argument("name", metavar="NAME", help="GitHub user or organisation (or owner/repo)")
    _json_arg(p)


@_errors("who")
def who(args) -> int:
    """Repositories of a user or organisation in the dataset, and the opt-out line that removes them."""
    from starcoder.index.api import DatasetIndex
    r = DatasetIndex.open(args.index).who(args.name)
    if args.json:
        print(json.dumps(r.to_dict()))
        return 0
    if not r.repositories:
        print(f"no repositories of {r.optout_line!r} in the dataset")
        return 0
    print(f"{r.optout_line}: {len(r.repositories)} repositories in the dataset")
    for repo in r.repositories:
        print(f"  {repo}  ({r.files[repo]} files)")
    print("to opt out, add this line to the opt-out file:")
    print(f"  {r.optout_line}")
    return 0


# ---------------------------------------------------------------- optout
def optout_arguments(p: argparse.ArgumentParser) -> None:
    _index_arg(p)
    p.add_argument("file", metavar="OPTOUT_FILE", help="one `owner` or `owner/repo` per line (# comments)")
    p.add_argument("--dataset", metavar="DATASET_DIR",
                   help="the indexed dataset, if it moved (needed to rebuild the Bloom filter)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _json_arg(p)


@_errors("optout")
def optout(args) -> int:
    """Apply an opt-out file to an existing index: remove those repositories from search and
    who, rebuild the Bloom filter without their files, and report what was removed."""
    from starcoder.index.build import apply_optout
    rep = apply_optout(args.index, args.file, args.dataset, progress=not args.quiet)
    if args.json:
        print(json.dumps(rep.to_dict()))
        return 0
    for r in rep.removed:
        repos = ", ".join(r.repositories) or "-"
        print(f"removed {r.line!r}: {len(r.repositories)} repositories ({repos}), {r.files} files")
    for line in rep.unmatched:
        print(f"matched nothing: {line!r}")
    for line in rep.already_applied:
        print(f"already applied earlier: {line!r}")
    print(f"files in the index: {rep.files_before:,} -> {rep.files_after:,}")
    return 0
