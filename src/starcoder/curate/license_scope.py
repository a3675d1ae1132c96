"""Per-path licences of one repository: licence files and metadata scope their folder's subtree.

Rules: the nearest folder (walking up from a file) that has licence information gives the file's
licence; at one folder, declared licences (metadata, manifest) win when every licence identified
in licence files is among them (unidentifiable licence files do not count against a declaration),
otherwise everything found is ANDed; an
`SPDX-License-Identifier:` header in the file itself overrides its folder. Licence information
inside `*.dist-info/` describes the whole distribution, so it scopes the repository root.
"""
from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field

from starcoder.curate.license_meta import declared_licenses, is_metadata_file
from starcoder.curate.license_policy import UNKNOWN, combine_and, license_ids, normalise
from starcoder.curate.license_text import detect

_LICENSE_NAME = re.compile(r"^(licen[cs]e|copying|unlicen[cs]e|notice|copyright)(?:[._-].*)?$", re.I)
_WEAK_NAMES = re.compile(r"^(notice|copyright)", re.I)  # often no licence text: only count recognised licences
_SPDX_HEADER = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+\-() ]+?)\s*(?:\*/|-->|#\}|\"\"\"|$)", re.M)


def is_license_file(path: str) -> bool:
    return bool(_LICENSE_NAME.match(path.rsplit("/", 1)[-1]))


def spdx_header(text: str) -> str | None:
    """The SPDX expression of an `SPDX-License-Identifier:` line in the first 4 KB, if any."""
    head = text[:4096]
    if "SPDX-License-Identifier" not in head:
        return None
    m = _SPDX_HEADER.search(head)
    return normalise(m.group(1)) if m else None


def _scope_dir(path: str) -> str:
    """Folder a licence/metadata file speaks for. In `X.dist-info/licenses/<source path>/LICENSE`
    (PEP 639) that is the source path (minus a leading `src/`); elsewhere in `*.dist-info` the root."""
    folder = posixpath.dirname(path)
    parts = folder.split("/")
    for i, part in enumerate(parts):
        if part.endswith(".dist-info") or part.endswith(".egg-info"):
            rest = parts[i + 1:]
            if rest[:1] == ["licenses"] and len(rest) > 1:
                rest = rest[1:]
                rest = rest[1:] if rest[0] == "src" else rest
                return "/".join(parts[:i] + rest)
            return "/".join(parts[:i])
    return folder


@dataclass
class RepoLicenses:
    """Licence scopes of one repository; `for_path(path, text)` gives a file's SPDX expression or None."""
    scopes: dict[str, str | None] = field(default_factory=dict)  # folder ("" = root) -> expression
    authoritative: str | None = None  # when set, every file gets this (e.g. the stdlib is PSF-2.0)

    @classmethod
    def build(cls, files: dict[str, str], declared: str | None = None, authoritative: bool = False) -> "RepoLicenses":
        """`files`: path -> text of the repository's licence and metadata files."""
        if authoritative and declared:
            return cls(authoritative=normalise(declared))
        found: dict[str, list[str]] = defaultdict(list)
        claimed: dict[str, list[str]] = defaultdict(list)
        if declared:
            claimed[""].append(normalise(declared))
        for path, text in sorted(files.items()):
            folder = _scope_dir(path)
            if is_metadata_file(path):  # before licence files: debian/copyright is metadata
                for rel, expr in declared_licenses(path, text):
                    target = posixpath.normpath(posixpath.join(folder, rel))
                    claimed["" if target == "." else target].append(expr)
            elif is_license_file(path):
                expr = detect(text)
                if expr in (UNKNOWN, None) and _WEAK_NAMES.match(path.rsplit("/", 1)[-1]):
                    continue
                found[folder].append(expr)
        scopes = {}
        for folder in set(found) | set(claimed):
            texts, decl = found.get(folder, []), claimed.get(folder, [])
            if decl:  # a declared licence explains licence files we cannot identify (notices, dual-licence readmes)
                texts = [t for t in texts if t != UNKNOWN]
            if decl and license_ids(combine_and(texts)) <= license_ids(combine_and(decl)):
                scopes[folder] = combine_and(decl)
            else:
                scopes[folder] = combine_and(texts + decl)
        return cls(scopes=scopes)

    def for_path(self, path: str, text: str | None = None) -> str | None:
        header = spdx_header(text) if text else None
        if header:
            return header
        if self.authoritative:
            return self.authoritative
        folder = posixpath.dirname(path)
        while True:
            if folder in self.scopes:
                return self.scopes[folder]
            if not folder:
                return None
            folder = posixpath.dirname(folder)


def wants_file(path: str) -> bool:
    """Whether a path is read for licence detection (licence file or package metadata)."""
    return is_license_file(path) or is_metadata_file(path)
