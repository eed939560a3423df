"""Which speech engine speaks: the rules (pure functions, tested as tables) and the facts they need.

`--tts auto` weighs what the machine has (a GPU, XTTS weights, a system voice) against what the
user asked for: a `--voice` that is a recording or an XTTS speaker means XTTS, a system voice
name means that system engine. Measured real-time factors are remembered per engine and device
(`speed.json` in the cache), so a warning can say how far behind real time an engine ran here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path

from ..errors import MlxStreamError
from .voices import looks_like_path

NAMES = {"xtts": "XTTS v2", "say": "say", "espeak": "espeak-ng"}
ENGINE_NAMES = {"mlx": "XTTS v2 (MLX)", "coqui": "XTTS v2 (coqui)"}
SLOW = "XTTS would run ~4x slower than real time on this CPU; use --tts xtts to force it"


def choose_backend(
    platform: str,
    has_say: bool,
    has_espeak: bool,
    xtts_available: bool,
    accelerator: str,
    xtts_missing: str = "XTTS is not available",
) -> tuple[str, str]:
    """Pick the speech backend for `--tts auto` when the voice does not decide: (name, reason).

    `platform` is `sys.platform`; `xtts_available` means XTTS weights are on disk or
    downloadable (and, for coqui's engine, coqui-tts is installed), `xtts_missing` says why not;
    `accelerator` is where XTTS would run (`cpu`, or a GPU: `metal`, `cuda`, `mps`). XTTS is
    chosen only where it keeps up with playback; a system voice is better than speech that stutters.
    """
    if xtts_available and accelerator != "cpu":
        return "xtts", f"on {accelerator}, which keeps up with playback"
    why_not = SLOW if xtts_available else xtts_missing
    if platform == "darwin" and has_say:
        return "say", why_not
    if has_espeak:
        return "espeak", why_not
    if xtts_available:
        return "xtts", "no system voice found, so XTTS on the CPU: expect pauses between sentences"
    install = "brew install espeak-ng" if platform == "darwin" else "apt install espeak-ng"
    raise MlxStreamError(
        f"no speech engine found ({xtts_missing}): {install}, or convert XTTS v2 weights "
        f"(mlx-stream convert xtts)"
    )


def voice_engine(
    voice: str | None,
    xtts_speakers: set[str],
    system_voices: set[str],
    xtts_asked: bool = False,
) -> tuple[str | None, str]:
    """What `--voice` says about the engine: ("xtts" | "system" | None, why).

    A recording or an XTTS speaker name can only mean XTTS; a system voice name means the
    system engine. A name that is both or neither decides nothing, unless `--xtts` was given
    (`xtts_asked`), which counts as a wish for XTTS.
    """
    if voice is None:
        return None, ""
    if looks_like_path(voice) or Path(voice).expanduser().is_file():
        return "xtts", f"--voice {voice} is a recording"
    xtts = voice in xtts_speakers
    system = voice.lower().partition("+")[0] in system_voices  # espeak-ng: `en-us+f3`
    if xtts and not system:
        return "xtts", f"--voice {voice} is an XTTS speaker"
    if system and not xtts:
        return "system", f"--voice {voice} is a system voice"
    if xtts_asked:
        return "xtts", f"--voice {voice} with --xtts given"
    return None, ""


def xtts_engine(xtts: str | os.PathLike, engine: str = "auto") -> str:
    """`mlx` or `coqui`: converted weights and hub ids run in MLX (a hub checkpoint is converted
    once); a local coqui checkpoint runs in coqui's engine when coqui-tts is installed."""
    if engine not in ("auto", "mlx", "coqui"):
        raise MlxStreamError(f"unknown XTTS engine '{engine}': use auto, mlx or coqui")
    if engine != "auto":
        return engine
    folder = Path(xtts).expanduser()
    if (folder / "model.pth").is_file() and coqui_installed():
        return "coqui"
    return "mlx"


def coqui_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("TTS", "torch"))


def accelerator(engine: str, device: str = "auto") -> str:
    """Where the engine would run: `cpu`, or the GPU's kind (`metal`, `cuda`, `mps`)."""
    if device not in ("auto", "gpu"):
        return device.split(":")[0]
    if engine == "mlx":
        import mlx.core as mx

        if device == "gpu" or mx.default_device() == mx.gpu:
            return "metal" if sys.platform == "darwin" else "cuda"
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


# --- measured speed ---------------------------------------------------------------------------


def _speed_file() -> Path:
    root = os.environ.get("MLX_STREAM_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "mlx-stream"
    return base / "speed.json"


def measured_rtf(key: str) -> float | None:
    """The real-time factor last measured for `key` (`<engine>:<device>`) on this machine."""
    try:
        value = json.loads(_speed_file().read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def record_rtf(key: str | None, rtfs: list[float]) -> None:
    """Remember the median of a run's real-time factors for `key`; never fails the run."""
    if not key or not rtfs:
        return
    path = _speed_file()
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
        if not isinstance(known, dict):
            known = {}
        known[key] = round(statistics.median(rtfs), 3)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
        os.replace(partial, path)
    except (OSError, ValueError):
        pass


def behind_warning(key: str, where: str) -> str | None:
    """A warning for an engine on the CPU, expected to fall behind real time; None where it was
    measured to keep up on this machine."""
    rtf = measured_rtf(key)
    if rtf is not None and rtf < 1.0:
        return None
    measured = f"; it ran at RTF {rtf:.1f} here" if rtf is not None else ""
    return (
        f"warning: on {where} it is expected to fall behind real time{measured}: "
        "expect pauses, or raise --prebuffer"
    )
