"""Declared licences in package metadata files, as SPDX expressions.

Understood: pyproject.toml (PEP 621/639, Poetry), setup.cfg, PKG-INFO / METADATA (License-Expression,
License, classifiers), package.json, Cargo.toml, composer.json, *.gemspec, debian/copyright (DEP-5).
Each parser returns a list of (scope folder relative to the metadata file's folder, expression).
"""
from __future__ import annotations

import configparser
import json
import re
from email.parser import HeaderParser

from starcoder.curate.license_policy import combine_and, normalise

METADATA_NAMES = ("pyproject.toml", "setup.cfg", "PKG-INFO", "METADATA", "package.json", "Cargo.toml", "composer.json")


def is_metadata_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name in METADATA_NAMES or name.endswith(".gemspec") or path == "debian/copyright" or path.endswith("/debian/copyright")


def _name_or_text(value: str | None) -> str | None:
    if not value or not str(value).strip():
        return None
    value = str(value).strip()
    if len(value) > 100 or "\n" in value:  # a whole licence text pasted into the field
        from starcoder.curate.license_text import detect
        return detect(value)
    return normalise(value)


def _classifiers(classifiers) -> str | None:
    names = [c.split("::")[-1].strip() for c in classifiers or [] if c.strip().startswith("License ::")]
    names = [n for n in names if n not in ("OSI Approved", "DFSG approved")]
    return combine_and(normalise(n) for n in names)


def _pyproject(text: str) -> str | None:
    import tomllib
    data = tomllib.loads(text)
    project = data.get("project", {})
    lic = project.get("license")
    if isinstance(lic, dict):
        lic = lic.get("text")  # {file = ...} is picked up as a licence file anyway
    expr = _name_or_text(lic) if isinstance(lic, str) else None
    expr = expr or _name_or_text(data.get("tool", {}).get("poetry", {}).get("license"))
    return expr or _classifiers(project.get("classifiers"))


def _setup_cfg(text: str) -> str | None:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(text)
    if not cp.has_section("metadata"):
        return None
    md = cp["metadata"]
    lic = md.get("license") or md.get("license_expression")
    if lic and not lic.strip().startswith("file:"):
        return _name_or_text(lic)
    return _classifiers([c for c in md.get("classifiers", "").splitlines() if c.strip()])


def _pkg_info(text: str) -> str | None:
    msg = HeaderParser().parsestr(text, headersonly=True)
    expr = _name_or_text(msg.get("License-Expression"))
    lic = msg.get("License")
    if not expr and lic and lic.strip().upper() not in ("UNKNOWN", ""):
        expr = _name_or_text(lic)
    return expr or _classifiers(msg.get_all("Classifier"))


def _package_json(text: str) -> str | None:
    data = json.loads(text)
    lic = data.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    if isinstance(lic, str):
        if lic.upper() == "UNLICENSED":  # npm's word for "not licensed to others"
            return normalise("proprietary")
        if lic.upper().startswith("SEE LICENSE IN"):
            return None
        return normalise(lic)
    many = [x.get("type") if isinstance(x, dict) else x for x in data.get("licenses", []) or []]
    return combine_and(normalise(x) for x in many if isinstance(x, str))


def _cargo(text: str) -> str | None:
    import tomllib
    return _name_or_text(tomllib.loads(text).get("package", {}).get("license"))


def _composer(text: str) -> str | None:
    lic = json.loads(text).get("license")
    if isinstance(lic, list):  # composer: an array means the user may choose (OR)
        parts = [normalise(x) for x in lic if isinstance(x, str)]
        parts = [p for p in parts if p]
        return normalise(" OR ".join(f"({p})" for p in parts)) if parts else None
    return _name_or_text(lic)


_GEM = re.compile(r"\.licen[sc]es?\s*=\s*(\[[^\]]*\]|['\"][^'\"]+['\"])")


def _gemspec(text: str) -> str | None:
    m = _GEM.search(text)
    if not m:
        return None
    names = re.findall(r"['\"]([^'\"]+)['\"]", m.group(1))
    return combine_and(normalise(n) for n in names)


def _dep5(text: str) -> list[tuple[str, str]]:
    """debian/copyright in DEP-5 form: `Files: *` -> scope of the package; `Files: dir/*` -> that folder."""
    if not re.match(r"(?i)format:\s*\S*copyright-format", text.lstrip()):
        return []
    out = []
    for para in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"(?m)^([A-Za-z-]+):\s*(.*)$", para))
        files, lic = fields.get("Files"), fields.get("License")
        if not files or not lic:
            continue
        expr = normalise(lic.strip().replace("-clause", "-Clause"))
        for pattern in files.split():
            if pattern == "*":
                out.append(("..", expr))  # debian/ sits in the package root
            elif pattern.endswith("/*") and "*" not in pattern[:-2]:
                out.append(("../" + pattern[:-2], expr))
    return out


def declared_licenses(path: str, text: str) -> list[tuple[str, str]]:
    """[(scope folder relative to the file's folder, SPDX expression)] declared by a metadata file ([] if none)."""
    name = path.rsplit("/", 1)[-1]
    try:
        if path == "debian/copyright" or path.endswith("/debian/copyright"):
            return _dep5(text)
        parser = {"pyproject.toml": _pyproject, "setup.cfg": _setup_cfg, "PKG-INFO": _pkg_info, "METADATA": _pkg_info,
                  "package.json": _package_json, "Cargo.toml": _cargo, "composer.json": _composer}.get(name)
        if parser is None and name.endswith(".gemspec"):
            parser = _gemspec
        expr = parser(text) if parser else None
    except Exception:  # a malformed metadata file declares nothing (licence files still count)
        return []
    return [(".", expr)] if expr else []
