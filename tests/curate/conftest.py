"""Fixture repositories for the curation tests (a small mirror laid out OWNER/REPO/...)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.curate.license_texts import AGPL, APACHE, BSD_3, GPL_3, ISC, LGPL_3, MIT, MPL

PY = "def add(a, b):\n    return a + b\n"


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())


def unique(tag: str) -> str:
    return f"def {tag}_fn(value):\n    return value * 2  # {tag}\n"


# repo -> files; every code file is unique unless it is meant to be a duplicate
MIRROR: dict[str, dict[str, str | bytes]] = {
    "mit/repo": {"LICENSE": MIT, "a.py": unique("mit"), "shared.py": PY, "big.py": "x = 1\n" * 200_000,
                 "blob.bin.py": b"\x00\x01binary", "latin1.py": "caf\xe9 = 1\n".encode("latin-1"),
                 "third_party/gpl/LICENSE": GPL_3, "third_party/gpl/g.py": unique("gplsub"),
                 "notes.xyz": "what is this"},
    "apache/repo": {"LICENSE": APACHE, "a.py": unique("apache")},
    "bsd/repo": {"LICENSE.md": BSD_3, "a.py": unique("bsd")},
    "isc/repo": {"LICENSE": ISC, "a.py": unique("isc")},
    "gpl/repo": {"COPYING": GPL_3, "a.py": unique("gpl"), "shared.py": PY, "only_gpl.py": unique("onlygpl")},
    "agpl/repo": {"LICENSE": AGPL, "a.py": unique("agpl")},
    "lgpl/repo": {"COPYING.LESSER": LGPL_3, "a.py": unique("lgpl")},
    "mpl/repo": {"LICENSE": MPL, "a.py": unique("mpl")},
    "none/repo": {"a.py": unique("none"), "README.md": "# none\n\nNo licence here, all rights reserved by default.\n"},
    "dual/repo": {"package.json": '{"name": "dual", "license": "MIT OR GPL-3.0"}', "a.js": "function dual() { return 1; }\n"},
    "spdx/repo": {"a.py": "# SPDX-License-Identifier: MIT\n" + unique("spdxmit"),
                  "b.py": "# SPDX-License-Identifier: GPL-3.0-only\n" + unique("spdxgpl"), "c.py": unique("spdxnone")},
    "npm/repo": {"package.json": '{"name": "npm-only", "license": "ISC"}', "index.js": "module.exports = () => 42;\n"},
}

# expected fate of each file: (repo, path) -> None (kept) or the drop reason
EXPECTED = {
    ("mit/repo", "a.py"): None, ("mit/repo", "shared.py"): None, ("mit/repo", "big.py"): "too_large",
    ("mit/repo", "blob.bin.py"): "binary", ("mit/repo", "latin1.py"): "not_utf8",
    ("mit/repo", "third_party/gpl/g.py"): "license_not_permissive", ("mit/repo", "notes.xyz"): "unknown_extension",
    ("apache/repo", "a.py"): None, ("bsd/repo", "a.py"): None, ("isc/repo", "a.py"): None,
    ("gpl/repo", "a.py"): "license_not_permissive", ("gpl/repo", "shared.py"): "exact_duplicate",
    ("gpl/repo", "only_gpl.py"): "license_not_permissive", ("agpl/repo", "a.py"): "license_not_permissive",
    ("lgpl/repo", "a.py"): "license_not_permissive", ("mpl/repo", "a.py"): "license_not_permissive",
    ("none/repo", "a.py"): "no_license", ("none/repo", "README.md"): "no_license",
    ("dual/repo", "a.js"): None, ("spdx/repo", "a.py"): None, ("spdx/repo", "b.py"): "license_not_permissive",
    ("spdx/repo", "c.py"): "no_license", ("npm/repo", "index.js"): None,
}


@pytest.fixture(scope="session")
def mirror(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    for repo, files in MIRROR.items():
        write(root / repo, files)
    return root
