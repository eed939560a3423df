"""The interface every speech backend offers the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Synthesizer(Protocol):
    """Text in, float32 mono audio in [-1, 1] out, at `sample_rate`.

    `language` is an NLLB code (`jpn_Jpan`) or any alias `mlx_stream.nllb.languages` accepts.
    """

    sample_rate: int

    def stream(self, text: str, language: str) -> Iterator[np.ndarray]:
        """Yield audio chunks as soon as they are made."""
        ...

    def synthesize(self, text: str, language: str) -> np.ndarray:
        """Return the whole utterance."""
        ...
