"""End to end: the real `Pipeline` with the MLX translator and XTTS, full size, random weights.

A paragraph goes in word by word, as a language model streams it; the audio goes to a sink that
keeps the clock a real-time player would, so underruns are counted without a sound card.

Random weights produce no readable text, so two things are set from the text instead of left to
chance: the translation runs for as many tokens as a real one of the sentence would take (and is
timed in full), and the speech is made of the source sentence, for as many audio tokens as reading
it takes. Everything else is the code users run. The speech is XTTS v2 in MLX (the default
engine, converted from the speech section's cached random checkpoint), or coqui's XTTS on torch
with `--engine coqui` (the `bench` extra).

    python -m mlx_stream.bench.e2e [--quick] [--engine mlx|coqui]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ..audio import NullSink
from . import need

PARAGRAPH = (
    "Thanks for waiting, I have looked at the logs from last night. "
    "The service restarted twice because the disk was almost full. "
    "I cleaned up the old backups and added an alert for next time. "
    "Everything has been stable since then, so no action is needed from you."
)
QUICK_PARAGRAPH = "Thanks for waiting. The disk was almost full, so I cleaned it up."
CHARS_PER_TOKEN = 4.0  # NLLB's sentencepiece on English prose


class RealTimeClockSink(NullSink):
    """Plays nothing, but tracks when each sample would be heard by a real-time player.

    As `audio.Player` counts them, an underrun is the player running dry in the middle of a
    sentence; the silence while the next sentence is being prepared is counted apart.
    """

    def __init__(self, sample_rate: int):
        super().__init__(sample_rate)
        self.started: float | None = None
        self.heard_until: float | None = None
        self.in_sentence = False
        self.underruns = 0
        self.underrun_seconds = 0.0
        self.gap_seconds = 0.0

    def write(self, chunk) -> None:
        now = time.perf_counter()
        if self.heard_until is None:
            self.started = self.heard_until = now
        elif now > self.heard_until:
            if self.in_sentence:
                self.underruns += 1
                self.underrun_seconds += now - self.heard_until
            else:
                self.gap_seconds += now - self.heard_until
            self.heard_until = now
        self.heard_until += len(chunk) / self.sample_rate
        self.in_sentence = True

    def end_sentence(self) -> None:
        self.in_sentence = False


class RandomWeightsTranslator:
    """The real Translator, run for a realistic number of tokens; hands back the source text."""

    def __init__(self, translator):
        self.translator = translator

    def translate(self, text: str, src: str, tgt: str, beams: int = 1, **options) -> str:
        tokens = 1 + max(4, round(len(text) / CHARS_PER_TOKEN))
        self.translator.translate(text, src=src, tgt=tgt, beams=beams, max_new_tokens=tokens)
        return text


def cap_codes(synthesizer, codes: int) -> None:
    """Stop either engine's GPT after `codes` audio codes."""
    gpt = synthesizer.model.gpt
    if hasattr(gpt, "max_gen_mel_tokens"):  # coqui
        gpt.max_gen_mel_tokens = codes
    else:  # MLX: generate_step stops after gpt_max_audio_tokens - 3 codes
        gpt.args.gpt_max_audio_tokens = codes + 3


class ReadingLengthSynthesizer:
    """XTTS capped at the audio codes reading the text takes (random weights never stop)."""

    def __init__(self, synthesizer):
        self.synthesizer = synthesizer
        self.sample_rate = synthesizer.sample_rate

    def _cap(self, text: str) -> None:
        from .speech import CHARS_PER_SECOND, TOKENS_PER_SECOND

        cap_codes(self.synthesizer, max(8, round(len(text) / CHARS_PER_SECOND * TOKENS_PER_SECOND)))

    def stream(self, text: str, language: str):
        self._cap(text)
        return self.synthesizer.stream(text, language)

    def synthesize(self, text: str, language: str):
        self._cap(text)
        return self.synthesizer.synthesize(text, language)


def speech_device() -> str:
    torch = need("torch", "the end-to-end benchmark with coqui's XTTS")

    return "cuda" if torch.cuda.is_available() else "cpu"


def mlx_xtts(folder: Path):
    """MLX XTTS on the speech section's random checkpoint, converted once into the cache."""
    import mlx.core as mx

    from ..tts.mlx_xtts import MlxXttsSynthesizer
    from ..xtts import weights
    from . import speech, xtts_mlx
    from .translate import default_cache

    cache = Path(default_cache())
    if not (cache / speech.checkpoint_name("full")).is_dir():
        need("TTS", "the end-to-end benchmark's random XTTS checkpoint (built once by coqui)")
    source, _ = speech.checkpoint("full", cache, timeout=3600)
    dtype = "float32" if mx.default_device() == mx.cpu else "float16"
    target = xtts_mlx.mlx_folder({"checkpoint": str(source), "cache": str(cache)}, dtype)
    if not weights.toolkit.is_converted(target):
        weights.convert(source, target, dtype=dtype, force=target.exists())
    synthesizer = MlxXttsSynthesizer.from_pretrained(
        target, speech.SPEAKER, seed=0, cache_dir=folder / "cache"
    )
    return synthesizer, f"XTTS v2 in MLX, {dtype}, {mx.default_device()}"


def coqui_xtts(folder: Path):
    """Coqui's XTTS on a full-size random model built in memory."""
    from . import speech

    need("TTS", "the end-to-end benchmark with coqui's XTTS")
    device = speech_device()
    from ..tts.xtts import XttsSynthesizer

    xtts = XttsSynthesizer(
        speech.full_size_model(folder), folder, "cpu", seed=0, cache_dir=folder / "cache"
    )
    if device != "cpu":
        xtts._move_to(device)
    return xtts, f"XTTS v2 in coqui-tts, {device}"


def run(quick: bool = False, engine: str = "mlx") -> dict:
    import mlx.core as mx

    from ..pipeline import Pipeline
    from ..translate import Translator
    from . import translate

    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        folder = Path(tmp)
        xtts, speech_name = (mlx_xtts if engine == "mlx" else coqui_xtts)(folder)
        variant = "float32" if mx.default_device() == mx.cpu else "q4"
        translator = Translator.from_pretrained(
            translate.mlx_model(translate.reference_model(), variant)
        )
        synthesizer = ReadingLengthSynthesizer(xtts)
        sink = RealTimeClockSink(synthesizer.sample_rate)
        pipeline = Pipeline(
            RandomWeightsTranslator(translator), synthesizer, sink, src="eng_Latn", tgt="fra_Latn"
        )
        # one-time costs (first MLX graph, first XTTS call) are paid before the clock starts
        translator.translate("Warm up.", tgt="fra_Latn", max_new_tokens=4)
        cap_codes(xtts, 4)
        list(xtts.stream("Warm up.", "fr"))

        paragraph = QUICK_PARAGRAPH if quick else PARAGRAPH
        deltas = re.findall(r"\S+\s*", paragraph)
        start = time.perf_counter()
        report = pipeline.run(deltas)
        total = time.perf_counter() - start
    rows = [
        {
            "sentence": s.index,
            "chars": len(s.source),
            "translate ms": s.translate_ms,
            "first audio ms": s.first_audio_ms,
            "audio s": round(s.audio_seconds, 2),
            "RTF": s.rtf,
            "skipped": s.skipped or "",
        }
        for s in report.sentences
    ]
    audio = sum(s.audio_seconds for s in report.spoken)
    return {
        "translator": f"MLX {variant}, random NLLB-600M, greedy",
        "speech": f"{speech_name}; XTTS v2 dimensions, random weights",
        "first audio ms (median)": median_first_audio(report),
        "sentences": rows,
        "paragraph chars": len(paragraph),
        "first sound after s": round(sink.started - start, 2) if sink.started else None,
        "paragraph wall s": round(total, 2),
        "last sound ends after s": round(sink.heard_until - start, 2) if sink.started else None,
        "audio s": round(audio, 2),
        "underruns": sink.underruns,
        "underrun silence s": round(sink.underrun_seconds, 2),
        "silence between sentences s": round(sink.gap_seconds, 2),
        "skipped sentences": len(report.skipped),
    }


def median_first_audio(report) -> float | None:
    times = [s.first_audio_ms for s in report.spoken if s.first_audio_ms is not None]
    return round(statistics.median(times)) if times else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a two-sentence paragraph")
    parser.add_argument("--engine", choices=("mlx", "coqui"), default="mlx", help="XTTS engine")
    args = parser.parse_args(argv)
    print(json.dumps(run(quick=args.quick, engine=args.engine), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
