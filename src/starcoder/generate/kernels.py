"""Placeholder until the CPU kernels land: no module is swapped."""


def accelerate(model) -> int:
    return 0
