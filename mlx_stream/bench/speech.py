"""XTTS v2 speed: first-chunk time, real-time factor and per-chunk cost, full-size random weights.

`python -m mlx_stream.bench.speech [--quick] [--device cpu]` prints JSON; `run(quick)` returns
the dict for `mlx-stream bench`. It measures coqui's XTTS, so it needs the `bench` extra. The model has XTTS-v2's real dimensions (config.json of coqui/XTTS-v2:
GPT 30 layers x 1024, 16 heads, 6681 text and 1026 audio tokens, perceiver conditioning, HiFi-GAN
with a 512-dim speaker embedding) and random weights, so it never chooses to stop: each sentence's
length in audio tokens is set to what real speech of that text takes (about 14 characters a second,
21.5 tokens a second), which keeps the costs those of real speech.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import need

SENTENCES = {
    "short": "Hello, how are you today?",
    "long": (
        "The committee met again on Thursday afternoon to discuss the new proposal, and after a long "
        "debate about costs, schedules and the risks involved, they agreed to fund a smaller pilot first."
    ),
}
QUICK_LONG = "The committee met again on Thursday afternoon to discuss the new proposal in detail."
CHARS_PER_SECOND = 14.0  # typical read English with XTTS
TOKENS_PER_SECOND = 22050 / 1024  # one GPT audio token is 1024 samples at 22.05 kHz
CHUNK_TOKENS = 20
# Text for a BPE vocabulary in XTTS's format (the model's text embedding is sized to it, nothing
# here reads its tokens back as words).
_VOCAB_TEXT = [
    "hello world, this is a small test of the speech model.",
    "the quick brown fox jumps over the lazy dog! is it? yes; no: maybe.",
    "bonjour le monde, hola mundo, hallo welt, ciao mondo.",
]


def full_size_model(folder: Path):
    """Build XTTS v2 at its real size with random weights (in memory; nothing is saved but the vocab)."""
    need("TTS", "coqui's XTTS")
    import torch
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.layers.xtts.xtts_manager import SpeakerManager
    from TTS.tts.models.xtts import Xtts

    languages = XttsConfig().languages
    write_vocab(folder / "vocab.json", languages, size=6681)
    args = XttsArgs(
        gpt_max_audio_tokens=605,
        gpt_max_text_tokens=402,
        gpt_max_prompt_tokens=70,
        gpt_layers=30,
        gpt_n_model_channels=1024,
        gpt_n_heads=16,
        gpt_num_audio_tokens=1026,
        gpt_start_audio_token=1024,
        gpt_stop_audio_token=1025,
        gpt_use_perceiver_resampler=True,
        decoder_input_dim=1024,
        d_vector_dim=512,
    )
    config = XttsConfig(
        model_args=args,
        languages=languages,
        temperature=0.75,
        repetition_penalty=5.0,
        gpt_cond_len=30,
        gpt_cond_chunk_len=4,
        max_ref_len=30,
    )
    torch.manual_seed(0)
    model = Xtts(config)  # no tokenizer yet: builds only the decoder, the GPT comes below
    model.tokenizer = VoiceBpeTokenizer(vocab_file=folder / "vocab.json")
    model.init_models()
    model.eval()
    embedding = torch.randn(1, 512, 1)
    speaker = {
        "gpt_cond_latent": torch.randn(1, 32, 1024) * 0.1,
        "speaker_embedding": embedding / embedding.norm(dim=1, keepdim=True),
    }
    torch.save({"Ana Florence": speaker}, folder / "speakers_xtts.pth")
    model.speaker_manager = SpeakerManager(folder / "speakers_xtts.pth")
    config.save_json(str(folder / "config.json"))
    return model


def write_vocab(path: Path, languages: list[str], size: int) -> None:
    """A BPE `vocab.json` in XTTS's format, padded with unused tokens to `size` ids."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{lang}]" for lang in languages]
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?;:'\"-")
    trainer = trainers.BpeTrainer(
        vocab_size=200, special_tokens=specials, initial_alphabet=alphabet
    )
    tokenizer.train_from_iterator(_VOCAB_TEXT, trainer)
    unused = range(size - len(tokenizer.get_vocab()))
    tokenizer.add_special_tokens([AddedToken(f"[unused{i}]", special=True) for i in unused])
    tokenizer.save(str(path))


def voice_recording(path: Path, seconds: float = 6.1, sample_rate: int = 22050) -> Path:
    """A voiced-sounding mono recording (harmonics with vibrato and syllable-like swells), as
    long as the espeak-ng reading of a sentence that earlier runs cloned from."""
    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 120 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 10)) * (
        0.2 + 0.3 * np.sin(np.pi * 4 * t) ** 2
    )
    sf.write(path, voice.astype(np.float32), sample_rate)
    return path


def peak_rss_mb() -> float | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


class DecoderClock:
    """Wall time of every HiFi-GAN pass, through torch forward hooks."""

    def __init__(self, decoder):
        self.seconds: list[float] = []
        self._start = 0.0
        self._handles = [
            decoder.register_forward_pre_hook(self._before),
            decoder.register_forward_hook(self._after),
        ]

    def _before(self, module, inputs):
        self._start = time.perf_counter()

    def _after(self, module, inputs, output):
        self.seconds.append(time.perf_counter() - self._start)

    def remove(self):
        for handle in self._handles:
            handle.remove()


def measure_sentence(synth, name: str, text: str) -> dict:
    tokens = max(8, round(len(text) / CHARS_PER_SECOND * TOKENS_PER_SECOND))
    synth.model.gpt.max_gen_mel_tokens = tokens
    clock = DecoderClock(synth.model.hifigan_decoder)
    start = time.perf_counter()
    stamps, samples = [], 0
    for chunk in synth.stream(text, "en"):
        stamps.append(time.perf_counter())
        samples += len(chunk)
    walls = [b - a for a, b in zip([start, *stamps], stamps)]
    stream_s = stamps[-1] - start
    decoder_stream = list(clock.seconds)
    start = time.perf_counter()
    whole = synth.synthesize(text, "en")
    synthesize_s = time.perf_counter() - start
    clock.remove()
    audio_s = samples / synth.sample_rate
    return {
        "sentence": name,
        "chars": len(text),
        "audio tokens": tokens,
        "audio s": round(audio_s, 2),
        "chunks": len(stamps),
        "first chunk s": round(walls[0], 2),
        "stream s": round(stream_s, 2),
        "stream RTF": round(stream_s / audio_s, 2),
        "synthesize s": round(synthesize_s, 2),
        "synthesize RTF": round(synthesize_s / (len(whole) / synth.sample_rate), 2),
        "decoder s in stream": round(sum(decoder_stream), 2),
        "GPT ms per token": round(1000 * (stream_s - sum(decoder_stream)) / tokens, 1),
        "_chunk_wall_ms": [round(1000 * w, 1) for w in walls],
        "_chunk_decoder_ms": [round(1000 * d, 1) for d in decoder_stream],
    }


def run(quick: bool = False, device: str = "cpu", threads: int | None = None) -> dict:
    import numpy as np

    need("TTS", "the speech benchmark (coqui's XTTS)")
    torch = need("torch", "the speech benchmark (coqui's XTTS)")
    if threads:
        torch.set_num_threads(threads)
    from ..tts.voices import LatentsCache, compute_conditioning, conditioning_settings
    from ..tts.xtts import XttsSynthesizer

    sentences = dict(SENTENCES)
    if quick:
        sentences["long"] = QUICK_LONG
    with tempfile.TemporaryDirectory(prefix="bench-xtts-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        model = full_size_model(folder)
        build_s = time.perf_counter() - start
        synth = XttsSynthesizer(
            model, folder, "cpu", seed=0, stream_chunk_size=CHUNK_TOKENS, cache_dir=folder / "cache"
        )
        if device != "cpu":
            synth._move_to(device)
        result = {
            "model": "XTTS v2 dimensions, random weights",
            "parameters M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
            "device": synth.device,
            "torch threads": torch.get_num_threads(),
            "load average at start": round(os.getloadavg()[0], 2)
            if hasattr(os, "getloadavg")
            else None,
            "stream_chunk_size (tokens)": CHUNK_TOKENS,
            "build s": round(build_s, 1),
        }

        recording = voice_recording(folder / "voice.wav")
        settings = conditioning_settings(model.config)
        start = time.perf_counter()
        latents = compute_conditioning(model, [recording], settings)
        result["voice clone s"] = round(time.perf_counter() - start, 2)
        cache = LatentsCache(folder / "cache")
        cache.save("bench", *latents)
        start = time.perf_counter()
        cache.load("bench")
        result["voice cache hit ms"] = round(1000 * (time.perf_counter() - start), 2)

        synth.model.gpt.max_gen_mel_tokens = 4
        list(synth.stream("Warm up.", "en"))  # the first call pays one-time costs

        rows = [measure_sentence(synth, name, text) for name, text in sentences.items()]
        long = rows[-1]
        decoder_ms = long.pop("_chunk_decoder_ms")
        wall_ms = long.pop("_chunk_wall_ms")
        for row in rows:
            row.pop("_chunk_decoder_ms", None)
            row.pop("_chunk_wall_ms", None)
        result["sentences"] = rows
        result["long: chunk wall ms"] = wall_ms
        result["long: chunk decoder ms"] = decoder_ms
        # HiFi-GAN re-runs over every latent so far, so its cost grows with the audio made so far.
        decoded_s = [
            min(CHUNK_TOKENS * (i + 1), long["audio tokens"]) / TOKENS_PER_SECOND
            for i in range(len(decoder_ms))
        ]
        slope, intercept = np.polyfit(decoded_s, decoder_ms, 1)
        result["long: decoder ms per second decoded"] = round(float(slope), 1)
        result["long: last/first chunk decoder cost"] = round(decoder_ms[-1] / decoder_ms[0], 1)
        result["peak RSS MB"] = round(peak_rss_mb() or 0)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter long sentence")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (on a busy shared machine 1 is steadier)"
    )
    args = parser.parse_args(argv)
    result = run(quick=args.quick, device=args.device, threads=args.threads)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
