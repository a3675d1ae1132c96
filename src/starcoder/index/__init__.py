"""Membership test, dataset search and "Am I in the data?" over a curated dataset.

See docs/index.md. Public API: `build_index`, `apply_optout`, `DatasetIndex`.
"""
from __future__ import annotations

from starcoder.index.api import DatasetIndex
from starcoder.index.build import IndexConfig, apply_optout, build_index

__all__ = ["DatasetIndex", "IndexConfig", "apply_optout", "build_index"]
