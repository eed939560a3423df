"""The MLX HiFi-GAN decoder against coqui's: weights, interpolations, speed, and both streams.

The references are coqui's own modules and code paths: `HifiDecoder`, `Xtts.inference` and
`Xtts.inference_stream` (whose GPT is replaced by a generator of fixed latents). Most tests use a
narrow `HifiDecoder` (16 channels; the same kernels, strides and receptive field as the real one);
the full 512-channel decoder of the tiny checkpoint is slow on MLX's CPU backend, so it gets short
inputs.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import mlx.core as mx
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlx_stream.errors import MlxStreamError
from mlx_stream.xtts.config import ModelArgs
from mlx_stream.xtts.hifigan import (
    FRAME,
    HifiganGenerator,
    dilated_conv1d,
    interpolate,
    linear_taps,
    upsample,
)
from mlx_stream.xtts.stream import CONTEXT, CoquiStream, ExactStream
from tests.fixtures.xtts import load_coqui

PREFIX = "hifigan_decoder.waveform_decoder."
SMALL = dict(upsample_initial_channel_decoder=16, decoder_input_dim=8, d_vector_dim=4)
SMALL_ARGS = ModelArgs(decoder_input_dim=8, d_vector_dim=4)
SPEEDS = [1.0, 0.8, 1.25]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def coqui(tiny_xtts_dir):
    return load_coqui(tiny_xtts_dir)


@pytest.fixture(scope="module")
def small_reference():
    """A narrow coqui HifiDecoder with every weight random (weight-norm gains and biases too)."""
    from TTS.tts.layers.xtts.hifigan_decoder import HifiDecoder

    torch.manual_seed(0)
    reference = HifiDecoder(**SMALL).eval()
    with torch.no_grad():
        for name, parameter in reference.waveform_decoder.named_parameters():
            if name.endswith("bias"):
                parameter.normal_(0, 0.1)
            elif name.endswith("original0"):
                parameter.mul_(torch.rand_like(parameter) + 0.5)
    return reference


def decoder_weights(state_dict: dict, prefix: str) -> dict[str, mx.array]:
    return {
        k[len(prefix) :]: mx.array(v.numpy()) for k, v in state_dict.items() if k.startswith(prefix)
    }


def mlx_decoder(weights: dict[str, mx.array], args: ModelArgs, channels: int = 512):
    decoder = HifiganGenerator(args, channels)
    decoder.load_weights(list(HifiganGenerator.sanitize(weights).items()), strict=True)
    return decoder


@pytest.fixture(scope="module")
def small(small_reference):
    weights = decoder_weights(small_reference.state_dict(), "waveform_decoder.")
    return mlx_decoder(weights, SMALL_ARGS, channels=16)


def random_latents(n: int, dims: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, n, dims)).astype(np.float32)


def speaker(dims: int, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed + 100).standard_normal((1, dims, 1)).astype(np.float32)
    return g / np.linalg.norm(g)


def mlx_decode(decoder, latents: np.ndarray, g: np.ndarray, speed: float = 1.0) -> np.ndarray:
    return np.array(decoder.decode(mx.array(latents), mx.array(g), speed)[0])


@contextmanager
def coqui_decoding(coqui, hifigan_decoder, latents: np.ndarray):
    """coqui's Xtts whose GPT hands out `latents` (`inference`'s and `inference_stream`'s way)
    and whose decoder is `hifigan_decoder`. (pytest's monkeypatch would delete a submodule.)"""
    rows = torch.from_numpy(latents)

    def stream(**kwargs):
        for i in range(rows.shape[1]):
            yield torch.zeros(1, dtype=torch.long), rows[:, i]

    gpt, original = coqui.gpt, coqui.hifigan_decoder
    coqui.hifigan_decoder = hifigan_decoder
    gpt.generate = lambda **kw: torch.zeros(1, rows.shape[1] - 1)
    gpt.forward = lambda *args, **kw: rows
    gpt.compute_embeddings = lambda *args: None
    gpt.get_generator = stream
    try:
        yield coqui
    finally:
        coqui.hifigan_decoder = original
        for name in ("generate", "forward", "compute_embeddings", "get_generator"):
            delattr(gpt, name)


def coqui_inference(coqui, hifigan_decoder, latents, g, speed) -> np.ndarray:
    cond = torch.zeros(1, 32, coqui.args.gpt_n_model_channels)
    with coqui_decoding(coqui, hifigan_decoder, latents):
        return coqui.inference("hello", "en", cond, torch.from_numpy(g), speed=speed)["wav"]


def coqui_stream(coqui, hifigan_decoder, latents, g, speed, chunk) -> list[np.ndarray]:
    cond = torch.zeros(1, 32, coqui.args.gpt_n_model_channels)
    with coqui_decoding(coqui, hifigan_decoder, latents):
        chunks = coqui.inference_stream(
            "hello", "en", cond, torch.from_numpy(g), stream_chunk_size=chunk, speed=speed
        )
        return [c.numpy() for c in chunks]


SCALES = [4.0, 24000 / 22050, 1 / 0.8, 1 / 1.25, 1 / 0.95, 1 / 1.05, 1 / 0.3, 1 / 1.7, 20.0]


@pytest.mark.parametrize("scale", SCALES)
def test_interpolation_is_torchs(scale):
    """Same lengths, same taps bit for bit (torch computes w0 x0 + w1 x1 with one fused multiply-add),
    and MLX's lerp within float rounding: never the half-step error of a wrong coordinate."""
    rng = np.random.default_rng(0)
    worst = 0.0
    for length in [*range(1, 150), 1001, 2408, 2409]:
        if math.floor(length * scale) == 0:
            continue
        x = rng.standard_normal((2, length, 3)).astype(np.float32)
        expected = F.interpolate(
            torch.from_numpy(x).transpose(1, 2), scale_factor=scale, mode="linear"
        )
        expected = expected.transpose(1, 2).numpy()
        out = np.array(interpolate(mx.array(x), scale))
        assert out.shape == expected.shape, length
        i0, i1, w0, w1 = linear_taps(scale, np.arange(expected.shape[1]), length)
        fused = (x[:, i0] * w0[:, None].astype(np.float64) + x[:, i1] * w1[:, None]).astype(
            np.float32
        )
        np.testing.assert_array_equal(fused, expected)
        worst = max(worst, np.abs(out - expected).max())
    assert worst < 1e-6


def legacy_style(weights: dict) -> dict:
    """The same tensors under the old `weight_g`/`weight_v` names."""
    renamed = {}
    for key, value in weights.items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        renamed[key.replace("parametrizations.weight.original1", "weight_v")] = value
    return renamed


@pytest.mark.parametrize("style", ["parametrizations", "weight_g"])
def test_sanitized_weights_decode_like_coqui(small_reference, style):
    state = {
        k: v for k, v in small_reference.state_dict().items() if k.startswith("waveform_decoder.")
    }
    if style == "weight_g":
        state = legacy_style(state)
        assert any(k.endswith("weight_g") for k in state)
        # coqui itself reads the renamed copy: it is a real old-style state dict
        from TTS.tts.layers.xtts.hifigan_decoder import HifiDecoder

        legacy = HifiDecoder(**SMALL).waveform_decoder
        legacy.load_state_dict({k.removeprefix("waveform_decoder."): v for k, v in state.items()})
        for key, value in small_reference.waveform_decoder.state_dict().items():
            torch.testing.assert_close(legacy.state_dict()[key], value, rtol=0, atol=0)
    decoder = mlx_decoder(decoder_weights(state, "waveform_decoder."), SMALL_ARGS, channels=16)
    g = speaker(4)
    for n in [1, 2, 3, 9, 17]:
        latents = random_latents(n, 8, seed=n)
        with torch.no_grad():
            expected = small_reference(torch.from_numpy(latents), g=torch.from_numpy(g))[
                0, 0
            ].numpy()
        out = mlx_decode(decoder, latents, g)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)
        assert np.abs(expected).max() > 0.05  # not a silent decoder


@pytest.mark.parametrize("kernel,dilation,length", [(3, 3, 17), (7, 5, 40), (11, 5, 3), (3, 1, 9)])
def test_dilated_conv_as_phases_is_torchs(kernel, dilation, length):
    """The phase form of a dilated conv, at lengths not a multiple of the dilation, batch 2."""
    import mlx.nn as nn

    rng = np.random.default_rng(kernel * dilation + length)
    x = rng.standard_normal((2, 6, length)).astype(np.float32)
    w = rng.standard_normal((6, 6, kernel)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    padding = dilation * (kernel - 1) // 2
    expected = F.conv1d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(bias),
                        padding=padding, dilation=dilation).numpy()  # fmt: skip
    conv = nn.Conv1d(6, 6, kernel, padding=padding, dilation=dilation)
    conv.weight, conv.bias = mx.array(w.transpose(0, 2, 1)), mx.array(bias)
    out = np.array(dilated_conv1d(mx.array(x.transpose(0, 2, 1)), conv)).transpose(0, 2, 1)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("stride,kernel", [(8, 16), (2, 4), (3, 7)])
def test_upsampling_as_a_gemm_is_torchs(stride, kernel):
    """The GEMM and overlap-add form (kernel = 2 x stride), and the native fallback otherwise."""
    import mlx.nn as nn

    rng = np.random.default_rng(stride + kernel)
    x = rng.standard_normal((2, 5, 7)).astype(np.float32)
    w = rng.standard_normal((5, 3, kernel)).astype(np.float32)
    padding = (kernel - stride) // 2
    expected = F.conv_transpose1d(torch.from_numpy(x), torch.from_numpy(w), stride=stride,
                                  padding=padding).numpy()  # fmt: skip
    up = nn.ConvTranspose1d(5, 3, kernel, stride, padding=padding)
    up.weight = mx.array(w.transpose(1, 2, 0))
    out = np.array(upsample(mx.array(x.transpose(0, 2, 1)), up)).transpose(0, 2, 1)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)


def test_decoder_without_conditioning_per_stage():
    """`cond_d_vector_in_each_upsampling_layer=False`: only `cond_layer` reads the voice."""
    from TTS.tts.layers.xtts.hifigan_decoder import HifiDecoder

    torch.manual_seed(1)
    reference = HifiDecoder(**SMALL, cond_d_vector_in_each_upsampling_layer=False).eval()
    args = ModelArgs(
        decoder_input_dim=8, d_vector_dim=4, cond_d_vector_in_each_upsampling_layer=False
    )
    decoder = mlx_decoder(decoder_weights(reference.state_dict(), "waveform_decoder."), args, 16)
    latents, g = random_latents(6, 8), speaker(4)
    with torch.no_grad():
        expected = reference(torch.from_numpy(latents), g=torch.from_numpy(g))[0, 0].numpy()
    np.testing.assert_allclose(mlx_decode(decoder, latents, g), expected, atol=1e-5, rtol=0)


def test_full_size_decoder_is_coquis_inference(coqui, tiny_xtts_dir):
    """The 512-channel decoder from the checkpoint file equals `Xtts.inference`'s wav."""
    state = torch.load(tiny_xtts_dir / "model.pth", weights_only=True)["model"]
    args = ModelArgs(decoder_input_dim=coqui.args.decoder_input_dim)
    decoder = mlx_decoder(decoder_weights(state, PREFIX), args)
    latents, g = random_latents(3, args.decoder_input_dim), speaker(512)
    expected = coqui_inference(coqui, coqui.hifigan_decoder, latents, g, 1.0)
    out = mlx_decode(decoder, latents, g)
    assert out.shape == expected.shape == (13 * FRAME,)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("speed", [0.8, 1.25, 0.5, 2.0, 0.95])
def test_speed_is_coquis_inference(coqui, small_reference, small, speed):
    g = speaker(4)
    for n in [1, 2, 3, 5, 18, 31]:
        if math.floor(n / max(speed, 0.05)) == 0:
            continue  # coqui's interpolate refuses an empty output
        latents = random_latents(n, 8, seed=n)
        expected = coqui_inference(coqui, small_reference, latents, g, speed)
        out = mlx_decode(small, latents, g, speed)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)


def test_receptive_field_is_the_context(small):
    """Changing generator frame f changes audio only within frames f-13 ... f+13 (what the layer
    list allows; the outermost taps are too weak to show in float32 with random weights)."""
    assert CONTEXT == 13
    frames = mx.array(random_latents(60, 8))
    voice = small.voice(mx.array(speaker(4)))
    base = np.array(small(frames, voice)[0]).reshape(60, FRAME)
    for f in [0, 5, 30, 59]:
        changed = np.array(frames)
        changed[0, f] += 3.0
        out = np.array(small(mx.array(changed), voice)[0]).reshape(60, FRAME)
        touched = np.flatnonzero(np.abs(out - base).max(axis=1) > 0)
        assert max(f - CONTEXT, 0) <= touched.min() <= max(f - 12, 0)
        assert min(f + 12, 59) <= touched.max() <= min(f + CONTEXT, 59)


def push_all(stream, latents: np.ndarray, sizes) -> tuple[list[np.ndarray], list[int]]:
    """Push `latents` in pieces of `sizes`, then finish; the audio and frames of every call."""
    audio, frames, i = [], [], 0
    for size in sizes:
        if i >= latents.shape[1]:
            break
        audio.append(np.array(stream.push(mx.array(latents[:, i : i + size]))))
        frames.append(stream.frames_computed)
        i += size
    audio.append(np.array(stream.finish()))
    frames.append(stream.frames_computed)
    return audio, frames


@pytest.mark.parametrize("speed", SPEEDS)
@pytest.mark.parametrize("chunk", [1, 3, 8, 20, "random"])
def test_exact_stream_is_the_full_decode_at_constant_cost(small, speed, chunk):
    latents, g = random_latents(61, 8), speaker(4)
    voice = small.voice(mx.array(g))
    if chunk == "random":
        sizes = np.random.default_rng(1).integers(1, 13, size=61).tolist()
        stream = ExactStream(small, voice, speed, chunk=12)
    else:
        sizes = [chunk] * 61
        stream = ExactStream(small, voice, speed, chunk=chunk)
    audio, frames = push_all(stream, latents, sizes)
    full = mlx_decode(small, latents, g, speed)
    joined = np.concatenate(audio)
    assert joined.shape == full.shape
    # same values from the same inputs: within conv rounding (8 frames of context would show)
    np.testing.assert_allclose(joined, full, atol=1e-6, rtol=0)
    # every push up to `chunk` latents runs at most one fixed-size window, wherever it is
    assert set(frames[:-1]) <= {0, stream.window}
    assert frames[-1] in (stream.window, 2 * stream.window)
    assert sum(len(a) > 0 for a in audio[:-1]) >= len(audio[:-1]) // 2


@pytest.mark.parametrize("speed", [0.95, 0.5, 2.0])
def test_exact_stream_edges(small, speed):
    """Utterances of a few latents (torch copies instead of interpolating when a length does not
    change: at speed 0.95 below 19 latents, at the 24 kHz step below 3) and speeds far from 1."""
    g = speaker(4)
    voice = small.voice(mx.array(g))
    for n in [1, 2, 3, 5, 18, 19, 24]:
        latents = random_latents(n, 8, seed=n)
        full = mlx_decode(small, latents, g, speed)
        for chunk in [1, 4]:
            audio, _ = push_all(ExactStream(small, voice, speed, chunk=chunk), latents, [chunk] * n)
            joined = np.concatenate(audio)
            assert joined.shape == full.shape
            np.testing.assert_allclose(joined, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("speed", SPEEDS)
def test_a_growing_chunk_schedule_runs_small_windows_first(small, speed):
    """The synthesizer's schedule: a small first chunk (after the look-ahead), then doubling."""
    latents, g = random_latents(70, 8), speaker(4)
    voice = small.voice(mx.array(g))
    stream = ExactStream(small, voice, speed, chunk=(3, 6, 12))
    lookahead = stream.latents_needed(1)
    audio, frames = push_all(stream, latents, [3 + lookahead, 6, 12, 12, 12, 12, 12])
    np.testing.assert_allclose(
        np.concatenate(audio), mlx_decode(small, latents, g, speed), atol=1e-6, rtol=0
    )
    assert stream.windows[0] < stream.windows[1] < stream.windows[2] == stream.window
    assert frames[0] == stream.windows[0] and audio[0].size  # the first audio is cheap
    assert set(frames[2:-1]) == {stream.window}


def test_exact_stream_cost_does_not_grow_along_an_utterance(small):
    latents = random_latents(240, 8)
    stream = ExactStream(small, small.voice(mx.array(speaker(4))), chunk=8)
    _, frames = push_all(stream, latents, [8] * 30)
    assert frames[:-1] == [stream.window] * 30 and stream.window == 63
    assert stream.latents.shape[1] < 30  # what it keeps does not grow either


@pytest.mark.parametrize("speed", SPEEDS)
def test_lookahead_bound_is_safe(small, speed):
    """Audio handed out after k latents does not change whatever latents k, k+1, ... turn out."""
    latents, g = random_latents(24, 8), speaker(4)
    voice = small.voice(mx.array(g))
    stream = ExactStream(small, voice, speed, chunk=1)
    full = mlx_decode(small, latents, g, speed)
    emitted = np.zeros(0, np.float32)
    for k in range(1, 24):
        emitted = np.concatenate([emitted, np.array(stream.push(mx.array(latents[:, k - 1 : k])))])
        assert len(emitted) == stream.ready_frames(k) * FRAME
        assert stream.latents_needed(len(emitted)) <= k < stream.latents_needed(len(emitted) + 1)
        other = latents.copy()
        other[:, k:] = 3 * random_latents(24 - k, 8, seed=k)
        changed = mlx_decode(small, other, g, speed)
        np.testing.assert_allclose(changed[: len(emitted)], emitted, atol=1e-5, rtol=0)
        if k >= 6:  # and the bound is close: the audio soon after it depends on what comes
            assert np.flatnonzero(changed != full)[0] < len(emitted) + 6 * FRAME
    assert stream.latents_needed(1) <= 6  # first audio after a handful of latents


@pytest.mark.parametrize("speed", SPEEDS)
@pytest.mark.parametrize("chunk", [1, 3, 8, 20])
def test_compat_stream_is_coquis_inference_stream(coqui, small_reference, small, speed, chunk):
    latents, g = random_latents(29 if chunk == 1 else 45, 8), speaker(4)
    stream = CoquiStream(small, small.voice(mx.array(g)), speed, chunk=chunk)
    if chunk == 1 and speed > 1:  # one latent at speed 1.25 interpolates to nothing
        with pytest.raises(RuntimeError, match="output"):
            coqui_stream(coqui, small_reference, latents, g, speed, chunk)
        with pytest.raises(MlxStreamError, match="use a larger chunk"):
            stream.push(mx.array(latents))
        return
    expected = coqui_stream(coqui, small_reference, latents, g, speed, chunk)
    chunks = [np.array(c) for c in stream.push(mx.array(latents))] + [np.array(stream.finish())]
    assert [len(c) for c in chunks] == [len(c) for c in expected]
    for ours, theirs in zip(chunks, expected):
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def test_clear_errors(small):
    with pytest.raises(MlxStreamError, match="speaker embedding has 5 values"):
        small.voice(mx.zeros((1, 5, 1)))
    stream = ExactStream(small, small.voice(mx.array(speaker(4))))
    stream.push(mx.array(random_latents(3, 8)))
    stream.finish()
    with pytest.raises(MlxStreamError, match="start a new ExactStream"):
        stream.push(mx.array(random_latents(1, 8)))
