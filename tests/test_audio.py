"""The sinks, through the real sound path: sounddevice -> PortAudio -> ALSA (-> PulseAudio)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mlx_stream.audio import OutputClosed, RawSink, WavSink, to_int16
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


@pytest.mark.parametrize(
    "path, why", [("/dev/full", "No space left on device"), ("/proc/x.wav", "No such file")]
)
def test_wav_sink_fails_when_opened_not_at_the_first_write(path, why):
    # os.access says yes to root for both: only writing tells, and it must happen at open
    with pytest.raises(MlxStreamError, match=f"cannot write '{path}' \\({why}"):
        WavSink(path)


def test_wav_sink_file_appears_only_when_complete(tmp_path):
    path = tmp_path / "out.wav"
    path.write_bytes(b"an older file")
    audio = sentences_audio(2)
    sink = WavSink(path)  # opened before the rate is known, as the command line does
    sink.sample_rate = 24000
    for a in audio:
        sink.write(a)
    sink.drain()
    assert path.read_bytes() == b"an older file", "the old file stays until the new one is done"
    sink.close()
    data, rate = sf.read(path, dtype="float32")
    assert rate == 24000
    np.testing.assert_array_equal(data, np.concatenate(audio))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"], "no temporary left"


def test_a_discarded_wav_sink_leaves_nothing(tmp_path):
    path = tmp_path / "out.wav"
    sink = WavSink(path, 24000)
    sink.write(sentences_audio(1)[0])
    sink.discard()
    assert list(tmp_path.iterdir()) == []


def test_wav_sink_to_a_pipe_streams_a_readable_wav():
    audio = np.concatenate(sentences_audio(2))
    read, write = os.pipe()
    received = []
    with os.fdopen(read, "rb") as reader:
        thread = threading.Thread(target=lambda: received.append(reader.read()))
        thread.start()
        sink = WavSink(f"/dev/fd/{write}", 24000)  # not seekable: the sizes stay open
        os.close(write)
        sink.write(audio)
        sink.close()
        thread.join(30)
    data, rate = sf.read(io.BytesIO(received[0]), dtype="float32")
    assert rate == 24000
    np.testing.assert_array_equal(data, audio)


def test_a_full_disk_mid_file_is_a_sink_error_and_leaves_no_file(tmp_path):
    # A file size limit fails writes as a full disk does (EFBIG instead of ENOSPC), as any user
    # can set it; the test in test_faults.py fills a real tmpfs where one can be mounted.
    result = run_python(
        f"""
        import resource, signal, numpy as np
        from mlx_stream.audio import SinkError, WavSink
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        sink = WavSink({str(tmp_path / "out.wav")!r}, 24000)
        chunk = np.zeros(4800, np.float32)
        written = 0
        try:
            while True:
                sink.write(chunk)
                written += 1
        except SinkError as e:
            print(written, e.reason, e.delivered, sep="|")
            print(e)
        try:
            sink.write(chunk)
        except SinkError:
            print("again")
        sink.close()
        """,
        {},
    )
    assert result.returncode == 0, result.stderr
    counts, message, again = result.stdout.strip().splitlines()
    written, reason, delivered = counts.split("|")
    assert int(written) * 4800 * 4 < 100_000
    assert reason == "the output could not be written" and delivered == "0"
    assert message.startswith(f"cannot write '{tmp_path / 'out.wav'}' (File too large)")
    assert "nothing was saved" in message and again == "again"
    assert list(tmp_path.iterdir()) == [], "no half-written file, no temporary"


def test_raw_sink_reader_gone_is_output_closed():
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "wb") as out:
        sink = RawSink(24000, out)
        with pytest.raises(OutputClosed) as error:
            sink.write(np.zeros(100, np.float32))
        assert error.value.reason == "output closed" and error.value.delivered == 0
        with pytest.raises(OutputClosed):  # and on every later call: the run cannot go on
            sink.drain()
        with pytest.raises(OSError):
            out.close()  # what the sink could not write is still buffered


def test_raw_sink_writes_16_bit_little_endian(tmp_path):
    audio = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7], np.float32)
    path = tmp_path / "out.pcm"
    with open(path, "wb") as f:
        RawSink(24000, f).write(audio)
    pcm = np.frombuffer(path.read_bytes(), "<i2")
    np.testing.assert_array_equal(pcm, [0, 16384, -16384, 32767, -32767, 32767])
    np.testing.assert_array_equal(pcm, to_int16(audio))


PLAY_UNTIL_IT_FAILS = """
    import os, numpy as np
    from mlx_stream.audio import Player, SinkError
    player = Player(24000, buffer_seconds=0.5)
    tone = (0.2 * np.sin(np.arange(2400) / 7)).astype(np.float32)
    try:
        for i in range(600):  # a minute of audio
            player.write(tone)
            if i == 10:
                print("playing", flush=True)
        player.drain()
    except SinkError as e:
        print(e.reason, e.delivered, flush=True)
        print(e, flush=True)
    player.close()
    # Not the interpreter's teardown: sounddevice's atexit Pa_Terminate() blocks on a frozen
    # server (mlx-stream's command line exits the same way, without that teardown).
    os._exit(0)
"""


def pulse_server_pid(pulse_card) -> int:
    return int((Path(pulse_card["PULSE_RUNTIME_PATH"]) / "pid").read_text())


@pytest.mark.parametrize("fault", ["killed", "frozen"])
def test_a_sound_server_that_goes_away_is_a_sink_error_not_a_hang(pulse_card, fault):
    server = pulse_server_pid(pulse_card)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PLAY_UNTIL_IT_FAILS)],
        env={**os.environ, **pulse_card},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "playing\n", proc.stderr.read()
        os.kill(server, signal.SIGKILL if fault == "killed" else signal.SIGSTOP)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        os.kill(server, signal.SIGKILL) if fault == "frozen" else None
    assert proc.returncode == 0, err
    counts, message = out.strip().splitlines()
    reason, delivered = counts.rsplit(" ", 1)
    assert reason == "the audio output stopped"
    assert 0 < int(delivered) < 600 * 2400, "some audio was played, not all of it"
    assert "--output out.wav" in message
    if fault == "frozen":
        assert "the audio output took no audio for" in message
