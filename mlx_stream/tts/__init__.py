from .base import Synthesizer

__all__ = ["Synthesizer"]
