"""Speech backends and the choice between them.

`XttsSynthesizer` is imported on first use, so `import mlx_stream.tts` never imports torch.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import MlxStreamError
from ..nllb.languages import iso639_1, resolve_language
from .base import Synthesizer
from .system import EspeakSynthesizer, SaySynthesizer

__all__ = [
    "EspeakSynthesizer",
    "SaySynthesizer",
    "Synthesizer",
    "XttsSynthesizer",
    "choose_backend",
    "load_synthesizer",
]

BACKENDS = ("auto", "xtts", "say", "espeak")
_NAMES = {"xtts": "XTTS v2", "say": "say", "espeak": "espeak-ng"}
# ISO 639-1 codes of the languages XTTS v2 speaks (its `zh-cn` is `zh`).
_XTTS_V2_LANGUAGES = {
    "en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh", "hu", "ko", "ja", "hi",
}  # fmt: skip


def __getattr__(name: str):
    if name == "XttsSynthesizer":
        from .xtts import XttsSynthesizer

        return XttsSynthesizer
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def choose_backend(
    platform: str,
    has_say: bool,
    has_espeak: bool,
    xtts_available: bool,
    accelerator: str,
    xtts_missing: str = "XTTS is not available",
) -> tuple[str, str]:
    """Pick the speech backend for `--tts auto` from what this machine has: (name, reason).

    `platform` is `sys.platform`; `xtts_available` means coqui-tts is installed and the XTTS
    weights are on disk or downloadable, `xtts_missing` says why not; `accelerator` is the torch
    device XTTS would run on (`cuda`, `mps` or `cpu`). XTTS is chosen only where it keeps up
    with playback; a system voice is better than speech that stutters.
    """
    if xtts_available and accelerator in ("cuda", "mps"):
        return "xtts", f"on {accelerator}, which keeps up with playback"
    if xtts_available:
        why_not = "XTTS would run ~6x slower than real time on this CPU; use --tts xtts to force it"
    else:
        why_not = xtts_missing
    if platform == "darwin" and has_say:
        return "say", why_not
    if has_espeak:
        return "espeak", why_not
    if xtts_available:
        return "xtts", "no system voice found, so XTTS on the CPU: expect pauses between sentences"
    install = "brew install espeak-ng" if platform == "darwin" else "apt install espeak-ng"
    raise MlxStreamError(
        f"no speech engine found ({xtts_missing}): {install}, or pip install 'mlx-stream[xtts]'"
    )


def _xtts_missing(xtts: str | os.PathLike, language: str | None) -> str | None:
    """Why XTTS cannot speak here, or None when it can (weights present or downloadable)."""
    if importlib.util.find_spec("TTS") is None or importlib.util.find_spec("torch") is None:
        return "coqui-tts is not installed; pip install 'mlx-stream[xtts]' for XTTS"
    if language is not None and iso639_1(language) not in _XTTS_V2_LANGUAGES:
        return f"XTTS v2 does not speak {resolve_language(language)}"
    if Path(xtts).expanduser().is_dir():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(str(xtts), "model.pth"), str):
            return None
    except Exception:  # not a repo id: XttsSynthesizer will say so if it is forced
        return f"XTTS weights not found at '{xtts}'"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "XTTS weights are not downloaded and HF_HUB_OFFLINE is set"
    return None


def _accelerator(device: str) -> str:
    """The kind of torch device XTTS would use: cuda, mps or cpu (imports torch when `auto`)."""
    if device != "auto":
        return device.split(":")[0]
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_synthesizer(
    tts: str = "auto",
    *,
    voice: str | None = None,
    xtts: str | os.PathLike = "coqui/XTTS-v2",
    device: str = "auto",
    rate: int | None = None,
    language: str | None = None,
    log: Callable[[str], None] = _stderr,
    **xtts_options,
) -> Synthesizer:
    """The speech backend `tts` (`auto`, `xtts`, `say` or `espeak`), ready to speak.

    `voice` is an XTTS speaker or reference recording, or a system voice name; `rate` is words
    per minute for the system voices. Given `language`, its voice is checked now, so a missing
    one is reported before any model loads. `auto` logs its choice and the reason, once.
    `xtts_options` go to `XttsSynthesizer.from_pretrained` (`seed`, `speed`, `temperature`, ...).
    """
    if tts not in BACKENDS:
        raise MlxStreamError(f"unknown speech engine '{tts}': use one of {', '.join(BACKENDS)}")
    auto = tts == "auto"
    if auto:
        missing = _xtts_missing(xtts, language)
        tts = _choose_and_log(missing, device, log)
    if tts == "xtts":
        from .xtts import XttsSynthesizer

        try:
            synthesizer = XttsSynthesizer.from_pretrained(
                xtts, device=device, voice=voice, **xtts_options
            )
            if language is not None:
                synthesizer.max_chars(language)  # a language XTTS cannot speak fails here
            return synthesizer
        except MlxStreamError as e:
            if not auto:
                raise
            tts = _choose_and_log(f"XTTS failed to load: {e}", device, log)
            if tts == "xtts":
                raise
    backend = SaySynthesizer if tts == "say" else EspeakSynthesizer
    try:
        synthesizer = backend(voice=voice, rate=rate)
    except MlxStreamError as e:
        if not auto:
            raise
        raise MlxStreamError(
            f"{e} (--tts auto chose {_NAMES[tts]}; XTTS voices need --tts xtts)"
        ) from None
    if language is not None:
        synthesizer.voice_for(language)
    return synthesizer


def _choose_and_log(xtts_missing: str | None, device: str, log: Callable[[str], None]) -> str:
    """Gather the facts `choose_backend` needs from this machine, decide, and say why."""
    name, reason = choose_backend(
        sys.platform,
        has_say=shutil.which("say") is not None,
        has_espeak=shutil.which("espeak-ng") is not None,
        xtts_available=xtts_missing is None,
        accelerator=_accelerator(device) if xtts_missing is None else "cpu",
        xtts_missing=xtts_missing or "",
    )
    log(f"speech: {_NAMES[name]} ({reason})")
    return name
