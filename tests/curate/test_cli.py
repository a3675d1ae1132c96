"""`starcoder curate` from the command line, including the no-SOURCE demo (this Python installation)."""
from __future__ import annotations

import subprocess
import sys

from tests.curate.conftest import write
from tests.curate.helpers import rows
from tests.curate.license_texts import MIT

from starcoder.curate.pyenv import STDLIB_LICENSE, STDLIB_REPO, python_env_units


def test_python_env_units_cover_stdlib_and_packages():
    units = python_env_units()
    std = [u for u in units if u.repo == STDLIB_REPO]
    assert len(std) > 1 and all(u.declared_license == STDLIB_LICENSE and u.license_authoritative for u in std)
    files = {f for u in std for f in u.files}
    assert "os.py" in files and not any("site-packages" in f for f in files)
    assert any(u.repo == "pypi/datatrove" for u in units)


def test_cli_demo_on_this_python(tmp_path):
    out = tmp_path / "env"
    cmd = [sys.executable, "-m", "starcoder", "curate", "--out", str(out), "--limit", "25", "--languages", "python",
           "--no-near-dedup", "--pii", "off", "--workers", "2"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "kept" in res.stdout and "removed because" in res.stdout and "python" in res.stdout
    got = rows(out)
    assert got and {r["language"] for r in got} == {"python"}
    std = [r for r in got if r["repo"] == STDLIB_REPO]
    assert std and {r["license"] for r in std} == {STDLIB_LICENSE}


def test_cli_errors_are_explained(tmp_path):
    res = subprocess.run([sys.executable, "-m", "starcoder", "curate", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "does not exist" in res.stderr
    res = subprocess.run([sys.executable, "-m", "starcoder", "curate", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "--keep-removed" in res.stdout and "--executor" in res.stdout


def test_cli_one_repository_with_default_options(tmp_path):
    """The plain `starcoder curate REPO --out DIR` (all steps on): one repository, so one task."""
    write(tmp_path / "proj", {"LICENSE": MIT, "src/app.py": "def main():\n    print('hello world')\n"})
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "starcoder", "curate", str(tmp_path / "proj"), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert [(r["repo"], r["path"], r["license"]) for r in rows(out)] == [("proj", "src/app.py", "MIT")]
