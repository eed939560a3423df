"""Stand-in engines of known cost, for measuring the driver itself (overlap, accounting)."""

from __future__ import annotations

import time

import numpy as np


class SlowTranslator:
    """Upper-cases the text after sleeping `seconds`."""

    def __init__(self, seconds: float = 0.1):
        self.seconds = seconds

    def translate(self, text, src="eng_Latn", tgt="jpn_Jpan", beams=1, max_new_tokens=None):
        time.sleep(self.seconds)
        return text.upper()


class ToneSynthesizer:
    """Makes `audio_seconds` of a tone per sentence in `chunks` chunks, taking `seconds` in all."""

    def __init__(self, seconds=0.2, audio_seconds=1.0, chunks=4, sample_rate=24000, fail_on=None):
        self.seconds, self.audio_seconds, self.chunks = seconds, audio_seconds, chunks
        self.sample_rate, self.fail_on = sample_rate, fail_on
        self.spoken: list[str] = []

    def audio_for(self, text: str) -> np.ndarray:
        n = int(self.audio_seconds * self.sample_rate)
        freq = 200 + 10 * (sum(map(ord, text)) % 50)
        return (0.3 * np.sin(2 * np.pi * freq * np.arange(n) / self.sample_rate)).astype(np.float32)

    def stream(self, text, language):
        if self.fail_on and self.fail_on in text:
            raise RuntimeError(f"cannot say {text!r}")
        self.spoken.append(text)
        audio = self.audio_for(text)
        for part in np.array_split(audio, self.chunks):
            time.sleep(self.seconds / self.chunks)
            yield part

    def synthesize(self, text, language):
        return np.concatenate(list(self.stream(text, language)))
