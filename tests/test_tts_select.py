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
SLOW = "XTTS would run ~6x slower than real time on this CPU; use --tts xtts to force it"
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
    assert "\n" not in message and MISSING in message and "mlx-stream[xtts]" in message
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


def test_auto_picks_espeak_and_says_why_once(tmp_path):
    xtts_folder = tmp_path / "xtts"  # weights present: only the CPU keeps XTTS out
    xtts_folder.mkdir()
    lines = []
    synthesizer = load_synthesizer("auto", xtts=xtts_folder, device="cpu", log=lines.append)
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
    lines = []  # an empty folder is "weights present"; cuda is taken on trust until loading
    synthesizer = load_synthesizer("auto", xtts=tmp_path, device="cuda", log=lines.append)
    assert isinstance(synthesizer, SYSTEM)
    assert lines[0] == f"speech: XTTS v2 ({ON_CUDA})"
    assert lines[1].startswith(f"speech: {SYSTEM_NAME} (XTTS failed to load: ")
    assert len(lines) == 2


def test_auto_with_an_xtts_voice_says_what_it_chose(tmp_path):
    with pytest.raises(MlxStreamError) as excinfo:
        load_synthesizer("auto", voice="Ana Florence", xtts=str(tmp_path), device="cpu", log=print)
    message = str(excinfo.value)
    assert f"{SYSTEM_NAME} has no voice 'Ana Florence'" in message and "\n" not in message
    assert message.endswith(f"(--tts auto chose {SYSTEM_NAME}; XTTS voices need --tts xtts)")


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
