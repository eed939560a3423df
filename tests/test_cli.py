"""The `mlx-stream` command end to end, as a subprocess, on tiny random NLLB and XTTS models.

The reference for every audio check is the library itself run in this process: our translator
(itself proven equal to transformers) followed by XTTS (proven equal to coqui's inference_stream).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from mlx_stream.text import iter_sentences, read_deltas
from mlx_stream.translate import Translator

from .conftest import ROOT, run_cli

SEED = 7
# Chosen so that the tiny random translator gives two non-empty translations and one empty one
# (which must be reported as skipped, not lost).
TEXT = "Hello there, how are you today? The train leaves at seven tonight. Where is the nearest station?"
TRANSCRIPT = ROOT / "tests" / "fixtures" / "claude" / "deltas_and_final.jsonl"


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict:
    return {"MLX_STREAM_CACHE": str(tmp_path_factory.mktemp("latents")), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def models(nllb_dir, tiny_xtts_dir, cache_env):
    from mlx_stream.tts.xtts import XttsSynthesizer

    translator = Translator.from_pretrained(nllb_dir)
    synth = XttsSynthesizer.from_pretrained(
        tiny_xtts_dir, device="cpu", seed=SEED, cache_dir=cache_env["MLX_STREAM_CACHE"]
    )
    return translator, synth


def expected_audio(models, sentences: list[str]) -> tuple[np.ndarray, int]:
    """What the product must say for these source sentences: translate, then stream XTTS."""
    translator, synth = models
    parts, spoken = [], 0
    for sentence in sentences:
        translation = translator.translate(sentence, src="eng_Latn", tgt="jpn_Jpan")
        if any(c.isalnum() for c in translation):
            if translation not in _spoken:  # XTTS is seeded per utterance: same text, same audio
                _spoken[translation] = np.concatenate(list(synth.stream(translation, "jpn_Jpan")))
            parts.append(_spoken[translation])
            spoken += 1
    return np.concatenate(parts), spoken


_spoken: dict[str, np.ndarray] = {}


def speak_args(nllb_dir, tiny_xtts_dir, *extra: str) -> list[str]:
    return ["--nllb", str(nllb_dir), "--xtts", str(tiny_xtts_dir), "--tts", "xtts",
            "--device", "cpu", "--seed", str(SEED), *extra]  # fmt: skip


def test_text_on_stdin_to_wav(models, nllb_dir, tiny_xtts_dir, cache_env, tmp_path):
    wav = tmp_path / "out.wav"
    result = run_cli(*speak_args(nllb_dir, tiny_xtts_dir, "--output", str(wav)),
                     input=TEXT.encode(), env=cache_env)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    sentences = list(iter_sentences([TEXT]))
    assert len(sentences) == 3
    expected, spoken = expected_audio(models, sentences)
    assert spoken == 2
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == 24000
    np.testing.assert_allclose(audio, expected, atol=1e-5)
    stderr = result.stderr.decode()
    assert "3 sentences: 2 spoken" in stderr and "1 skipped (1 the translation was empty)" in stderr
    assert stderr.count("first audio") >= spoken and "Traceback" not in stderr


def test_claude_stream_json_to_wav(models, nllb_dir, tiny_xtts_dir, cache_env, tmp_path):
    wav = tmp_path / "claude.wav"
    result = run_cli(*speak_args(nllb_dir, tiny_xtts_dir, "--output", str(wav), "--show"),
                     input=TRANSCRIPT.read_bytes(), env=cache_env)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    with open(TRANSCRIPT, "rb") as f:
        sentences = list(iter_sentences(read_deltas(f, "auto")))
    assert sentences, "the transcript has text to speak"
    expected, _ = expected_audio(models, sentences)
    audio, _ = sf.read(wav, dtype="float32")
    np.testing.assert_allclose(audio, expected, atol=1e-5)
    shown = re.findall(r"^\[\d+\] (?!→|translate |skipped: )(.*)$", result.stderr.decode(), re.M)
    assert shown == sentences


def test_audio_reaches_the_sound_card_exactly(
    models, nllb_dir, tiny_xtts_dir, cache_env, alsa_capture
):
    env, capture = alsa_capture
    # The file "card" consumes instantly, so queue everything before playback starts; then the
    # card must receive exactly the synthesized samples, sentence after sentence, with no gap.
    result = run_cli(*speak_args(nllb_dir, tiny_xtts_dir, "--prebuffer", "120", "--quiet"),
                     input=TEXT.encode(), env={**cache_env, **env})  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    expected, _ = expected_audio(models, list(iter_sentences([TEXT])))
    card = np.frombuffer(capture.read_bytes(), dtype=np.float32)
    start = int(np.flatnonzero(card)[0])
    np.testing.assert_allclose(card[start : start + len(expected)], expected, atol=1e-5)
    assert not card[start + len(expected) :].any(), "nothing but silence after the speech"


def lines_until(stream, needle: str, timeout: float) -> list[str]:
    """Lines of `stream` up to the first holding `needle`, or all read when `timeout` ran out:
    a child that says nothing cannot hang the test."""
    lines: list[str] = []
    done = threading.Event()

    def read():
        for line in stream:
            lines.append(line.decode(errors="replace"))
            if needle in lines[-1]:
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout)
    return lines


def test_ctrl_c_during_playback(nllb_dir, tiny_xtts_dir, cache_env, pulse_card):
    text = " ".join(f"Here is sentence number {i} of the story." for i in range(30))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlx_stream", *speak_args(nllb_dir, tiny_xtts_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, **cache_env, **pulse_card},
        # a runner started in the background ignores SIGINT, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        proc.stdin.write(text.encode())
        proc.stdin.close()
        lines = lines_until(proc.stderr, "first audio", timeout=240)  # the first one is playing
        assert proc.poll() is None and "first audio" in lines[-1], "".join(lines)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
        stderr = "".join(lines) + proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, stderr
    assert elapsed < 1.0, f"took {elapsed:.2f} s to stop"
    assert "Traceback" not in stderr
    assert stderr.count("skipped: interrupted") <= 1, "no line per pending sentence"
    summary = [line for line in stderr.splitlines() if " sentences: " in line]
    assert summary and "interrupted" in summary[-1], stderr
    # every sentence that entered is accounted for: spoken + skipped = all of them
    total, rest = summary[-1].split(" sentences: ")
    spoken = int(rest.split(" spoken")[0])
    skipped = int(rest.split(", ")[-1].split(" skipped")[0]) if " skipped" in rest else 0
    assert spoken + skipped == int(total) == 30, summary[-1]


def test_translate_command(models, nllb_dir):
    translator, _ = models
    lines = ["Hello, how are you today?", "", "Where is the station?"]
    result = run_cli("translate", "--nllb", str(nllb_dir), "--to", "Japanese",
                     input="\n".join(lines).encode())  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    expected = [translator.translate(t, tgt="jpn_Jpan") if t else "" for t in lines]
    assert result.stdout.decode().split("\n")[:3] == expected
    args = run_cli(
        "translate", "--nllb", str(nllb_dir), "--to", "fr", "--beams", "3", "Good morning."
    )
    assert args.stdout.decode().strip() == translator.translate(
        "Good morning.", tgt="fra_Latn", beams=3
    )


def test_sentences_command():
    result = run_cli("sentences", str(TRANSCRIPT))
    assert result.returncode == 0, result.stderr.decode()
    with open(TRANSCRIPT, "rb") as f:
        expected = list(iter_sentences(read_deltas(f, "auto")))
    assert result.stdout.decode().splitlines() == expected


def test_help_has_examples():
    result = run_cli("--help")
    assert result.returncode == 0
    out = result.stdout.decode()
    assert "examples:" in out and "speak" in out and "translate" in out and "bench" in out


def one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    stderr = result.stderr.decode().strip()
    assert result.returncode != 0, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.splitlines()[-1]
    assert last.startswith("mlx-stream: error: "), stderr
    for needle in needles:
        assert needle in last, last
    return last


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--to", "Klingon", "Hi"], ["Klingon"]),
        (["--from", "englsh", "Hi"], ["englsh", "English"]),
        (["--output", "/nonexistent/dir/out.wav", "Hi"], ["/nonexistent/dir/out.wav", "writable"]),
        (["--format", "yaml", "Hi"], ["yaml"]),
    ],
)
def test_bad_arguments_are_one_line_errors(args, needles):
    one_line_error(run_cli(*args), *needles)


def test_language_xtts_cannot_speak(nllb_dir, tiny_xtts_dir, cache_env):
    result = run_cli(*speak_args(nllb_dir, tiny_xtts_dir, "--to", "Swahili", "--output", "-", "Hi"),
                     env=cache_env)  # fmt: skip
    one_line_error(result, "swh_Latn", "ja")


def test_offline_hub_without_weights(tmp_path):
    env = {
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "MLX_STREAM_WEIGHTS": str(tmp_path / "w"),
    }
    result = run_cli(
        "--tts", "espeak", "--output", str(tmp_path / "x.wav"), "Hello there.", env=env
    )
    one_line_error(result, "facebook/nllb-200-distilled-600M")
    result = run_cli("translate", "Hello there.", env=env)
    one_line_error(result, "facebook/nllb-200-distilled-600M")


def test_no_audio_device(nllb_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        "pcm.!default { type hw card 99 }\nctl.!default { type hw card 99 }\n"
    )
    result = run_cli(
        "--nllb", str(nllb_dir), "--tts", "espeak", "Hello there.", env={"HOME": str(home)}
    )
    one_line_error(result, "--output out.wav")


def test_help_shows_the_speak_options_and_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    out = result.stdout.decode()
    for option in ("--to LANG", "--output FILE.wav|-", "--voice NAME|WAV", "--tts", "--format"):
        assert option in out, option
    for command in ("speak", "translate", "sentences", "convert", "bench"):
        assert f"\n  {command} " in out, command


def test_translate_checks_the_language_before_loading_the_model(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "MLX_STREAM_WEIGHTS": str(tmp_path / "w")}  # fmt: skip
    result = run_cli("translate", "--to", "Klingon", "Hello.", env=env)
    one_line_error(result, "Klingon")
    assert "nllb-200" not in result.stderr.decode() and "loading" not in result.stderr.decode()


def test_translate_reads_invalid_utf8_without_failing(models, nllb_dir):
    translator, _ = models
    result = run_cli(
        "translate", "--nllb", str(nllb_dir), input=b"Hello there.\n\xff\xfe bad \xc3\n"
    )
    assert result.returncode == 0, result.stderr.decode()
    expected = [
        translator.translate(t, tgt="jpn_Jpan") for t in ("Hello there.", "\ufffd\ufffd bad \ufffd")
    ]
    assert result.stdout.decode().splitlines() == expected


@pytest.mark.parametrize(
    "output, why", [("/dev/full", "No space left"), ("/proc/x.wav", "No such file")]
)
def test_an_unwritable_output_fails_before_any_model_loads(output, why, tmp_path):
    # os.access says yes to root for both; the models named here do not even exist
    result = run_cli("--nllb", str(tmp_path / "no-model"), "--output", output, "Hello.")
    one_line_error(result, f"cannot write '{output}' ({why}", "writable")
    assert "loading" not in result.stderr.decode()


def test_claude_json_format_on_plain_text_says_what_to_do(tmp_path):
    wav = tmp_path / "out.wav"
    result = run_cli("--format", "claude-json", "--from", "en", "--to", "en", "--tts", "espeak",
                     "--output", str(wav), input=b"Hello there.\nHow are you?\n")  # fmt: skip
    one_line_error(result, "not Claude Code stream-json (2 lines not JSON)", "--format auto")
    assert "skipped (not spoken): 2 invalid JSON lines" in result.stderr.decode()
    assert list(tmp_path.iterdir()) == [], "no empty WAV left as if it were the result"


def test_an_unreachable_hub_is_not_a_missing_repo_and_stdout_stays_clean(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_OFFLINE": "",
           "HF_HOME": str(tmp_path / "hf"), "MLX_STREAM_WEIGHTS": str(tmp_path / "w")}  # fmt: skip
    result = run_cli("--tts", "espeak", "--output", "-", "Hello there.", env=env)
    one_line_error(result, "facebook/nllb-200-distilled-600M", "cannot be reached")
    assert "no such repo" not in result.stderr.decode()
    assert result.stdout == b"", "nothing but audio on stdout with --output -"
