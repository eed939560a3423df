"""XTTS v2 in MLX as a `Synthesizer`: no torch anywhere on its path.

Each sentence runs the GPT one code at a time; its latents go to an exact streaming HiFi-GAN
decoder (`xtts.stream.ExactStream`) that hands out audio as soon as no later latent can change
it. The first chunk is small, so speech starts after a dozen GPT steps; later chunks grow to
`stream_chunk_size` codes. Joined, the chunks equal `synthesize()`'s one-pass decode.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import mlx.core as mx
import numpy as np

from ..errors import MlxStreamError
from ..xtts import weights
from ..xtts.conditioning import compute_voice
from ..xtts.generate import generate_step
from ..xtts.sampling import Sampler, SamplingSettings
from ..xtts.stream import ExactStream
from ..xtts.tokenizer import Tokenizer
from .voices import LatentsCache, default_cache_dir, looks_like_path
from .xtts import DEFAULT_SPEAKER, check_text, split_for_speech, xtts_language

DEFAULT_REPO = "coqui/XTTS-v2"
# Codes in the first chunk: ~0.28 s of audio, out after FIRST_CHUNK + ~4 GPT steps (coqui: 20).
FIRST_CHUNK = 6
STREAM_CHUNK = 20


def chunk_sizes(first: int, steady: int) -> Iterator[int]:
    """Codes per chunk: `first`, then doubling up to `steady`, then `steady` for ever."""
    size = max(1, min(first, steady))
    while True:
        yield size
        size = min(2 * size, steady)


class MlxXttsSynthesizer:
    """Speech from XTTS v2 in MLX: `stream()` yields chunks as they are decoded, `synthesize()` all."""

    def __init__(
        self,
        model,
        config: dict,
        folder: Path,
        voice: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        *,
        stream_chunk_size: int = STREAM_CHUNK,
        first_chunk_size: int = FIRST_CHUNK,
        speed: float = 1.0,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float | None = None,
        seed: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        if stream_chunk_size < 1 or first_chunk_size < 1:
            raise MlxStreamError(
                f"chunk sizes must be at least 1 code, got {first_chunk_size} and {stream_chunk_size}"
            )
        if not 0.25 <= speed <= 4.0:
            raise MlxStreamError(f"speed must be between 0.25 and 4.0, got {speed}")
        self.model, self.config, self.folder = model, config, Path(folder)
        self.args = model.args
        self.settings = weights.inference_args(config)
        overrides = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
        overrides["repetition_penalty"] = repetition_penalty
        for name, value in overrides.items():
            if value is not None:
                setattr(self.settings, name, value)
        self.sampling = SamplingSettings.like_coqui(self.settings)  # raises on bad values
        self.sample_rate: int = int(self.args.output_sample_rate)
        self.stream_chunk_size, self.first_chunk_size = stream_chunk_size, first_chunk_size
        self.speed, self.seed = speed, seed
        self.tokenizer = Tokenizer.from_file(
            self.folder / "vocab.json", max_tokens=self.args.gpt_max_text_tokens
        )
        self._speakers = weights.load_speakers(self.folder)
        self.cache = LatentsCache(Path(cache_dir) if cache_dir else default_cache_dir())
        self.set_voice(voice)

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike = DEFAULT_REPO,
        voice: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        *,
        weights_dir: str | os.PathLike = "weights",
        dtype: str | None = None,
        quantize_bits: int | None = None,
        **options,
    ) -> MlxXttsSynthesizer:
        """Load a converted folder, or convert coqui's checkpoint (folder or hub id) once into
        `weights_dir/<name>-<dtype or q bits>` and load that.

        `voice`: a built-in speaker name, or one or more recordings (default: a built-in speaker).
        `options`: `stream_chunk_size` (codes per chunk once streaming, 20 is ~0.9 s),
        `first_chunk_size` (codes in the first chunk), `speed`, `temperature`, `top_k`, `top_p`,
        `repetition_penalty` (default: the checkpoint's config.json, as coqui's `synthesize`),
        `seed` (the same seed and text give the same audio) and `cache_dir` (cloned voices).
        """
        path = Path(path_or_repo).expanduser()
        if not weights.toolkit.is_converted(path):  # converted NLLB weights fail in `load`
            dtype = dtype or weights.toolkit.default_dtype()
            kind = f"q{quantize_bits}" if quantize_bits else dtype
            target = Path(weights_dir) / f"{path.name or str(path_or_repo)}-{kind}"
            if not weights.is_converted(target):
                print(
                    f"converting XTTS v2 '{path_or_repo}' to MLX in {target} (once)",
                    file=sys.stderr,
                    flush=True,
                )
                summary = weights.convert(
                    path_or_repo, target, dtype=dtype, q_bits=quantize_bits, force=target.exists()
                )
                print(f"converted {summary}", file=sys.stderr, flush=True)
            path = target
        model, config = weights.load(path)
        return cls(model, config, path, voice, **options)

    @property
    def languages(self) -> list[str]:
        """The XTTS tags this model speaks (`en`, `ja`, `zh-cn`, ...)."""
        return list(self.config.get("languages") or [])

    @property
    def speakers(self) -> list[str]:
        return list(self._speakers)

    def max_chars(self, language: str) -> int:
        """XTTS's character limit for one utterance in `language`; longer text is split first."""
        return self.tokenizer.char_limit(xtts_language(language, self.languages))

    def set_voice(self, voice: str | os.PathLike | Sequence[str | os.PathLike] | None) -> None:
        """A built-in speaker name, or one or more recordings (any rate or channel count)."""
        if voice is None:
            voice = DEFAULT_SPEAKER if DEFAULT_SPEAKER in self._speakers else None
            voice = voice or next(iter(self._speakers), None)
            if voice is None:
                raise MlxStreamError(
                    f"{self.folder} has no built-in speakers: pass voice= a recording of a voice"
                )
        if isinstance(voice, str) and voice in self._speakers:
            latent, embedding = self._speakers[voice]
        elif isinstance(voice, str) and not looks_like_path(voice) and not Path(voice).exists():
            names = ", ".join(self.speakers[:6]) + (", ..." if len(self.speakers) > 6 else "")
            raise MlxStreamError(
                f"unknown XTTS speaker '{voice}': pass one of {names or 'none (no speakers file)'}, "
                f"or a path to a recording"
            )
        else:
            paths = [voice] if isinstance(voice, (str, os.PathLike)) else list(voice)
            if not paths:
                raise MlxStreamError(
                    "voice is an empty list: pass a speaker name or recording paths"
                )
            latent, embedding = self._clone([Path(p).expanduser() for p in paths])
        self.voice = (latent, embedding)
        self._bias = self.model.decoder.voice(embedding)
        self._voice_rows = self.model.gpt.voice_rows(latent)

    def _clone(self, recordings: list[Path]) -> tuple[mx.array, mx.array]:
        from ..xtts.dsp import read_recording

        for path in recordings:  # clear errors first, even when the voice is cached
            read_recording(path, self.args.input_sample_rate)
        settings = {
            k: getattr(self.settings, k)
            for k in ("gpt_cond_len", "gpt_cond_chunk_len", "max_ref_len", "sound_norm_refs")
        }
        source = self.config.get(weights.toolkit.MARKER, {}).get("sources", {}).get("model.pth")
        key = self.cache.key(recordings, f"mlx:{source or self.folder.resolve()}", settings)
        found = self.cache.load(key)
        if found is not None:
            return mx.array(found[0]), mx.array(found[1])
        model = self.model
        latent, embedding = compute_voice(
            model.conditioning, model.speaker_encoder, recordings, self.settings
        )
        self.cache.save(key, np.array(latent), np.array(embedding))
        return latent, embedding

    def stream(self, text: str, language: str) -> Iterator[np.ndarray]:
        """Yield float32 chunks at `sample_rate` as soon as they are final."""
        tag, pieces = self._prepare(text, language)
        return self._stream(pieces, tag)

    def synthesize(self, text: str, language: str) -> np.ndarray:
        """The whole utterance as one float32 array: every code first, then one decoder pass."""
        tag, pieces = self._prepare(text, language)
        sampler = self._sampler()
        whole = []
        for piece in pieces:
            latents = [latent for _, latent in self._generate(piece, tag, sampler)]
            if latents:
                audio = self.model.decoder.decode(
                    mx.concatenate(latents, axis=1), self._bias, self.speed
                )
                whole.append(_to_numpy(audio[0]))
        return np.concatenate(whole) if whole else np.zeros(0, np.float32)

    def _prepare(self, text: str, language: str) -> tuple[str, list[str]]:
        check_text(text)
        tag = xtts_language(language, self.languages)
        return tag, split_for_speech(text, self.max_chars(tag))

    def _sampler(self) -> Sampler:
        return Sampler(self.sampling, seed=self.seed)

    def _generate(self, piece: str, tag: str, sampler: Sampler):
        ids = mx.array([self.tokenizer.encode(piece, tag)])
        return generate_step(self.model.gpt, self.voice[0], ids, sampler, voice=self._voice_rows)

    def _stream(self, pieces: list[str], tag: str) -> Iterator[np.ndarray]:
        sampler = self._sampler()
        for piece in pieces:
            sizes = chunk_sizes(self.first_chunk_size, self.stream_chunk_size)
            schedule = tuple(itertools.takewhile(lambda n: n < self.stream_chunk_size, sizes))
            decoder = ExactStream(
                self.model.decoder, self._bias, self.speed, (*schedule, self.stream_chunk_size)
            )
            sizes = chunk_sizes(self.first_chunk_size, self.stream_chunk_size)
            lookahead = decoder.latents_needed(1)
            due, pending = next(sizes) + lookahead, []
            for _, latent in self._generate(piece, tag, sampler):
                pending.append(latent)
                if len(pending) >= due:
                    audio = decoder.push(mx.concatenate(pending, axis=1))
                    due, pending = next(sizes), []
                    if audio.size:
                        yield _to_numpy(audio)
            if pending:
                audio = decoder.push(mx.concatenate(pending, axis=1))
                if audio.size:
                    yield _to_numpy(audio)
            audio = decoder.finish()
            if audio.size:
                yield _to_numpy(audio)

    def __repr__(self) -> str:
        args = self.args
        mark = self.config.get(weights.toolkit.MARKER, {})
        quantization = self.config.get("quantization")
        precision = f"{quantization['bits']}-bit GPT" if quantization else mark.get("dtype")
        return (
            f"MlxXttsSynthesizer({str(self.folder)!r}, GPT {args.gpt_layers} layers x "
            f"{args.gpt_n_model_channels}, {precision}, {len(self._speakers)} speakers, "
            f"device {mx.default_device()})"
        )


def _to_numpy(audio: mx.array) -> np.ndarray:
    # HiFi-GAN ends in tanh, so this clip only guards the contract.
    return np.clip(np.array(audio.astype(mx.float32)).reshape(-1), -1.0, 1.0)
