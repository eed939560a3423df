"""XttsSynthesizer against coqui-tts itself, on a tiny random XTTS v2 saved in the real layout.

The reference is coqui's own `Xtts` loaded by coqui's own `load_checkpoint`: with the same seed,
latents and settings our chunks must be coqui's chunks, sample for sample.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from mlx_stream.errors import MlxStreamError
from mlx_stream.tts.base import Synthesizer
from mlx_stream.tts.voices import default_cache_dir
from mlx_stream.tts.xtts import XttsSynthesizer, pick_device, split_for_speech
from tests.fixtures.xtts import link_checkpoint, load_coqui

SEED = 1234
CHUNK = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def coqui(tiny_xtts_dir):
    """The reference: coqui's Xtts, loaded the way coqui's own docs say."""
    return load_coqui(tiny_xtts_dir)


@pytest.fixture(scope="module")
def synth(tiny_xtts_dir, tmp_path_factory):
    return XttsSynthesizer.from_pretrained(
        tiny_xtts_dir,
        device="cpu",
        seed=SEED,
        stream_chunk_size=CHUNK,
        cache_dir=tmp_path_factory.mktemp("latents"),
    )


def coqui_settings(coqui, **overrides) -> dict:
    settings = {
        "temperature": 0.75,
        "length_penalty": coqui.config.length_penalty,
        "repetition_penalty": coqui.config.repetition_penalty,
        "top_k": coqui.config.top_k,
        "top_p": coqui.config.top_p,
        "speed": 1.0,
    }
    return {**settings, **overrides}


def coqui_speaker(coqui, name: str):
    found = coqui.speaker_manager.speakers[name]
    return found["gpt_cond_latent"], found["speaker_embedding"]


def coqui_stream(coqui, text, language, voice, **settings) -> list[np.ndarray]:
    torch.manual_seed(SEED)
    chunks = coqui.inference_stream(text, language, *voice, stream_chunk_size=CHUNK, **settings)
    return [chunk.numpy() for chunk in chunks]


def coqui_inference(coqui, text, language, voice, **settings) -> np.ndarray:
    torch.manual_seed(SEED)
    return coqui.inference(text, language, *voice, **settings)["wav"]


def assert_speech_chunks(chunks: list[np.ndarray]) -> None:
    assert chunks
    for chunk in chunks:
        assert chunk.dtype == np.float32 and chunk.ndim == 1 and chunk.size > 0
        assert np.abs(chunk).max() <= 1.0


def test_stream_is_coqui_inference_stream_sample_for_sample(synth, coqui):
    text = "Hello world, how are you today?"
    ours = list(synth.stream(text, "eng_Latn"))
    # The default voice is the named default speaker, not simply the first in the file.
    reference = coqui_stream(
        coqui, text, "en", coqui_speaker(coqui, "Ana Florence"), **coqui_settings(coqui)
    )
    assert [len(c) for c in ours] == [len(c) for c in reference]
    assert len(reference) >= 3  # really streamed: several decoder passes
    np.testing.assert_allclose(np.concatenate(ours), np.concatenate(reference), rtol=0, atol=1e-6)
    assert_speech_chunks(ours)
    assert synth.sample_rate == 24000 == coqui.args.output_sample_rate
    assert isinstance(synth, Synthesizer)


def test_first_chunk_arrives_before_the_sentence_is_generated(synth):
    """Streaming, proven by counting GPT steps rather than timing them."""
    steps = []
    handle = synth.model.gpt.gpt_inference.register_forward_hook(lambda *_: steps.append(1))
    try:
        chunks = synth.stream("Hello world, how are you today?", "en")
        next(chunks)
        at_first_chunk = len(steps)
        rest = list(chunks)
    finally:
        handle.remove()
    assert at_first_chunk == CHUNK  # one step per audio token, and no more before the first chunk
    assert len(steps) > at_first_chunk and len(rest) >= 2


def test_synthesize_is_coqui_inference_with_speaker_speed_and_temperature(
    tiny_xtts_dir, coqui, tmp_path
):
    synth = XttsSynthesizer.from_pretrained(
        tiny_xtts_dir,
        "cpu",
        "Viktor Eka",
        speed=1.3,
        temperature=0.6,
        seed=SEED,
        cache_dir=tmp_path,
    )
    text = "The quick brown fox."
    ours = synth.synthesize(text, "en")
    voice = coqui_speaker(coqui, "Viktor Eka")
    reference = coqui_inference(
        coqui, text, "en", voice, **coqui_settings(coqui, speed=1.3, temperature=0.6)
    )
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)
    # speed reaches the model: at 1.0 the same tokens make a longer utterance
    normal = coqui_inference(coqui, text, "en", voice, **coqui_settings(coqui, temperature=0.6))
    assert len(normal) > len(ours)
    assert not list(tmp_path.iterdir())  # built-in speakers need no latents cache


def test_japanese_through_cutlet_offline(synth, coqui):
    text = "こんにちは、今日はいい天気ですね。"
    assert coqui.tokenizer.preprocess_text(text, "ja").isascii()  # cutlet made romaji
    ours = list(synth.stream(text, "jpn_Jpan"))
    reference = coqui_stream(
        coqui, text, "ja", coqui_speaker(coqui, "Ana Florence"), **coqui_settings(coqui)
    )
    np.testing.assert_allclose(np.concatenate(ours), np.concatenate(reference), rtol=0, atol=1e-6)
    assert_speech_chunks(ours)
    np.testing.assert_array_equal(
        np.concatenate(list(synth.stream(text, "ja"))), np.concatenate(ours)
    )


def test_recorded_voice_is_computed_once_then_cached(
    tiny_xtts_dir, reference_wav, stereo_wav, tmp_path
):
    cache = tmp_path / "cache"
    synth = XttsSynthesizer.from_pretrained(tiny_xtts_dir, "cpu", seed=SEED, cache_dir=cache)
    calls = {"gpt": 0, "speaker": 0}
    model = synth.model
    real_gpt, real_speaker = model.get_gpt_cond_latents, model.get_speaker_embedding

    def counted_gpt(*args, **kwargs):
        calls["gpt"] += 1
        return real_gpt(*args, **kwargs)

    def counted_speaker(*args, **kwargs):
        calls["speaker"] += 1
        return real_speaker(*args, **kwargs)

    model.get_gpt_cond_latents, model.get_speaker_embedding = counted_gpt, counted_speaker
    voice = [reference_wav, stereo_wav]  # 22.05 kHz mono and 44.1 kHz stereo
    synth.set_voice(voice)
    assert calls == {"gpt": 1, "speaker": 2}
    (stored,) = cache.iterdir()
    written = stored.stat().st_mtime_ns
    first = synth.synthesize("Say it again.", "en")
    assert_speech_chunks([first])

    again = XttsSynthesizer(model, tiny_xtts_dir, "cpu", voice, seed=SEED, cache_dir=cache)
    assert calls == {"gpt": 1, "speaker": 2}  # a new synthesizer, no recomputation
    assert stored.stat().st_mtime_ns == written and list(cache.iterdir()) == [stored]
    np.testing.assert_array_equal(again.synthesize("Say it again.", "en"), first)

    again.set_voice(reference_wav)  # other recordings, other key
    assert calls == {"gpt": 2, "speaker": 3} and len(list(cache.iterdir())) == 2


def test_recorded_latents_are_coquis_conditioning(synth, coqui, reference_wav, tmp_path):
    """Our soundfile reading feeds coqui's encoders exactly what its torchaudio.load would."""
    mine = XttsSynthesizer(synth.model, synth.folder, "cpu", reference_wav, cache_dir=tmp_path)
    audio, rate = sf.read(reference_wav, dtype="float32")
    assert rate == 22050
    audio = torch.from_numpy(audio)[None, :].clip(-1, 1)
    latents = coqui.get_gpt_cond_latents(
        audio, rate, length=coqui.config.gpt_cond_len, chunk_length=4
    )
    embedding = coqui.get_speaker_embedding(audio, rate)
    torch.testing.assert_close(mine._voice[0], latents, rtol=0, atol=1e-6)
    torch.testing.assert_close(mine._voice[1], embedding, rtol=0, atol=1e-6)


def test_long_text_is_split_at_clauses_and_spoken_piece_by_piece(synth, coqui):
    limit = synth.max_chars("jpn_Jpan")
    assert limit == coqui.tokenizer.char_limits["ja"] == 71
    assert synth.max_chars("Chinese") == coqui.tokenizer.char_limits["zh"]
    text = "今日はとてもいい天気なので、公園まで散歩に行きましょう。" * 3
    pieces = split_for_speech(text, limit)
    assert len(pieces) == 2 and all(len(p) <= limit for p in pieces)
    assert "".join(pieces) == text and pieces[0].endswith("。")
    voice = coqui_speaker(coqui, "Ana Florence")
    torch.manual_seed(SEED)
    reference = [
        coqui.inference(piece, "ja", *voice, **coqui_settings(coqui))["wav"] for piece in pieces
    ]
    np.testing.assert_allclose(synth.synthesize(text, "ja"), np.concatenate(reference), atol=1e-6)


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        ("Short one.", 20, ["Short one."]),
        ("First sentence here. Second one, with a clause.", 26, ["First sentence here.", "Second one, with a clause."]),
        ("one, two, three, four, five, six", 12, ["one, two,", "three, four,", "five, six"]),
        ("a very long sentence without any punctuation at all", 20, ["a very long sentence", "without any", "punctuation at all"]),
        ("abcdefghijklmnopqrstuvwxyz", 10, ["abcdefghij", "klmnopqrst", "uvwxyz"]),
        ("  spaced \n  out   text. ", 50, ["spaced out text."]),
    ],
)  # fmt: skip
def test_split_for_speech(text, limit, expected):
    assert split_for_speech(text, limit) == expected


def test_pick_device():
    assert pick_device({"mps": False, "cuda": False}) == "cpu"
    assert pick_device({"mps": False, "cuda": True}) == "cuda"
    assert pick_device({"mps": True, "cuda": True}) == "mps"
    here = {"mps": torch.backends.mps.is_available(), "cuda": torch.cuda.is_available()}
    assert pick_device() == pick_device(here)


class FailOnce:
    """A torch forward pre-hook that raises the error MPS gives for a missing kernel, `times` times."""

    def __init__(self, on_call: int = 1, times: int = 1):
        self.calls, self.on_call, self.times = 0, on_call, times

    def __call__(self, module, inputs):
        self.calls += 1
        if self.on_call <= self.calls < self.on_call + self.times:
            raise NotImplementedError(
                "The operator 'aten::_weight_norm' is not currently implemented for the MPS device."
            )


@pytest.mark.parametrize("failing_call", [1, 3], ids=["first-chunk", "mid-stream"])
def test_failing_mps_op_falls_back_to_cpu_once(tiny_xtts_dir, synth, capfd, tmp_path, failing_call):
    text = "Hello world, how are you today?"
    expected = list(synth.stream(text, "en"))
    capfd.readouterr()
    moved = XttsSynthesizer(synth.model, tiny_xtts_dir, "cpu", seed=SEED, stream_chunk_size=CHUNK)
    moved.device = "mps"  # the seam: pretend the model sits on mps, then break one of its ops
    fault = FailOnce(on_call=failing_call)
    handle = synth.model.hifigan_decoder.register_forward_pre_hook(fault)
    try:
        chunks = list(moved.stream(text, "en"))
    finally:
        handle.remove()
    assert moved.device == "cpu"
    assert capfd.readouterr().err.count("XTTS falls back to the CPU") == 1
    # the same seed on the cpu re-makes the sentence; what was already played is not repeated
    np.testing.assert_array_equal(np.concatenate(chunks), np.concatenate(expected))
    assert fault.calls > failing_call  # the decoder ran again after the failure


def test_failure_on_cpu_is_not_swallowed(synth, capfd):
    handle = synth.model.hifigan_decoder.register_forward_pre_hook(FailOnce(times=99))
    try:
        with pytest.raises(NotImplementedError):
            synth.synthesize("Hello.", "en")
    finally:
        handle.remove()
    assert "falls back" not in capfd.readouterr().err


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("MLX_STREAM_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "xtts-latents"
    monkeypatch.delenv("MLX_STREAM_CACHE")
    assert default_cache_dir().parts[-3:] == (".cache", "mlx-stream", "xtts-latents")


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and ": " in message
    return message


@pytest.mark.parametrize(
    "text, language, says",
    [
        ("", "en", "text is empty"),
        ("   \n", "en", "text is empty"),
        ("?!... —", "en", "no letters or digits"),
        ("Hello.", "tlh_Latn", "XTTS cannot speak 'tlh_Latn': choose one of en, es"),
        ("Hello.", "Finnish", "XTTS cannot speak 'Finnish'"),
    ],
)
def test_bad_text_or_language(synth, text, language, says):
    with pytest.raises(MlxStreamError) as excinfo:
        synth.stream(text, language)  # raised at the call, before any audio is made
    assert says in one_line_error(excinfo)
    with pytest.raises(MlxStreamError):
        synth.synthesize(text, language)


def test_bad_voices(synth, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(11025, np.float32), 22050)
    cases = [
        (tmp_path / "missing.wav", "voice recording not found"),
        (str(tmp_path / "missing.flac"), "voice recording not found"),
        (corrupt, "cannot read voice recording"),
        (short, "is 0.50 s long: use at least 1 s"),
        (
            "Nobody Here",
            "unknown XTTS speaker 'Nobody Here': pass one of Claribel Dervla, Ana Florence",
        ),
        ([], "voice is an empty list"),
    ]
    for voice, says in cases:
        with pytest.raises(MlxStreamError) as excinfo:
            synth.set_voice(voice)
        assert says in one_line_error(excinfo), voice


@pytest.mark.parametrize("missing", ["config.json", "model.pth", "vocab.json"])
def test_checkpoint_with_a_file_missing(tiny_xtts_dir, tmp_path, missing):
    folder = link_checkpoint(tiny_xtts_dir, tmp_path / "xtts", without=missing)
    with pytest.raises(MlxStreamError) as excinfo:
        XttsSynthesizer.from_pretrained(folder, "cpu", cache_dir=tmp_path)
    assert f"lacks {missing}: download coqui/XTTS-v2 again" in one_line_error(excinfo)


def test_checkpoint_without_speakers_needs_a_recording(tiny_xtts_dir, reference_wav, tmp_path):
    folder = link_checkpoint(tiny_xtts_dir, tmp_path / "xtts", without="speakers_xtts.pth")
    with pytest.raises(MlxStreamError) as excinfo:
        XttsSynthesizer.from_pretrained(folder, "cpu", cache_dir=tmp_path)
    assert "has no speakers_xtts.pth: pass voice= a recording" in one_line_error(excinfo)
    synth = XttsSynthesizer.from_pretrained(folder, "cpu", reference_wav, cache_dir=tmp_path)
    assert synth.speakers == []


def test_corrupt_checkpoint_and_bad_device(tiny_xtts_dir, tmp_path):
    folder = link_checkpoint(tiny_xtts_dir, tmp_path / "xtts", without="model.pth")
    (folder / "model.pth").write_bytes(b"\x80\x02 truncated pickle")
    with pytest.raises(MlxStreamError) as excinfo:
        XttsSynthesizer.from_pretrained(folder, "cpu", cache_dir=tmp_path)
    assert "cannot load the XTTS checkpoint" in one_line_error(excinfo)
    with pytest.raises(MlxStreamError) as excinfo:
        XttsSynthesizer.from_pretrained(tiny_xtts_dir, "tpu")
    assert "unknown device 'tpu'" in one_line_error(excinfo)
    if not torch.cuda.is_available():
        with pytest.raises(MlxStreamError) as excinfo:
            XttsSynthesizer.from_pretrained(tiny_xtts_dir, "cuda")
        assert "device 'cuda' is not available here" in one_line_error(excinfo)


def test_not_a_folder_nor_a_repo(tmp_path):
    with pytest.raises(MlxStreamError) as excinfo:
        XttsSynthesizer.from_pretrained(tmp_path / "nowhere")
    assert "XTTS v2 model not found" in one_line_error(excinfo)
