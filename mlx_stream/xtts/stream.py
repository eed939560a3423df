"""Streaming the HiFi-GAN decoder while the GPT is still making latents.

`ExactStream` decodes each generator frame once (plus a fixed context), at the same cost for every
chunk, and its joined output equals decoding the whole utterance at once. `CoquiStream` copies
coqui's `inference_stream` chunking (re-decode everything, cross-fade) for comparison tests.
"""

from __future__ import annotations

import math

import mlx.core as mx

from ..errors import MlxStreamError
from .hifigan import (
    FRAME,
    RESBLOCK_DILATIONS,
    RESBLOCK_KERNELS,
    UPSAMPLE_KERNELS,
    UPSAMPLE_RATES,
    HifiganGenerator,
    VoiceBias,
)


def context_frames() -> int:
    """Generator frames on either side of a frame that can reach its audio (13), from the layers.

    Traces which output samples one input frame reaches: convs widen by their half-width times
    the dilation, a transposed conv maps input x to outputs [x*stride - pad, x*stride - pad + k - 1].
    """
    low, high = -3, 3  # conv_pre, k=7
    reach = max(sum((d + 1) * (k - 1) // 2 for d in RESBLOCK_DILATIONS) for k in RESBLOCK_KERNELS)
    for rate, kernel in zip(UPSAMPLE_RATES, UPSAMPLE_KERNELS):
        pad = (kernel - rate) // 2
        low, high = low * rate - pad - reach, high * rate - pad + kernel - 1 + reach
    low, high = low - 3, high + 3  # conv_post, k=7
    return max(-(low // FRAME), high // FRAME)


CONTEXT = context_frames()


def window_frames(scales: tuple[float, ...], chunk: int) -> int:
    """Frames in a window that decodes one push of `chunk` latents: the most frames such a push
    can make final (each level's rounding adds at most one step), plus the context."""
    steps = chunk
    for scale in scales:
        steps = math.ceil(steps * scale) + 1
    return steps + 2 * CONTEXT


class ExactStream:
    """Audio of a growing utterance, equal to decoding all its latents at once.

    `push` latents as the GPT makes them and get the samples that can no longer change;
    `finish` once the utterance is complete. Each window the generator runs is `window` frames:
    the new frames plus `CONTEXT` frames on each side, padded to that size so that its kernels
    are reused (only an utterance shorter than a window is decoded unpadded). `chunk`, the
    latents you mean to push at a time, sets the size so that one such push is one window; a
    schedule of several sizes (a small first chunk, then larger ones) gives one window size
    each, and every call runs the smallest window its new frames fit in.
    `frames_computed` is the generator frames the last call ran; `latents_needed` says when
    the first audio can come.
    """

    def __init__(
        self,
        decoder: HifiganGenerator,
        voice: VoiceBias,
        speed: float = 1.0,
        chunk: int | tuple[int, ...] = 8,
    ):
        self.decoder = decoder
        self.voice = voice
        self.resampler = decoder.resampler(speed)
        chunks = (chunk,) if isinstance(chunk, int) else chunk
        self.windows = sorted({window_frames(self.resampler.scales, c) for c in chunks})
        self.window = self.windows[-1]
        self.latents: mx.array | None = None  # the latents still needed, from number `first` on
        self.first = 0
        self.count = 0
        self.emitted = 0  # frames whose audio has been handed out
        self.frames_computed = 0
        self.finished = False

    def ready_frames(self, latents: int) -> int:
        """Frames whose audio is final once `latents` latents are known (more may follow)."""
        return max(self.resampler.ready(latents) - CONTEXT, 0)

    def latents_needed(self, samples: int) -> int:
        """The latents to push before the first `samples` samples can be handed out."""
        frames = -(-samples // FRAME)
        low, high = 0, 1
        while self.ready_frames(high) < frames:
            low, high = high, 2 * high
        while low < high:
            middle = (low + high) // 2
            if self.ready_frames(middle) >= frames:
                high = middle
            else:
                low = middle + 1
        return low

    def push(self, latents: mx.array) -> mx.array:
        """Add latents (1, n, dims); return the new final samples (possibly none)."""
        if self.finished:
            raise MlxStreamError("this utterance is finished: start a new ExactStream for the next")
        latents = latents.reshape(1, -1, latents.shape[-1])
        self.latents = (
            latents if self.latents is None else mx.concatenate([self.latents, latents], 1)
        )
        self.count += latents.shape[1]
        audio = self._decode_until(max(self.ready_frames(self.count), self.emitted), None)
        # the last window may reach back `window` frames (see _decode_until)
        self._forget_before(self.resampler.first_latent(max(self.emitted - self.window, 0)))
        return audio

    def finish(self) -> mx.array:
        """The rest of the utterance's audio, now that all its latents are known."""
        self.finished = True
        lengths = self.resampler.lengths(self.count)
        return self._decode_until(lengths[-1], lengths)

    def _decode_until(self, target: int, lengths: list[int] | None) -> mx.array:
        pieces = []
        self.frames_computed = 0
        while self.emitted < target:
            new = target - self.emitted
            window = next((w for w in self.windows if w - 2 * CONTEXT >= new), self.window)
            start = max(self.emitted - CONTEXT, 0)
            if lengths is not None and target - start <= window:
                # the utterance's last window: it ends where the utterance ends
                start, end, stop = max(target - window, 0), target, target
            else:
                end = min(target, start + window - CONTEXT)
                stop = end + CONTEXT
            frames = self.resampler.frames(self.latents, self.first, start, stop, lengths)
            if lengths is None or stop < target:
                frames = mx.pad(frames, [(0, 0), (0, window - frames.shape[1]), (0, 0)])
            audio = self.decoder(frames, self.voice)[0]
            pieces.append(audio[(self.emitted - start) * FRAME : (end - start) * FRAME])
            self.frames_computed += frames.shape[1]
            self.emitted = end
        return mx.concatenate(pieces) if pieces else mx.zeros((0,))

    def _forget_before(self, latent: int) -> None:
        latent = min(latent, self.count - 1)
        if latent > self.first:
            self.latents = self.latents[:, latent - self.first :]
            self.first = latent


class CoquiStream:
    """coqui's `inference_stream` chunking, for comparison tests: O(n^2), and not the full decode.

    Every `chunk` latents it decodes all latents so far and hands out what `Xtts.handle_chunks`
    would: all but the last `overlap` samples, the first `overlap` of them cross-faded with the
    previous decode's tail.
    """

    def __init__(
        self,
        decoder: HifiganGenerator,
        voice: VoiceBias,
        speed: float = 1.0,
        chunk: int = 20,
        overlap: int = 1024,
    ):
        self.decoder, self.voice, self.speed = decoder, voice, speed
        self.chunk, self.overlap = chunk, overlap
        self.latents: list[mx.array] = []
        self.pending = 0
        self.previous_length: int | None = None
        self.tail: mx.array | None = None

    def push(self, latents: mx.array) -> list[mx.array]:
        """Add latents (1, n, dims); return the chunks coqui yields meanwhile (one per `chunk`)."""
        chunks = []
        latents = latents.reshape(-1, latents.shape[-1])
        for i in range(latents.shape[0]):
            self.latents.append(latents[i : i + 1])
            self.pending += 1
            if self.chunk > 0 and self.pending >= self.chunk:
                chunks.append(self._chunk(final=False))
        return chunks

    def finish(self) -> mx.array:
        return self._chunk(final=True) if self.latents else mx.zeros((0,))

    def _chunk(self, final: bool) -> mx.array:
        self.pending = 0
        latents = mx.concatenate(self.latents)[None]
        wav = self.decoder.decode(latents, self.voice, self.speed)[0]
        if wav.shape[0] == 0:
            raise MlxStreamError(
                f"coqui's inference_stream fails on {latents.shape[1]} latent(s) at speed "
                f"{self.speed}: its interpolation has no output; use a larger chunk"
            )
        overlap, previous = self.overlap, self.previous_length
        start = 0 if previous is None else previous - overlap
        chunk = wav[start : None if final else -overlap]
        if self.tail is not None and overlap > chunk.shape[0]:
            # coqui hands out the whole rest, forgets the tail, and re-sends it next time
            self.previous_length, self.tail = wav.shape[0], None
            return wav[start:]
        if self.tail is not None:
            fade_in = mx.linspace(0.0, 1.0, overlap)
            fade_out = mx.linspace(1.0, 0.0, overlap)
            faded = self.tail * fade_out + chunk[:overlap] * fade_in
            chunk = mx.concatenate([faded, chunk[overlap:]])
        self.previous_length = wav.shape[0]
        self.tail = None if final else wav[-overlap:]
        return chunk
