"""Audio front ends for voice cloning, in numpy: recordings, resampling, windows, mel spectrograms.

Each function gives what its torch/torchaudio counterpart gives, computed in float64 from the same
float32 inputs, so the only differences left are torch's own float32 rounding. The exception is
the resampler's kernels: torchaudio builds them in float32, and so do we, step for step.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import MlxStreamError

MIN_RECORDING_SECONDS = 1.0  # XTTS needs 0.33 s per latent chunk; under 1 s the voice is noise
_RESAMPLE_BLOCK = 1 << 14  # output frames per matmul: bounds memory on long recordings


def read_recording(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A recording as float32 mono samples at `sample_rate`, clipped to [-1, 1] (coqui's
    `load_audio`, with soundfile in place of torchaudio.load)."""
    import soundfile as sf

    path = Path(path).expanduser()
    if not path.is_file():
        raise MlxStreamError(f"voice recording not found: {path}: pass an existing audio file")
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MlxStreamError(
            f"cannot read voice recording {path} ({reason}): pass a WAV, FLAC or OGG file"
        ) from None
    seconds = len(samples) / rate
    if seconds < MIN_RECORDING_SECONDS:
        raise MlxStreamError(
            f"voice recording {path} is {seconds:.2f} s long: use at least "
            f"{MIN_RECORDING_SECONDS:.0f} s of speech (6 to 30 s clones best)"
        )
    audio = resample(np.ascontiguousarray(samples.mean(axis=1)), rate, sample_rate)
    return np.clip(audio, -1.0, 1.0)


def hann_window(size: int) -> np.ndarray:
    """torch.hann_window(size): periodic, unlike np.hanning."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)


def hamming_window(size: int) -> np.ndarray:
    """torch.hamming_window(size): periodic, unlike np.hamming."""
    return 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(size) / size)


def hz_to_mel(hz: np.ndarray, scale: str = "htk") -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    # Slaney: linear below 1 kHz (3 mels per 200 Hz), logarithmic above
    linear = hz * 3 / 200
    return np.where(
        hz >= 1000, 15 + np.log(np.maximum(hz, 1e-10) / 1000) * 27 / np.log(6.4), linear
    )


def mel_to_hz(mels: np.ndarray, scale: str = "htk") -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    return np.where(mels >= 15, 1000 * np.exp((mels - 15) * np.log(6.4) / 27), mels * 200 / 3)


def mel_filterbank(
    n_freqs: int,
    sample_rate: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = None,
    scale: str = "htk",
) -> np.ndarray:
    """torchaudio's `melscale_fbanks`: triangles on the `scale` mel axis, (n_freqs, n_mels);
    `norm="slaney"` divides each by its width in Hz (constant area)."""
    if scale not in ("htk", "slaney") or norm not in (None, "slaney"):
        raise ValueError(f"unknown mel scale {scale!r} or norm {norm!r}")
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = np.linspace(0, sample_rate // 2, n_freqs)
    edges = mel_to_hz(
        np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2), scale
    )
    widths = np.diff(edges)
    offsets = edges[None, :] - freqs[:, None]
    rising = -offsets[:, :-2] / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    bank = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        bank *= 2.0 / (edges[2:] - edges[:-2])
    return bank


def power_spectrogram(
    audio: np.ndarray, n_fft: int, hop_length: int, window: np.ndarray
) -> np.ndarray:
    """|STFT|² framed as torch.stft(center=True, pad_mode="reflect"): (frames, n_fft // 2 + 1).

    A window shorter than `n_fft` is zero-padded on both sides, as torch.stft centres it.
    """
    left = (n_fft - len(window)) // 2
    window = np.pad(window, (left, n_fft - len(window) - left))
    padded = np.pad(np.asarray(audio, dtype=np.float64), n_fft // 2, mode="reflect")
    frames = sliding_window_view(padded, n_fft)[::hop_length]
    spectrum = np.fft.rfft(frames * window, axis=-1)
    return spectrum.real**2 + spectrum.imag**2


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """torchaudio.functional.resample with its defaults (sinc_interp_hann, width 6, rolloff 0.99).

    `audio` is 1-D; the result is float32 with `ceil(len * to_rate / from_rate)` samples. Each
    output sample in a period of `new` comes from its own float32 kernel over a stride of `orig`.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return audio
    common = math.gcd(int(from_rate), int(to_rate))
    orig, new = int(from_rate) // common, int(to_rate) // common
    kernels, width = _sinc_kernels(orig, new)
    padded = np.pad(audio, (width, width + orig))
    frames = sliding_window_view(padded, kernels.shape[1])[::orig]
    out = np.empty((len(frames), new), dtype=np.float64)
    for start in range(0, len(frames), _RESAMPLE_BLOCK):
        block = frames[start : start + _RESAMPLE_BLOCK].astype(np.float64)
        out[start : start + len(block)] = block @ kernels.T
    # torchaudio rounds the wanted length to float32 before its ceil (88201 -> 121552, not 121553)
    length = math.ceil(np.float32(new * len(audio) / orig))
    return out.reshape(-1)[:length].astype(np.float32)


def _sinc_kernels(
    orig: int, new: int, zeros: int = 6, rolloff: float = 0.99
) -> tuple[np.ndarray, int]:
    """torchaudio's Hann-windowed sinc kernels, (new, taps), and the padding `width`.

    `resample` builds them in the waveform's dtype, so every step here is float32 in torch's
    order (the phase grid's rounding moves the kernels by up to 2e-5); sin and cos are rounded
    from float64.
    """
    f32 = np.float32
    cutoff = min(orig, new) * rolloff
    width = math.ceil(zeros * orig / cutoff)
    taps = np.arange(-width, width + orig, dtype=f32) / f32(orig)
    t = np.arange(0, -new, -1, dtype=f32)[:, None] / f32(new) + taps
    t = np.clip(t * f32(cutoff), f32(-zeros), f32(zeros))
    window = _f32(np.cos, t * f32(np.pi) / f32(zeros) / f32(2)) ** 2
    t = t * f32(np.pi)
    with np.errstate(invalid="ignore"):
        sinc = np.where(t == 0, f32(1), _f32(np.sin, t) / t)
    return sinc * (window * f32(cutoff / orig)), width


def _f32(function, x: np.ndarray) -> np.ndarray:
    return function(x.astype(np.float64)).astype(np.float32)
