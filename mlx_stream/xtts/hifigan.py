"""XTTS v2's HiFi-GAN decoder in MLX: GPT latents -> 24 kHz audio, channels last.

Before the generator, coqui stretches the latents over time three times with PyTorch's linear
interpolation: by 1/speed, by 4 (1024 / 256) and by 24000/22050. `linear_taps` says which inputs
each output reads, with which weights, exactly as PyTorch computes them (float32 coordinates,
negative ones clamped to 0, the last input repeated past the end, a plain copy when the length
does not change), so the same index arithmetic serves a whole utterance and a stream's windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ..errors import MlxStreamError
from .config import ModelArgs

CODE_STRIDE = 1024  # 22.05 kHz samples per GPT latent (coqui's gpt_code_stride_len)
CHANNELS = 512  # channels after conv_pre; halved by every upsampler
UPSAMPLE_RATES = (8, 8, 2, 2)
UPSAMPLE_KERNELS = (16, 16, 4, 4)
RESBLOCK_KERNELS = (3, 7, 11)
RESBLOCK_DILATIONS = (1, 3, 5)
SLOPE = 0.1
FINAL_SLOPE = 0.01  # coqui calls F.leaky_relu with its default slope before conv_post
FRAME = math.prod(UPSAMPLE_RATES)  # output samples per generator frame
_WEIGHT_NORM = {
    "weight_g": "g",
    "weight_v": "v",
    "parametrizations.weight.original0": "g",
    "parametrizations.weight.original1": "v",
}


def output_length(length: int, scale: float) -> int:
    """Length of `F.interpolate(scale_factor=scale)` over `length` steps (torch floors in double)."""
    return math.floor(float(length) * scale)


def linear_taps(
    scale: float, positions: np.ndarray, length: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w0, w1): output p of linear interpolation is `w0[p] x[i0[p]] + w1[p] x[i1[p]]`.

    As `F.interpolate(mode="linear", align_corners=False, scale_factor=scale)` computes it over
    an input of `length` steps. `length=None` means an input longer than anything read (a stream
    before its end): nothing is clamped at the right.
    """
    if length is not None and output_length(length, scale) == length:
        return (
            positions,
            positions,
            np.ones(positions.shape, np.float32),
            np.zeros(positions.shape, np.float32),
        )
    ratio = np.float32(1.0 / scale)
    source = ratio * (positions.astype(np.float32) + np.float32(0.5)) - np.float32(0.5)
    source = np.maximum(source, np.float32(0))
    i0 = np.floor(source).astype(np.int64)
    if length is not None:
        i0 = np.minimum(i0, length - 1)
    w1 = np.clip(source - i0.astype(np.float32), 0, 1).astype(np.float32)
    i1 = i0 + 1 if length is None else i0 + (i0 < length - 1)
    return i0, i1, np.float32(1) - w1, w1


def interpolate(x: mx.array, scale: float) -> mx.array:
    """`F.interpolate(mode="linear", scale_factor=scale)` over the time axis of (batch, time, dims)."""
    length = x.shape[1]
    positions = np.arange(output_length(length, scale))
    return _lerp(x, *linear_taps(scale, positions, length))


def _lerp(x: mx.array, i0, i1, w0, w1) -> mx.array:
    w0, w1 = mx.array(w0)[:, None], mx.array(w1)[:, None]
    return mx.take(x, mx.array(i0), axis=1) * w0 + mx.take(x, mx.array(i1), axis=1) * w1


class LatentResampler:
    """coqui's interpolations from GPT latents to generator frames, in the utterance's coordinates.

    Level 0 holds the latents; each scale makes the next level; the last level holds the frames.
    """

    def __init__(self, scales: tuple[float, ...]):
        self.scales = scales

    def lengths(self, latents: int) -> list[int]:
        """Steps at every level for an utterance of `latents` latents, the frames last."""
        lengths = [latents]
        for scale in self.scales:
            lengths.append(output_length(lengths[-1], scale))
        return lengths

    def frames(
        self, latents: mx.array, first: int, start: int, stop: int, lengths: list[int] | None
    ) -> mx.array:
        """Frames [start, stop) of the utterance, (batch, stop - start, dims).

        `latents` holds the utterance's latents from number `first` on. `lengths` is
        `self.lengths(total)` once the utterance is complete, None while latents still come.
        """
        if stop <= start:
            return latents[:, :0]
        taps = []
        positions = np.arange(start, stop)
        for level in range(len(self.scales), 0, -1):
            length = None if lengths is None else lengths[level - 1]
            i0, i1, w0, w1 = linear_taps(self.scales[level - 1], positions, length)
            low = int(i0.min())
            taps.append((i0 - low, i1 - low, w0, w1))
            positions = np.arange(low, int(i1.max()) + 1)
        assert positions[0] >= first, "latents the frames read were dropped"
        x = latents[:, positions[0] - first : positions[-1] + 1 - first]
        for tap in reversed(taps):
            x = _lerp(x, *tap)
        return x

    def ready(self, latents: int) -> int:
        """Leading frames whose values are final when `latents` latents are known and more may follow.

        A step is final when everything it reads is final and unclamped. While the length of some
        level may still turn out unchanged by its scale (torch then copies), nothing is final.
        """
        known, ready = latents, latents
        for scale in self.scales:
            length = output_length(known, scale)
            if length == known:
                return 0
            ready = _first_reading(scale, ready, length)
            known = length
        return ready

    def first_latent(self, frame: int) -> int:
        """The lowest latent read by frames from `frame` on."""
        position = np.array([frame])
        for scale in reversed(self.scales):
            position = linear_taps(scale, position, None)[0]
        return int(position[0])


def _first_reading(scale: float, bound: int, length: int) -> int:
    """The first of `length` outputs that reads input `bound` or later (unclamped), else `length`."""
    low, high = 0, length
    while low < high:
        middle = (low + high) // 2
        if linear_taps(scale, np.array([middle]), None)[1][0] >= bound:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True)
class VoiceBias:
    """A speaker embedding folded into the generator's biases, computed once per voice.

    The embedding is constant over time, so `cond_layer(g)` joins `conv_pre`'s bias and each
    `conds[i](g)` joins upsampler i's bias.
    """

    pre: mx.array
    ups: tuple[mx.array, ...]


def dilated_conv1d(x: mx.array, conv: nn.Conv1d) -> mx.array:
    """`conv` (dilated, stride 1) as an undilated conv over its `dilation` interleaved phases.

    Output `r + d * u` reads padded inputs `r + d * (u + j)`: phase r's undilated conv. MLX's CPU
    backend runs a dilated conv as a scalar loop and an undilated one as a GEMM (about 70x apart
    at XTTS's shapes); the phases sum the same products.
    """
    d, pad = conv.dilation, conv.padding
    if d == 1:
        return conv(x)
    batch, length, channels = x.shape
    padded = length + 2 * pad
    whole = -(-padded // d) * d
    x = mx.pad(x, [(0, 0), (pad, pad + whole - padded), (0, 0)])
    phases = x.reshape(batch, whole // d, d, channels).transpose(0, 2, 1, 3)
    y = mx.conv1d(phases.reshape(batch * d, whole // d, channels), conv.weight)
    y = y.reshape(batch, d, -1, y.shape[-1]).transpose(0, 2, 1, 3)
    return y.reshape(batch, -1, y.shape[-1])[:, :length] + conv.bias


def upsample(x: mx.array, up: nn.ConvTranspose1d) -> mx.array:
    """`up` (kernel twice its stride, as in XTTS) as one GEMM and an overlap-add, without bias.

    Input i writes outputs `i * stride + j` for the kernel's 2 * stride taps j: its first half
    to block i, its second to block i + 1. MLX's CPU transposed conv is a scalar loop (15 to 80x
    slower here).
    """
    out, kernel, channels = up.weight.shape
    stride, pad = up.stride, up.padding
    if kernel != 2 * stride:
        return mx.conv_transpose1d(x, up.weight, stride=stride, padding=pad)
    batch, length, _ = x.shape
    taps = up.weight.transpose(2, 1, 0).reshape(channels, kernel * out)
    y = (x @ taps).reshape(batch, length, 2, stride, out)
    first = mx.pad(y[:, :, 0], [(0, 0), (0, 1), (0, 0), (0, 0)])
    second = mx.pad(y[:, :, 1], [(0, 0), (1, 0), (0, 0), (0, 0)])
    blocks = (first + second).reshape(batch, -1, out)
    return blocks[:, pad : pad + length * stride]


class ResBlock(nn.Module):
    """Three residual pairs: a dilated conv then a plain one, each after a leaky ReLU."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.convs1 = [
            nn.Conv1d(channels, channels, kernel, padding=d * (kernel - 1) // 2, dilation=d)
            for d in RESBLOCK_DILATIONS
        ]
        self.convs2 = [
            nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2)
            for _ in RESBLOCK_DILATIONS
        ]

    def __call__(self, x: mx.array) -> mx.array:
        for dilated, plain in zip(self.convs1, self.convs2):
            y = nn.leaky_relu(dilated_conv1d(nn.leaky_relu(x, SLOPE), dilated), SLOPE)
            x = x + plain(y)
        return x


class HifiganGenerator(nn.Module):
    """Generator frames (batch, time, decoder_input_dim) -> audio (batch, time * 256).

    `channels` is 512 in XTTS v2; tests build narrower copies.
    """

    def __init__(self, args: ModelArgs, channels: int = CHANNELS):
        super().__init__()
        self.args = args
        widths = [channels // 2**i for i in range(len(UPSAMPLE_RATES) + 1)]
        self.conv_pre = nn.Conv1d(args.decoder_input_dim, channels, 7, padding=3)
        self.ups = [
            nn.ConvTranspose1d(widths[i], widths[i + 1], k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(UPSAMPLE_RATES, UPSAMPLE_KERNELS))
        ]
        self.resblocks = [ResBlock(width, k) for width in widths[1:] for k in RESBLOCK_KERNELS]
        self.conv_post = nn.Conv1d(widths[-1], 1, 7, padding=3, bias=False)
        self.cond_layer = nn.Linear(args.d_vector_dim, channels)
        if args.cond_d_vector_in_each_upsampling_layer:
            self.conds = [nn.Linear(args.d_vector_dim, width) for width in widths[1:]]

    def voice(self, speaker_embedding: mx.array) -> VoiceBias:
        """Fold a speaker embedding (d_vector_dim values, any shape, e.g. coqui's (1, 512, 1))."""
        if speaker_embedding.size != self.args.d_vector_dim:
            raise MlxStreamError(
                f"the speaker embedding has {speaker_embedding.size} values and the decoder "
                f"expects {self.args.d_vector_dim}: use the voice's `speaker_embedding`"
            )
        g = speaker_embedding.reshape(1, -1).astype(mx.float32)
        pre = self.conv_pre.bias + self.cond_layer(g)[0]
        conds = getattr(self, "conds", [None] * len(self.ups))
        ups = tuple(up.bias + (c(g)[0] if c else 0) for up, c in zip(self.ups, conds))
        return VoiceBias(pre, ups)

    def __call__(self, x: mx.array, voice: VoiceBias) -> mx.array:
        # the voice's biases stand in for conv_pre's and the upsamplers' own (it holds them)
        x = mx.conv1d(x, self.conv_pre.weight, padding=self.conv_pre.padding) + voice.pre
        blocks = len(RESBLOCK_KERNELS)
        for i, (up, bias) in enumerate(zip(self.ups, voice.ups)):
            x = nn.leaky_relu(x, SLOPE)
            x = upsample(x, up) + bias
            mrf = self.resblocks[i * blocks : (i + 1) * blocks]
            total = mrf[0](x)
            for block in mrf[1:]:
                total = total + block(x)
            x = total / blocks
        x = self.conv_post(nn.leaky_relu(x, FINAL_SLOPE))
        return mx.tanh(x)[..., 0]

    def resampler(self, speed: float = 1.0) -> LatentResampler:
        """The interpolations coqui applies to GPT latents before this generator."""
        args = self.args
        scales = []
        length_scale = 1.0 / max(speed, 0.05)  # as coqui's Xtts.inference computes it
        if length_scale != 1.0:
            scales.append(length_scale)
        scales.append(CODE_STRIDE / args.output_hop_length)
        if args.output_sample_rate != args.input_sample_rate:
            scales.append(args.output_sample_rate / args.input_sample_rate)
        return LatentResampler(tuple(scales))

    def decode(
        self, latents: mx.array, speaker_embedding: mx.array | VoiceBias, speed: float = 1.0
    ) -> mx.array:
        """GPT latents (batch, n, dims) -> audio (batch, samples): coqui's speed change, then
        `HifiDecoder.forward`."""
        voice = speaker_embedding
        if not isinstance(voice, VoiceBias):
            voice = self.voice(speaker_embedding)
        resampler = self.resampler(speed)
        lengths = resampler.lengths(latents.shape[1])
        if lengths[-1] == 0:  # coqui raises here (a latent or two at a high speed)
            return mx.zeros((latents.shape[0], 0))
        return self(resampler.frames(latents, 0, 0, lengths[-1], lengths), voice)

    @staticmethod
    def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """coqui's `hifigan_decoder.waveform_decoder.*` tensors (prefix removed) -> MLX names, layouts.

        Weight norm is folded (`w = g v / |v|` over every axis but 0, in float64) from either of
        torch's key styles; conv weights become (out, k, in); the k=1 convs become Linears.
        """
        folded: dict[str, dict[str, np.ndarray]] = {}
        plain = {}
        for key, value in weights.items():
            suffix = next((s for s in _WEIGHT_NORM if key.endswith("." + s)), None)
            if suffix is None:
                plain[key] = value
            else:
                layer = key[: -len(suffix) - 1]
                folded.setdefault(layer, {})[_WEIGHT_NORM[suffix]] = np.array(value, np.float64)
        for layer, parts in folded.items():
            g, v = parts["g"], parts["v"]
            norm = np.sqrt((v**2).sum(axis=tuple(range(1, v.ndim)), keepdims=True))
            plain[f"{layer}.weight"] = mx.array((g * v / norm).astype(np.float32))
        sanitized = {}
        for key, value in plain.items():
            if key.endswith(".weight") and key.startswith(("cond_layer.", "conds.")):
                value = value[..., 0]
            elif key.endswith(".weight") and key.startswith("ups."):
                value = value.transpose(1, 2, 0)
            elif key.endswith(".weight"):
                value = value.transpose(0, 2, 1)
            sanitized[key] = value
        return sanitized
