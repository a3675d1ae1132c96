"""Executors: Ray gives the same rows as local; a run killed half-way and resumed gives the same output."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.curate.conftest import write
from tests.curate.helpers import card_counts, rows
from tests.curate.license_texts import MIT

from starcoder.curate.pipelines import CurateOptions, run


def test_ray_matches_local(mirror, tmp_path):
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    opts = dict(sources=[str(mirror)], tasks=2, near_dedup=False, pii="off", humaneval=False)
    run(CurateOptions(out=str(local), **opts), progress=False)
    run(CurateOptions(out=str(ray_out), workers=2, executor="ray", **opts), progress=False)
    assert rows(ray_out) == rows(local) and len(rows(local)) > 5
    assert card_counts(ray_out) == card_counts(local)


def _many_repos(root: Path, n_repos: int = 24, n_files: int = 40) -> None:
    for r in range(n_repos):
        files = {"LICENSE": MIT}
        for f in range(n_files):
            body = "".join(f"def f_{r}_{f}_{i}(x):\n    return x * {i} + {r}  # line {i}\n" for i in range(150))
            files[f"pkg/m{f}.py"] = body
        files["pkg/shared.py"] = "SHARED = 1\n"  # identical in every repository: exact dedup across tasks
        write(root / f"owner{r % 5}" / f"repo{r:03d}", files)


def _cli(src: Path, out: Path) -> list[str]:
    # the governance steps (near-dedup, PII) have their own tests; this one is about the executor
    return [sys.executable, "-m", "starcoder", "curate", str(src), "--out", str(out), "--tasks", "8", "--workers", "1",
            "--no-near-dedup", "--pii", "off"]


def test_kill_and_resume_gives_identical_output(tmp_path):
    src = tmp_path / "src"
    _many_repos(src)
    ref, out = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_cli(src, ref), check=True, capture_output=True)
    proc = subprocess.Popen(_cli(src, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    done = out / "logs" / "scan" / "completions"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if done.is_dir() and len(list(done.iterdir())) >= 2:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; make the input bigger"
    finished = len(list(done.iterdir()))
    assert 2 <= finished < 8 and not (out / "data_card.json").exists()
    subprocess.run(_cli(src, out), check=True, capture_output=True)
    assert rows(out) == rows(ref) and len(rows(ref)) == 24 * 40 + 1
    assert card_counts(out) == card_counts(ref)
