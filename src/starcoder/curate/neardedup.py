"""Near-deduplication: datatrove's MinHash stages with StarCoder's code tokenizer and an explicit keeper.

Spec (../shared/spec/STARCODER.md §5): shingles are 5-grams of the tokens obtained by splitting
on `[^A-Za-z_0-9]`; MinHash; LSH with 25 bands x 10 rows (threshold ~(1/25)^(1/10) = 0.72);
clusters by union-find; one file kept per cluster. The original computed 256 permutations and
banded 250 of them; datatrove computes exactly bands x rows, so we compute the 250 that count.

Four stages (each a datatrove pipeline; see `near_dedup_stages`):
  1. `CodeMinhashSignature` (tasks N): signatures per document + a side file (index, id, stars);
  2. datatrove `MinhashDedupBuckets` (tasks = bands): candidate pairs per band;
  3. `NearDedupCluster` (1 task): union-find; keeps per cluster the file with most stars, then
     the smallest id (`repo:path`), so the choice does not depend on task count or order;
  4. `NearDedupFilter` (tasks N, same documents as stage 1): drops the others, reason
     `near_duplicate`, and records `minhash_cluster_size` in the kept file's metadata.
Cluster sizes go in the data card (stat keys `card/near_dedup_clusters/<size>/{clusters,files}`).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupSignature,
                                              read_tuples_from_file)
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.io import get_datafolder
from datatrove.utils.hashing import HashConfig

NEAR_DUPLICATE = "near_duplicate"
_TOKEN = re.compile(r"[A-Za-z_0-9]+")  # = splitting on [^A-Za-z_0-9] and dropping empty tokens
_POLY = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier combining token hashes into an n-gram hash
_SIZE_BINS = ((2, 2), (3, 4), (5, 8), (9, 16), (17, 64), (65, None))


@dataclass(frozen=True)
class NearDedupConfig:
    """MinHash/LSH parameters; the defaults are StarCoder's."""
    n_grams: int = 5
    bands: int = 25
    rows: int = 10
    seed: int = 1

    def __post_init__(self):
        if min(self.n_grams, self.bands, self.rows) < 1:
            raise ValueError(f"n_grams, bands and rows must be >= 1 (got {self.n_grams}, {self.bands}, {self.rows})")

    @property
    def threshold(self) -> float:
        """Jaccard similarity at which a pair becomes a candidate with probability ~1/2."""
        return (1 / self.bands) ** (1 / self.rows)

    def minhash(self) -> MinhashConfig:
        return MinhashConfig(n_grams=self.n_grams, num_buckets=self.bands, hashes_per_bucket=self.rows,
                             seed=self.seed, hash_config=HashConfig(precision=64, hash_fc="xxhash"))


def code_shingles(text: str, n: int = 5) -> set[str]:
    """The shingle set of a file: n-grams of its `[A-Za-z_0-9]+` tokens (one shingle if shorter)."""
    toks = _TOKEN.findall(text)
    if len(toks) < n:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def _xxh64(s: str) -> int:
    import xxhash
    return xxhash.xxh64_intdigest(s.encode("utf-8", "surrogatepass"))


class _TokenHashes(dict):
    """token -> xxh64, computed on first use."""

    def __missing__(self, token: str) -> int:
        h = self[token] = _xxh64(token)
        return h


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class CodeMinhashSignature(MinhashDedupSignature):
    """Stage 1: datatrove's signature step with the code tokenizer; also writes
    `<output>/meta/<rank>.jsonl` ([index, id, stars] per document) for the keeper choice."""
    name = "🎯 near-dedup signatures"

    def __init__(self, output_folder: str, config: NearDedupConfig = NearDedupConfig()):
        # not MinhashDedupSignature.__init__: it loads a natural-language word tokenizer (spaCy) we replace
        PipelineStep.__init__(self)
        self.output_folder = get_datafolder(output_folder)
        self.config = config.minhash()
        self.num_hashes = self.config.num_buckets * self.config.hashes_per_bucket
        self._parameters = None
        self._hash_func = _xxh64
        self.language, self.word_tokenizer, self.skip_existing_sigs = None, None, False
        self._token_hashes = _TokenHashes()
        self.code_config = config

    def get_shingles(self, text: str) -> np.ndarray:
        """Hashes of the 5-gram shingles (see `code_shingles`): each token is hashed once (xxh64,
        cached), an n-gram's hash is a polynomial of its tokens' hashes mod 2^64 (no string joins)."""
        toks = _TOKEN.findall(text)
        if not toks:
            return np.empty((0, 1), dtype=np.uint64)
        cache = self._token_hashes
        if len(cache) > 1_000_000:
            cache.clear()
        ids = np.fromiter(map(cache.__getitem__, toks), dtype=np.uint64, count=len(toks))
        n = min(self.config.n_grams, len(toks))
        grams = np.zeros(len(toks) - n + 1, dtype=np.uint64)
        for k in range(n):
            grams = grams * _POLY + ids[k:k + len(grams)]
        return np.unique(grams).reshape((-1, 1))

    def get_signature(self, shingles: np.ndarray) -> list[list[int]]:
        # datatrove computes (a*x + b) mod (2^61 - 1) over an (n_shingles x n_hashes) matrix at once;
        # we use (a*x + b) mod 2^64 with odd a (a bijection of the already-hashed x; ~5x faster without
        # the division) and chunk the matrix so 1 MB files stay small in memory
        a, b = self.parameters
        mins = np.full(a.shape[1], np.iinfo(np.uint64).max, dtype=np.uint64)
        for i in range(0, len(shingles), 4096):
            mins = np.minimum(mins, (shingles[i:i + 4096] * a + b).min(axis=0))
        return [x.tolist() for x in np.split(mins, self.config.num_buckets)]

    @property
    def parameters(self):
        if self._parameters is None:
            gen = np.random.RandomState(self.config.seed)
            a = gen.randint(1, np.iinfo(np.int64).max, dtype=np.int64, size=(1, self.num_hashes)).astype(np.uint64)
            b = gen.randint(0, np.iinfo(np.int64).max, dtype=np.int64, size=(1, self.num_hashes)).astype(np.uint64)
            self._parameters = (a * np.uint64(2) + np.uint64(1), b * np.uint64(2))  # a odd
        return self._parameters

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        meta = []

        def recorded(docs):
            for doc in docs:
                meta.append([len(meta), doc.id, int(doc.metadata.get("stars") or 0)])
                yield doc

        super().run(recorded(data), rank, world_size)
        with self.output_folder.open(f"meta/{rank:05d}.jsonl", "w") as f:
            f.writelines(json.dumps(m) + "\n" for m in meta)


DONE_MARKER = "_clusters_done"


class NearDedupCluster(PipelineStep):
    """Stage 3 (one task): union-find over the candidate pairs, one keeper per cluster (most stars,
    then smallest id); writes `<output>/<rank>.remove.jsonl` ({id, cluster_size, kept}) per rank."""
    name = "🎯 near-dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(self, dups_folder: str, signatures_folder: str, output_folder: str):
        super().__init__()
        self.dups_folder, self.signatures_folder, self.output_folder = dups_folder, signatures_folder, output_folder

    def _meta(self) -> dict[tuple[int, int], tuple[str, int]]:
        out = {}
        folder = os.path.join(self.signatures_folder, "meta")
        for name in sorted(os.listdir(folder)):
            rank = int(name.split(".")[0])
            with open(os.path.join(folder, name)) as f:
                for line in f:
                    idx, doc_id, stars = json.loads(line)
                    out[rank, idx] = (doc_id, stars)
        return out

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise ValueError("the near-dedup cluster stage runs as a single task (tasks=1)")
        parent: dict = {}

        def find(x):
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while x != root:
                parent[x], x = root, parent[x]
            return root

        with self.track_time():
            for name in sorted(os.listdir(self.dups_folder)):
                if name.endswith(".dups"):
                    with open(os.path.join(self.dups_folder, name), "rb") as f:
                        for f1, d1, f2, d2 in read_tuples_from_file(f, "4I", lines_to_buffer=1024):
                            parent.setdefault((f1, d1), (f1, d1))
                            parent.setdefault((f2, d2), (f2, d2))
                            ra, rb = find((f1, d1)), find((f2, d2))
                            if ra != rb:
                                parent[max(ra, rb)] = min(ra, rb)
            clusters: dict = {}
            for node in parent:
                clusters.setdefault(find(node), []).append(node)
            meta = self._meta()
            removals: dict[int, list[dict]] = {}
            for members in clusters.values():
                keeper = min(members, key=lambda m: (-meta[m][1], meta[m][0]))
                self._count(len(members))
                for m in members:
                    if m != keeper:
                        removals.setdefault(m[0], []).append(
                            {"id": meta[m][0], "cluster_size": len(members), "kept": meta[keeper][0]})
            os.makedirs(self.output_folder, exist_ok=True)
            for r in sorted({k[0] for k in meta}):
                tmp = os.path.join(self.output_folder, f"{r:05d}.remove.jsonl.tmp")
                with open(tmp, "w") as f:
                    f.writelines(json.dumps(x) + "\n" for x in sorted(removals.get(r, []), key=lambda x: x["id"]))
                os.replace(tmp, tmp[:-4])
            # ranks whose scan produced no documents have no meta file and so no remove file:
            # this marker tells the filter stage that their absence means "nothing to remove"
            with open(os.path.join(self.output_folder, DONE_MARKER), "w") as f:
                f.write("done\n")
        return
        yield  # a generator step that yields nothing

    def _count(self, size: int) -> None:
        lo, hi = next((lo, hi) for lo, hi in _SIZE_BINS if size >= lo and (hi is None or size <= hi))
        row = f"{lo}" if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}"
        self.stat_update(f"card/near_dedup_clusters/{row}/clusters", "clusters")
        for i in range(size):  # unit increments: datatrove stores them as plain counts
            self.stat_update(f"card/near_dedup_clusters/{row}/files", *(("files_removed",) if i else ()))


class NearDedupFilter(BaseFilter):
    """Stage 4: drops the files `NearDedupCluster` chose to remove (reason `near_duplicate`)."""
    name = "🎯 near-dedup filter"

    def __init__(self, clusters_folder: str, exclusion_writer=None):
        super().__init__(exclusion_writer=exclusion_writer)
        self.clusters_folder = clusters_folder
        self._remove: dict[str, dict] = {}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = os.path.join(self.clusters_folder, f"{rank:05d}.remove.jsonl")
        if not os.path.exists(os.path.join(self.clusters_folder, DONE_MARKER)):
            raise FileNotFoundError(f"{path} is missing: the near-dedup cluster stage did not finish; rerun the command")
        self._remove = {}
        if os.path.exists(path):  # absent: this rank's scan produced no documents
            with open(path) as f:
                self._remove = {x["id"]: x for x in map(json.loads, f)}
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        hit = self._remove.get(doc.id)
        if hit is None:
            return True
        doc.metadata["near_duplicate_of"] = hit["kept"]
        doc.metadata["minhash_cluster_size"] = hit["cluster_size"]
        return False, NEAR_DUPLICATE


class SilentFilters(PipelineStep):
    """Applies filters' `filter()` decisions without their stats or exclusion writers: stage 1 uses
    it to re-create the documents the final stage will see without counting removals twice."""
    name = "🎯 near-dedup input (filters replayed, not counted)"
    type = "🔻 - FILTER"

    def __init__(self, filters: list[BaseFilter]):
        super().__init__()
        self.filters = filters

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            if all(f.filter(doc) is True for f in self.filters):
                yield doc


@dataclass
class NearDedupStages:
    """The steps of the four stages; `before` is the list of steps that re-create, in stage 1, the
    exact document stream the filter will see in the final stage (reader + earlier filters)."""
    signature: list
    buckets: list
    cluster: list
    filter: NearDedupFilter


def near_dedup_stages(work: str, before: list, config: NearDedupConfig = NearDedupConfig(),
                      exclusion_writer=None) -> NearDedupStages:
    sigs, dups, clusters = (os.path.join(work, "near_dedup", x) for x in ("signatures", "buckets", "clusters"))
    return NearDedupStages(
        signature=[*before, CodeMinhashSignature(sigs, config)],
        buckets=[MinhashDedupBuckets(sigs, dups, config=config.minhash())],
        cluster=[NearDedupCluster(dups, sigs, clusters)],
        filter=NearDedupFilter(clusters, exclusion_writer=exclusion_writer),
    )
