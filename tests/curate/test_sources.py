"""Sources: folders, mirrors, git (working tree and bare), archives, datasets, manifest; skip reasons."""
from __future__ import annotations

import json
import subprocess
import tarfile
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
from tests.curate.conftest import write
from tests.curate.license_texts import GPL_3, MIT

from starcoder.curate.manifest import Manifest
from starcoder.curate.reader import RepositoryReader, git_blob_sha
from starcoder.curate.sources import discover_units


def read(units):
    r = RepositoryReader(units)
    return {(d.metadata["repo"], d.metadata["path"]): d for d in r.run(None, 0, 1)}, r


def test_mirror_layout_names_repositories(mirror):
    units = discover_units([str(mirror)])
    assert [u.repo for u in units] == sorted(u.repo for u in units) and "mit/repo" in {u.repo for u in units}
    docs, reader = read([u for u in units if u.repo == "mit/repo"])
    assert docs[("mit/repo", "a.py")].metadata["license"] == "MIT"
    assert docs[("mit/repo", "third_party/gpl/g.py")].metadata["license"] == "GPL-3.0-only"
    for reason in ("too_large", "binary", "not_utf8"):
        assert reader.stats[f"dropped_{reason}"].total == 1, reason


def test_hexsha_is_git_blob_id(tmp_path):
    (tmp_path / "f.py").write_text("print('hi')\n")
    out = subprocess.run(["git", "hash-object", str(tmp_path / "f.py")], capture_output=True, text=True, check=True)
    assert git_blob_sha(b"print('hi')\n") == out.stdout.strip()


def _git_repo(path):
    write(path, {"LICENSE": MIT, "src/a.py": "x = 1\n", "untracked_later.py": "y = 2\n"})
    g = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(g + ["add", "LICENSE", "src/a.py"], check=True)
    subprocess.run(g + ["commit", "-qm", "init"], check=True)
    return path


def test_git_working_tree_and_bare(tmp_path):
    repo = _git_repo(tmp_path / "owner" / "proj")
    bare = tmp_path / "proj.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    for src, name in ((repo, "proj"), (bare, "proj")):
        units = discover_units([str(src)])
        assert [u.kind for u in units] == ["git"] and units[0].repo == name
        docs, _ = read(units)
        assert set(p for _, p in docs) == {"LICENSE", "src/a.py"}  # HEAD only: the untracked file is not read
        d = docs[(name, "src/a.py")]
        assert d.metadata["license"] == "MIT" and d.metadata["hexsha"] == git_blob_sha(b"x = 1\n")


def test_archives(tmp_path):
    write(tmp_path / "src" / "proj-main", {"LICENSE": MIT, "a.py": "x = 1\n", ".git/config": "[core]\n"})
    with tarfile.open(tmp_path / "proj.tar.gz", "w:gz") as t:
        t.add(tmp_path / "src" / "proj-main", arcname="proj-main")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("LICENSE", GPL_3)
        z.writestr("b.py", "y = 2\n")
    units = discover_units([str(tmp_path / "proj.tar.gz"), str(tmp_path / "other.zip")])
    docs, _ = read(units)
    assert docs[("proj", "a.py")].metadata["license"] == "MIT"  # the GitHub-style top folder is stripped
    assert docs[("other", "b.py")].metadata["license"] == "GPL-3.0-only"
    assert not [p for _, p in docs if ".git" in p]


def test_dataset_with_the_stack_columns(tmp_path):
    rows = [{"content": "x = 1\n", "max_stars_repo_name": "a/b", "max_stars_repo_path": "x.py", "max_stars_count": 7,
             "max_stars_repo_licenses": ["MIT", "Apache-2.0"]},
            {"content": "y = 2\n", "max_stars_repo_name": "c/d", "max_stars_repo_path": "y.py", "max_stars_count": None,
             "max_stars_repo_licenses": ["GPL-3.0"]}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "stack.parquet")
    (tmp_path / "more.jsonl").write_text(json.dumps({"content": "z = 3\n", "repo": "e/f", "path": "z.py", "license": "ISC"}) + "\n")
    docs, _ = read(discover_units([str(tmp_path / "stack.parquet"), str(tmp_path / "more.jsonl")]))
    assert docs[("a/b", "x.py")].metadata["stars"] == 7
    assert docs[("a/b", "x.py")].metadata["license"] == "Apache-2.0 AND MIT"
    assert docs[("c/d", "y.py")].metadata["license"] == "GPL-3.0-only"
    assert docs[("e/f", "z.py")].metadata["license"] == "ISC"


def test_manifest_names_stars_and_licence(tmp_path):
    write(tmp_path / "repos" / "x", {"a.py": "x = 1\n"})
    write(tmp_path / "repos" / "y", {"b.py": "y = 1\n"})
    (tmp_path / "m.csv").write_text("repo,path,stars,license\nacme/x,repos/x,42,MIT License\nacme/y,repos/y,3,\n")
    m = Manifest.load(tmp_path / "m.csv")
    units = discover_units([str(tmp_path / "repos" / "x"), str(tmp_path / "repos" / "y")], m)
    assert [(u.repo, u.stars, u.declared_license) for u in units] == [("acme/x", 42, "MIT License"), ("acme/y", 3, None)]
    docs, _ = read(units)
    assert docs[("acme/x", "a.py")].metadata["license"] == "MIT" and docs[("acme/y", "b.py")].metadata["license"] == ""
    (tmp_path / "m.jsonl").write_text(json.dumps({"repo": "acme/x", "stars": 5}) + "\n")
    assert Manifest.load(tmp_path / "m.jsonl").lookup(repo="ACME/x").stars == 5


def test_bad_sources_say_what_to_do(tmp_path):
    import pytest
    with pytest.raises(FileNotFoundError, match="does not exist"):
        discover_units([str(tmp_path / "nope")])
    (tmp_path / "f.docx").write_text("x")
    with pytest.raises(ValueError, match="unknown kind"):
        discover_units([str(tmp_path / "f.docx")])


def test_mirror_of_archives_and_git_dirs(tmp_path):
    write(tmp_path / "stage" / "x-main", {"LICENSE": MIT, "a.py": "x = 1\n"})
    (tmp_path / "m" / "acme").mkdir(parents=True)
    with tarfile.open(tmp_path / "m" / "acme" / "x.tar.gz", "w:gz") as t:
        t.add(tmp_path / "stage" / "x-main", arcname="x-main")
    _git_repo(tmp_path / "m" / "bob" / "y")
    units = discover_units([str(tmp_path / "m")])
    assert [(u.repo, u.kind) for u in units] == [("acme/x", "archive"), ("bob/y", "git")]


def test_manifest_path_marks_a_folder_only_repo_as_one_repository(tmp_path):
    write(tmp_path / "proj" / "src" / "pkg", {"a.py": "x = 1\n"})
    assert [u.repo for u in discover_units([str(tmp_path / "proj")])] == ["src/pkg"]  # looks like a mirror
    (tmp_path / "m.csv").write_text("repo,path\nacme/proj,proj\n")
    units = discover_units([str(tmp_path / "proj")], Manifest.load(tmp_path / "m.csv"))
    assert [(u.repo, u.kind) for u in units] == [("acme/proj", "dir")]
