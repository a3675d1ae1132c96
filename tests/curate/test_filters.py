"""Language selection and each quality filter, with keep and drop cases at the exact thresholds."""
from __future__ import annotations

import pytest
from datatrove.data import Document

from starcoder.curate import filters as F
from starcoder.curate.languages import LanguageSelector, all_languages, classify_path, extension_table


def doc(path: str, text: str) -> Document:
    d = Document(text=text, id=path, metadata={"path": path})
    res = LanguageSelector().filter(d)
    assert res is True, res
    return d


def run(f, d):
    r = f.filter(d)
    return (True, None) if r is True else r


def test_extension_table_loaded():
    t = extension_table()
    assert t["py"].language == "python" and t["py"].max_line_length == 1000 and t["py"].min_alnum_fraction == 0.25
    assert t["json"].min_alpha_fraction == 0.5 and t["md"].max_line_length is None
    assert t["xsl"].xml_filter is False and t["xhtml"].xml_filter is True
    assert len(all_languages()) >= 86


@pytest.mark.parametrize("path,lang", [("a/Dockerfile", "dockerfile"), ("Makefile", "makefile"), ("CMakeLists.txt", "cmake"),
                                       ("x.PY", "python"), ("a/b.c", "c"), ("notes.txt", None), ("README", None)])
def test_classify_path(path, lang):
    assert classify_path(path)[0] == lang


def test_language_selector_reasons():
    sel = LanguageSelector(["python"])
    assert sel.filter(Document("x", "1", metadata={"path": "a.rb"})) == (False, "language_not_selected")
    assert sel.filter(Document("x", "1", metadata={"path": "a.py"})) is True
    assert LanguageSelector().filter(Document("x", "1", metadata={"path": "a.xyz"})) == (False, "unknown_extension")
    assert LanguageSelector().filter(Document("x", "1", metadata={"path": "a.cats"})) == (False, "excluded_extension")
    with pytest.raises(ValueError, match="unknown language"):
        LanguageSelector(["klingon"])


def test_max_line_length_threshold():
    f = F.ExtensionThresholdFilter()
    ok = "a" * 1000 + "\n" + "\n".join(["b"] * 20)  # longest line exactly 1000 (mean stays < 100)
    assert run(f, doc("x.py", ok)) == (True, None)
    assert run(f, doc("x.py", "a" * 1001 + "\n" + "\n".join(["b"] * 20))) == (False, F.MAX_LINE_LENGTH)


def test_mean_line_length_threshold():
    f = F.ExtensionThresholdFilter()
    assert run(f, doc("x.py", ("a" * 100 + "\n") * 5)) == (True, None)  # mean exactly 100
    assert run(f, doc("x.py", ("a" * 100 + "\n") * 4 + "a" * 101)) == (False, F.MEAN_LINE_LENGTH)


def test_markdown_skips_line_length_filters():
    assert run(F.ExtensionThresholdFilter(), doc("x.md", "word " * 400)) == (True, None)


def test_alphanumeric_fraction_threshold():
    f = F.ExtensionThresholdFilter()
    assert run(f, doc("x.py", "ab" + "#" * 6)) == (True, None)  # exactly 0.25
    assert run(f, doc("x.py", "ab" + "#" * 7)) == (False, F.ALNUM_FRACTION)  # 2/9 < 0.25
    assert run(f, doc("x.py", "é1" + "#" * 6)) == (True, None)  # non-ASCII letters count


def test_alphabetic_fraction_threshold_for_yaml():
    f = F.ExtensionThresholdFilter()
    body = "a" * 30 + "1" * 30  # alnum 1.0, alpha exactly 0.5
    assert run(f, doc("x.yaml", body)) == (True, None)
    assert run(f, doc("x.yaml", body + "1")) == (False, F.ALPHA_FRACTION)


def test_xml_filter():
    f = F.XmlFilter()
    head = '<?xml version="1.0"?>'
    assert run(f, doc("x.java", head + "class A {}")) == (False, F.XML_HEADER)
    marker = "<?xml version="
    assert run(f, doc("x.java", " " * (100 - len(marker)) + head)) == (False, F.XML_HEADER)  # marker ends at char 100
    assert run(f, doc("x.java", " " * (101 - len(marker)) + head)) == (True, None)  # marker ends at char 101
    assert run(f, doc("x.xsl", head + "<xsl:stylesheet/>")) == (True, None)  # off for XSLT


def test_html_filter():
    f = F.HtmlFilter()
    visible = "x" * 101
    assert run(f, doc("a.html", f"<p>{visible}</p>")) == (True, None)
    assert run(f, doc("a.html", f"<p>{'x' * 100}</p>")) == (False, F.HTML_VISIBLE_TEXT)  # not > 100 chars
    script = "<script>" + "var a = 1;" * 100 + "</script>"
    assert run(f, doc("a.html", f"<p>{visible}</p>{script}")) == (False, F.HTML_VISIBLE_TEXT)  # < 20% visible
    # exactly 20%: not kept (must be > 20%); 101 visible chars in a 505-char file
    padded = f"<p>{visible}</p>" + "<i></i>" * 0
    pad = 505 - len(padded)
    assert run(f, doc("a.html", padded + "<b" + " " * (pad - 3) + ">")) == (False, F.HTML_VISIBLE_TEXT)
    assert run(f, doc("a.html", padded + "<b" + " " * (pad - 4) + ">")) == (True, None)


def test_json_yaml_size():
    f = F.DataFormatFilter()
    assert run(f, doc("a.json", "a" * 49)) == (False, F.DATA_FILE_SIZE)
    assert run(f, doc("a.json", "a" * 50)) == (True, None)
    assert run(f, doc("a.yml", "a" * 5000)) == (True, None)
    assert run(f, doc("a.yml", "a" * 5001)) == (False, F.DATA_FILE_SIZE)
    assert run(f, doc("a.py", "a" * 10)) == (True, None)  # other languages untouched


def test_filter_counts_reasons_in_stats():
    f = F.DataFormatFilter()
    docs = [doc("a.json", "a" * 10), doc("b.json", "a" * 60)]
    kept = list(f.run(iter(docs)))
    assert [d.metadata["path"] for d in kept] == ["b.json"]
    assert f.stats["dropped_data_file_size"].total == 1


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fast_fractions_match_str_methods(text):
    alpha = sum(c.isalpha() for c in text)
    digits = sum(c.isdigit() for c in text)
    expected = ((alpha + digits) / len(text), alpha / len(text)) if text else (0.0, 0.0)
    assert F.char_fractions(text) == expected
    lines = text.splitlines() or [""]
    assert F.line_stats(text) == (max(len(x) for x in lines), sum(len(x) for x in lines) / len(lines))
