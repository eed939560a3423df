"""The system voices: espeak-ng for real, macOS `say` through its command line and file format.

espeak-ng's own `-w` output, read back by sox, is the reference for what the backend returns.
`say` cannot run here: its argv, its voice listing and the AIFF files it writes are tested, and
a stand-in `say` (sox + espeak-ng behind the same options) runs the backend end to end.
Last, the real `mlx-stream --tts espeak` with a tiny random NLLB writes the translations' speech.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from mlx_stream.errors import MlxStreamError
from mlx_stream.resample import resample
from mlx_stream.tts import EspeakSynthesizer, SaySynthesizer, Synthesizer
from mlx_stream.tts.system import decode_audio, japanese_reading, parse_say_voices, say_command
from tests.conftest import run_cli

SHORT = {"eng_Latn": "Good morning, everyone.", "jpn_Jpan": "今日は東京へ行きます。"}
# What espeak-ng must be given to say them: it reads kanji as "Chinese letter", は as "ha".
SPOKEN = {"eng_Latn": SHORT["eng_Latn"], "jpn_Jpan": "キョーワトーキョーエイキマス。"}


def sox_samples(path: Path) -> np.ndarray:
    """A sound file as sox decodes it: 16-bit signed samples as floats in [-1, 1)."""
    raw = subprocess.run(
        ["sox", str(path), "-D", "-t", "s16", "-"], capture_output=True, check=True
    )
    return np.frombuffer(raw.stdout, dtype="<i2").astype(np.float32) / 32768


def espeak_reference(tmp_path: Path, voice: str, text: str, *extra: str) -> np.ndarray:
    out = tmp_path / "reference.wav"
    subprocess.run(["espeak-ng", "-v", voice, *extra, "-w", str(out), text], check=True)
    return sox_samples(out)


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


# --- espeak-ng -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def espeak() -> EspeakSynthesizer:
    return EspeakSynthesizer()


def test_espeak_is_a_synthesizer(espeak):
    assert isinstance(espeak, Synthesizer)
    assert espeak.sample_rate == 22050


@pytest.mark.parametrize(
    "language, voice",
    [
        ("eng_Latn", "gmw/en"),
        ("jpn_Jpan", "jpx/ja"),
        ("ja", "jpx/ja"),
        ("zho_Hans", "sit/cmn-Latn-pinyin"),
    ],
)
def test_espeak_picks_the_languages_own_voice(espeak, language, voice):
    assert espeak.voice_for(language) == voice


@pytest.mark.parametrize("language", ["eng_Latn", "jpn_Jpan"])
def test_espeak_speaks_what_espeak_ng_itself_writes(espeak, tmp_path, language):
    text = SHORT[language]
    audio = espeak.synthesize(text, language)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.3 < len(audio) / espeak.sample_rate < 3.0
    assert np.sqrt(np.mean(audio**2)) > 0.01 and np.abs(audio).max() <= 1.0
    reference = espeak_reference(tmp_path, espeak.voice_for(language), SPOKEN[language])
    np.testing.assert_array_equal(audio, reference)


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("今日は東京へ行きます。", "キョーワトーキョーエイキマス。"),
        ("ＡＢＣの テスト、2026年　晴れ！", "エービーシーノ テスト、2026ネン　ハレ！"),
    ],
)
def test_japanese_reading(text, spoken):
    assert japanese_reading(text) == spoken
    phonemes = subprocess.run(["espeak-ng", "-v", "ja", "-q", "-x", japanese_reading(text)],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "(en)" not in phonemes.replace("(en)'eI _:b'i: _:s'i:", "")  # only ABC is English


@pytest.mark.parametrize("language", ["zho_Hans", "yue_Hant"])
def test_chinese_is_read_in_chinese(espeak, language):
    voice = espeak.voice_for(language)
    phonemes = subprocess.run(["espeak-ng", "-v", voice, "-q", "-x", "你好，世界。今天天气很好。"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "(en)" not in phonemes and "Tr'i:" not in phonemes  # no "three" for tone 3


def test_japanese_without_fugashi_is_a_one_line_error():
    code = (
        "import sys; sys.modules['fugashi'] = None\n"
        "from mlx_stream.errors import MlxStreamError\n"
        "from mlx_stream.tts import EspeakSynthesizer\n"
        "try:\n    EspeakSynthesizer().voice_for('jpn_Jpan')\n"
        "except MlxStreamError as e:\n    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.stdout.startswith("espeak-ng reads kanji as 'Chinese letter'")
    assert "pip install 'mlx-stream[ja]'" in run.stdout and run.stdout.count("\n") == 1


@pytest.mark.parametrize("language", ["eng_Latn", "jpn_Jpan"])
def test_espeak_duration_grows_with_the_text(espeak, language):
    once = espeak.synthesize(SHORT[language], language)
    thrice = espeak.synthesize(" ".join([SHORT[language]] * 3), language)
    assert 2.0 < len(thrice) / len(once) < 4.0


def test_espeak_stream_yields_the_utterance(espeak):
    chunks = list(espeak.stream(SHORT["eng_Latn"], "eng_Latn"))
    assert len(chunks) == 1
    np.testing.assert_array_equal(chunks[0], espeak.synthesize(SHORT["eng_Latn"], "eng_Latn"))
    assert list(espeak.stream("  ", "eng_Latn")) == []


@pytest.mark.parametrize("voice", ["en-us", "Japanese", "jpx/ja", "gmw/en-US", "en+f3", "ja+Storm"])
def test_espeak_accepts_its_voice_names(voice):
    assert EspeakSynthesizer(voice=voice).voice_for("eng_Latn") == voice


def test_espeak_voice_and_rate_are_passed_on(tmp_path):
    text = "Speaking fast with an American voice."
    audio = EspeakSynthesizer(voice="en-us", rate=260).synthesize(text, "jpn_Jpan")
    np.testing.assert_array_equal(audio, espeak_reference(tmp_path, "en-us", text, "-s", "260"))
    slow = EspeakSynthesizer(voice="en-us", rate=120).synthesize(text, "eng_Latn")
    assert len(slow) > 1.6 * len(audio)


@pytest.mark.parametrize("backend", [EspeakSynthesizer, SaySynthesizer])
@pytest.mark.parametrize("rate", [0, -5, "fast"])
def test_bad_rate(backend, rate, stand_in_say):
    program = {"program": str(stand_in_say)} if backend is SaySynthesizer else {}
    with pytest.raises(MlxStreamError) as excinfo:
        backend(rate=rate, **program)
    assert "words per minute" in one_line_error(excinfo)


def test_espeak_missing_program():
    with pytest.raises(MlxStreamError) as excinfo:
        EspeakSynthesizer(program="/nonexistent/espeak-ng")
    assert "install espeak-ng" in one_line_error(excinfo)


def test_espeak_not_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MlxStreamError) as excinfo:
        EspeakSynthesizer()
    assert "espeak-ng not found" in one_line_error(excinfo)


@pytest.mark.parametrize("voice", ["no-such-voice", "en-xyz", "en+no-such-variant", "mb-jp1"])
def test_espeak_unknown_voice(voice):
    with pytest.raises(MlxStreamError) as excinfo:
        EspeakSynthesizer(voice=voice)
    message = one_line_error(excinfo)
    assert voice in message and "espeak-ng --voices" in message


@pytest.mark.parametrize("language", ["wol_Latn", "ckb_Arab"])  # none; one for Latin script only
def test_espeak_language_without_a_voice(espeak, language):
    with pytest.raises(MlxStreamError) as excinfo:
        espeak.synthesize("Jamm nga fanaane?", language)
    message = one_line_error(excinfo)
    assert language in message and "espeak-ng --voices" in message


def test_unknown_language(espeak):
    with pytest.raises(MlxStreamError) as excinfo:
        espeak.synthesize("Hello.", "Klingon")
    assert "Klingon" in one_line_error(excinfo)


# --- the files `say` writes, and resampling -------------------------------------------------------


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    t = np.arange(int(0.4 * 44100)) / 44100
    return (0.5 * np.sin(2 * np.pi * 440 * t) * np.hanning(len(t))).astype(np.float32)


@pytest.mark.parametrize(
    "name, sox_format, tolerance",
    [
        ("int16.aiff", ["-D", "-b", "16", "-e", "signed-integer"], 0.5 / 32768),
        ("float32.aifc", ["-b", "32", "-e", "floating-point"], 1e-7),
    ],
)
def test_decode_aiff_written_by_sox(tmp_path, tone, name, sox_format, tolerance):
    source = tmp_path / "tone.wav"
    sf.write(source, tone, 22050, subtype="FLOAT")
    target = tmp_path / name
    subprocess.run(["sox", str(source), *sox_format, str(target)], check=True)
    assert target.read_bytes()[8:12] == (b"AIFF" if name.endswith("aiff") else b"AIFC")
    audio = decode_audio(target.read_bytes(), 22050)
    assert audio.dtype == np.float32
    np.testing.assert_allclose(audio, tone, atol=tolerance)
    np.testing.assert_allclose(audio, sox_samples(target), atol=0.5 / 32768)


def test_decode_resamples_to_the_reported_rate(tmp_path, tone):
    target = tmp_path / "tone44k.aiff"
    subprocess.run(["sox", "-r", "44100", "-t", "f32", "-c", "1", "-", "-b", "16", str(target)],
                   input=tone.tobytes(), check=True)  # fmt: skip
    audio = decode_audio(target.read_bytes(), 22050)
    expected = resample_poly(sox_samples(target).astype(np.float64), 1, 2)
    np.testing.assert_allclose(audio, expected, atol=1e-6)


@pytest.mark.parametrize("rates", [(22050, 24000), (24000, 22050), (16000, 22050), (48000, 22050)])
def test_resample_matches_scipy(rates):
    signal = np.random.default_rng(0).standard_normal(7919).astype(np.float32) * 0.3
    up, down = rates[1], rates[0]
    expected = resample_poly(signal.astype(np.float64), up, down)
    np.testing.assert_allclose(resample(signal, *rates), expected, atol=1e-6)
    np.testing.assert_array_equal(resample(signal, 22050, 22050), signal)


# --- macOS say -----------------------------------------------------------------------------------

# As printed by `say -v '?'` on macOS 14 (abridged): names may hold spaces and brackets.
SAY_VOICES = """\
Albert              en_US    # Hello! My name is Albert.
Alice               it_IT    # Ciao! Mi chiamo Alice.
Eddy (English (UK)) en_GB    # Hello! My name is Eddy.
Fiona (Enhanced)    en-scotland # Hello! My name is Fiona.
Kyoko               ja_JP    # こんにちは！ 私の名前はKyokoです。
Kyoko (Enhanced)    ja_JP    # こんにちは！ 私の名前はKyokoです。
Otoya               ja_JP    # こんにちは！ 私の名前はOtoyaです。
Samantha            en_US    # Hello! My name is Samantha.
Sinji               zh_HK    # 你好！我叫 Sinji。
Tingting            zh_CN    # 你好，我叫婷婷。
Meijia              zh_TW    # 你好，我叫美佳。
Zosia               pl_PL    # Witaj. Mam na imię Zosia.
"""


def test_parse_say_voices():
    voices = parse_say_voices(SAY_VOICES)
    assert [(v.name, v.locale) for v in voices[:4]] == [
        ("Albert", "en_US"),
        ("Alice", "it_IT"),
        ("Eddy (English (UK))", "en_GB"),
        ("Fiona (Enhanced)", "en-scotland"),
    ]
    assert len(voices) == 12


def test_say_command():
    assert say_command("Kyoko", "/tmp/x.aiff") == [
        "say", "-v", "Kyoko", "-o", "/tmp/x.aiff", "--data-format=BEI16@22050", "-f", "-",
    ]  # fmt: skip
    assert say_command("Eddy (English (UK))", Path("o.aiff"), rate=180, sample_rate=24000,
                       program="/usr/bin/say") == [
        "/usr/bin/say", "-v", "Eddy (English (UK))", "-r", "180", "-o", "o.aiff",
        "--data-format=BEI16@24000", "-f", "-",
    ]  # fmt: skip


def test_say_missing_program():
    with pytest.raises(MlxStreamError) as excinfo:
        SaySynthesizer(program="/nonexistent/say")
    assert one_line_error(excinfo) == "say is only on macOS: use --tts espeak or --tts xtts"


@pytest.fixture
def stand_in_say(tmp_path) -> Path:
    """A `say` with the macOS options, speaking through espeak-ng into an AIFF made by sox."""
    listing = tmp_path / "voices.txt"
    listing.write_text(SAY_VOICES)
    script = tmp_path / "say"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "$@" >> {tmp_path}/argv.log
        if [ "$1 $2" = "-v ?" ]; then cat {listing}; exit 0; fi
        while [ $# -gt 0 ]; do
          case "$1" in
            -v) voice=$2; shift 2 ;;
            -r) rate=$2; shift 2 ;;
            -o) out=$2; shift 2 ;;
            --data-format=BEI16@*) sr=${{1#*@}}; shift ;;
            -f) [ "$2" = "-" ] || exit 3; shift 2 ;;
            *) exit 2 ;;
          esac
        done
        grep -q "^$voice " {listing} || {{ echo "Voice \\`$voice' not found." >&2; exit 1; }}
        espeak-ng -v ja ${{rate:+-s $rate}} --stdout | sox -t wav - -r "$sr" -b 16 "$out"
        """))  # fmt: skip
    script.chmod(0o755)
    return script


def test_say_backend_end_to_end_with_a_stand_in(stand_in_say, tmp_path):
    say = SaySynthesizer(rate=200, program=str(stand_in_say))
    assert isinstance(say, Synthesizer)
    assert [say.voice_for(x) for x in ("jpn_Jpan", "eng_Latn", "zho_Hans", "zho_Hant", "pl")] == [
        "Kyoko (Enhanced)", "Samantha", "Tingting", "Meijia", "Zosia",
    ]  # fmt: skip
    chunks = list(say.stream("こんにちは。", "jpn_Jpan"))
    assert len(chunks) == 1 and chunks[0].dtype == np.float32
    assert 0.3 < len(chunks[0]) / say.sample_rate < 3.0 and np.abs(chunks[0]).max() > 0.05
    calls = (tmp_path / "argv.log").read_text().splitlines()
    assert calls[-1].startswith("-v Kyoko (Enhanced) -r 200 -o ")
    assert calls[-1].endswith(".aiff --data-format=BEI16@22050 -f -")


def test_say_unknown_voice_and_language(stand_in_say):
    with pytest.raises(MlxStreamError) as excinfo:
        SaySynthesizer(voice="Hal", program=str(stand_in_say))
    assert "say -v '?'" in one_line_error(excinfo)
    assert SaySynthesizer(voice="otoya", program=str(stand_in_say)).voice_for("ja") == "Otoya"
    with pytest.raises(MlxStreamError) as excinfo:
        SaySynthesizer(program=str(stand_in_say)).synthesize("Hola.", "spa_Latn")
    assert "spa_Latn" in one_line_error(excinfo)


def test_say_failure_is_one_line(stand_in_say, tmp_path):
    listing = tmp_path / "voices.txt"
    say = SaySynthesizer(voice="Kyoko", program=str(stand_in_say))
    listing.write_text("")  # the voice disappears after start: `say` itself fails
    with pytest.raises(MlxStreamError) as excinfo:
        say.synthesize("こんにちは。", "jpn_Jpan")
    assert "Kyoko" in one_line_error(excinfo)


def test_system_voices_need_no_torch():
    code = "import sys, mlx_stream.tts; assert 'torch' not in sys.modules, 'torch imported'"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# --- end to end: `mlx-stream --tts espeak` with a tiny random NLLB ------------------------------


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory) -> Path:
    from convert.nllb import main as convert_main
    from tests.fixtures.nllb import make_hf_model
    from tests.fixtures.tokenizer import make_hf_tokenizer

    hf = tmp_path_factory.mktemp("hf-nllb")
    tokenizer = make_hf_tokenizer(hf)
    make_hf_model(
        "narrow", vocab_size=len(tokenizer), quiet_from=len(tokenizer) - 203
    ).save_pretrained(hf)
    mlx = tmp_path_factory.mktemp("mlx-nllb") / "nllb"
    assert convert_main(["--hf-path", str(hf), "--mlx-path", str(mlx), "--dtype", "float32"]) == 0
    return mlx


def test_cli_speaks_translations_in_order_with_espeak(tiny_nllb, tmp_path):
    sentences = [
        "Hello, how are you today?",
        "The quick brown fox jumps over the lazy dog.",
        "We'll meet at the station at half past ten.",
    ]
    out = tmp_path / "speech.wav"
    run = run_cli("--tts", "espeak", "--nllb", str(tiny_nllb), "--to", "jpn_Jpan", "--show",
                  "--output", str(out), input=" ".join(sentences).encode())  # fmt: skip
    assert run.returncode == 0, run.stderr.decode()
    log = run.stderr.decode()
    lines = {}  # --show prints each sentence's source first, then "→ translation", then its fate
    for index, line in re.findall(r"^\[(\d+)\] (.*)$", log, re.M):
        lines.setdefault(int(index), []).append(line)
    assert [lines[i][0] for i in sorted(lines)] == sentences
    spoken = [
        lines[i][1].removeprefix("→ ")
        for i in sorted(lines)
        if lines[i][1].startswith("→ ") and not lines[i][2].startswith("skipped")
    ]
    assert spoken, log
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 22050
    references = [espeak_reference(tmp_path, "jpx/ja", japanese_reading(text)) for text in spoken]
    np.testing.assert_allclose(audio, np.concatenate(references), atol=1e-6)
