"""The sinks, through the real sound path: sounddevice -> PortAudio -> ALSA (-> PulseAudio)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from mlx_stream.audio import RawSink, WavSink, to_int16
from mlx_stream.errors import MlxStreamError


def run_python(code: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """PortAudio reads the ALSA configuration once per process, so each card gets its own process."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sentences_audio(n=3, seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.9, 0.9, 24000 // 2 + 1000 * i).astype(np.float32) for i in range(n)]


def test_samples_reach_the_card_exactly_and_without_gaps(alsa_capture, tmp_path):
    env, capture = alsa_capture
    audio = sentences_audio()
    np.save(tmp_path / "audio.npy", np.concatenate(audio))
    result = run_python(
        f"""
        import numpy as np
        from mlx_stream.audio import Player
        audio = np.load({str(tmp_path / "audio.npy")!r})
        player = Player(24000, prebuffer_seconds=30)
        for part in np.array_split(audio, 3):            # three "sentences", in uneven chunks
            for chunk in np.array_split(part, 7):
                player.write(chunk)
            player.end_sentence()
        player.drain()
        player.close()
        print("underruns", player.underruns)
        """,
        env,
    )
    assert result.returncode == 0, result.stderr
    assert "underruns 0" in result.stdout
    card = capture.read_bytes()
    expected = np.concatenate(audio).tobytes()
    assert card.find(expected) >= 0, (
        "the card did not receive the audio contiguously, sample for sample"
    )


def test_playback_is_paced_by_the_card_and_the_buffer_blocks(pulse_card):
    # 2 s of audio through a 0.5 s buffer: the writer is held back by playback, and nothing underruns.
    result = run_python(
        """
        import time, numpy as np
        from mlx_stream.audio import Player
        player = Player(24000, buffer_seconds=0.5)
        audio = (0.2 * np.sin(np.arange(48000) / 7)).astype(np.float32)
        start = time.perf_counter()
        for chunk in np.array_split(audio, 40):
            player.write(chunk)
        written = time.perf_counter() - start
        player.end_sentence()
        player.drain()
        print(f"{written:.2f} {time.perf_counter() - start:.2f} {player.underruns}")
        """,
        pulse_card,
    )
    assert result.returncode == 0, result.stderr
    written, total, underruns = result.stdout.split()
    assert float(written) > 1.0, "a full buffer must block the writer"
    assert float(total) >= 1.9, "draining waits until the audio has been played"
    assert underruns == "0"


def test_a_stall_inside_a_sentence_is_an_underrun_but_a_pause_between_sentences_is_not(pulse_card):
    result = run_python(
        """
        import time, numpy as np
        from mlx_stream.audio import Player
        tone = (0.2 * np.sin(np.arange(2400) / 7)).astype(np.float32)
        player = Player(24000)
        player.write(tone); player.end_sentence(); time.sleep(1.5)   # pause between sentences
        player.write(tone); time.sleep(1.5)                          # synthesis stalls mid-sentence
        player.write(tone); player.end_sentence(); player.drain()
        print(player.underruns)
        """,
        pulse_card,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_no_output_device_is_a_clear_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        "pcm.!default { type hw card 99 }\nctl.!default { type hw card 99 }\n"
    )
    result = run_python(
        """
        from mlx_stream.audio import Player
        from mlx_stream.errors import MlxStreamError
        try:
            Player(24000)
        except MlxStreamError as e:
            print(e)
        """,
        {"HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr
    assert "--output out.wav" in result.stdout and "\n" not in result.stdout.strip()


def test_wav_sink_stores_the_samples_exactly(tmp_path):
    audio = sentences_audio(2)
    with WavSink(tmp_path / "out.wav", 22050) as sink:
        for a in audio:
            sink.write(a)
    data, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 22050
    np.testing.assert_array_equal(data, np.concatenate(audio))


def test_wav_sink_unwritable_path(tmp_path):
    with pytest.raises(MlxStreamError, match="writable"):
        WavSink(tmp_path / "no" / "such" / "dir" / "out.wav", 24000)


def test_raw_sink_writes_16_bit_little_endian(tmp_path):
    audio = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7], np.float32)
    path = tmp_path / "out.pcm"
    with open(path, "wb") as f:
        RawSink(24000, f).write(audio)
    pcm = np.frombuffer(path.read_bytes(), "<i2")
    np.testing.assert_array_equal(pcm, [0, 16384, -16384, 32767, -32767, 32767])
    np.testing.assert_array_equal(pcm, to_int16(audio))
