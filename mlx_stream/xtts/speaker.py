"""The speaker embedding that conditions XTTS's HiFi-GAN: coqui's ResNet speaker encoder (H/ASP).

Its front end (pre-emphasis, a 64-bin log mel at 16 kHz) runs in numpy; the instance norm, the
SE-ResNet over (batch, mel, time, channels) images, attentive statistics pooling and the projection
run in MLX.
"""

from __future__ import annotations

import re

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ..errors import MlxStreamError
from . import dsp
from .config import ModelArgs

SAMPLE_RATE = 16000
MEL_BINS = 64
N_FFT = 512
WIN_LENGTH = 400
HOP_LENGTH = 160
# coqui stores the pre-emphasis filter in float32; the float64 value of that float32 is used here
PREEMPHASIS = float(np.float32(0.97))
LAYERS = (3, 4, 6, 3)
FILTERS = (32, 64, 128, 256)
BN_EPS = 1e-5


def speaker_mel(audio: np.ndarray) -> mx.array:
    """coqui's `torch_spec` then `log(x + 1e-6)` for 16 kHz `audio`: (1, frames, 64).

    Pre-emphasis reflects the first sample (y[0] = x[0] - 0.97 x[1]); the mel is torchaudio's
    MelSpectrogram(n_fft=512, win=400 periodic Hamming, hop=160, 0-8 kHz HTK, no norm).
    """
    x = np.asarray(audio, dtype=np.float64)
    emphasised = x - PREEMPHASIS * np.concatenate([x[1:2], x[:-1]])
    power = dsp.power_spectrogram(emphasised, N_FFT, HOP_LENGTH, dsp.hamming_window(WIN_LENGTH))
    mel = power @ mel_filterbank()
    return mx.array(np.log(mel + 1e-6).astype(np.float32))[None]


def mel_filterbank() -> np.ndarray:
    """The (257, 64) filterbank coqui keeps as `torch_spec.1.mel_scale.fb`."""
    return dsp.mel_filterbank(N_FFT // 2 + 1, SAMPLE_RATE, MEL_BINS)


class FoldedBatchNorm(nn.Module):
    """An inference BatchNorm folded to `x * scale + shift` at conversion (no train mode to forget)."""

    def __init__(self, dims: int):
        super().__init__()
        self.scale = mx.ones((dims,))
        self.shift = mx.zeros((dims,))

    def __call__(self, x: mx.array) -> mx.array:
        return x * self.scale + self.shift


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        self.reduce = nn.Linear(channels, channels // reduction)
        self.expand = nn.Linear(channels // reduction, channels)

    def __call__(self, x: mx.array) -> mx.array:
        gate = mx.sigmoid(self.expand(nn.relu(self.reduce(x.mean(axis=(1, 2))))))
        return x * gate[:, None, None, :]


class SEBasicBlock(nn.Module):
    """conv-ReLU-BN, conv-BN, squeeze-excite, plus the (downsampled) input, then ReLU."""

    def __init__(self, inputs: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = FoldedBatchNorm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = FoldedBatchNorm(channels)
        self.se = SqueezeExcite(channels)
        if stride != 1 or inputs != channels:
            self.downsample = [
                nn.Conv2d(inputs, channels, 1, stride=stride, bias=False),
                FoldedBatchNorm(channels),
            ]

    def __call__(self, x: mx.array) -> mx.array:
        out = self.bn1(nn.relu(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        if "downsample" in self:
            conv, norm = self.downsample
            x = norm(conv(x))
        return nn.relu(out + x)


class AttentiveStatsPool(nn.Module):
    """Attention weights over time per feature; their weighted mean and standard deviation."""

    def __init__(self, dims: int, hidden: int = 128):
        super().__init__()
        self.proj_in = nn.Linear(dims, hidden)
        self.norm = FoldedBatchNorm(hidden)
        self.proj_out = nn.Linear(hidden, dims)

    def __call__(self, x: mx.array) -> mx.array:
        weights = mx.softmax(self.proj_out(self.norm(nn.relu(self.proj_in(x)))), axis=1)
        mean = (x * weights).sum(axis=1)
        variance = (x * x * weights).sum(axis=1) - mean * mean
        return mx.concatenate([mean, mx.sqrt(mx.maximum(variance, 1e-5))], axis=-1)


class SpeakerEncoder(nn.Module):
    """Log mels (batch, frames, 64) -> unit-length speaker embeddings (batch, d_vector_dim)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.conv1 = nn.Conv2d(1, FILTERS[0], 3, padding=1)
        self.bn1 = FoldedBatchNorm(FILTERS[0])
        inputs = FILTERS[0]
        for i, (blocks, channels) in enumerate(zip(LAYERS, FILTERS), start=1):
            stride = 1 if i == 1 else 2
            layer = [SEBasicBlock(inputs, channels, stride)]
            layer += [SEBasicBlock(channels, channels, 1) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", layer)
            inputs = channels
        pooled = FILTERS[-1] * (MEL_BINS // 8)
        self.attention = AttentiveStatsPool(pooled)
        self.fc = nn.Linear(2 * pooled, args.d_vector_dim)

    def __call__(self, mel: mx.array) -> mx.array:
        # instance norm over time, per mel bin
        mean = mel.mean(axis=1, keepdims=True)
        mel = (mel - mean) * mx.rsqrt(mx.var(mel, axis=1, keepdims=True) + 1e-5)
        x = mel.transpose(0, 2, 1)[..., None]  # an image: (batch, mel, time, 1)
        x = self.bn1(nn.relu(self.conv1(x)))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in layer:
                x = block(x)
        # torch flattens (channels, mel) as channel * 8 + mel row; keep that order for the weights
        batch, rows, frames, channels = x.shape
        x = x.transpose(0, 2, 3, 1).reshape(batch, frames, channels * rows)
        x = self.fc(self.attention(x))
        return x / mx.maximum(mx.linalg.norm(x, axis=-1, keepdims=True), 1e-12)

    @staticmethod
    def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """coqui's `hifigan_decoder.speaker_encoder.*` (that prefix removed) -> this module.

        BatchNorms fold to scale and shift; Conv2d weights go channels-last; the k=1 Conv1d of
        the attention become Linear. `speaker_mel` recomputes the `torch_spec.*` buffers, so
        they are checked against it and dropped.
        """
        _check_front_end(weights)
        norms = {k.removesuffix("running_mean") for k in weights if k.endswith(".running_mean")}
        sanitized = {}
        for prefix in norms:
            sanitized.update(_fold_batch_norm(weights, prefix))
        for key, value in weights.items():
            if key.startswith("torch_spec.") or key[: key.rfind(".") + 1] in norms:
                continue
            if value.ndim == 4:
                value = value.transpose(0, 2, 3, 1)
            elif value.ndim == 3:
                value = value.squeeze(-1)
            sanitized[key] = value
        return {_rename(key): value for key, value in sanitized.items()}


_RENAMES = [
    (r"\.se\.fc\.0\.", ".se.reduce."),
    (r"\.se\.fc\.2\.", ".se.expand."),
    (r"^attention\.0\.", "attention.proj_in."),
    (r"^attention\.2\.", "attention.norm."),
    (r"^attention\.3\.", "attention.proj_out."),
]


def _rename(key: str) -> str:
    for pattern, replacement in _RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def _fold_batch_norm(weights: dict[str, mx.array], prefix: str) -> dict[str, mx.array]:
    mean, var, weight, bias = (
        np.array(weights[prefix + name], dtype=np.float64)
        for name in ("running_mean", "running_var", "weight", "bias")
    )
    scale = weight / np.sqrt(var + BN_EPS)
    return {
        prefix + "scale": mx.array(scale.astype(np.float32)),
        prefix + "shift": mx.array((bias - mean * scale).astype(np.float32)),
    }


def _check_front_end(weights: dict[str, mx.array]) -> None:
    """A checkpoint whose stored front end is not the one `speaker_mel` computes is refused."""
    expected = {
        "torch_spec.0.filter": np.array([[[-PREEMPHASIS, 1.0]]]),
        "torch_spec.1.spectrogram.window": dsp.hamming_window(WIN_LENGTH),
        "torch_spec.1.mel_scale.fb": mel_filterbank(),
    }
    for key, value in expected.items():
        if key not in weights:
            continue
        stored = np.array(weights[key], dtype=np.float64)
        # torch builds these in float32; 1e-5 covers its rounding, a different setting moves them more
        if stored.shape != value.shape or np.abs(stored - value).max() > 1e-5:
            raise MlxStreamError(
                f"this checkpoint's speaker encoder has another front end ({key} differs from "
                "XTTS v2's 16 kHz, 64-mel one): convert an XTTS v2 checkpoint"
            )


def speaker_embedding(encoder: SpeakerEncoder, audio: np.ndarray, sample_rate: int) -> mx.array:
    """coqui's `get_speaker_embedding`: resampled to 16 kHz, encoded, unit length: (1, d)."""
    return encoder(speaker_mel(dsp.resample(audio, sample_rate, SAMPLE_RATE)))
