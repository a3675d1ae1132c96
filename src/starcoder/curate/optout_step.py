"""Opt-out as a datatrove filter: drops every file of a repository that an opt-out line names.

The list format is `starcoder.optout` (users/organisations or `owner/repo`, case-insensitive,
`#` comments, URL prefixes and trailing `/` or `.git` ignored). The card gets, per line as
written, how many files it removed (`card/optout/<line>/files`; 0 = the line matched nothing)
and the total under the removal reason `optout`.
"""
from __future__ import annotations

from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter

from starcoder.optout import OptOutList

OPTED_OUT = "optout"


class OptOutFilter(BaseFilter):
    """Drops documents whose `metadata["repo"]` (`owner/name`) an opt-out entry matches."""
    name = "🙅 opt-out"

    def __init__(self, optout: OptOutList | str | Path, exclusion_writer=None):
        super().__init__(exclusion_writer=exclusion_writer)
        self.optout = optout if isinstance(optout, OptOutList) else OptOutList.from_file(optout)

    def _row(self, entry: str) -> str:
        return self.optout.source_lines[entry].replace("|", "¦")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for entry in self.optout.entries:  # every line appears in the card, with 0 if it matched nothing
            self.stat_update(f"card/optout/{self._row(entry)}/files", value=0)
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        repo = doc.metadata.get("repo")
        if repo is None:
            raise ValueError(f"document {doc.id!r} has no 'repo' metadata; opt-out needs `owner/name` per file")
        entry = self.optout.match(repo)
        if entry is None:
            return True
        self.stat_update(f"card/optout/{self._row(entry)}/files")
        doc.metadata["optout_entry"] = self.optout.source_lines[entry]
        return False, OPTED_OUT
