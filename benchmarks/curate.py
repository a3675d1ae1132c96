"""Curation throughput: licences + languages + filters + exact dedup (+ Parquet output), per core.

Workloads found on this machine:
  stdlib   the Python standard library's .py files (~31 MB on CPython 3.11), one licence (PSF-2.0)
  packages the installed distributions (site-packages): many languages, licences from metadata files
Each runs in one process (1 worker = 1 core) with the governance steps (near-dedup, PII,
decontamination) off, as the target of issue 4 is defined. Prints MB/s and files/s per core and
the peak resident memory of the process.

    python benchmarks/curate.py [--workload stdlib packages] [--tasks 4]
"""
from __future__ import annotations

import argparse
import os
import resource
import sysconfig
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def stdlib_py_units(chunks: int):
    from starcoder.curate.pyenv import stdlib_units
    units = stdlib_units(chunks)
    return [replace(u, files=tuple(f for f in u.files if f.endswith(".py"))) for u in units]


def package_units():
    from starcoder.curate.pyenv import distribution_units
    return distribution_units()


def input_bytes(units) -> tuple[int, int]:
    size = files = 0
    for u in units:
        for f in u.files:
            try:
                s = os.path.getsize(os.path.join(u.path, f))
            except OSError:
                continue
            if s <= 1_000_000:
                size, files = size + s, files + 1
    return size, files


def bench(name: str, units, tasks: int) -> dict:
    from loguru import logger

    from starcoder.curate.pipelines import CurateOptions, run
    logger.disable("datatrove")
    size, files = input_bytes(units)
    with tempfile.TemporaryDirectory() as tmp:
        opts = CurateOptions(out=str(Path(tmp) / "out"), sources=["<bench>"], tasks=tasks, workers=1,
                             near_dedup=False, pii="off", humaneval=False)
        t = time.perf_counter()
        card = run(opts, progress=False, units=units)
        wall = time.perf_counter() - t
    text = next(s.get("bytes", 0) for s in card["steps"] if s["step"] == "sources")  # decoded as UTF-8 text
    return {"workload": name, "files": files, "MB": size / 1e6, "text MB": text / 1e6, "seconds": wall,
            "MB/s/core": size / 1e6 / wall, "files/s/core": files / wall, "kept": card["kept"]["files"],
            "peak MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", nargs="+", default=["stdlib", "packages"], choices=["stdlib", "packages"])
    ap.add_argument("--tasks", type=int, default=4)
    args = ap.parse_args()
    rows = []
    for w in args.workload:
        units = stdlib_py_units(args.tasks) if w == "stdlib" else package_units()
        rows.append(bench(w, units, args.tasks))
    print(f"python {sysconfig.get_python_version()}, {os.cpu_count()} cores, 1 worker (in-process); "
          f"MB = all files <= 1 MB read, text MB = those that decoded as UTF-8 text\n")
    print(f"{'workload':<10}{'files':>8}{'MB':>8}{'text MB':>9}{'s':>7}{'MB/s/core':>11}{'files/s/core':>14}"
          f"{'kept':>7}{'peak MiB':>10}")
    for r in rows:
        print(f"{r['workload']:<10}{r['files']:>8}{r['MB']:>8.1f}{r['text MB']:>9.1f}{r['seconds']:>7.1f}"
              f"{r['MB/s/core']:>11.2f}{r['files/s/core']:>14.0f}{r['kept']:>7}{r['peak MiB']:>10.0f}")
    print("\npeak MiB: peak resident memory of the process so far (monotone). Target: >= 5 MB/s per core.")


if __name__ == "__main__":
    main()
