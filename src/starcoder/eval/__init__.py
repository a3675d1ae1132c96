"""Evaluation: HumanEval pass@k in a sandbox, bits per byte, single-line FIM exact match."""
