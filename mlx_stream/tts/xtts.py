"""Coqui XTTS v2 (the maintained `coqui-tts` package) as a `Synthesizer`.

The model, its tokenizer and its streaming decoder are coqui's; this module loads the real
checkpoint layout, picks the torch device, turns voices into conditioning tensors (cached on
disk, see `voices.py`), maps language codes and splits text that is longer than XTTS can say.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import MlxStreamError
from ..hub import resolve
from ..nllb.languages import iso639_1, resolve_language
from .voices import LatentsCache, cached_conditioning, default_cache_dir, looks_like_path

CHECKPOINT_FILES = ["config.json", "model.pth", "vocab.json", "speakers_xtts.pth"]
LICENCE = "Coqui Public Model License, non-commercial"
DEFAULT_SPEAKER = "Ana Florence"

_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])")
_CLAUSE_END = re.compile(r"(?<=[,;:、，；：—])")
_SPACE = re.compile(r"(?=\s)")


def pick_device(available: dict[str, bool] | None = None) -> str:
    """The best torch device: mps, else cuda, else cpu. `available` overrides what torch reports."""
    if available is None:
        import torch

        available = {"mps": torch.backends.mps.is_available(), "cuda": torch.cuda.is_available()}
    for name in ("mps", "cuda"):
        if available.get(name):
            return name
    return "cpu"


def _checked_device(device: str) -> str:
    if device == "auto":
        return pick_device()
    import torch

    usable = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    kind = device.split(":")[0]
    if kind not in usable:
        raise MlxStreamError(f"unknown device '{device}': use auto, cpu, cuda or mps")
    if not usable[kind]:
        raise MlxStreamError(f"device '{device}' is not available here: use device='auto' or 'cpu'")
    return device


def xtts_language(language: str, spoken: Sequence[str]) -> str:
    """Map an NLLB code (`jpn_Jpan`), ISO code (`ja`) or English name to the XTTS tag (`ja`)."""
    tag = str(language).strip().lower()
    if tag not in spoken:
        try:
            iso = iso639_1(resolve_language(str(language)))
        except MlxStreamError:
            iso = None
        tag = "zh-cn" if iso == "zh" else iso  # XTTS speaks Mandarin as `zh-cn`
    if tag not in spoken:
        raise MlxStreamError(
            f"XTTS cannot speak '{language}': choose one of {', '.join(spoken)} "
            f"(NLLB codes such as jpn_Jpan and English names work too)"
        )
    return tag


def split_for_speech(text: str, limit: int) -> list[str]:
    """Cut text into pieces of at most `limit` characters: at sentence ends, else clauses, else spaces."""
    return [piece for piece in _split(" ".join(text.split()), limit, 0) if piece]


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text) <= limit:
        return [text.strip()]
    boundaries = (_SENTENCE_END, _CLAUSE_END, _SPACE)
    if level == len(boundaries):
        return [text[i : i + limit].strip() for i in range(0, len(text), limit)]
    packed = [""]
    for part in boundaries[level].split(text):
        if packed[-1] and len((packed[-1] + part).strip()) > limit:
            packed.append(part)
        else:
            packed[-1] += part
    return [piece for part in packed for piece in _split(part.strip(), limit, level + 1)]


def check_text(text: str) -> None:
    if not text or not text.strip():
        raise MlxStreamError("nothing to say: the text is empty")
    if not any(ch.isalnum() for ch in text):
        raise MlxStreamError(f"nothing to say: '{text.strip()[:40]}' has no letters or digits")


class XttsSynthesizer:
    """Speech from Coqui XTTS v2: `stream()` yields chunks as XTTS makes them, `synthesize()` all."""

    def __init__(
        self,
        model,
        folder: Path,
        device: str,
        voice: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        *,
        stream_chunk_size: int = 20,
        speed: float = 1.0,
        temperature: float = 0.75,
        seed: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        if stream_chunk_size < 1:
            raise MlxStreamError(f"stream_chunk_size must be at least 1, got {stream_chunk_size}")
        if not 0.25 <= speed <= 4.0:
            raise MlxStreamError(f"speed must be between 0.25 and 4.0, got {speed}")
        if temperature <= 0:
            raise MlxStreamError(f"temperature must be above 0, got {temperature}")
        self.model = model
        self.folder = Path(folder)
        self.device = device
        self.sample_rate: int = int(model.args.output_sample_rate)
        self.stream_chunk_size = stream_chunk_size
        self.speed = speed
        self.temperature = temperature
        self.seed = seed
        self.cache = LatentsCache(Path(cache_dir) if cache_dir else default_cache_dir())
        self.set_voice(voice)

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike = "coqui/XTTS-v2",
        device: str = "auto",
        voice: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        *,
        stream_chunk_size: int = 20,
        speed: float = 1.0,
        temperature: float = 0.75,
        seed: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> XttsSynthesizer:
        """Load `config.json`, `model.pth`, `vocab.json`, `speakers_xtts.pth` from a folder or the hub.

        `voice`: a built-in speaker name, or one or more recordings (default: a built-in speaker).
        `stream_chunk_size`: audio tokens per streamed chunk (20 is about 0.9 s of speech).
        `seed`: the same seed and text give the same audio. `cache_dir`: where voice latents are
        kept (default `$MLX_STREAM_CACHE/xtts-latents` or `~/.cache/mlx-stream/xtts-latents`).
        """
        device = _checked_device(device)
        folder = resolve(path_or_repo, CHECKPOINT_FILES, what="XTTS v2 model", licence=LICENCE)
        model = _load_model(folder)
        try:
            model.to(device)
        except (RuntimeError, NotImplementedError) as error:
            if not device.startswith("mps"):
                raise
            _note_fallback(error)
            device = "cpu"
        return cls(
            model,
            folder,
            device,
            voice,
            stream_chunk_size=stream_chunk_size,
            speed=speed,
            temperature=temperature,
            seed=seed,
            cache_dir=cache_dir,
        )

    @property
    def languages(self) -> list[str]:
        """The XTTS tags this model speaks (`en`, `ja`, `zh-cn`, ...)."""
        return list(self.model.config.languages)

    def max_chars(self, language: str) -> int:
        """XTTS's character limit for one utterance in `language`; longer text is split first."""
        tag = xtts_language(language, self.languages)
        return int(self.model.tokenizer.char_limits.get(tag.split("-")[0], 250))

    @property
    def speakers(self) -> list[str]:
        manager = getattr(self.model, "speaker_manager", None)
        return list(manager.speakers) if manager is not None else []

    def set_voice(self, voice: str | os.PathLike | Sequence[str | os.PathLike] | None) -> None:
        """A built-in speaker name, or one or more recordings (any rate or channel count)."""
        if voice is None:
            voice = DEFAULT_SPEAKER if DEFAULT_SPEAKER in self.speakers else None
            voice = voice or (self.speakers[0] if self.speakers else None)
            if voice is None:
                raise MlxStreamError(
                    f"{self.folder} has no speakers_xtts.pth: pass voice= a recording of a voice, "
                    f"or download coqui/XTTS-v2 again"
                )
        if isinstance(voice, str) and voice in self.speakers:
            found = self.model.speaker_manager.speakers[voice]
            tensors = (found["gpt_cond_latent"], found["speaker_embedding"])
            self._voice = tuple(t.to(self.model.device) for t in tensors)
            return
        if isinstance(voice, str) and not looks_like_path(voice) and not Path(voice).exists():
            names = ", ".join(self.speakers[:6]) + (", ..." if len(self.speakers) > 6 else "")
            raise MlxStreamError(
                f"unknown XTTS speaker '{voice}': pass one of {names or 'none (no speakers file)'}, "
                f"or a path to a recording"
            )
        paths = [voice] if isinstance(voice, (str, os.PathLike)) else list(voice)
        if not paths:
            raise MlxStreamError("voice is an empty list: pass a speaker name or recording paths")
        recordings = [Path(p).expanduser() for p in paths]
        self._voice = cached_conditioning(self.model, self.folder, recordings, self.cache)

    def stream(self, text: str, language: str) -> Iterator[np.ndarray]:
        """Yield float32 chunks at `sample_rate` as XTTS decodes them (`stream_chunk_size` tokens each)."""
        pieces = self._pieces(text, language)
        tag = xtts_language(language, self.languages)
        return self._with_fallback(lambda: self._stream_pieces(pieces, tag))

    def synthesize(self, text: str, language: str) -> np.ndarray:
        """The whole utterance as one float32 array (one decoder pass per piece, no streaming)."""
        pieces = self._pieces(text, language)
        tag = xtts_language(language, self.languages)
        whole = list(self._with_fallback(lambda: self._whole_pieces(pieces, tag)))
        return np.concatenate(whole) if whole else np.zeros(0, np.float32)

    def _pieces(self, text: str, language: str) -> list[str]:
        check_text(text)
        return split_for_speech(text, self.max_chars(language))

    def _settings(self) -> dict:
        config = self.model.config
        return {
            "temperature": self.temperature,
            "length_penalty": config.length_penalty,
            "repetition_penalty": config.repetition_penalty,
            "top_k": config.top_k,
            "top_p": config.top_p,
            "speed": self.speed,
        }

    def _stream_pieces(self, pieces: list[str], tag: str) -> Iterator[np.ndarray]:
        self._seed()
        latents, embedding = self._voice
        for piece in pieces:
            for chunk in self.model.inference_stream(
                piece,
                tag,
                latents,
                embedding,
                stream_chunk_size=self.stream_chunk_size,
                **self._settings(),
            ):
                if chunk.numel():
                    yield _to_numpy(chunk)

    def _whole_pieces(self, pieces: list[str], tag: str) -> Iterator[np.ndarray]:
        self._seed()
        latents, embedding = self._voice
        for piece in pieces:
            out = self.model.inference(piece, tag, latents, embedding, **self._settings())
            yield _to_numpy(out["wav"])

    def _seed(self) -> None:
        if self.seed is not None:
            import torch

            torch.manual_seed(self.seed)

    def _with_fallback(self, produce: Callable[[], Iterator[np.ndarray]]) -> Iterator[np.ndarray]:
        """Run `produce` on the device; if an op fails on mps, move to cpu once and carry on there,
        skipping the samples already handed out so the listener hears no repeat."""
        emitted = 0
        try:
            for chunk in produce():
                emitted += len(chunk)
                yield chunk
            return
        except (RuntimeError, NotImplementedError) as error:
            if not self.device.startswith("mps"):
                raise
            _note_fallback(error)
            self._move_to("cpu")
        for chunk in produce():
            skip = min(emitted, len(chunk))
            emitted -= skip
            if skip < len(chunk):
                yield chunk[skip:]

    def _move_to(self, device: str) -> None:
        self.model.to(device)
        self._voice = tuple(t.to(device) for t in self._voice)
        self.device = device


def _to_numpy(audio) -> np.ndarray:
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    # HiFi-GAN ends in tanh and the cross-fade is convex, so this clip only guards the contract.
    return np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)


def _note_fallback(error: BaseException) -> None:
    reason = (
        str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
    )
    print(f"mlx-stream: XTTS falls back to the CPU ({reason})", file=sys.stderr, flush=True)


def _load_model(folder: Path):
    missing = [name for name in CHECKPOINT_FILES[:3] if not (folder / name).is_file()]
    if missing:
        raise MlxStreamError(
            f"XTTS checkpoint folder {folder} lacks {', '.join(missing)}: download coqui/XTTS-v2 "
            f"again or pass a folder holding {', '.join(CHECKPOINT_FILES)}"
        )
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    try:
        config = XttsConfig()
        config.load_json(str(folder / "config.json"))
        model = Xtts(config)
        model.load_checkpoint(config, checkpoint_dir=str(folder), eval=True)
    except Exception as e:  # torch, json and coqpit raise many types for a damaged file
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise MlxStreamError(
            f"cannot load the XTTS checkpoint in {folder} ({reason}): download coqui/XTTS-v2 again"
        ) from None
    return model
