"""Identify the licence(s) in a licence file's text: returns an SPDX expression.

Short permissive licences (MIT, BSD-2/3-Clause, ISC, 0BSD, Zlib, Unlicense, BSL-1.0) are matched
against their full canonical text (>= 90% of the template's words, in order, via difflib);
long licences (Apache, GPL family, MPL, EPL, PSF/Python, CC0, ...) by distinctive passages.
Safety first: any copyleft or proprietary passage anywhere in the text is ANDed into the
result, and words outside the matched templates that restrict use (e.g. "non-commercial",
"may not") add `LicenseRef-unknown`, so such a text can never come out permissive.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from starcoder.curate.license_policy import PROPRIETARY, UNKNOWN, combine_and, normalise

_DISCLAIMER_MIT = ("the software is provided as is without warranty of any kind express or implied including but not limited "
                   "to the warranties of merchantability fitness for a particular purpose and noninfringement in no event "
                   "shall the authors or copyright holders be liable for any claim damages or other liability whether in an "
                   "action of contract tort or otherwise arising from out of or in connection with the software or the use or "
                   "other dealings in the software")
_BSD_CONDITIONS = ("redistribution and use in source and binary forms with or without modification are permitted provided that "
                   "the following conditions are met 1 redistributions of source code must retain the above copyright notice "
                   "this list of conditions and the following disclaimer 2 redistributions in binary form must reproduce the "
                   "above copyright notice this list of conditions and the following disclaimer in the documentation and or "
                   "other materials provided with the distribution")
_BSD_DISCLAIMER = ("this software is provided by the copyright holders and contributors as is and any express or implied "
                   "warranties including but not limited to the implied warranties of merchantability and fitness for a "
                   "particular purpose are disclaimed in no event shall the copyright holder or contributors be liable for "
                   "any direct indirect incidental special exemplary or consequential damages including but not limited to "
                   "procurement of substitute goods or services loss of use data or profits or business interruption however "
                   "caused and on any theory of liability whether in contract strict liability or tort including negligence or "
                   "otherwise arising in any way out of the use of this software even if advised of the possibility of such damage")
_ISC_DISCLAIMER = ("the software is provided as is and the author disclaims all warranties with regard to this software "
                   "including all implied warranties of merchantability and fitness in no event shall the author be liable for "
                   "any special direct indirect or consequential damages or any damages whatsoever resulting from loss of use "
                   "data or profits whether in an action of contract negligence or other tortious action arising out of or in "
                   "connection with the use or performance of this software")

# (SPDX id, anchor phrase that must occur, full normalised template)
TEMPLATES: list[tuple[str, str, str]] = [
    ("MIT", "permission is hereby granted free of charge to any person obtaining a copy",
     "permission is hereby granted free of charge to any person obtaining a copy of this software and associated "
     "documentation files the software to deal in the software without restriction including without limitation the "
     "rights to use copy modify merge publish distribute sublicense and or sell copies of the software and to permit "
     "persons to whom the software is furnished to do so subject to the following conditions the above copyright notice "
     "and this permission notice shall be included in all copies or substantial portions of the software " + _DISCLAIMER_MIT),
    ("BSD-2-Clause", "redistribution and use in source and binary forms", _BSD_CONDITIONS + " " + _BSD_DISCLAIMER),
    ("BSD-3-Clause", "redistribution and use in source and binary forms",
     _BSD_CONDITIONS + " 3 neither the name of the copyright holder nor the names of its contributors may be used to "
     "endorse or promote products derived from this software without specific prior written permission " + _BSD_DISCLAIMER),
    ("ISC", "distribute this software for any purpose with or without fee",
     "permission to use copy modify and or distribute this software for any purpose with or without fee is hereby granted "
     "provided that the above copyright notice and this permission notice appear in all copies " + _ISC_DISCLAIMER),
    ("0BSD", "distribute this software for any purpose with or without fee",
     "permission to use copy modify and or distribute this software for any purpose with or without fee is hereby "
     "granted " + _ISC_DISCLAIMER),
    ("Zlib", "altered source versions must be plainly marked",
     "this software is provided as is without any express or implied warranty in no event will the authors be held liable "
     "for any damages arising from the use of this software permission is granted to anyone to use this software for any "
     "purpose including commercial applications and to alter it and redistribute it freely subject to the following "
     "restrictions 1 the origin of this software must not be misrepresented you must not claim that you wrote the original "
     "software if you use this software in a product an acknowledgment in the product documentation would be appreciated "
     "but is not required 2 altered source versions must be plainly marked as such and must not be misrepresented as being "
     "the original software 3 this notice may not be removed or altered from any source distribution"),
    ("Unlicense", "free and unencumbered software released into the public domain",
     "this is free and unencumbered software released into the public domain anyone is free to copy modify publish use "
     "compile sell or distribute this software either in source code form or as a compiled binary for any purpose "
     "commercial or non commercial and by any means in jurisdictions that recognize copyright laws the author or authors "
     "of this software dedicate any and all copyright interest in the software to the public domain we make this "
     "dedication for the benefit of the public at large and to the detriment of our heirs and successors we intend this "
     "dedication to be an overt act of relinquishment in perpetuity of all present and future rights to this software "
     "under copyright law the software is provided as is without warranty of any kind express or implied including but "
     "not limited to the warranties of merchantability fitness for a particular purpose and noninfringement in no event "
     "shall the authors be liable for any claim damages or other liability whether in an action of contract tort or "
     "otherwise arising from out of or in connection with the software or the use or other dealings in the software"),
    ("BSL-1.0", "covered by this license the software",
     "permission is hereby granted free of charge to any person or organization obtaining a copy of the software and "
     "accompanying documentation covered by this license the software to use reproduce display distribute execute and "
     "transmit the software and to prepare derivative works of the software and to permit third parties to whom the "
     "software is furnished to do so all subject to the following the copyright notices in the software and this entire "
     "statement including the above license grant this restriction and the following disclaimer must be included in all "
     "copies of the software in whole or in part and all derivative works of the software unless such copies or derivative "
     "works are solely in the form of machine executable object code generated by a source language processor"),
]
MIN_TEMPLATE_RECALL = 0.9

# Permissive licences recognised by passages: (SPDX id, list of alternative phrases).
PERMISSIVE_PHRASES: list[tuple[str, tuple[str, ...]]] = [
    ("Apache-2.0", ("apache license version 2 0", "apache license 2 0", "www apache org licenses license 2 0")),
    ("CC0-1.0", ("cc0 1 0 universal", "creative commons zero", "creative commons legal code cc0")),
    ("WTFPL", ("do what the fuck you want to public license",)),
    ("BSL-1.0", ("boost software license version 1 0", "boost software license 1 0")),
]
# Copyleft / restrictive families: (title phrase, SPDX id prefix). Versions are read after the title.
COPYLEFT_TITLES: list[tuple[str, str]] = [
    ("gnu affero general public license", "AGPL"), ("gnu lesser general public license", "LGPL"),
    ("gnu library general public license", "LGPL"), ("gnu general public license", "GPL"),
]
OTHER_NON_PERMISSIVE: list[tuple[str, str]] = [
    ("mozilla public license version 2 0", "MPL-2.0"), ("mozilla public license v 2 0", "MPL-2.0"), ("mozilla public license 2 0", "MPL-2.0"),
    ("mozilla public license version 1 1", "MPL-1.1"), ("eclipse public license v 2 0", "EPL-2.0"),
    ("eclipse public license version 2 0", "EPL-2.0"), ("eclipse public license v 1 0", "EPL-1.0"),
    ("eclipse public license version 1 0", "EPL-1.0"), ("eclipse public license 1 0", "EPL-1.0"),
    ("eclipse public license 2 0", "EPL-2.0"), ("common development and distribution license", "CDDL-1.0"),
    ("european union public licence", "EUPL-1.2"), ("european union public license", "EUPL-1.2"),
    ("server side public license", "SSPL-1.0"), ("business source license", "BUSL-1.1"),
    ("sharealike", "CC-BY-SA-4.0"), ("share alike", "CC-BY-SA-4.0"), ("noncommercial", "CC-BY-NC-4.0"),
    ("open software license", "OSL-3.0"), ("gnu free documentation license", "GFDL-1.3-or-later"),
    # source-available licences, often appended to a permissive text (e.g. Apache-2.0 + Commons Clause)
    ("commons clause", "LicenseRef-Commons-Clause"), ("elastic license", "Elastic-2.0"),
    ("polyform", "LicenseRef-PolyForm"), ("confluent community license", "LicenseRef-Confluent-Community"),
    ("hippocratic license", "Hippocratic-2.1"), ("redis source available license", "LicenseRef-RSAL"),
]
# Extra words that make a permissive-looking text restricted when they are outside a matched template.
RESTRICTIVE = ("non commercial", "noncommercial", "commercial use", "proprietary", "confidential", "may not",
               "must not", "shall not", "not permitted", "prohibited", "without prior written", "without the express",
               "without written permission", "not be used", "not allowed", "do not", "only for", "personal use",
               "evaluation", "general public license", "copyleft", "same license", "gpl")
# Checked on the whole text when a permissive licence was recognised by passages only (no coverage to
# tell licence words from added ones): words none of those licence texts contain.
STRONG_RESTRICTIVE = ("non commercial", "noncommercial", "commercial use", "commercial purposes", "proprietary",
                      "confidential", "personal use", "evaluation purposes", "not for resale", "without prior written",
                      "without the express written", "may not sell", "may not be sold")
_GRANTING_PHRASES = (" commercial or non commercial ", " including without limitation commercial purposes ",
                     " including commercial applications ")
PROPRIETARY_MARKERS = ("all rights reserved", "proprietary", "confidential", "unauthorized copying",
                       "without the express written permission", "without express written permission",
                       "may not be copied", "may not be reproduced", "strictly prohibited", "trade secret")

_COPYRIGHT_LINE = re.compile(r"^\W*(copyright\b|\(c\)|©).*$", re.I | re.M)
_WORD = re.compile(r"[a-z0-9]+")
_REFERENCE = re.compile(r"licen[sc]ed under (?:the )?(?:terms of the )?([a-z0-9 +]{2,40}?) licen[sc]e\b")


def normalise_text(text: str) -> list[str]:
    """Lower-case words of a licence text, copyright lines removed, British spelling unified."""
    text = _COPYRIGHT_LINE.sub(" ", text.replace("\r", "")).lower().replace("&", " and ").replace("licence", "license")
    text = text.replace("non-commercial", "non commercial")
    return _WORD.findall(text)


@dataclass
class _Hit:
    spdx: str
    covered: list[tuple[int, int]]  # (start, length) of matched text words; [] for passage hits
    template: bool


def _template_hits(words: list[str], joined: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for spdx, anchor, template in TEMPLATES:
        if f" {anchor} " not in joined:
            continue
        t = template.split()
        sm = difflib.SequenceMatcher(None, words, t, autojunk=False)
        blocks = [b for b in sm.get_matching_blocks() if b.size]
        if sum(b.size for b in blocks) / len(t) >= MIN_TEMPLATE_RECALL:
            hits.append(_Hit(spdx, [(b.a, b.size) for b in blocks], True))
    # a longer template that matched subsumes a shorter one it contains (BSD-3 over BSD-2, ISC over 0BSD)
    ids = {h.spdx for h in hits}
    drop = {"BSD-2-Clause"} if "BSD-3-Clause" in ids else set()
    if "ISC" in ids:
        drop.add("0BSD")
    return [h for h in hits if h.spdx not in drop]


def _version_after(joined: str, pos: int) -> str | None:
    m = re.search(r"\b(?:version|v)?\s*([123])(?: (\d))?\b", joined[pos:pos + 80])
    if not m:
        return None
    return m.group(1) + "." + (m.group(2) or "0")


# Known sentences that name a GNU licence without granting it (CPython's licence history).
_MENTIONS = (" previously distributed under the gnu general public license ",)


def _copyleft_hits(joined: str) -> list[str]:
    for m in _MENTIONS:
        joined = joined.replace(m, " ")
    found = []
    first = min(((joined.find(f" {t} "), t, fam) for t, fam in COPYLEFT_TITLES if f" {t} " in joined), default=None)
    # MPL-2.0 and EPL-2.0 name the GNU licences as "Secondary Licenses": a later GPL title there is a mention
    mpl = min((joined.find(f" {t} ") for t in ("mozilla public license", "eclipse public license") if f" {t} " in joined),
              default=None)
    if first and not (mpl is not None and mpl < first[0]):
        pos, title, fam = first
        ver = _version_after(joined, pos + len(title) + 1)
        later = "any later version" in joined
        if fam == "LGPL":
            ver = "2.1" if ver in (None, "2.0", "2.1") and "lesser" in title else (ver or "2.0")
            ver = "2.1" if ver == "2.1" or (ver == "2.0" and "lesser" in title) else ver
        elif fam == "AGPL":
            ver = "3.0"
        else:
            ver = ver if ver in ("1.0", "2.0", "3.0") else "2.0"
        found.append(f"{fam}-{ver}-{'or-later' if later else 'only'}")
    for phrase, spdx in OTHER_NON_PERMISSIVE:
        if f" {phrase} " in joined and spdx not in found:
            found.append(spdx)
    return found


def _python_hits(joined: str) -> list[str]:
    if " psf license agreement for python " in joined or " python software foundation license version 2 " in joined:
        cnri = " cnri license agreement " in joined or " beopen " in joined
        return ["Python-2.0" if cnri else "PSF-2.0"]
    return []


def detect(text: str) -> str:
    """SPDX expression of the licence(s) in `text`; `LicenseRef-unknown` / `-proprietary` when not recognised."""
    words = normalise_text(text)
    joined = " " + " ".join(words) + " "
    hits = _template_hits(words, joined)
    found = [h.spdx for h in hits]
    passage = [spdx for spdx, phrases in PERMISSIVE_PHRASES if spdx not in found and any(f" {p} " in joined for p in phrases)]
    passage += _python_hits(joined)
    if not hits and not passage:
        m = _REFERENCE.search(" ".join(words))
        ref = normalise(m.group(1) + " license") if m else None
        if ref and ref != UNKNOWN:
            passage.append(ref)
            hits.append(_Hit(ref, [(m.start(), 0)], True))  # short notice: judge the rest of the words as "extra"
    restrictive = _copyleft_hits(joined)
    result = found + passage + restrictive
    if hits and not passage and not restrictive:
        covered = [False] * len(words)
        for h in hits:
            for start, size in h.covered:
                covered[start:start + size] = [True] * size
        extra = " " + " ".join(w for w, c in zip(words, covered) if not c) + " "
        if any(f" {r} " in extra for r in RESTRICTIVE):
            result.append(UNKNOWN)
    if passage and not restrictive:
        body = joined
        for own in _GRANTING_PHRASES:  # permissive texts' own words about commercial use
            body = body.replace(own, " ")
        if any(f" {r} " in body for r in STRONG_RESTRICTIVE):
            result.append(UNKNOWN)
    if not result:
        return PROPRIETARY if any(f" {m} " in joined for m in PROPRIETARY_MARKERS) else UNKNOWN
    return combine_and(result) or UNKNOWN
