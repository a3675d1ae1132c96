"""Quality filters of StarCoder's data (spec §5), each a datatrove filter with named reasons.

Thresholds come per extension from the extension table (see `languages.ExtensionRule`); a
threshold left empty in the table switches that filter off for that extension. Every filter
expects `LanguageSelector` to have run (it reads metadata `extension`/`language`).
"""
from __future__ import annotations

import re

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from starcoder.curate.languages import ExtensionRule, classify_path
from starcoder.curate.output import RemovedBytes

MAX_LINE_LENGTH = "max_line_length"
MEAN_LINE_LENGTH = "mean_line_length"
ALNUM_FRACTION = "alphanumeric_fraction"
ALPHA_FRACTION = "alphabetic_fraction"
XML_HEADER = "xml_header"
HTML_VISIBLE_TEXT = "html_visible_text"
DATA_FILE_SIZE = "data_file_size"

DATA_FORMAT_LANGUAGES = ("json", "yaml")
DATA_MIN_CHARS, DATA_MAX_CHARS = 50, 5000
HTML_MIN_VISIBLE_FRACTION, HTML_MIN_VISIBLE_CHARS = 0.2, 100


def _rule(doc: Document) -> ExtensionRule | None:
    return classify_path(doc.metadata["path"])[2]


def line_stats(text: str) -> tuple[int, float]:
    """(longest line, mean line length) in characters; lines split on \\n, a final newline adds no line."""
    lines = text.splitlines() or [""]
    return max(map(len, lines)), sum(map(len, lines)) / len(lines)


_ALPHA_BYTES = bytes(c for c in range(128) if chr(c).isalpha())
_DIGIT_BYTES = bytes(c for c in range(128) if chr(c).isdigit())
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")


def char_fractions(text: str) -> tuple[float, float]:
    """(alphanumeric fraction, alphabetic fraction) of all characters (str.isalpha/isdigit); (0, 0) if empty."""
    if not text:
        return 0.0, 0.0
    # ASCII letters/digits counted on the UTF-8 bytes with bytes.translate (memory speed; multi-byte
    # sequences are >= 0x80 and never match), the non-ASCII characters one by one with str methods
    b = text.encode("utf-8", errors="surrogatepass")
    alpha = len(b) - len(b.translate(None, _ALPHA_BYTES))
    digits = len(b) - len(b.translate(None, _DIGIT_BYTES))
    if not text.isascii():
        rest = _ASCII_RUNS.sub("", text)
        alpha += sum(map(str.isalpha, rest))
        digits += sum(map(str.isdigit, rest))
    return (alpha + digits) / len(text), alpha / len(text)


class ExtensionThresholdFilter(RemovedBytes, BaseFilter):
    """Per-extension thresholds: max line length, mean line length, alphanumeric and alphabetic fraction.

    Kept when max line <= max_line_length, mean line <= max_mean_line_length,
    alnum fraction >= min_alnum_fraction and alpha fraction >= min_alpha_fraction.
    """
    name = "extension thresholds"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        rule = _rule(doc)
        if rule is None:
            return True
        text = doc.text
        if rule.max_line_length is not None or rule.max_mean_line_length is not None:
            longest, mean = line_stats(text)
            if rule.max_line_length is not None and longest > rule.max_line_length:
                return False, MAX_LINE_LENGTH
            if rule.max_mean_line_length is not None and mean > rule.max_mean_line_length:
                return False, MEAN_LINE_LENGTH
        if rule.min_alnum_fraction is not None or rule.min_alpha_fraction is not None:
            alnum, alpha = char_fractions(text)
            if rule.min_alnum_fraction is not None and alnum < rule.min_alnum_fraction:
                return False, ALNUM_FRACTION
            if rule.min_alpha_fraction is not None and alpha < rule.min_alpha_fraction:
                return False, ALPHA_FRACTION
        return True


class XmlFilter(RemovedBytes, BaseFilter):
    """Drops a file whose first 100 characters contain `<?xml version=` (unless the table turns it off, as for XSLT)."""
    name = "xml filter"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        rule = _rule(doc)
        if rule is not None and rule.xml_filter and "<?xml version=" in doc.text[:100]:
            return False, XML_HEADER
        return True


_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def html_visible_text(html: str) -> str:
    """Text a browser would show: comments, <script>/<style> blocks and tags removed, whitespace collapsed."""
    text = _COMMENT.sub(" ", html)
    text = _SCRIPT_STYLE.sub(" ", text)
    text = _TAG.sub(" ", text)
    return " ".join(text.split())


class HtmlFilter(RemovedBytes, BaseFilter):
    """HTML kept only if its visible text is > 20% of the file and > 100 characters."""
    name = "html filter"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("language") != "html":
            return True
        visible = len(html_visible_text(doc.text))
        if visible > HTML_MIN_VISIBLE_CHARS and visible > HTML_MIN_VISIBLE_FRACTION * len(doc.text):
            return True
        return False, HTML_VISIBLE_TEXT


class DataFormatFilter(RemovedBytes, BaseFilter):
    """JSON and YAML kept only with 50 to 5000 characters (inclusive); the alpha fraction is in the table."""
    name = "json/yaml size"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("language") not in DATA_FORMAT_LANGUAGES:
            return True
        if DATA_MIN_CHARS <= len(doc.text) <= DATA_MAX_CHARS:
            return True
        return False, DATA_FILE_SIZE


def quality_filters(exclusion_writer=None) -> list[BaseFilter]:
    """The filters in the order of the spec: thresholds, XML, HTML, JSON/YAML size."""
    w = exclusion_writer
    return [ExtensionThresholdFilter(exclusion_writer=w() if w else None), XmlFilter(exclusion_writer=w() if w else None),
            HtmlFilter(exclusion_writer=w() if w else None), DataFormatFilter(exclusion_writer=w() if w else None)]
