"""The Python API behind `starcoder index ...` and the HTTP server's search routes.

    from starcoder.index import DatasetIndex, build_index
    build_index("dataset/", "index/")
    ix = DatasetIndex.open("index/")
    ix.check(code).in_dataset        # membership test
    ix.search("def getattr", k=10)   # BM25 hits with attribution
    ix.who("alice").repositories     # "Am I in the data?"

An open DatasetIndex is read-only and cheap to query from many threads; after
`apply_optout` on the same folder, open it again to see the change.
"""
from __future__ import annotations

from pathlib import Path

from starcoder.index.build import BLOOM, SEARCH, WHO, read_meta
from starcoder.index.membership import BloomIndex, CheckResult, VerdictRule
from starcoder.index.search import Hit
from starcoder.index.who import WhoResult, WhoTable


class DatasetIndex:
    """An index folder opened for queries (Bloom filter, search index and who table in memory)."""

    def __init__(self, path: Path, meta: dict, bloom: BloomIndex, search, who: WhoTable) -> None:
        self.path, self.meta, self.bloom, self._search, self.who_table = path, meta, bloom, search, who

    @classmethod
    def open(cls, index_dir: str | Path) -> "DatasetIndex":
        path = Path(index_dir)
        meta = read_meta(path)
        m = meta["membership"]
        bloom = BloomIndex.load(path / BLOOM, m["chunk_chars"], VerdictRule(**m["verdict"]))
        search = None
        if meta["search"]["dir"]:
            from starcoder.index.search import SearchIndex
            search = SearchIndex(path / SEARCH)
        return cls(path, meta, bloom, search, WhoTable.load(path / WHO))

    def check(self, code: str) -> CheckResult:
        """Is this code in the dataset? Coverage by 50-char chunk runs, matched lines, verdict."""
        return self.bloom.check(code)

    def search(self, query: str, k: int = 10, phrase: bool = False, language: str | None = None) -> list[Hit]:
        """BM25 search with repo/path/licence/language and a highlighted snippet per hit."""
        if self._search is None:
            raise RuntimeError(f"{self.path} was built without a search index (--no-search); rebuild it")
        return self._search.search(query, k=k, phrase=phrase, language=language)

    def who(self, name: str) -> WhoResult:
        """Repositories of a user/organisation (or one `owner/repo`) and the opt-out line for them."""
        return self.who_table.lookup(name)
