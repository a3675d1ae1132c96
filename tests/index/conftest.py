"""One fixture dataset of real source files and one index over it, shared by the index tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.index.corpus import make_corpus, write_dataset


@pytest.fixture(scope="session")
def corpus():
    """(training files, held-out files) of SourceFile."""
    return make_corpus()


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory, corpus):
    return write_dataset(tmp_path_factory.mktemp("dataset"), corpus[0])


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, dataset_dir):
    from starcoder.index import IndexConfig, build_index
    out = tmp_path_factory.mktemp("index") / "ix"
    build_index(dataset_dir, out, IndexConfig(progress=False))
    return out


@pytest.fixture(scope="session")
def ix(index_dir):
    from starcoder.index import DatasetIndex
    return DatasetIndex.open(index_dir)
