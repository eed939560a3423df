"""Voice cloning in MLX (mlx_stream.xtts: dsp, conditioning, speaker) against torchaudio and coqui.

The front ends are compared twice: with torchaudio run in float64, which they must equal to float32
output rounding (same algorithm), and with torchaudio in float32 as coqui runs it, from which they
may differ only by as much as torchaudio's own float64 result does (torch's float32 rounding).
The networks get the tiny XTTS fixture's weights through `sanitize`, with the weights coqui
initialises to constants randomised first, and must give coqui's voice to 1e-4.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from mlx_stream.errors import MlxStreamError
from mlx_stream.tts import voices
from mlx_stream.xtts import dsp
from mlx_stream.xtts.conditioning import (
    ConditioningEncoder,
    cloning_mel,
    compute_voice,
    gpt_cond_latents,
)
from mlx_stream.xtts.config import InferenceArgs, ModelArgs
from mlx_stream.xtts.speaker import SpeakerEncoder, mel_filterbank, speaker_mel
from tests.fixtures.xtts import load_coqui

ROOT = Path(__file__).resolve().parents[1]
F32_ROUNDING = 2e-6  # float32 rounding of log mels up to |16|, with margin
VOICE_ATOL = 1e-4
SPEAKER_PREFIX = "hifigan_decoder.speaker_encoder."


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def coqui(tiny_xtts_dir):
    """coqui's Xtts, loaded by its own `load_checkpoint`, with the weights it initialises to
    constants (zeroed `proj_out`, unit BatchNorms, `mel_stats` and `gamma` of ones) randomised."""
    model = load_coqui(tiny_xtts_dir)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for block in model.gpt.conditioning_encoder.attn:
            block.proj_out.weight.normal_(0, 0.05, generator=generator)
            block.proj_out.bias.normal_(0, 0.05, generator=generator)
        for module in model.hifigan_decoder.speaker_encoder.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.uniform_(0.7, 1.3, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
        model.mel_stats.uniform_(1.5, 4.0, generator=generator)
        model.gpt.conditioning_perceiver.norm.gamma.uniform_(0.5, 1.5, generator=generator)
    return model


def coqui_part(coqui, prefixes: tuple[str, ...], strip: str) -> dict[str, mx.array]:
    return {
        key.removeprefix(strip): mx.array(value.numpy())
        for key, value in coqui.state_dict().items()
        if key.startswith(prefixes)
    }


@pytest.fixture(scope="module")
def args(coqui) -> ModelArgs:
    return ModelArgs.from_dict(coqui.config.model_args.to_dict())


@pytest.fixture(scope="module")
def settings(coqui) -> InferenceArgs:
    return InferenceArgs.from_dict(coqui.config.to_dict())


@pytest.fixture(scope="module")
def conditioning(coqui, args) -> ConditioningEncoder:
    prefixes = ("gpt.conditioning_encoder.", "gpt.conditioning_perceiver.", "mel_stats")
    encoder = ConditioningEncoder(args)
    weights = ConditioningEncoder.sanitize(coqui_part(coqui, prefixes, "gpt."))
    encoder.load_weights(list(weights.items()), strict=True)
    return encoder


@pytest.fixture(scope="module")
def speaker_encoder(coqui, args) -> SpeakerEncoder:
    encoder = SpeakerEncoder(args)
    weights = SpeakerEncoder.sanitize(coqui_part(coqui, (SPEAKER_PREFIX,), SPEAKER_PREFIX))
    encoder.load_weights(list(weights.items()), strict=True)
    return encoder


def in_float64(build):
    """Build a torchaudio transform with float64 buffers computed in float64."""
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return build()
    finally:
        torch.set_default_dtype(dtype)


def assert_like_torchaudio(ours: np.ndarray, torch64: np.ndarray, torch32: np.ndarray) -> None:
    """Same algorithm as torchaudio (equal to its float64 run up to float32 output rounding), and
    no further from its float32 run than its own float64 run is."""
    assert ours.shape == torch64.shape == torch32.shape
    assert np.abs(ours - torch64).max() <= F32_ROUNDING
    assert np.abs(ours - torch32).max() <= np.abs(torch64 - torch32).max() + F32_ROUNDING


# --- dsp: windows, filterbanks, resampling, recordings ---------------------------------------


@pytest.mark.parametrize("size", [7, 400, 1024, 2048])
def test_windows_are_torchs_periodic_windows(size):
    for ours, torchs in [
        (dsp.hann_window(size), torch.hann_window),
        (dsp.hamming_window(size), torch.hamming_window),
    ]:
        np.testing.assert_allclose(ours, torchs(size, dtype=torch.float64).numpy(), atol=1e-15)
        np.testing.assert_allclose(ours, torchs(size).numpy(), atol=2.5e-7)  # float32 ulps
    assert not np.allclose(dsp.hann_window(size), np.hanning(size))  # numpy's are symmetric


@pytest.mark.parametrize(
    "n_freqs, f_min, f_max, n_mels, rate, norm, scale",
    [
        (1025, 0.0, 8000.0, 80, 22050, "slaney", "htk"),  # the cloning mel
        (257, 0.0, 8000.0, 64, 16000, None, "htk"),  # the speaker encoder's
        (1025, 0.0, 8000.0, 80, 22050, "slaney", "slaney"),
        (201, 50.0, 7000.0, 40, 16000, None, "slaney"),
    ],
)
def test_filterbanks_are_melscale_fbanks(n_freqs, f_min, f_max, n_mels, rate, norm, scale):
    ours = dsp.mel_filterbank(n_freqs, rate, n_mels, f_min, f_max, norm, scale)
    reference = (n_freqs, f_min, f_max, n_mels, rate, norm, scale)
    torch64 = in_float64(lambda: torchaudio.functional.melscale_fbanks(*reference)).numpy()
    torch32 = torchaudio.functional.melscale_fbanks(*reference).numpy()
    assert torch64.dtype == np.float64 and ours.shape == torch32.shape
    np.testing.assert_allclose(ours, torch64, rtol=0, atol=1e-12)
    # torch's float32 build loses up to ~5e-6 of the peak where triangle edges cancel
    np.testing.assert_allclose(ours, torch32, rtol=0, atol=1e-5 * torch32.max())


@pytest.mark.parametrize(
    "from_rate, to_rate", [(44100, 22050), (22050, 16000), (48000, 22050), (16000, 22050)]
)
def test_resample_is_torchaudios(from_rate, to_rate):
    rng = np.random.default_rng(from_rate + to_rate)
    # odd and short lengths; 88201 at 16 -> 22.05 kHz is where torchaudio's float32 length rounds
    for length in (1, 2, 7, 441, 1001, 88201):
        audio = (0.3 * rng.standard_normal(length)).astype(np.float32)
        ours = dsp.resample(audio, from_rate, to_rate)
        torchs = torchaudio.functional.resample(torch.from_numpy(audio), from_rate, to_rate)
        assert ours.dtype == np.float32 and ours.shape == tuple(torchs.shape), length
        np.testing.assert_allclose(ours, torchs.numpy(), rtol=0, atol=1e-6, err_msg=str(length))
    np.testing.assert_array_equal(dsp.resample(audio, from_rate, from_rate), audio)


def test_resample_keeps_torchaudios_float32_length():
    audio = np.zeros(88201, dtype=np.float32)
    assert math.ceil(441 * 88201 / 320) == 121553
    assert len(dsp.resample(audio, 16000, 22050)) == 121552


def test_recordings_read_as_voices_reads_them(reference_wav, stereo_wav, tmp_path):
    """The torch-free reading equals `mlx_stream.tts.voices.read_recording` (soundfile + torchaudio)."""
    t = np.arange(int(1.3 * 48000)) / 48000
    loud = tmp_path / "loud-48k.wav"  # clipped after resampling, as coqui clips
    sf.write(loud, (1.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 48000, subtype="FLOAT")
    for path in (reference_wav, stereo_wav, loud):
        ours = dsp.read_recording(path, 22050)
        theirs = voices.read_recording(path)[0].numpy()
        assert ours.dtype == np.float32 and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6, err_msg=path.name)
    assert dsp.read_recording(loud, 22050).max() == 1.0


def test_recording_errors_are_voices_errors(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    text = tmp_path / "notes.flac"
    text.write_text("not audio")
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(11025, dtype=np.float32), 22050)
    cases = [
        (tmp_path / "missing.wav", "voice recording not found"),
        (corrupt, "cannot read voice recording"),
        (text, "cannot read voice recording"),
        (short, "is 0.50 s long: use at least 1 s"),
    ]
    for path, says in cases:
        with pytest.raises(MlxStreamError) as ours:
            dsp.read_recording(path, 22050)
        with pytest.raises(MlxStreamError) as theirs:
            voices.read_recording(path)
        assert str(ours.value) == str(theirs.value) and says in str(ours.value)
        assert "\n" not in str(ours.value)


# --- mel spectrograms ---------------------------------------------------------------------------


def test_cloning_mel_is_wav_to_mel_cloning(coqui, reference_wav, stereo_wav):
    from TTS.tts.models.xtts import wav_to_mel_cloning

    settings = dict(n_fft=2048, hop_length=256, win_length=1024, power=2, normalized=False)
    settings.update(sample_rate=22050, f_min=0, f_max=8000, n_mels=80)
    torch64 = in_float64(lambda: torchaudio.transforms.MelSpectrogram(norm="slaney", **settings))
    stats = coqui.mel_stats.detach()
    for path in (reference_wav, stereo_wav):
        audio = voices.read_recording(path)[:, : 4 * 22050]  # one chunk, as coqui cuts them
        mel = torch.log(torch.clamp(torch64(audio.double()), min=1e-5)) / stats[:, None]
        ours = cloning_mel(audio[0].numpy()) / mx.array(stats.numpy())
        assert_like_torchaudio(
            np.array(ours)[0].T,
            mel[0].numpy(),
            wav_to_mel_cloning(audio, mel_norms=stats, **settings)[0].numpy(),
        )


def test_speaker_mel_is_the_encoders_torch_spec(coqui, reference_wav, stereo_wav):
    torch_spec = coqui.hifigan_decoder.speaker_encoder.torch_spec
    torch_spec64 = in_float64(lambda: _double(torch_spec))
    for path in (reference_wav, stereo_wav):
        audio = torchaudio.functional.resample(voices.read_recording(path), 22050, 16000)
        with torch.no_grad():
            torch32 = torch.log(torch_spec(audio) + 1e-6)[0].numpy()
            torch64 = torch.log(torch_spec64(audio.double()) + 1e-6)[0].numpy()
        ours = np.array(speaker_mel(audio[0].numpy()))[0].T
        assert_like_torchaudio(ours, torch64, torch32)


def _double(torch_spec):
    """coqui's front end in float64: its stored float32 pre-emphasis filter, and the window and
    filterbank rebuilt in float64 (`.double()` alone would keep their float32 rounding)."""
    import copy

    spec = copy.deepcopy(torch_spec).double()
    mel = spec[1]
    mel.spectrogram.window = torch.hamming_window(400, dtype=torch.float64)
    mel.mel_scale.fb = torchaudio.functional.melscale_fbanks(257, 0.0, 8000.0, 64, 16000)
    return spec


def test_speaker_front_end_buffers_are_recomputed(coqui):
    """`sanitize` drops `torch_spec.*`: they equal what `speaker_mel` computes, and a checkpoint
    whose front end differs is refused rather than silently misread."""
    stored = coqui_part(coqui, (SPEAKER_PREFIX + "torch_spec.",), SPEAKER_PREFIX)
    assert sorted(stored) == [
        "torch_spec.0.filter",
        "torch_spec.1.mel_scale.fb",
        "torch_spec.1.spectrogram.window",
    ]
    window = np.array(stored["torch_spec.1.spectrogram.window"])
    np.testing.assert_allclose(window, dsp.hamming_window(400), rtol=0, atol=2.5e-7)
    fb = np.array(stored["torch_spec.1.mel_scale.fb"])
    np.testing.assert_allclose(fb, mel_filterbank(), rtol=0, atol=1e-5)
    assert np.array(stored["torch_spec.0.filter"]).tolist() == [[[np.float32(-0.97), 1.0]]]

    weights = coqui_part(coqui, (SPEAKER_PREFIX,), SPEAKER_PREFIX)
    sanitized = SpeakerEncoder.sanitize(weights)
    assert not any("torch_spec" in key or "running" in key for key in sanitized)
    other = dsp.mel_filterbank(257, 22050, 64)  # a front end at another rate
    with pytest.raises(MlxStreamError, match="another front end"):
        SpeakerEncoder.sanitize({**weights, "torch_spec.1.mel_scale.fb": mx.array(other)})


# --- networks and the whole voice ---------------------------------------------------------------


def test_conditioning_encoder_is_get_style_emb(coqui, conditioning):
    """The network alone, on a mel of two full chunks' length and an odd one."""
    rng = np.random.default_rng(0)
    for frames in (345, 31):
        mel = rng.normal(-4, 2, size=(1, 80, frames)).astype(np.float32)
        with torch.no_grad():
            style = coqui.gpt.get_style_emb(torch.from_numpy(mel) / coqui.mel_stats[:, None])
        ours = conditioning(mx.array(mel.transpose(0, 2, 1)))
        np.testing.assert_allclose(np.array(ours), style.transpose(1, 2).numpy(), atol=1e-5)


def test_wide_conditioning_encoder_is_coquis():
    """At 256 wide the GroupNorms have 32 groups (64 wide: 16) and 16 heads of 16 channels."""
    from TTS.tts.layers.tortoise.autoregressive import ConditioningEncoder as CoquiEncoder
    from TTS.tts.layers.xtts.perceiver_encoder import PerceiverResampler

    torch.manual_seed(5)
    dims, heads = 256, 16
    encoder = CoquiEncoder(80, dims, num_attn_heads=heads).eval()
    perceiver = PerceiverResampler(
        dim=dims, depth=2, dim_context=dims, num_latents=32, dim_head=64, heads=8, ff_mult=4
    ).eval()
    stats = torch.rand(80) * 2 + 1
    with torch.no_grad():
        for block in encoder.attn:
            block.proj_out.reset_parameters()  # coqui zeroes them at init
        perceiver.norm.gamma.uniform_(0.5, 1.5)
    assert encoder.attn[0].norm.num_groups == 32
    weights = {f"conditioning_encoder.{k}": v for k, v in encoder.state_dict().items()}
    weights |= {f"conditioning_perceiver.{k}": v for k, v in perceiver.state_dict().items()}
    weights["mel_stats"] = stats
    ours = ConditioningEncoder(ModelArgs(gpt_n_model_channels=dims, gpt_n_heads=heads))
    sanitized = ConditioningEncoder.sanitize({k: mx.array(v.numpy()) for k, v in weights.items()})
    ours.load_weights(list(sanitized.items()), strict=True)

    mel = torch.randn(1, 80, 173) * 2 - 4
    with torch.no_grad():
        want = perceiver(encoder(mel / stats[:, None]).transpose(1, 2))
    got = ours(mx.array(mel.numpy().transpose(0, 2, 1)))
    np.testing.assert_allclose(np.array(got), want.numpy(), rtol=0, atol=1e-4)


def coqui_voice(coqui, recordings: list[Path], settings: InferenceArgs):
    """The reference: coqui's `get_conditioning_latents` driven as our torch engine drives it."""
    knobs = {
        "max_ref_length": settings.max_ref_len,
        "gpt_cond_len": settings.gpt_cond_len,
        "gpt_cond_chunk_len": settings.gpt_cond_chunk_len,
        "sound_norm_refs": settings.sound_norm_refs,
    }
    with torch.inference_mode():
        latents, embedding = voices.compute_conditioning(coqui, recordings, knobs)
    return latents.numpy(), embedding[..., 0].numpy()


def assert_voice_is_coquis(coqui, conditioning, speaker_encoder, recordings, settings):
    latents, embedding = compute_voice(conditioning, speaker_encoder, recordings, settings)
    want_latents, want_embedding = coqui_voice(coqui, recordings, settings)
    assert latents.shape == (1, 32, conditioning.init.weight.shape[0]) == want_latents.shape
    assert embedding.shape == (1, 512) == want_embedding.shape
    np.testing.assert_allclose(np.array(latents), want_latents, rtol=0, atol=VOICE_ATOL)
    np.testing.assert_allclose(np.array(embedding), want_embedding, rtol=0, atol=VOICE_ATOL)
    return np.array(embedding), want_embedding


@pytest.mark.parametrize("which", ["espeak", "stereo-44k"])
def test_voice_is_coquis(coqui, conditioning, speaker_encoder, settings, which, request):
    recording = request.getfixturevalue("reference_wav" if which == "espeak" else "stereo_wav")
    embedding, _ = assert_voice_is_coquis(
        coqui, conditioning, speaker_encoder, [recording], settings
    )
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)


def test_two_recordings_make_one_voice(
    coqui, conditioning, speaker_encoder, settings, reference_wav, stereo_wav
):
    """Latents from the recordings joined; embeddings averaged and not renormalised."""
    recordings = [reference_wav, stereo_wav]
    embedding, want = assert_voice_is_coquis(
        coqui, conditioning, speaker_encoder, recordings, settings
    )
    # the tiny encoder's embeddings are nearly parallel: their mean is 4e-4 short of unit length
    assert np.linalg.norm(want) < 1 - 1e-4
    assert np.linalg.norm(embedding) == pytest.approx(np.linalg.norm(want), abs=1e-6)


def test_cloning_settings_are_coquis(
    coqui, conditioning, speaker_encoder, reference_wav, stereo_wav
):
    """Peak normalisation and `max_ref_len` per recording: 1 s of each, joined, in 1 s chunks."""
    settings = InferenceArgs(
        max_ref_len=1, gpt_cond_len=30, gpt_cond_chunk_len=1, sound_norm_refs=True
    )
    assert_voice_is_coquis(
        coqui, conditioning, speaker_encoder, [stereo_wav, reference_wav], settings
    )


@pytest.mark.parametrize(
    "seconds, chunk_seconds",
    [
        (30, 4),  # the real settings: 4 + 1.65 s
        (30, 3),  # 3 + 2.65 s
        (3, 1),  # cut to 3 s, three 1 s chunks
        (0, 2),  # 0 or less: all of it, 2 + 2 + 1.65 s
        (-1, 5),
    ],
)
def test_gpt_cond_latents_are_coquis(
    coqui, conditioning, reference_wav, stereo_wav, seconds, chunk_seconds
):
    audio = torch.cat([voices.read_recording(reference_wav), voices.read_recording(stereo_wav)], 1)
    with torch.inference_mode():
        want = coqui.get_gpt_cond_latents(audio, 22050, length=seconds, chunk_length=chunk_seconds)
    ours = gpt_cond_latents(conditioning, audio[0].numpy(), seconds, chunk_seconds)
    np.testing.assert_allclose(np.array(ours), want.numpy(), rtol=0, atol=VOICE_ATOL)


def test_short_last_chunk_is_skipped(coqui, conditioning, reference_wav):
    """The espeak recording is 3.15 s: 3 s chunks leave 0.15 s, which coqui drops (< 0.33 s)."""
    audio = voices.read_recording(reference_wav)
    assert 3.0 < audio.shape[1] / 22050 < 3.33
    with torch.inference_mode():
        want = coqui.get_gpt_cond_latents(audio, 22050, length=30, chunk_length=3).numpy()
        first = coqui.get_gpt_cond_latents(audio[:, : 3 * 22050], 22050, length=3, chunk_length=3)
    np.testing.assert_array_equal(want, first.numpy())  # the 0.15 s chunk made no difference
    ours = gpt_cond_latents(conditioning, audio[0].numpy(), 30, 3)
    np.testing.assert_allclose(np.array(ours), want, rtol=0, atol=VOICE_ATOL)


def test_voice_errors(conditioning, speaker_encoder, settings, reference_wav, tmp_path):
    with pytest.raises(MlxStreamError, match="no voice recordings given"):
        compute_voice(conditioning, speaker_encoder, [], settings)
    missing = tmp_path / "gone.wav"
    with pytest.raises(MlxStreamError, match="voice recording not found"):
        compute_voice(conditioning, speaker_encoder, [reference_wav, missing], settings)
    with pytest.raises(MlxStreamError, match="gpt_cond_chunk_len is 0: set it to a positive"):
        gpt_cond_latents(conditioning, np.zeros(22050, dtype=np.float32), 30, 0)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(22050, dtype=np.float32), 22050)
    normalised = InferenceArgs(sound_norm_refs=True)
    with pytest.raises(MlxStreamError, match="silent.wav is silent: record some speech"):
        compute_voice(conditioning, speaker_encoder, [silent], normalised)
    with pytest.raises(MlxStreamError, match="hold 0.30 s of audio: XTTS needs at least 0.33 s"):
        gpt_cond_latents(conditioning, np.zeros(6615, dtype=np.float32), 30, 4)


def test_cloning_never_imports_torch(stereo_wav):
    """The MLX voice path runs end to end in a fresh interpreter without loading torch."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import mlx.core as mx
        from mlx_stream.xtts.conditioning import ConditioningEncoder, compute_voice
        from mlx_stream.xtts.config import InferenceArgs, ModelArgs
        from mlx_stream.xtts.speaker import SpeakerEncoder

        args = ModelArgs(gpt_n_model_channels=64, gpt_n_heads=4)
        voice = compute_voice(
            ConditioningEncoder(args), SpeakerEncoder(args),
            [Path({str(stereo_wav)!r})], InferenceArgs(max_ref_len=1),
        )
        mx.eval(voice)
        print(voice[0].shape, voice[1].shape)
        loaded = [name for name in ("torch", "torchaudio", "TTS") if name in sys.modules]
        assert not loaded, loaded
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(1,", "32,", "64)", "(1,", "512)"]
