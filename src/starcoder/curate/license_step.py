"""Licence classification step: sets metadata `license_class` and counts files per class.

It drops nothing: a file is kept if ANY repository holding the same content is permissive, which
needs the global view of the exact-dedup stage (see dedup.py), where the licence drop happens.
"""
from __future__ import annotations

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from starcoder.curate.license_policy import classify


class LicenseClassifier(PipelineStep):
    name = "licence classification"
    type = "🏷 - ANNOTATOR"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            cls = classify(doc.metadata.get("license") or None)
            doc.metadata["license_class"] = cls
            self.stat_update(f"class_{cls}")
            yield doc
