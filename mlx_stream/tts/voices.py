"""Voices for XTTS: reference recordings read with soundfile, their conditioning cached on disk.

XTTS conditions on two tensors computed from recordings: the GPT conditioning latents and the
HiFi-GAN speaker embedding. Computing them runs two encoders over up to 30 s of audio, so they are
kept in `<cache>/xtts-latents/<key>.safetensors`, keyed by the recordings' bytes, the model and the
conditioning settings. Only tensors are stored (safetensors): loading a cache never unpickles.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import MlxStreamError

CONDITIONING_SAMPLE_RATE = 22050  # what XTTS's conditioning encoders expect
MIN_RECORDING_SECONDS = 1.0  # XTTS needs 0.33 s per latent chunk; under 1 s the voice is noise
_SOUND_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")


def default_cache_dir() -> Path:
    """`$MLX_STREAM_CACHE/xtts-latents`, else `~/.cache/mlx-stream/xtts-latents`."""
    root = os.environ.get("MLX_STREAM_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "mlx-stream"
    return base / "xtts-latents"


def looks_like_path(voice: str) -> bool:
    return os.sep in voice or "/" in voice or voice.lower().endswith(_SOUND_SUFFIXES)


def read_recording(path: str | os.PathLike):
    """A recording as a (1, samples) float32 torch tensor at 22.05 kHz, mono, clipped to [-1, 1]."""
    import soundfile as sf
    import torch
    import torchaudio

    path = Path(path).expanduser()
    if not path.is_file():
        raise MlxStreamError(f"voice recording not found: {path}: pass an existing audio file")
    try:
        samples, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MlxStreamError(
            f"cannot read voice recording {path} ({reason}): pass a WAV, FLAC or OGG file"
        ) from None
    seconds = len(samples) / sample_rate
    if seconds < MIN_RECORDING_SECONDS:
        raise MlxStreamError(
            f"voice recording {path} is {seconds:.2f} s long: use at least "
            f"{MIN_RECORDING_SECONDS:.0f} s of speech (6 to 30 s clones best)"
        )
    audio = torch.from_numpy(np.ascontiguousarray(samples.mean(axis=1)))[None, :]
    if sample_rate != CONDITIONING_SAMPLE_RATE:
        audio = torchaudio.functional.resample(audio, sample_rate, CONDITIONING_SAMPLE_RATE)
    return audio.clip(-1, 1)


def conditioning_settings(config) -> dict:
    """The knobs of coqui's `get_conditioning_latents`, taken from the model's config as coqui does."""
    return {
        "max_ref_length": int(config.max_ref_len),
        "gpt_cond_len": int(config.gpt_cond_len),
        "gpt_cond_chunk_len": int(config.gpt_cond_chunk_len),
        "sound_norm_refs": bool(config.sound_norm_refs),
    }


def compute_conditioning(model, recordings: list[Path], settings: dict):
    """coqui's `Xtts.get_conditioning_latents`, with the audio read by soundfile instead of
    torchaudio.load (which needs FFmpeg through torchcodec)."""
    import torch

    rate = CONDITIONING_SAMPLE_RATE
    audios, embeddings = [], []
    for path in recordings:
        audio = read_recording(path)[:, : rate * settings["max_ref_length"]].to(model.device)
        if settings["sound_norm_refs"]:
            audio = (audio / torch.abs(audio).max()) * 0.75
        embeddings.append(model.get_speaker_embedding(audio, rate))
        audios.append(audio)
    latents = model.get_gpt_cond_latents(
        torch.cat(audios, dim=-1),
        rate,
        length=settings["gpt_cond_len"],
        chunk_length=settings["gpt_cond_chunk_len"],
    )
    return latents, torch.stack(embeddings).mean(dim=0)


def model_identity(folder: Path) -> str:
    """Cheap fingerprint of a checkpoint: its config bytes and the size and mtime of its weights."""
    weights = (folder / "model.pth").stat()
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    digest.update(f"{weights.st_size}:{weights.st_mtime_ns}".encode())
    return digest.hexdigest()


class LatentsCache:
    """Conditioning tensors on disk, one safetensors file per (recordings, model, settings)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder).expanduser()

    def key(self, recordings: list[Path], model_id: str, settings: dict) -> str:
        digest = hashlib.sha256(model_id.encode())
        digest.update(repr(sorted(settings.items())).encode())
        for path in recordings:
            digest.update(hashlib.sha256(Path(path).expanduser().read_bytes()).digest())
        return digest.hexdigest()[:32]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def load(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(gpt_cond_latent, speaker_embedding) as float32 arrays, or None when absent or unreadable."""
        from safetensors.numpy import load_file

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            tensors = load_file(path)
            return tensors["gpt_cond_latent"], tensors["speaker_embedding"]
        except Exception:  # a truncated or foreign file: recompute and overwrite it
            return None

    def save(self, key: str, gpt_cond_latent, speaker_embedding) -> None:
        """Store two arrays (numpy, MLX or torch) so that readers never see half a file."""
        from safetensors.numpy import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        tensors = {
            "gpt_cond_latent": _as_numpy(gpt_cond_latent),
            "speaker_embedding": _as_numpy(speaker_embedding),
        }
        save_file(tensors, str(partial))
        os.replace(partial, path)


def _as_numpy(array) -> np.ndarray:
    if hasattr(array, "detach"):  # torch
        array = array.detach().cpu().float().numpy()
    return np.ascontiguousarray(np.asarray(array, dtype=np.float32))


def cached_conditioning(model, folder: Path, recordings: list[Path], cache: LatentsCache):
    """The voice's conditioning tensors on the model's device: from the cache, else computed and stored."""
    for path in recordings:
        read_recording(path)  # validate every recording even on a cache hit: clear errors first
    settings = conditioning_settings(model.config)
    key = cache.key(recordings, model_identity(folder), settings)
    found = cache.load(key)
    if found is None:
        found = compute_conditioning(model, recordings, settings)
        cache.save(key, *found)
        return tuple(t.to(model.device) for t in found)
    import torch

    return tuple(torch.from_numpy(t.copy()).to(model.device) for t in found)
