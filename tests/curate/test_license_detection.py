"""The licence detector measured on a labelled set (>= 15 licences x 5 variations)."""
from __future__ import annotations

from tests.curate.license_texts import NON_PERMISSIVE, PERMISSIVE, variations

from starcoder.curate.license_policy import NON_PERMISSIVE as NONP, PERMISSIVE as PERM, classify, license_ids
from starcoder.curate.license_text import detect


def _labelled():
    for label, text in {**PERMISSIVE, **NON_PERMISSIVE}.items():
        for name, variant in variations(text).items():
            yield label.split("#")[0], label in PERMISSIVE, name, variant


def test_labelled_set_is_big_enough():
    labels = {lab for lab, *_ in _labelled()}
    assert len(labels) >= 15


def test_no_copyleft_or_proprietary_text_is_permissive():
    wrong = [(lab, name, detect(t)) for lab, perm, name, t in _labelled() if not perm and classify(detect(t)) == PERM]
    assert wrong == []


def test_permissive_recall_and_identity():
    results = [(lab, name, detect(t)) for lab, perm, name, t in _labelled() if perm]
    recognised = [r for r in results if classify(r[2]) == PERM]
    assert len(recognised) / len(results) >= 0.95, [r for r in results if r not in recognised]
    exact = [r for r in results if r[2] == r[0]]
    assert len(exact) / len(results) >= 0.95, [r for r in results if r not in exact]


def test_copyleft_texts_are_identified_by_family():
    for label, text in NON_PERMISSIVE.items():
        expr = detect(text)
        assert classify(expr) == NONP
        family = label.split("-")[0].split("#")[0].split("+")[0]
        if family in ("GPL", "AGPL", "LGPL", "MPL", "EPL"):
            assert any(i.startswith(family) for i in license_ids(expr)), (label, expr)


def test_gpl_mention_inside_permissive_text_is_not_ignored():
    text = PERMISSIVE["MIT"] + "\nParts of this program are covered by the GNU General Public License version 3.\n"
    assert classify(detect(text)) == NONP


def test_dual_licence_file_gives_and_of_both():
    assert license_ids(detect(PERMISSIVE["MIT"] + "\n\n" + PERMISSIVE["Apache-2.0"])) == {"MIT", "Apache-2.0"}


def test_unrecognised_text_is_unknown_not_permissive():
    assert detect("Do whatever you like with this, but ask me first.") in ("LicenseRef-unknown", "LicenseRef-proprietary")
    assert classify(detect("hello world")) == NONP


def test_against_installed_packages_declared_licences():
    """Real reference: each installed distribution with a PEP 639 `License-Expression` and one top-level
    licence file. The detector must never call a non-permissive declaration permissive, and its ids must
    agree with the declaration for most (bundled third-party licences explain the rest)."""
    from importlib import metadata
    from pathlib import Path

    from starcoder.curate.license_policy import normalise
    checked, agree, unsafe = 0, 0, []
    for dist in metadata.distributions():
        declared = dist.metadata.get("License-Expression")
        files = [f for f in dist.files or [] if "/licenses/" in str(f) and str(f).count("/") == 2
                 and Path(str(f)).name.upper().startswith(("LICEN", "COPYING"))]
        if not declared or len(files) != 1:
            continue
        got, expected = detect(Path(dist.locate_file(files[0])).read_text(errors="replace")), normalise(declared)
        checked += 1
        agree += license_ids(got) <= license_ids(expected)
        if classify(expected) != PERM and classify(got) == PERM:
            unsafe.append((dist.metadata["Name"], expected, got))
    assert checked >= 20, "too few installed packages declare License-Expression to compare with"
    assert unsafe == []
    assert agree / checked >= 0.8, (agree, checked)
