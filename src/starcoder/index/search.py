"""Full-text BM25 search over the dataset with attribution (tantivy, in-process).

Two indexed fields carry the code: `content` (stored) holds the exact tokens (`\\w+`,
lower-cased: `getHTTPResponse_code` stays one token, so exact identifiers and phrases
match), and `subwords` (not stored) holds the parts of compound identifiers split on
case changes, underscores and digits (`get http response code`), computed here in Python
because tantivy's analyzers cannot split on case. A plain query asks both fields (a
query word also matches as a part of longer identifiers) and boosts documents that hold
the query words as a phrase; `phrase=True` asks for the exact token sequence only.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

EXACT_TOKENIZER = "code_exact"
PARTS_TOKENIZER = "code_parts"
_IDENT = re.compile(r"\w+")
# one identifier part: an acronym before a capitalised word, a (Capitalised) word, an acronym, digits
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^\W\d_]+")
MAX_TOKEN_CHARS = 100
PHRASE_BOOST = 2.0
SUBWORD_BOOST = 0.5
SNIPPET_WINDOW = 2000  # characters around the best match handed to tantivy's snippet generator
RERANK_POOL = 20  # BM25 candidates re-ranked by verbatim containment
_TIE_SLACK = 5  # extra hits fetched so that score ties are broken by dataset row, not segment order


def identifier_parts(word: str) -> list[str]:
    """`getHTTPResponse_code` -> ['get', 'http', 'response', 'code']; a plain word -> [word]."""
    return [p.lower() for p in _PART.findall(word)]


_PARTS_CACHE: dict[str, str] = {}  # identifier -> its parts joined by spaces ("" when not compound)


def _compound_parts(ident: str) -> str:
    got = _PARTS_CACHE.get(ident)
    if got is None:
        if ident.isalpha() and (ident.islower() or ident.isupper() or ident[1:].islower()):
            got = ""
        else:
            parts = identifier_parts(ident)
            got = " ".join(parts) if len(parts) > 1 else ""
        if len(_PARTS_CACHE) > 1_000_000:
            _PARTS_CACHE.clear()
        _PARTS_CACHE[ident] = got
    return got


def subword_text(content: str) -> str:
    """The `subwords` field of a file: the parts of every compound identifier, one per occurrence."""
    out: list[str] = []
    for ident, count in Counter(_IDENT.findall(content)).items():
        parts = _compound_parts(ident)
        if parts:
            out.extend([parts] * count)
    return " ".join(out)


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _find_word(text: str, word: str) -> int:
    """Offset of the first occurrence of `word` as a whole \\w+ token in `text`, or -1."""
    i = text.find(word)
    while i >= 0:
        j = i + len(word)
        if (i == 0 or not _is_word_char(text[i - 1])) and (j == len(text) or not _is_word_char(text[j])):
            return i
        i = text.find(word, i + 1)
    return -1


def _analyzers():
    import tantivy
    exact = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\w+"))
             .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS)).build())
    parts = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).filter(tantivy.Filter.lowercase()).build()
    return exact, parts


def _schema():
    import tantivy
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("content", stored=True, tokenizer_name=EXACT_TOKENIZER)
    sb.add_text_field("subwords", stored=False, tokenizer_name=PARTS_TOKENIZER, index_option="freq")
    for name in ("repo", "path", "license", "language"):
        sb.add_text_field(name, stored=True, tokenizer_name="raw")
    sb.add_integer_field("row", stored=True, indexed=False, fast=True)
    return sb.build()


def _open(path: Path, create: bool):
    import tantivy
    if create:
        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_schema(), str(path), reuse=False)
    else:
        if not tantivy.Index.exists(str(path)):
            raise FileNotFoundError(f"{path} holds no search index; build one with `starcoder index build`")
        index = tantivy.Index.open(str(path))
    exact, parts = _analyzers()
    index.register_tokenizer(EXACT_TOKENIZER, exact)
    index.register_tokenizer(PARTS_TOKENIZER, parts)
    return index


@dataclass
class Hit:
    """One search result. `snippet` is HTML-escaped text with matches wrapped in <b>...</b>."""
    repo: str
    path: str
    license: str
    language: str
    score: float
    snippet: str

    def to_dict(self) -> dict:
        return asdict(self)


class SearchWriter:
    """Adds dataset rows to a new tantivy index (one indexing thread, so builds are reproducible)."""

    def __init__(self, path: str | Path, heap_bytes: int = 200_000_000) -> None:
        self.index = _open(Path(path), create=True)
        self.writer = self.index.writer(heap_size=heap_bytes, num_threads=1)

    def add(self, row_id: int, row: dict) -> None:
        import tantivy
        doc = tantivy.Document()
        content = row.get("content") or ""
        doc.add_text("content", content)
        doc.add_text("subwords", subword_text(content))
        for name in ("repo", "path", "license", "language"):
            doc.add_text(name, str(row.get(name) or ""))
        doc.add_integer("row", row_id)
        self.writer.add_document(doc)

    def close(self) -> None:
        self.writer.commit()
        self.writer.wait_merging_threads()


def delete_repos(path: str | Path, repos: list[str]) -> None:
    """Remove every document of these repositories (exact `owner/name` as stored)."""
    index = _open(Path(path), create=False)
    writer = index.writer(heap_size=50_000_000, num_threads=1)
    for repo in repos:
        writer.delete_documents_by_term("repo", repo)
    writer.commit()
    writer.wait_merging_threads()


class SearchIndex:
    """Read side: BM25 queries with attribution and highlighted snippets."""

    def __init__(self, path: str | Path) -> None:
        self.index = _open(Path(path), create=False)
        self.schema = self.index.schema
        self.exact, _ = _analyzers()

    def num_docs(self) -> int:
        return self.index.searcher().num_docs

    def query(self, text: str, phrase: bool = False, language: str | None = None):
        import tantivy
        Q, Occur = tantivy.Query, tantivy.Occur
        words = self.exact.analyze(text)
        if not words:
            raise ValueError(f"query {text!r} holds no searchable words (letters, digits or _)")
        if phrase:
            q = Q.term_query(self.schema, "content", words[0]) if len(words) == 1 else \
                Q.phrase_query(self.schema, "content", words)
        else:
            subs = []
            for w in dict.fromkeys(words):
                subs.append((Occur.Should, Q.term_query(self.schema, "content", w)))
            raw = [w for w in _IDENT.findall(text) if len(w) <= MAX_TOKEN_CHARS]
            for p in dict.fromkeys(p for w in raw for p in identifier_parts(w)):
                subs.append((Occur.Should, Q.boost_query(Q.term_query(self.schema, "subwords", p), SUBWORD_BOOST)))
            if len(words) > 1:
                subs.append((Occur.Should, Q.boost_query(Q.phrase_query(self.schema, "content", words),
                                                         PHRASE_BOOST)))
            q = Q.boolean_query(subs)
        if language:
            q = Q.boolean_query([(Occur.Must, q), (Occur.Must, Q.term_query(self.schema, "language", language))])
        return q

    def search(self, text: str, k: int = 10, phrase: bool = False, language: str | None = None,
               snippet_chars: int = 200) -> list[Hit]:
        """Top-k files for `text`.

        BM25 (plus the phrase boost) picks RERANK_POOL candidates; among them, files that hold
        the query verbatim (ignoring leading/trailing whitespace) come first, then by score,
        then by dataset row, so ties never depend on tantivy's segment order."""
        import tantivy
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = self.query(text, phrase, language)
        searcher = self.index.searcher()
        found = searcher.search(q, limit=max(k, RERANK_POOL) + _TIE_SLACK, count=False).hits
        if not found:
            return []
        rows = searcher.fast_field_values("row", [a for _, a in found])
        docs = [searcher.doc(a) for _, a in found]
        needle = text.strip()
        verbatim = [bool(needle) and needle in (d.get_first("content") or "") for d in docs]
        order = sorted(range(len(found)), key=lambda i: (not verbatim[i], -round(found[i][0], 4), rows[i]))[:k]
        gen = tantivy.SnippetGenerator.create(searcher, q, self.schema, "content")
        gen.set_max_num_chars(snippet_chars)
        rare_first = sorted(dict.fromkeys(self.exact.analyze(text)), key=lambda w: searcher.doc_freq("content", w))
        hits = []
        for i in order:
            doc = docs[i]
            first = lambda name: doc.get_first(name) or ""  # noqa: E731
            snippet = self._snippet(gen, first("content"), needle if verbatim[i] else "", rare_first)
            hits.append(Hit(first("repo"), first("path"), first("license"), first("language"),
                            round(float(found[i][0]), 4), snippet))
        return hits

    @staticmethod
    def _snippet(gen, content: str, needle: str, rare_first: list[str]) -> str:
        """Highlight within a window around the verbatim match or the rarest query word, so the
        cost does not grow with the file's length (tantivy re-tokenises what it is given)."""
        import tantivy
        pos = content.find(needle) if needle else -1
        low = content.lower() if pos < 0 else ""
        for w in rare_first if pos < 0 else ():
            pos = _find_word(low, w)
            if pos >= 0:
                break
        lo = max(0, pos - SNIPPET_WINDOW // 4)
        doc = tantivy.Document()
        doc.add_text("content", content[lo:lo + SNIPPET_WINDOW])
        return gen.snippet_from_doc(doc).to_html()
