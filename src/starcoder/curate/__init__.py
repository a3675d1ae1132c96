"""Curation: source repositories -> a licence-clean, filtered, deduplicated code dataset.

Every step is a datatrove `PipelineStep` (filters are `BaseFilter`s returning True or
`(False, REASON)`), so the same pipeline runs on the local, Ray or Slurm executor.
`pipelines.py` assembles the steps from a `CurateOptions`; `cli.py` is `starcoder curate`.
Nothing here imports torch.
"""
