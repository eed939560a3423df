"""The MLX XTTS engine against coqui-tts itself, on tiny random checkpoints in the real layout.

coqui's `Xtts` loaded by coqui's own `load_checkpoint` is the reference. Greedy decoding
(`do_sample=True, top_k=1`, which both coqui paths honour) takes sampling out of the question:
the MLX engine must make coqui's audio. The HiFi-GAN is narrowed to 32 channels here (coqui fixes
512, which MLX's CPU convolutions need minutes per sentence for); its full width is proven
against coqui in test_xtts_hifigan.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import mlx.core as mx
import numpy as np
import pytest
import torch

from mlx_stream.errors import MlxStreamError
from mlx_stream.tts import mlx_xtts
from mlx_stream.tts.base import Synthesizer
from mlx_stream.tts.mlx_xtts import MlxXttsSynthesizer
from mlx_stream.tts.voices import compute_conditioning, conditioning_settings
from mlx_stream.xtts import weights
from tests.fixtures.nllb import make_checkpoint
from tests.fixtures.xtts import build_tiny_xtts, load_coqui

DECODER = 32
TEXT = "Hello world, how are you today?"
SHAPES = {
    "2x64": {},
    "3x96": {"gpt_layers": 3, "gpt_n_model_channels": 96, "gpt_n_heads": 6},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """shape -> (coqui folder, converted folder)."""
    root = tmp_path_factory.mktemp("mlx-xtts")
    made = {}
    for name, args in SHAPES.items():
        dims = args.get("gpt_n_model_channels", 64)
        source = build_tiny_xtts(
            root / name, seed=7, decoder_channels=DECODER, decoder_input_dim=dims, **args
        )
        converted = root / f"{name}-mlx"
        weights.convert(source, converted, dtype="float32")
        made[name] = (source, converted)
    return made


@pytest.fixture(scope="module")
def coqui_models(checkpoints):
    return {name: load_coqui(source, DECODER) for name, (source, _) in checkpoints.items()}


def greedy(folder, tmp_path, **options) -> MlxXttsSynthesizer:
    return MlxXttsSynthesizer.from_pretrained(folder, top_k=1, cache_dir=tmp_path, **options)


def coqui_greedy(coqui, text, language, voice, speed=1.0) -> np.ndarray:
    config = coqui.config
    return coqui.inference(
        text,
        language,
        *voice,
        temperature=config.temperature,
        repetition_penalty=config.repetition_penalty,
        top_k=1,
        top_p=config.top_p,
        speed=speed,
    )["wav"]


def coqui_speaker(coqui, name):
    found = coqui.speaker_manager.speakers[name]
    return found["gpt_cond_latent"], found["speaker_embedding"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("speed", [1.0, 0.8, 1.25])
def test_synthesize_is_coqui_inference(checkpoints, coqui_models, tmp_path, shape, speed):
    synth = greedy(checkpoints[shape][1], tmp_path, speed=speed)
    coqui = coqui_models[shape]
    for text, language in [(TEXT, "en"), ("Bonjour le monde, ca va?", "fr")]:
        ours = synth.synthesize(text, language)
        reference = coqui_greedy(coqui, text, language, coqui_speaker(coqui, "Ana Florence"), speed)
        assert ours.shape == reference.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-4)
        assert np.abs(reference).max() > 1e-3  # real audio, not silence on both sides


@pytest.mark.parametrize("shape", SHAPES)
def test_a_recorded_voice_is_coqui_inference(
    checkpoints, coqui_models, tmp_path, shape, reference_wav
):
    coqui = coqui_models[shape]
    voice = compute_conditioning(coqui, [reference_wav], conditioning_settings(coqui.config))
    synth = greedy(checkpoints[shape][1], tmp_path, voice=str(reference_wav))
    np.testing.assert_allclose(np.array(synth.voice[0]), voice[0].numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(
        np.array(synth.voice[1]).reshape(-1), voice[1].numpy().reshape(-1), rtol=0, atol=1e-4
    )
    ours = synth.synthesize(TEXT, "en")
    np.testing.assert_allclose(ours, coqui_greedy(coqui, TEXT, "en", voice), rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "chunk, speed", [(1, 1.0), (3, 1.0), (8, 1.0), (20, 1.0), (8, 0.8), (8, 1.25), (3, 1.25)]
)
def test_stream_joined_is_synthesize(checkpoints, tmp_path, chunk, speed):
    """With real sampling: the same seed draws the same codes, and the exact stream decoder
    hands out exactly the one-pass decode, whatever the chunking."""
    synth = MlxXttsSynthesizer.from_pretrained(
        checkpoints["2x64"][1],
        seed=11,
        speed=speed,
        stream_chunk_size=chunk,
        first_chunk_size=min(chunk, 6),
        cache_dir=tmp_path,
    )
    whole = synth.synthesize(TEXT, "en")
    chunks = list(synth.stream(TEXT, "en"))
    assert len(chunks) >= 3
    for c in chunks:
        assert c.dtype == np.float32 and c.ndim == 1 and c.size and np.abs(c).max() <= 1.0
    np.testing.assert_allclose(np.concatenate(chunks), whole, rtol=0, atol=1e-5)


def test_the_stream_is_coqui_inference_too(checkpoints, coqui_models, tmp_path):
    coqui = coqui_models["2x64"]
    synth = greedy(checkpoints["2x64"][1], tmp_path, stream_chunk_size=8)
    reference = coqui_greedy(coqui, TEXT, "en", coqui_speaker(coqui, "Ana Florence"))
    np.testing.assert_allclose(np.concatenate(list(synth.stream(TEXT, "en"))), reference, atol=1e-4)


def test_first_audio_comes_early_and_small(checkpoints, tmp_path, monkeypatch):
    """Counted, not timed: the first chunk needs half the GPT steps coqui's first chunk needs
    (its default stream_chunk_size is 20) and holds at most 0.5 s of audio."""
    steps = []
    generate_step = mlx_xtts.generate_step

    def counting(*args, **kwargs):
        for item in generate_step(*args, **kwargs):
            steps.append(1)
            yield item

    monkeypatch.setattr(mlx_xtts, "generate_step", counting)
    synth = MlxXttsSynthesizer.from_pretrained(checkpoints["2x64"][1], seed=3, cache_dir=tmp_path)
    chunks = synth.stream(TEXT, "en")
    first = next(chunks)
    assert len(steps) <= 20 // 2
    assert 0 < first.size <= 0.5 * synth.sample_rate
    rest = list(chunks)
    assert rest and len(steps) > 10


def test_decoder_work_per_chunk_does_not_grow(checkpoints, tmp_path, monkeypatch):
    frames = []
    push = mlx_xtts.ExactStream.push

    def counting(self, latents):
        audio = push(self, latents)
        frames.append((latents.shape[1], self.frames_computed))
        return audio

    monkeypatch.setattr(mlx_xtts.ExactStream, "push", counting)
    synth = MlxXttsSynthesizer.from_pretrained(
        checkpoints["2x64"][1], seed=3, stream_chunk_size=4, first_chunk_size=4, cache_dir=tmp_path
    )
    list(synth.stream(TEXT, "en"))
    steady = [f for n, f in frames[1:] if n == 4]
    assert len(steady) >= 3
    assert max(steady) == min(steady)  # one fixed window per chunk, wherever it is


def test_built_in_speakers_and_the_synthesizer_protocol(checkpoints, tmp_path):
    synth = MlxXttsSynthesizer.from_pretrained(checkpoints["2x64"][1], cache_dir=tmp_path)
    assert isinstance(synth, Synthesizer)
    assert synth.sample_rate == 24000
    assert synth.speakers == ["Ana Florence", "Claribel Dervla", "Viktor Eka"]
    assert "ja" in synth.languages and "zh-cn" in synth.languages
    assert synth.max_chars("jpn_Jpan") == 71 and synth.max_chars("English") == 250
    a = synth.synthesize(TEXT, "en")
    synth.set_voice("Viktor Eka")
    assert not np.array_equal(a, synth.synthesize(TEXT, "en"))
    assert not list(tmp_path.iterdir())  # built-in voices need no latents cache


def test_seeds_repeat_and_differ(checkpoints, tmp_path):
    folder = checkpoints["2x64"][1]
    one = MlxXttsSynthesizer.from_pretrained(folder, seed=1, cache_dir=tmp_path)
    assert np.array_equal(one.synthesize(TEXT, "en"), one.synthesize(TEXT, "en"))
    two = MlxXttsSynthesizer.from_pretrained(folder, seed=2, cache_dir=tmp_path)
    assert not np.array_equal(one.synthesize(TEXT, "en"), two.synthesize(TEXT, "en"))


def test_a_cloned_voice_is_cached(checkpoints, tmp_path, reference_wav, monkeypatch):
    folder = checkpoints["2x64"][1]
    first = MlxXttsSynthesizer.from_pretrained(folder, voice=str(reference_wav), cache_dir=tmp_path)
    (stored,) = tmp_path.iterdir()
    monkeypatch.setattr(mlx_xtts, "compute_voice", lambda *a: pytest.fail("recomputed"))
    again = MlxXttsSynthesizer.from_pretrained(folder, voice=str(reference_wav), cache_dir=tmp_path)
    np.testing.assert_array_equal(np.array(again.voice[0]), np.array(first.voice[0]))
    assert list(tmp_path.iterdir()) == [stored]


# --- the converter -------------------------------------------------------------------------------


def digest(folder):
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}


def test_conversion_reads_the_source_and_writes_the_folder(checkpoints, tmp_path):
    source = checkpoints["2x64"][0]
    before = digest(source)
    target = tmp_path / "xtts"
    summary = weights.convert(source, target, dtype="float16")
    assert digest(source) == before  # never written back (coqui rewrites legacy files in place)
    assert sorted(p.name for p in target.iterdir()) == [
        "cloning.safetensors",
        "config.json",
        "model.safetensors",
        "speakers.safetensors",
        "vocab.json",
    ]
    config = json.loads((target / "config.json").read_text())
    assert config["mlx_stream"]["sources"] == {k: before[k] for k in weights.SOURCE_FILES}
    assert config["mlx_stream"]["dtype"] == "float16" and config["model"] == "xtts"
    assert config["model_args"]["decoder_channels"] == DECODER
    assert config["model_args"]["gpt_start_text_token"] == 3  # [START] in the tiny vocab
    assert summary.parameters > 0 and "float16" in str(summary)
    with pytest.raises(MlxStreamError, match="already exists: pass --force"):
        weights.convert(source, target)
    with pytest.raises(MlxStreamError, match="already converted"):
        weights.convert(target, tmp_path / "again")


@pytest.mark.parametrize("layout", ["fine-tune prefix", "inference aliases", "weight_g/weight_v"])
def test_other_checkpoint_layouts_convert_the_same(checkpoints, tmp_path, layout):
    """coqui's GPTTrainer saves `xtts.`-prefixed keys; v1-era files carry `gpt.gpt_inference.*`
    aliases and old HiFi-GAN weight norm as `weight_g`/`weight_v`."""
    source = checkpoints["2x64"][0]
    state = torch.load(source / "model.pth", weights_only=True)["model"]
    if layout == "fine-tune prefix":
        state = {f"xtts.{k}": v for k, v in state.items()}
        state["xtts.dvae.codebook.weight"] = torch.zeros(3)  # training-only, dropped
    elif layout == "inference aliases":
        extra = {
            k.replace("gpt.gpt.", "gpt.gpt_inference.transformer."): v.clone()
            for k, v in state.items()
            if k.startswith("gpt.gpt.h.")
        }
        state = {**state, **extra, "gpt.gpt.wte.weight": state["gpt.mel_embedding.weight"]}
    else:
        renamed = {}
        for k, v in state.items():
            k = k.replace("parametrizations.weight.original0", "weight_g")
            renamed[k.replace("parametrizations.weight.original1", "weight_v")] = v
        state = renamed
    variant = tmp_path / "variant"
    shutil.copytree(source, variant)
    torch.save({"model": state}, variant / "model.pth")
    weights.convert(variant, tmp_path / "converted")
    ours = weights.toolkit.load_safetensors(tmp_path / "converted")
    reference = weights.toolkit.load_safetensors(checkpoints["2x64"][1])
    assert ours.keys() == reference.keys()
    for key in ours:
        np.testing.assert_allclose(np.array(ours[key]), np.array(reference[key]), atol=1e-6)


def test_quantized_gpt_agrees_with_float32(checkpoints, tmp_path):
    """Share of greedy codes equal to float32's: printed for the record, and 8-bit must keep
    almost all of them."""
    from mlx_stream.xtts.generate import generate
    from mlx_stream.xtts.sampling import Sampler, SamplingSettings

    source, converted = checkpoints["3x96"]
    texts = [TEXT, "The quick brown fox jumps over the lazy dog.", "Bonjour le monde."]

    def codes(folder):
        synth = MlxXttsSynthesizer.from_pretrained(folder, cache_dir=tmp_path)
        sampler = Sampler(SamplingSettings(top_k=1, repetition_penalty=5.0))
        found = []
        for text in texts:
            ids = synth.tokenizer.encode(text, "en")
            found += generate(synth.model.gpt, synth.voice[0], mx.array([ids]), sampler)[0]
        return np.array(found)

    reference = codes(converted)
    for bits in (8, 4):
        folder = tmp_path / f"q{bits}"
        weights.convert(source, folder, dtype="float32", q_bits=bits, q_group_size=32)
        config = json.loads((folder / "config.json").read_text())
        assert config["quantization"] == {"group_size": 32, "bits": bits}
        model, _ = weights.load(folder)
        assert hasattr(model.gpt.h[0].attn.c_attn, "scales")
        assert not hasattr(model.gpt.mel_head, "scales")
        equal = float(np.mean(codes(folder) == reference))
        print(f"q{bits} GPT: {equal:.1%} of greedy codes equal to float32's")
        if bits == 8:
            assert equal >= 0.9


# --- torch-free, and bad input ---------------------------------------------------------------------


def test_convert_load_clone_and_speak_without_torch(checkpoints, tmp_path, reference_wav):
    code = f"""
import sys
import mlx.core as mx
import numpy as np
from mlx_stream.xtts import weights
from mlx_stream.tts.mlx_xtts import MlxXttsSynthesizer
weights.convert({str(checkpoints["2x64"][0])!r}, {str(tmp_path / "x")!r})
synth = MlxXttsSynthesizer.from_pretrained({str(tmp_path / "x")!r}, voice={str(reference_wav)!r},
                                           cache_dir={str(tmp_path / "cache")!r})
audio = np.concatenate(list(synth.stream("Hello there.", "en")))
print(audio.size > 0, "torch" in sys.modules, "TTS" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False"]


def test_an_unconverted_folder_is_converted_once(checkpoints, tmp_path, capfd):
    source = checkpoints["2x64"][0]
    synth = MlxXttsSynthesizer.from_pretrained(source, weights_dir=tmp_path, cache_dir=tmp_path)
    assert weights.is_converted(tmp_path / f"{source.name}-float32")
    assert "converted" in capfd.readouterr().err
    again = MlxXttsSynthesizer.from_pretrained(source, weights_dir=tmp_path, cache_dir=tmp_path)
    assert again.folder == synth.folder and capfd.readouterr().err == ""


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


def test_bad_checkpoints_are_one_line_errors(checkpoints, tmp_path):
    source = checkpoints["2x64"][0]
    broken = tmp_path / "broken"
    shutil.copytree(source, broken)
    (broken / "model.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(MlxStreamError) as e:
        weights.convert(broken, tmp_path / "out")
    assert "not a readable PyTorch checkpoint" in one_line(e)
    (broken / "model.pth").unlink()
    with pytest.raises(MlxStreamError) as e:
        weights.convert(broken, tmp_path / "out")
    assert "lacks model.pth" in one_line(e)
    make_checkpoint(tmp_path / "nllb")
    with pytest.raises(MlxStreamError) as e:
        weights.convert(tmp_path / "nllb", tmp_path / "out")
    assert "not XTTS v2" in one_line(e)
    from mlx_stream.nllb import weights as nllb_weights

    nllb_weights.convert(tmp_path / "nllb", tmp_path / "nllb-mlx", dtype="float32")
    with pytest.raises(MlxStreamError) as e:  # converted, but not XTTS
        MlxXttsSynthesizer.from_pretrained(tmp_path / "nllb-mlx", cache_dir=tmp_path)
    assert "holds a 'm2m_100' model, not XTTS v2" in one_line(e)
    truncated = tmp_path / "truncated"
    shutil.copytree(checkpoints["2x64"][1], truncated)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(MlxStreamError) as e:
        MlxXttsSynthesizer.from_pretrained(truncated, cache_dir=tmp_path)
    assert "model.safetensors" in one_line(e)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda s: s.set_voice("Nobody Here"), "unknown XTTS speaker 'Nobody Here'"),
        (lambda s: s.synthesize("Hello.", "tha_Thai"), "XTTS cannot speak 'tha_Thai'"),
        (lambda s: list(s.stream("   ", "en")), "nothing to say"),
        (lambda s: s.set_voice("/no/such/voice.wav"), "voice recording not found"),
    ],
)
def test_bad_input_is_one_line_errors(checkpoints, tmp_path, call, expected):
    synth = MlxXttsSynthesizer.from_pretrained(checkpoints["2x64"][1], cache_dir=tmp_path)
    with pytest.raises(MlxStreamError) as e:
        call(synth)
    assert expected in one_line(e)


def test_bad_recordings_are_one_line_errors(checkpoints, tmp_path):
    import soundfile as sf

    synth = MlxXttsSynthesizer.from_pretrained(checkpoints["2x64"][1], cache_dir=tmp_path)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(8000, np.float32), 22050)
    with pytest.raises(MlxStreamError) as e:
        synth.set_voice(str(short))
    assert "0.36 s long" in one_line(e)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF....not audio")
    with pytest.raises(MlxStreamError) as e:
        synth.set_voice(str(garbage))
    assert "cannot read voice recording" in one_line(e)


def test_a_missing_language_extra_names_it(checkpoints, tmp_path):
    code = f"""
import sys
sys.modules["cutlet"] = None
from mlx_stream.errors import MlxStreamError
from mlx_stream.tts.mlx_xtts import MlxXttsSynthesizer
synth = MlxXttsSynthesizer.from_pretrained({str(checkpoints["2x64"][1])!r}, cache_dir={str(tmp_path)!r})
try:
    synth.synthesize("konnichiwa", "ja")
except MlxStreamError as e:
    print(e)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'mlx-stream[ja]'" in out.stdout, out.stderr
