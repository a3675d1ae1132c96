"""Licence names -> SPDX expressions, and the permissive / non-permissive / no-licence policy.

`normalise(text)` turns what projects write ("MIT License", "Apache 2.0", "GPLv3+",
"BSD-3-Clause OR MIT") into an SPDX expression (license-expression); `classify(expr)` applies the
allow-list shipped in assets/license_allowlist.csv: `A OR B` is permissive if either side is,
`A AND B` only if both are, `X WITH exception` like X. Unknown names become `LicenseRef-unknown`.
"""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from importlib import resources

PERMISSIVE, NON_PERMISSIVE, NO_LICENSE = "permissive", "non-permissive", "no-license"
UNKNOWN = "LicenseRef-unknown"
PROPRIETARY = "LicenseRef-proprietary"

# Names people write in metadata and manifests (lower case, punctuation collapsed) -> SPDX.
ALIASES: dict[str, str] = {
    "mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "expat": "MIT", "mit x11": "MIT",
    "x11": "X11", "mit 0": "MIT-0",
    "apache": "Apache-2.0", "apache 2": "Apache-2.0", "apache 2 0": "Apache-2.0", "apache2": "Apache-2.0",
    "apache license 2 0": "Apache-2.0", "apache license version 2 0": "Apache-2.0", "apache software license": "Apache-2.0",
    "apache software license 2 0": "Apache-2.0", "asl 2 0": "Apache-2.0", "apache license": "Apache-2.0",
    "bsd": "BSD-3-Clause", "bsd license": "BSD-3-Clause", "new bsd": "BSD-3-Clause", "new bsd license": "BSD-3-Clause",
    "modified bsd": "BSD-3-Clause", "bsd 3 clause": "BSD-3-Clause", "3 clause bsd": "BSD-3-Clause", "bsd3": "BSD-3-Clause",
    "simplified bsd": "BSD-2-Clause", "bsd 2 clause": "BSD-2-Clause", "2 clause bsd": "BSD-2-Clause", "freebsd": "BSD-2-Clause",
    "isc": "ISC", "isc license": "ISC", "zlib": "Zlib", "zlib license": "Zlib", "zlib libpng": "Zlib",
    "unlicense": "Unlicense", "the unlicense": "Unlicense", "public domain": "Unlicense", "cc0": "CC0-1.0",
    "cc0 1 0": "CC0-1.0", "cc0 1 0 universal": "CC0-1.0", "wtfpl": "WTFPL", "boost": "BSL-1.0",
    "boost software license": "BSL-1.0", "boost software license 1 0": "BSL-1.0",
    "psf": "PSF-2.0", "psf license": "PSF-2.0", "python software foundation license": "PSF-2.0", "psfl": "PSF-2.0",
    "python": "Python-2.0", "python license": "Python-2.0",
    "gpl": "GPL-2.0-or-later", "gplv2": "GPL-2.0-only", "gplv2+": "GPL-2.0-or-later", "gpl 2": "GPL-2.0-only",
    "gpl 2+": "GPL-2.0-or-later", "gpl 3+": "GPL-3.0-or-later", "lgpl 2 1+": "LGPL-2.1-or-later",
    "lgpl 2+": "LGPL-2.0-or-later", "lgpl 3+": "LGPL-3.0-or-later", "gpl 2 0+": "GPL-2.0-or-later",
    "gpl 3 0+": "GPL-3.0-or-later", "gplv3": "GPL-3.0-only", "gplv3+": "GPL-3.0-or-later", "gpl 3": "GPL-3.0-only",
    "gnu general public license": "GPL-2.0-or-later", "gnu general public license v2": "GPL-2.0-only",
    "gnu general public license v3": "GPL-3.0-only", "gnu general public license v2 or later": "GPL-2.0-or-later",
    "gnu general public license v3 or later": "GPL-3.0-or-later",
    "lgpl": "LGPL-2.1-or-later", "lgplv2": "LGPL-2.1-only", "lgplv3": "LGPL-3.0-only", "lgplv2+": "LGPL-2.1-or-later",
    "lgplv3+": "LGPL-3.0-or-later", "gnu lesser general public license": "LGPL-2.1-or-later",
    "gnu lesser general public license v3": "LGPL-3.0-only", "gnu lesser general public license v2": "LGPL-2.1-only",
    "gnu lesser general public license v3 or later": "LGPL-3.0-or-later",
    "gnu library or lesser general public license": "LGPL-2.0-or-later",
    "agpl": "AGPL-3.0-only", "agplv3": "AGPL-3.0-only", "agplv3+": "AGPL-3.0-or-later",
    "gnu affero general public license v3": "AGPL-3.0-only", "gnu affero general public license v3 or later": "AGPL-3.0-or-later",
    "mpl": "MPL-2.0", "mpl 2 0": "MPL-2.0", "mozilla public license 2 0": "MPL-2.0", "mozilla public license 1 1": "MPL-1.1",
    "epl": "EPL-2.0", "eclipse public license 1 0": "EPL-1.0", "eclipse public license 2 0": "EPL-2.0",
    "proprietary": PROPRIETARY, "other proprietary license": PROPRIETARY, "commercial": PROPRIETARY,
    "all rights reserved": PROPRIETARY, "unlicensed": PROPRIETARY,
    "artistic": "Artistic-2.0", "artistic license": "Artistic-2.0",
}


@lru_cache(maxsize=1)
def _licensing():
    from license_expression import get_spdx_licensing
    return get_spdx_licensing()


@lru_cache(maxsize=1)
def allowlist() -> dict[str, str]:
    """SPDX id (as written in the asset) -> family, for every permissive licence."""
    text = resources.files("starcoder.assets").joinpath("license_allowlist.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {r["spdx_id"]: r["family"] for r in rows}


@lru_cache(maxsize=1)
def _allowed_keys() -> frozenset[str]:
    """Allow-list in license-expression's canonical spelling (lower case for matching)."""
    return frozenset(k.lower() for k in allowlist())


def _alias_key(name: str) -> str:
    s = re.sub(r"\([^)]*\)", " ", name.lower()).strip()
    s = re.sub(r"\b(the|version|v(?=\d))\b", " ", s)
    plus = s.rstrip().endswith("+") or "or later" in s or "or-later" in s
    s = re.sub(r"[^a-z0-9+]+", " ", s.replace("or later", "").replace("or-later", "")).strip()
    s = re.sub(r"\s+", " ", s).replace(" +", "+")
    if plus and not s.endswith("+"):
        s += "+"
    return s


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    return {_alias_key(k): v for k, v in ALIASES.items()}


def _alias(name: str) -> str | None:
    index = _alias_index()
    key = _alias_key(name)
    for k in (key, key.replace(" licence", " license"), key.replace(" license", ""), key.rstrip("+")):
        if k in index:
            return index[k]
    return None


@lru_cache(maxsize=4096)
def normalise(text: str | None) -> str | None:
    """An SPDX expression for a licence name or expression; None for empty; unknown parts -> LicenseRef-unknown."""
    if text is None or not str(text).strip():
        return None
    s = str(text).strip()
    direct = _alias(s)
    if direct:
        return direct
    lic = _licensing()
    try:
        expr = lic.parse(s.replace("/", " OR ") if re.fullmatch(r"[\w.+-]+(/[\w.+-]+)+", s) else s, validate=False)
    except Exception:
        return UNKNOWN
    if expr is None:
        return None
    mapping = {}
    for key in lic.license_keys(expr):
        if key in lic.known_symbols or key.startswith("LicenseRef-"):
            continue
        mapping[key] = _alias(key) or UNKNOWN
    rendered = expr.render()
    for old, new in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        rendered = rendered.replace(old, new)
    try:
        return lic.parse(rendered, validate=False).render()
    except Exception:
        return UNKNOWN


def combine_and(exprs) -> str | None:
    """`A AND B AND ...` of the distinct, non-empty expressions (sorted, so the result is stable)."""
    parts = sorted({e for e in exprs if e})
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return _licensing().parse(" AND ".join(f"({p})" for p in parts), validate=False).simplify().render()


def license_ids(expr: str | None) -> set[str]:
    if not expr:
        return set()
    lic = _licensing()
    return set(lic.license_keys(lic.parse(expr, validate=False)))


def _permissive(node) -> bool:
    from license_expression import AND, OR, LicenseSymbol, LicenseWithExceptionSymbol
    if isinstance(node, LicenseWithExceptionSymbol):
        return node.license_symbol.key.lower() in _allowed_keys()
    if isinstance(node, LicenseSymbol):
        return node.key.lower() in _allowed_keys()
    if isinstance(node, OR):
        return any(_permissive(a) for a in node.args)
    if isinstance(node, AND):
        return all(_permissive(a) for a in node.args)
    return False


@lru_cache(maxsize=4096)
def classify(expr: str | None) -> str:
    """PERMISSIVE, NON_PERMISSIVE or NO_LICENSE for an SPDX expression (None or "" means no licence)."""
    if not expr:
        return NO_LICENSE
    try:
        node = _licensing().parse(expr, validate=False)
    except Exception:
        return NON_PERMISSIVE
    return PERMISSIVE if _permissive(node) else NON_PERMISSIVE
