"""Licence names -> SPDX, the allow-list policy, metadata parsers and per-folder scoping."""
from __future__ import annotations

import pytest
from tests.curate.license_texts import GPL_3, MIT

from starcoder.curate.license_meta import declared_licenses
from starcoder.curate.license_policy import NO_LICENSE, NON_PERMISSIVE, PERMISSIVE, allowlist, classify, normalise
from starcoder.curate.license_scope import RepoLicenses, spdx_header


@pytest.mark.parametrize("name,spdx", [
    ("MIT", "MIT"), ("MIT License", "MIT"), ("Apache 2.0", "Apache-2.0"), ("Apache Software License", "Apache-2.0"),
    ("BSD 3-Clause License", "BSD-3-Clause"), ("GPLv3+", "GPL-3.0-or-later"), ("GPL-2.0", "GPL-2.0-only"),
    ("GNU General Public License v3 or later (GPLv3+)", "GPL-3.0-or-later"), ("MIT/Apache-2.0", "MIT OR Apache-2.0"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"), ("ISC License (ISCL)", "ISC"), ("Some Custom Thing", "LicenseRef-unknown"),
])
def test_normalise(name, spdx):
    assert normalise(name) == spdx


@pytest.mark.parametrize("expr,cls", [
    ("MIT", PERMISSIVE), ("GPL-3.0-only", NON_PERMISSIVE), ("MIT OR GPL-3.0-only", PERMISSIVE),
    ("MIT AND GPL-3.0-only", NON_PERMISSIVE), ("(MIT OR GPL-3.0-only) AND Apache-2.0", PERMISSIVE),
    ("(MIT OR GPL-3.0-only) AND LGPL-2.1-only", NON_PERMISSIVE), ("Apache-2.0 WITH LLVM-exception", PERMISSIVE),
    ("MPL-2.0", NON_PERMISSIVE), ("EPL-2.0", NON_PERMISSIVE), ("LGPL-3.0-only", NON_PERMISSIVE),
    ("LicenseRef-unknown", NON_PERMISSIVE), ("LicenseRef-proprietary", NON_PERMISSIVE), ("", NO_LICENSE), (None, NO_LICENSE),
    ("PSF-2.0", PERMISSIVE), ("Unlicense", PERMISSIVE), ("CC0-1.0", PERMISSIVE), ("Zlib", PERMISSIVE),
])
def test_classify(expr, cls):
    assert classify(expr) == cls


def test_allowlist_has_no_copyleft():
    ids = set(allowlist())
    assert {"MIT", "Apache-2.0", "BSD-3-Clause", "ISC", "Unlicense", "CC0-1.0", "Zlib", "PSF-2.0", "BSL-1.0"} <= ids
    assert not [i for i in ids if any(i.startswith(p) for p in ("GPL", "AGPL", "LGPL", "MPL", "EPL", "CDDL", "EUPL"))]


@pytest.mark.parametrize("path,text,expected", [
    ("pyproject.toml", '[project]\nname="x"\nlicense = "Apache-2.0"\n', "Apache-2.0"),
    ("pyproject.toml", '[project]\nname="x"\nlicense = {text = "MIT License"}\n', "MIT"),
    ("pyproject.toml", '[project]\nclassifiers = ["License :: OSI Approved :: BSD License"]\n', "BSD-3-Clause"),
    ("pyproject.toml", '[tool.poetry]\nlicense = "GPL-3.0-or-later"\n', "GPL-3.0-or-later"),
    ("setup.cfg", "[metadata]\nname = x\nlicense = ISC\n", "ISC"),
    ("setup.cfg", "[metadata]\nclassifiers =\n    License :: OSI Approved :: MIT License\n", "MIT"),
    ("x.dist-info/METADATA", "Metadata-Version: 2.4\nName: x\nLicense-Expression: MIT OR Apache-2.0\n\nbody", "MIT OR Apache-2.0"),
    ("PKG-INFO", "Metadata-Version: 2.1\nName: x\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: "
                 "GNU General Public License v3 (GPLv3)\n", "GPL-3.0-only"),
    ("package.json", '{"name": "x", "license": "MIT"}', "MIT"),
    ("package.json", '{"name": "x", "license": {"type": "ISC"}}', "ISC"),
    ("package.json", '{"name": "x", "license": "UNLICENSED"}', "LicenseRef-proprietary"),
    ("Cargo.toml", '[package]\nname = "x"\nlicense = "MIT/Apache-2.0"\n', "MIT OR Apache-2.0"),
    ("composer.json", '{"license": ["MIT", "GPL-3.0-only"]}', "MIT OR GPL-3.0-only"),
    ("x.gemspec", "Gem::Specification.new do |s|\n  s.license = 'MIT'\nend\n", "MIT"),
])
def test_metadata_parsers(path, text, expected):
    assert declared_licenses(path, text) == [(".", expected)]


def test_dep5_scopes_subfolders():
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: 2020 A\nLicense: Expat\n\nFiles: vendor/*\nCopyright: B\nLicense: GPL-2+\n")
    lic = RepoLicenses.build({"debian/copyright": text})
    assert lic.for_path("a.c") == "MIT"
    assert lic.for_path("vendor/b.c") == "GPL-2.0-or-later"


def test_scoping_nearest_folder_and_spdx_header():
    lic = RepoLicenses.build({"LICENSE": MIT, "third_party/gpl/COPYING": GPL_3})
    assert lic.for_path("src/a.py") == "MIT"
    assert lic.for_path("third_party/gpl/deep/b.c") == "GPL-3.0-only"
    assert lic.for_path("src/c.c", "/* SPDX-License-Identifier: GPL-2.0-or-later */\nint x;") == "GPL-2.0-or-later"
    assert spdx_header("# SPDX-License-Identifier: MIT OR Apache-2.0\nx = 1\n") == "MIT OR Apache-2.0"


def test_declared_licence_wins_when_files_agree_and_is_anded_otherwise():
    agree = RepoLicenses.build({"LICENSE": MIT, "package.json": '{"license": "MIT"}'})
    assert agree.for_path("a.js") == "MIT"
    disagree = RepoLicenses.build({"LICENSE": GPL_3, "package.json": '{"license": "MIT"}'})
    assert classify(disagree.for_path("a.js")) == NON_PERMISSIVE


def test_dist_info_licence_files_scope_their_source_path():
    lic = RepoLicenses.build({"pkg-1.0.dist-info/licenses/LICENSE": MIT,
                              "pkg-1.0.dist-info/licenses/src/pkg/_vendor/gpl/COPYING": GPL_3})
    assert lic.for_path("pkg/core.py") == "MIT"
    assert lic.for_path("pkg/_vendor/gpl/x.py") == "GPL-3.0-only"
