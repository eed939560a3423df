"""Change the sample rate of mono audio with a polyphase windowed-sinc filter (numpy only)."""

from __future__ import annotations

from math import gcd

import numpy as np

_BLOCK = 1 << 15  # output samples per block: bounds the (block, taps) gather arrays


def _lowpass(up: int, down: int, half_len: int) -> np.ndarray:
    """Kaiser-windowed sinc cutting at the lower Nyquist of the two rates, with gain `up`."""
    cutoff = 1.0 / max(up, down)  # as a fraction of the upsampled Nyquist
    k = np.arange(-half_len, half_len + 1, dtype=np.float64)
    taps = np.sinc(cutoff * k) * np.kaiser(2 * half_len + 1, 5.0)
    return taps * (up / taps.sum())


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Return `audio` (1-D) at `to_rate`: `ceil(len * to_rate / from_rate)` float32 samples.

    Equivalent to upsampling by `up`, low-pass filtering and keeping every `down`-th sample,
    with the filter's delay removed, but computed only at the kept samples.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if from_rate == to_rate:
        return audio.astype(np.float32)
    g = gcd(int(from_rate), int(to_rate))
    up, down = int(to_rate) // g, int(from_rate) // g
    half_len = 10 * max(up, down)
    taps = _lowpass(up, down, half_len)
    n_taps = -(-(2 * half_len + 1) // up)  # input samples under the filter at one output
    n_out = -(-len(audio) * up // down)
    out = np.empty(n_out, dtype=np.float64)
    for start in range(0, n_out, _BLOCK):
        centre = np.arange(start, min(start + _BLOCK, n_out), dtype=np.int64) * down + half_len
        inputs = (centre // up)[:, None] - np.arange(n_taps)[None, :]
        tap_index = centre[:, None] - inputs * up
        valid = (inputs >= 0) & (inputs < len(audio)) & (tap_index <= 2 * half_len)
        weights = np.where(valid, taps[np.clip(tap_index, 0, 2 * half_len)], 0.0)
        out[start : start + len(centre)] = (
            weights * audio[np.clip(inputs, 0, len(audio) - 1)]
        ).sum(axis=1)
    return out.astype(np.float32)
