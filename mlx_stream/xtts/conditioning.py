"""A voice from recordings: the GPT conditioning latents (conditioning encoder + perceiver) and,
with `speaker.py`, the speaker embedding, as coqui's `Xtts.get_conditioning_latents` makes them.

The encoder reads 80-bin log mels of 22.05 kHz audio in chunks of a few seconds; six attention
blocks and a perceiver resampler turn each chunk into 32 latents, and the chunks are averaged.
"""

from __future__ import annotations

import re
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ..errors import MlxStreamError
from . import dsp
from .config import InferenceArgs, ModelArgs
from .speaker import SpeakerEncoder, speaker_embedding

SAMPLE_RATE = 22050  # what the conditioning encoder and the speaker path start from
MEL_BINS = 80
MIN_CHUNK_SECONDS = 0.33  # coqui skips shorter chunks
LATENTS = 32
PERCEIVER_HEADS = 8
PERCEIVER_HEAD_DIMS = 64
PERCEIVER_DEPTH = 2
ENCODER_BLOCKS = 6
FF_MULT = 4


def cloning_mel(audio: np.ndarray) -> mx.array:
    """coqui's `wav_to_mel_cloning` before the `mel_stats` division: log mel, (1, frames, 80).

    torchaudio's MelSpectrogram(n_fft=2048, hop=256, win=1024, 0-8 kHz, HTK scale, Slaney area
    norm), floored at 1e-5.
    """
    power = dsp.power_spectrogram(audio, 2048, 256, dsp.hann_window(1024))
    mel = power @ dsp.mel_filterbank(1025, SAMPLE_RATE, MEL_BINS, 0.0, 8000.0, norm="slaney")
    return mx.array(np.log(np.maximum(mel, 1e-5)).astype(np.float32))[None]


def _groups(channels: int) -> int:
    """tortoise's `normalization`: 32 groups, fewer for narrow layers, halved until they divide."""
    groups = 8 if channels <= 16 else 16 if channels <= 64 else 32
    while channels % groups:
        groups //= 2
    return groups


class AttentionBlock(nn.Module):
    """tortoise's AttentionBlock: the residual is added to the *normalised* input."""

    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(dims), dims, pytorch_compatible=True)
        self.qkv = nn.Linear(dims, 3 * dims)
        self.proj_out = nn.Linear(dims, dims)

    def __call__(self, x: mx.array) -> mx.array:
        batch, length, dims = x.shape
        x = self.norm(x)
        # QKVAttentionLegacy: the channels are head-major, [q k v] within each head
        qkv = self.qkv(x).reshape(batch, length, self.heads, 3, -1).transpose(3, 0, 2, 1, 4)
        queries, keys, values = qkv[0], qkv[1], qkv[2]
        scale = queries.shape[-1] ** -0.5
        out = mx.fast.scaled_dot_product_attention(queries, keys, values, scale=scale)
        return x + self.proj_out(out.transpose(0, 2, 1, 3).reshape(batch, length, dims))


class PerceiverAttention(nn.Module):
    """Latents attend to themselves and the context together; no biases, no norm."""

    def __init__(self, dims: int):
        super().__init__()
        inner = PERCEIVER_HEADS * PERCEIVER_HEAD_DIMS
        self.to_q = nn.Linear(dims, inner, bias=False)
        self.to_kv = nn.Linear(dims, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dims, bias=False)

    def __call__(self, latents: mx.array, context: mx.array) -> mx.array:
        batch, length, _ = latents.shape
        context = mx.concatenate([latents, context], axis=1)
        queries = self.to_q(latents)
        keys, values = mx.split(self.to_kv(context), 2, axis=-1)
        queries, keys, values = (
            x.reshape(batch, x.shape[1], PERCEIVER_HEADS, -1).transpose(0, 2, 1, 3)
            for x in (queries, keys, values)
        )
        out = mx.fast.scaled_dot_product_attention(
            queries, keys, values, scale=PERCEIVER_HEAD_DIMS**-0.5
        )
        return self.to_out(out.transpose(0, 2, 1, 3).reshape(batch, length, -1))


class FeedForward(nn.Module):
    """GEGLU: the first half of `proj_in`'s output gated by the erf GELU of the second."""

    def __init__(self, dims: int):
        super().__init__()
        inner = int(dims * FF_MULT * 2 / 3)
        self.proj_in = nn.Linear(dims, 2 * inner)
        self.proj_out = nn.Linear(inner, dims)

    def __call__(self, x: mx.array) -> mx.array:
        x, gate = mx.split(self.proj_in(x), 2, axis=-1)
        return self.proj_out(x * nn.gelu(gate))


class PerceiverLayer(nn.Module):
    def __init__(self, dims: int):
        super().__init__()
        self.attention = PerceiverAttention(dims)
        self.feed_forward = FeedForward(dims)

    def __call__(self, latents: mx.array, context: mx.array) -> mx.array:
        latents = latents + self.attention(latents, context)
        return latents + self.feed_forward(latents)


class PerceiverResampler(nn.Module):
    """Any number of frames in, `LATENTS` rows out."""

    def __init__(self, dims: int):
        super().__init__()
        self.latents = mx.zeros((LATENTS, dims))
        self.layers = [PerceiverLayer(dims) for _ in range(PERCEIVER_DEPTH)]
        self.gamma = mx.ones((dims,))

    def __call__(self, context: mx.array) -> mx.array:
        latents = mx.broadcast_to(self.latents, (context.shape[0], *self.latents.shape))
        for layer in self.layers:
            latents = layer(latents, context)
        # RMSNorm as F.normalize(x) * sqrt(dims) * gamma, with normalize's 1e-12 floor
        norm = mx.maximum(mx.linalg.norm(latents, axis=-1, keepdims=True), 1e-12)
        return latents / norm * (latents.shape[-1] ** 0.5) * self.gamma


class ConditioningEncoder(nn.Module):
    """Log mels (batch, frames, 80) -> GPT conditioning latents (batch, 32, dims)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        dims = args.gpt_n_model_channels
        self.mel_stats = mx.ones((MEL_BINS,))
        self.init = nn.Linear(MEL_BINS, dims)
        self.blocks = [AttentionBlock(dims, args.gpt_n_heads) for _ in range(ENCODER_BLOCKS)]
        self.perceiver = PerceiverResampler(dims)

    def __call__(self, mel: mx.array) -> mx.array:
        x = self.init(mel / self.mel_stats)
        for block in self.blocks:
            x = block(x)
        return self.perceiver(x)

    @staticmethod
    def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """coqui's `gpt.conditioning_encoder.*`, `gpt.conditioning_perceiver.*` (without `gpt.`) and
        `mel_stats` -> this module's names and layouts."""
        sanitized = {}
        for key, value in weights.items():
            for pattern, replacement in _RENAMES:
                key = re.sub(pattern, replacement, key)
            if value.ndim == 3:  # k=1 Conv1d (out, in, 1) -> Linear (out, in)
                value = value.squeeze(-1)
            sanitized[key] = value
        return sanitized


# coqui's names (prefix `gpt.` removed) -> ours; applied in order
_RENAMES = [
    (r"^conditioning_encoder\.attn\.", "blocks."),
    (r"^conditioning_encoder\.", ""),
    (r"^conditioning_perceiver\.norm\.gamma$", "perceiver.gamma"),
    (r"^conditioning_perceiver\.layers\.(\d+)\.0\.", r"perceiver.layers.\1.attention."),
    (
        r"^conditioning_perceiver\.layers\.(\d+)\.1\.0\.",
        r"perceiver.layers.\1.feed_forward.proj_in.",
    ),
    (
        r"^conditioning_perceiver\.layers\.(\d+)\.1\.2\.",
        r"perceiver.layers.\1.feed_forward.proj_out.",
    ),
    (r"^conditioning_perceiver\.", "perceiver."),
]


def gpt_cond_latents(
    encoder: ConditioningEncoder, audio: np.ndarray, seconds: int, chunk_seconds: int
) -> mx.array:
    """coqui's `get_gpt_cond_latents` (perceiver branch) for 22.05 kHz mono `audio`: the first
    `seconds` (all if <= 0) cut into `chunk_seconds` chunks, each encoded, then averaged: (1, 32, d)."""
    if chunk_seconds <= 0:
        raise MlxStreamError(
            f"gpt_cond_chunk_len is {chunk_seconds}: set it to a positive number of seconds"
        )
    if seconds > 0:
        audio = audio[: SAMPLE_RATE * seconds]
    step = SAMPLE_RATE * chunk_seconds
    chunks = [audio[i : i + step] for i in range(0, len(audio), step)]
    latents = [
        encoder(cloning_mel(chunk))
        for chunk in chunks
        if len(chunk) >= SAMPLE_RATE * MIN_CHUNK_SECONDS
    ]
    if not latents:
        raise MlxStreamError(
            f"the voice recordings hold {len(audio) / SAMPLE_RATE:.2f} s of audio: "
            f"XTTS needs at least {MIN_CHUNK_SECONDS} s"
        )
    return mx.mean(mx.stack(latents), axis=0)


def compute_voice(
    conditioning: ConditioningEncoder,
    speaker_encoder: SpeakerEncoder,
    recordings: list[Path],
    settings: InferenceArgs,
) -> tuple[mx.array, mx.array]:
    """A cloned voice: (gpt_cond_latent (1, 32, d), speaker_embedding (1, d_vector_dim)).

    coqui's `get_conditioning_latents`: each recording is read at 22.05 kHz, cut to
    `max_ref_len` s and optionally peak-normalised to 0.75; its speaker embedding is taken alone,
    the embeddings are averaged (not renormalised), and the latents come from all recordings
    joined end to end.
    """
    if not recordings:
        raise MlxStreamError("no voice recordings given: pass at least one audio file")
    audios, embeddings = [], []
    for path in recordings:
        audio = dsp.read_recording(path, SAMPLE_RATE)[: SAMPLE_RATE * settings.max_ref_len]
        if settings.sound_norm_refs:
            peak = np.abs(audio).max()
            if peak == 0:  # coqui would divide by zero and clone a voice of NaNs
                raise MlxStreamError(f"voice recording {path} is silent: record some speech")
            audio = audio / peak * np.float32(0.75)
        embeddings.append(speaker_embedding(speaker_encoder, audio, SAMPLE_RATE))
        audios.append(audio)
    latents = gpt_cond_latents(
        conditioning,
        np.concatenate(audios),
        settings.gpt_cond_len,
        settings.gpt_cond_chunk_len,
    )
    return latents, mx.mean(mx.stack(embeddings), axis=0)
