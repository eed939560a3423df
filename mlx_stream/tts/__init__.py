"""Speech backends and the choice between them.

`XttsSynthesizer` (coqui) and `MlxXttsSynthesizer` are imported on first use, so
`import mlx_stream.tts` imports neither torch nor the MLX models.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import MlxStreamError
from ..nllb.languages import iso639_1, resolve_language
from . import choice
from .base import Synthesizer
from .choice import ENGINE_NAMES, NAMES, choose_backend
from .system import EspeakSynthesizer, SaySynthesizer

__all__ = [
    "EspeakSynthesizer",
    "MlxXttsSynthesizer",
    "SaySynthesizer",
    "Synthesizer",
    "XttsSynthesizer",
    "choose_backend",
    "load_synthesizer",
]

BACKENDS = ("auto", "xtts", "say", "espeak")
DEFAULT_XTTS = "coqui/XTTS-v2"
# ISO 639-1 codes of the languages XTTS v2 speaks (its `zh-cn` is `zh`).
_XTTS_V2_LANGUAGES = {
    "en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh", "hu", "ko", "ja", "hi",
}  # fmt: skip
_XTTS_FILES = ("config.json", "model.pth", "vocab.json")


def __getattr__(name: str):
    if name == "XttsSynthesizer":
        from .xtts import XttsSynthesizer

        return XttsSynthesizer
    if name == "MlxXttsSynthesizer":
        from .mlx_xtts import MlxXttsSynthesizer

        return MlxXttsSynthesizer
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_synthesizer(
    tts: str = "auto",
    *,
    voice: str | None = None,
    xtts: str | os.PathLike = DEFAULT_XTTS,
    xtts_engine: str = "auto",
    device: str = "auto",
    rate: int | None = None,
    language: str | None = None,
    weights_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] = _stderr,
    **xtts_options,
) -> Synthesizer:
    """The speech backend `tts` (`auto`, `xtts`, `say` or `espeak`), ready to speak.

    `voice` is an XTTS speaker or reference recording, or a system voice name; under `auto` it
    also decides the engine (a recording or XTTS speaker means XTTS, a system voice name its
    system engine). `xtts` is converted MLX weights, coqui's checkpoint folder or a hub id;
    `xtts_engine` (`auto`, `mlx`, `coqui`) says which XTTS runs it (auto: MLX, except for a
    local coqui checkpoint when coqui-tts is installed; a coqui checkpoint is converted once into
    `weights_dir` for MLX). `rate` is words per minute for the system voices. Given `language`,
    its voice is checked now, so a missing one is reported before any model loads. `auto` logs
    its choice and the reason, once. `xtts_options` go to the XTTS engine's `from_pretrained`
    (`seed`, `speed`, `temperature`, `stream_chunk_size`, ...).
    """
    if tts not in BACKENDS:
        raise MlxStreamError(f"unknown speech engine '{tts}': use one of {', '.join(BACKENDS)}")
    engine = choice.xtts_engine(xtts, xtts_engine)
    weights_dir = Path(weights_dir) if weights_dir is not None else _default_weights_dir()
    auto, wished, reason = tts == "auto", False, ""
    if auto:
        tts, wished, reason = _choose_and_log(
            voice, xtts, engine, device, language, weights_dir, xtts_engine, log
        )
    if tts == "xtts":
        try:
            return _load_xtts(engine, xtts, voice, device, language, weights_dir, xtts_options)
        except MlxStreamError as e:
            if not auto or wished:
                raise
            tts, _, reason = _choose_and_log(
                None, xtts, engine, device, language, weights_dir, xtts_engine, log, str(e)
            )
            if tts == "xtts":
                raise
    backend = SaySynthesizer if tts == "say" else EspeakSynthesizer
    try:
        synthesizer = backend(voice=voice, rate=rate)
    except MlxStreamError as e:
        if not auto:
            raise
        raise MlxStreamError(f"{e} (--tts auto chose {NAMES[tts]}: {reason})") from None
    if language is not None:
        synthesizer.voice_for(language)
    return synthesizer


def _default_weights_dir() -> Path:
    from ..weights import default_weights_dir

    return default_weights_dir()


def _load_xtts(engine, xtts, voice, device, language, weights_dir, options) -> Synthesizer:
    if engine == "mlx":
        from .mlx_xtts import MlxXttsSynthesizer

        synthesizer = MlxXttsSynthesizer.from_pretrained(
            xtts, voice, weights_dir=weights_dir, **options
        )
    else:
        from .xtts import XttsSynthesizer

        synthesizer = XttsSynthesizer.from_pretrained(xtts, device=device, voice=voice, **options)
    synthesizer.speed_key = f"xtts-{engine}:{choice.accelerator(engine, device)}"
    if language is not None:
        synthesizer.max_chars(language)  # a language XTTS cannot speak fails here
    return synthesizer


def _choose_and_log(
    voice, xtts, engine, device, language, weights_dir, xtts_engine, log, failed=None
) -> tuple[str, bool, str]:
    """Gather the facts the rules in `choice` need from this machine, decide, and say why.

    Returns the backend, whether the voice demanded it, and why it was chosen.
    """
    missing = failed and f"XTTS failed to load: {failed}"
    missing = missing or _xtts_missing(xtts, engine, language, weights_dir)
    has_say = sys.platform == "darwin" and shutil.which("say") is not None
    has_espeak = shutil.which("espeak-ng") is not None
    wish, why = choice.voice_engine(
        voice,
        _xtts_speakers(xtts, engine, weights_dir) if voice and missing is None else set(),
        _system_voice_names(has_say, has_espeak) if voice else set(),
        xtts_asked=str(xtts) != DEFAULT_XTTS or xtts_engine != "auto",
    )
    where = choice.accelerator(engine, device) if missing is None else "cpu"
    label, warning = None, None
    if wish == "xtts":
        if missing is not None:
            raise MlxStreamError(f"{why}, so XTTS must speak, but it cannot: {missing}")
        name, reason = "xtts", why
        if where == "cpu":
            warning = choice.behind_warning(f"xtts-{engine}:cpu", "this CPU")
    elif wish == "system" and (has_say or has_espeak):
        name, reason = ("say" if has_say else "espeak"), why
    else:
        name, reason = choose_backend(
            sys.platform, has_say, has_espeak, missing is None, where, missing or ""
        )
    label = ENGINE_NAMES[engine] if name == "xtts" else NAMES[name]
    log(f"speech: {label} ({reason})" + (f"; {warning}" if warning else ""))
    return name, wish == "xtts", reason


def _xtts_missing(xtts, engine: str, language: str | None, weights_dir: Path) -> str | None:
    """Why XTTS cannot speak here, or None when it can (weights present or downloadable)."""
    if language is not None and iso639_1(language) not in _XTTS_V2_LANGUAGES:
        return f"XTTS v2 does not speak {resolve_language(language)}"
    if engine == "coqui" and not choice.coqui_installed():
        return "coqui-tts is not installed; pip install 'mlx-stream[xtts]' for coqui's XTTS"
    folder = Path(xtts).expanduser()
    if folder.is_dir():
        if _is_mlx(folder) or all((folder / n).is_file() for n in _XTTS_FILES):
            return None
        return f"'{xtts}' holds no XTTS v2 checkpoint (config.json, model.pth, vocab.json)"
    if engine == "mlx" and _converted_copy(xtts, weights_dir) is not None:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(str(xtts), "model.pth"), str):
            return None
    except Exception:  # not a repo id
        return f"XTTS weights not found at '{xtts}'"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "XTTS weights are not downloaded and HF_HUB_OFFLINE is set"
    return None


def _is_mlx(folder: Path) -> bool:
    from ..xtts.weights import is_converted

    return is_converted(folder)


def _converted_copy(xtts, weights_dir: Path) -> Path | None:
    """A folder `MlxXttsSynthesizer.from_pretrained` converted `xtts` into earlier, if any."""
    name = Path(str(xtts)).name
    found = sorted(p for p in weights_dir.glob(f"{name}-*") if _is_mlx(p))
    return found[0] if found else None


def _xtts_speakers(xtts, engine: str, weights_dir: Path) -> set[str]:
    """Names of the built-in XTTS speakers, read without loading the model (empty if unknown)."""
    folder = Path(xtts).expanduser()
    if not folder.is_dir():
        folder = _converted_copy(xtts, weights_dir) if engine == "mlx" else None
    if folder is None:
        return set()
    try:
        if (folder / "speakers.safetensors").is_file():
            from safetensors import safe_open

            with safe_open(folder / "speakers.safetensors", framework="numpy") as f:
                return {key.rsplit("/", 1)[0] for key in f.keys()}  # noqa: SIM118
        if (folder / "speakers_xtts.pth").is_file():
            from ..torchfile import load

            return set(load(folder / "speakers_xtts.pth"))
    except Exception:  # a damaged file: the engine will say so when it loads
        pass
    return set()


def _system_voice_names(has_say: bool, has_espeak: bool) -> set[str]:
    names: set[str] = set()
    if has_say:
        names |= SaySynthesizer().voice_names()
    if has_espeak:
        names |= EspeakSynthesizer().voice_names()
    return names
