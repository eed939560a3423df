"""Choosing the speech backend: the decision table, and `load_synthesizer` on this machine."""

from __future__ import annotations

import itertools
import shutil
import sys

import numpy as np
import pytest

import mlx_stream.tts
from mlx_stream.errors import MlxStreamError
from mlx_stream.tts import EspeakSynthesizer, SaySynthesizer, choose_backend, load_synthesizer

ON_A_MAC = sys.platform == "darwin" and shutil.which("say") is not None
SYSTEM, SYSTEM_NAME = (SaySynthesizer, "say") if ON_A_MAC else (EspeakSynthesizer, "espeak-ng")
SLOW = "XTTS would run ~4x slower than real time on this CPU; use --tts xtts to force it"
MISSING = "coqui-tts is not installed"
ON_MPS = "on mps, which keeps up with playback"
ON_CUDA = "on cuda, which keeps up with playback"

# platform, has_say, has_espeak, xtts_available, accelerator -> backend, reason
TABLE = [
    ("darwin", True, True, True, "mps", "xtts", ON_MPS),
    ("darwin", True, False, True, "cpu", "say", SLOW),
    ("darwin", True, True, False, "mps", "say", MISSING),
    ("darwin", False, True, False, "cpu", "espeak", MISSING),
    ("darwin", True, True, True, "cpu", "say", SLOW),
    ("linux", False, True, True, "cuda", "xtts", ON_CUDA),
    ("linux", False, True, True, "cpu", "espeak", SLOW),
    ("linux", False, True, False, "cuda", "espeak", MISSING),
    ("linux", True, True, False, "cpu", "espeak", MISSING),  # a `say` on Linux is not macOS say
    ("linux", False, False, True, "cuda", "xtts", ON_CUDA),
    ("win32", False, True, True, "cpu", "espeak", SLOW),
]


@pytest.mark.parametrize("platform, say, espeak, xtts, accelerator, backend, reason", TABLE)
def test_choose_backend_table(platform, say, espeak, xtts, accelerator, backend, reason):
    assert choose_backend(platform, say, espeak, xtts, accelerator, xtts_missing=MISSING) == (
        backend,
        reason,
    )


def test_xtts_on_the_cpu_only_when_there_is_no_system_voice():
    name, reason = choose_backend("linux", False, False, True, "cpu")
    assert name == "xtts" and "no system voice" in reason


@pytest.mark.parametrize("platform", ["darwin", "linux"])
def test_nothing_to_speak_with_says_what_to_install(platform):
    with pytest.raises(MlxStreamError) as excinfo:
        choose_backend(platform, False, False, False, "cuda", xtts_missing=MISSING)
    message = str(excinfo.value)
    assert "\n" not in message and MISSING in message and "mlx-stream convert xtts" in message
    assert ("brew" if platform == "darwin" else "apt") + " install espeak-ng" in message


@pytest.mark.parametrize(
    "platform, say, espeak, xtts, accelerator",
    list(itertools.product(
        ["darwin", "linux", "win32"], [True, False], [True, False], [True, False],
        ["cuda", "mps", "cpu"],
    )),
)  # fmt: skip
def test_choose_backend_invariants(platform, say, espeak, xtts, accelerator):
    """Over every combination: only what exists is chosen, XTTS whenever it keeps up."""
    if not (xtts or espeak or (say and platform == "darwin")):
        with pytest.raises(MlxStreamError):
            choose_backend(platform, say, espeak, xtts, accelerator)
        return
    name, reason = choose_backend(platform, say, espeak, xtts, accelerator)
    assert reason
    if xtts and accelerator != "cpu":
        assert name == "xtts"
    elif name == "xtts":
        assert not espeak and not (say and platform == "darwin")
    else:
        assert name == "say" and say and platform == "darwin" or name == "espeak" and espeak
        assert (reason == SLOW) == xtts
    if platform == "darwin" and say and name != "xtts":
        assert name == "say"  # the system voice macOS users already know wins over espeak-ng


# --- load_synthesizer here: espeak-ng (say on a Mac) and no GPU ----------------------------------


def test_load_espeak_by_name():
    synthesizer = load_synthesizer("espeak", voice="en-us", rate=200, language="jpn_Jpan")
    assert isinstance(synthesizer, EspeakSynthesizer)
    audio = synthesizer.synthesize("Hello there.", "eng_Latn")
    assert audio.dtype == np.float32 and audio.size > 0.3 * synthesizer.sample_rate


def test_auto_picks_espeak_and_says_why_once(small_xtts_mlx_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MLX_STREAM_CACHE", str(tmp_path))  # no speed measured here yet
    lines = []  # weights present: only the CPU keeps XTTS out
    synthesizer = load_synthesizer("auto", xtts=small_xtts_mlx_dir, device="cpu", log=lines.append)
    assert isinstance(synthesizer, SYSTEM)
    assert lines == [f"speech: {SYSTEM_NAME} ({SLOW})"]


OFFLINE = "XTTS weights are not downloaded and HF_HUB_OFFLINE is set"


@pytest.mark.parametrize(
    "xtts, language, why",
    [
        ("coqui/XTTS-v2", "th", "XTTS v2 does not speak tha_Thai"),
        ("{tmp}/absent", "ja", "XTTS weights not found at '{tmp}/absent'"),
        ("mlx-stream-tests/no-such-xtts", None, OFFLINE),
    ],
)
def test_auto_without_xtts(tmp_path, monkeypatch, xtts, language, why):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lines = []
    load_synthesizer("auto", xtts=xtts.format(tmp=tmp_path), language=language, log=lines.append)
    assert lines == [f"speech: {SYSTEM_NAME} ({why.format(tmp=tmp_path)})"]


def test_auto_falls_back_when_xtts_fails_to_load(tmp_path):
    broken = tmp_path / "xtts"  # looks like a coqui checkpoint; cuda is taken on trust
    broken.mkdir()
    for name in ("config.json", "model.pth", "vocab.json"):
        (broken / name).write_text("{}")
    lines = []
    synthesizer = load_synthesizer(
        "auto",
        xtts=broken,
        xtts_engine="mlx",
        device="cuda",
        weights_dir=tmp_path,
        log=lines.append,
    )
    assert isinstance(synthesizer, SYSTEM)
    assert lines[0] == f"speech: XTTS v2 (MLX) ({ON_CUDA})"
    assert lines[1].startswith(f"speech: {SYSTEM_NAME} (XTTS failed to load: ")
    assert len(lines) == 2


def test_an_empty_folder_is_no_xtts(tmp_path):
    lines = []
    load_synthesizer("auto", xtts=tmp_path, device="cuda", log=lines.append)
    assert lines == [
        f"speech: {SYSTEM_NAME} ('{tmp_path}' holds no XTTS v2 checkpoint "
        "(config.json, model.pth, vocab.json))"
    ]


def test_auto_with_nothing_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MlxStreamError) as excinfo:
        load_synthesizer("auto", xtts=str(tmp_path / "absent"), log=print)
    assert "apt install espeak-ng" in str(excinfo.value) and "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    "tts, kwargs, expected",
    [
        ("festival", {}, "unknown speech engine 'festival'"),
        ("espeak", {"voice": "no-such-voice"}, "espeak-ng has no voice 'no-such-voice'"),
        ("espeak", {"language": "wol_Latn"}, "espeak-ng has no voice for wol_Latn"),
    ]
    + ([] if ON_A_MAC else [("say", {}, "say is only on macOS")]),
)
def test_load_errors_are_one_line(tts, kwargs, expected):
    with pytest.raises(MlxStreamError) as excinfo:
        load_synthesizer(tts, **kwargs)
    assert str(excinfo.value).startswith(expected) and "\n" not in str(excinfo.value)


def test_xtts_is_exported_lazily():
    from mlx_stream.tts.xtts import XttsSynthesizer

    assert mlx_stream.tts.XttsSynthesizer is XttsSynthesizer
    with pytest.raises(AttributeError):
        _ = mlx_stream.tts.NoSuchSynthesizer


# --- --tts auto honours the voice the user gave ---------------------------------------------------

SYSTEM_VOICE = "Samantha" if ON_A_MAC else "en-us"
BEHIND = "warning: on this CPU it is expected to fall behind real time"


@pytest.fixture
def voices(reference_wav):
    return {"recording": str(reference_wav), "speaker": "Viktor Eka", "system": SYSTEM_VOICE}


# voice kind, where ("gpu", "cpu", "none": no XTTS weights) -> engine, reason start, warning
VOICE_TABLE = [
    ("recording", "gpu", "mlx", "--voice {voice} is a recording", False),
    ("recording", "cpu", "mlx", "--voice {voice} is a recording", True),
    ("speaker", "gpu", "mlx", "--voice Viktor Eka is an XTTS speaker", False),
    ("speaker", "cpu", "mlx", "--voice Viktor Eka is an XTTS speaker", True),
    ("system", "gpu", "system", f"--voice {SYSTEM_VOICE} is a system voice", False),
    ("system", "cpu", "system", f"--voice {SYSTEM_VOICE} is a system voice", False),
    ("system", "none", "system", f"--voice {SYSTEM_VOICE} is a system voice", False),
    (None, "gpu", "mlx", "on cuda, which keeps up with playback", False),
    (None, "cpu", "system", SLOW, False),
    (None, "none", "system", OFFLINE, False),
]


@pytest.mark.parametrize("kind, where, engine, reason, warned", VOICE_TABLE)
def test_auto_follows_the_voice(
    small_xtts_mlx_dir, voices, tmp_path, monkeypatch, kind, where, engine, reason, warned
):
    monkeypatch.setenv("MLX_STREAM_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    voice = voices.get(kind)
    # "gpu" is MLX's own word for its GPU; on this machine the model still runs on the CPU.
    xtts = small_xtts_mlx_dir if where != "none" else "mlx-stream-tests/no-such-xtts"
    device = {"gpu": "gpu", "cpu": "cpu", "none": "cpu"}[where]
    lines = []
    synthesizer = load_synthesizer(
        "auto", voice=voice, xtts=xtts, device=device, language="eng_Latn", log=lines.append
    )
    (line,) = lines
    if engine == "mlx":
        from mlx_stream.tts.mlx_xtts import MlxXttsSynthesizer

        assert isinstance(synthesizer, MlxXttsSynthesizer)
        assert line.startswith("speech: XTTS v2 (MLX) (")
    else:
        assert isinstance(synthesizer, SYSTEM)
        assert line.startswith(f"speech: {SYSTEM_NAME} (")
    expected = reason.format(voice=voice).replace("on cuda", "on metal" if ON_A_MAC else "on cuda")
    assert expected in line
    assert (BEHIND in line) == warned


@pytest.mark.parametrize("kind", ["recording", "speaker"])
def test_an_xtts_voice_without_xtts_says_so(voices, tmp_path, monkeypatch, kind):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MlxStreamError) as excinfo:
        load_synthesizer("auto", voice=voices[kind], xtts=str(tmp_path / "absent"), log=print)
    message = str(excinfo.value)
    assert "\n" not in message and "XTTS must speak, but it cannot" in message
    assert f"XTTS weights not found at '{tmp_path / 'absent'}'" in message


def test_the_warning_gives_the_speed_measured_here(
    small_xtts_mlx_dir, voices, tmp_path, monkeypatch
):
    from mlx_stream.tts.choice import measured_rtf, record_rtf

    monkeypatch.setenv("MLX_STREAM_CACHE", str(tmp_path))
    record_rtf("xtts-mlx:cpu", [3.5, 3.7, 9.0])
    assert measured_rtf("xtts-mlx:cpu") == 3.7
    lines = []
    load_synthesizer(
        "auto", voice=voices["recording"], xtts=small_xtts_mlx_dir, device="cpu", log=lines.append
    )
    assert f"{BEHIND}; it ran at RTF 3.7 here: expect pauses, or raise --prebuffer" in lines[0]
    record_rtf("xtts-mlx:cpu", [0.4])  # a fast CPU: no warning
    lines.clear()
    load_synthesizer(
        "auto", voice=voices["recording"], xtts=small_xtts_mlx_dir, device="cpu", log=lines.append
    )
    assert BEHIND not in lines[0]


def test_no_system_voice_and_an_unknown_name(small_xtts_mlx_dir, tmp_path):
    """A name neither engine knows, with --xtts given: XTTS, whose error lists its speakers."""
    with pytest.raises(MlxStreamError) as excinfo:
        load_synthesizer("auto", voice="Nobody", xtts=small_xtts_mlx_dir, device="cpu", log=print)
    assert "unknown XTTS speaker 'Nobody': pass one of Ana Florence" in str(excinfo.value)


@pytest.mark.parametrize(
    "xtts, engine, expected",
    [("converted", "auto", "mlx"), ("coqui", "auto", "coqui"), ("coqui", "mlx", "mlx"),
     ("hub", "auto", "mlx"), ("converted", "coqui", "coqui")],
)  # fmt: skip
def test_which_xtts_engine(small_xtts_mlx_dir, small_xtts_dir, xtts, engine, expected):
    from mlx_stream.tts.choice import xtts_engine

    path = {"converted": small_xtts_mlx_dir, "coqui": small_xtts_dir, "hub": "coqui/XTTS-v2"}
    assert xtts_engine(path[xtts], engine) == expected
