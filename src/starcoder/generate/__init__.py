"""Generation: completion, streaming, infilling and chat over a static KV cache (see engine.py)."""
from starcoder.generate.config import Completion, GenerationConfig
from starcoder.generate.engine import Generator

__all__ = ["Generator", "GenerationConfig", "Completion"]
