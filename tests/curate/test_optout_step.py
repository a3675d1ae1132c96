"""Opt-out step: case/trailing-slash/URL forms remove the repositories; per-line counts for the card."""
from __future__ import annotations

import pytest
from datatrove.data import Document

from starcoder.curate.optout_step import OptOutFilter

LIST = """# opt-out requests
Alice                      # a user: every repository
https://github.com/BigOrg/Secret-Repo/
carol/tool.git
nobody/nothing             # matches nothing
"""


def _docs():
    repos = ["alice/a", "ALICE/b", "bigorg/secret-repo", "bigorg/public", "Carol/Tool", "carol/other", "dave/x"]
    return [Document(text=f"code of {r}", id=f"{r}:f{i}.py", metadata={"repo": r}) for i, r in enumerate(repos * 2)]


def test_opted_out_repositories_are_absent(tmp_path):
    f = tmp_path / "optout.txt"
    f.write_text(LIST)
    step = OptOutFilter(str(f))
    kept = list(step.run(iter(_docs())))
    assert sorted({d.metadata["repo"] for d in kept}) == ["bigorg/public", "carol/other", "dave/x"]
    stats = {k: v.total for k, v in step.stats.stats.items()}
    assert stats["card/optout/Alice/files"] == 4
    assert stats["card/optout/https://github.com/BigOrg/Secret-Repo//files"] == 2
    assert stats["card/optout/carol/tool.git/files"] == 2
    assert stats["card/optout/nobody/nothing/files"] == 0  # listed, matched nothing
    assert stats["dropped_optout"] == 8


def test_card_rows_split_back_to_the_line(tmp_path):
    # the card splits `card/<section>/<row>/<metric>` at the first two and the last slash
    f = tmp_path / "o.txt"
    f.write_text("github.com/Owner/Repo/\n")
    step = OptOutFilter(f)
    list(step.run(iter([Document(text="x", id="1", metadata={"repo": "owner/repo"})])))
    key = next(k for k in step.stats.stats if k.startswith("card/"))
    _, section, rest = key.split("/", 2)
    assert (section, *rest.rsplit("/", 1)) == ("optout", "github.com/Owner/Repo/", "files")  # the line as written


def test_errors_say_what_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        OptOutFilter(tmp_path / "missing.txt")
    f = tmp_path / "o.txt"
    f.write_text("a/b/c\n")
    with pytest.raises(ValueError, match="line 1"):
        OptOutFilter(f)
    f.write_text("alice\n")
    with pytest.raises(ValueError, match="no 'repo' metadata"):
        list(OptOutFilter(f).run(iter([Document(text="x", id="1")])))
