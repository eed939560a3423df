"""Faults injected into the real `mlx-stream` command, run in a subprocess of its own session.

The sound server killed mid-stream, standard output closed early, SIGINT and SIGTERM at random
points, a full disk, binary and malformed input, a 10 MB line, corrupt model folders. After each:
the command ends within 2 s of the fault with a one-line error or a counted skip, no traceback,
no process of its group left behind, no half-written output under the name asked for, and the
summary still accounts for every sentence (in = spoken + skipped).

The speech is espeak-ng (fast, real) and, where translation matters, a tiny random NLLB built
with transformers. Every child gets the default SIGINT (a runner started in the background
ignores it, and children inherit that) and is killed with its whole group at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .conftest import ROOT

ESPEAK_EN = ["--from", "en", "--to", "en", "--tts", "espeak"]
SUMMARY = re.compile(
    r"^(\d+) sentences?: (\d+) spoken(?: \(([\d.]+) s of audio[^)]*\))?"
    r"(?:, (\d+) skipped \((.*?)\))?(?:; \d+ audio underruns)?(; interrupted)?$",
    re.M,
)


def story(n: int) -> str:
    return " ".join(f"Here is sentence number {i} of the story." for i in range(n))


class Cli:
    """`python -m mlx_stream ARGS` in a new session; stderr collected line by line."""

    def __init__(self, *args: str, input: bytes | None = None, env: dict | None = None,
                 file_limit: int | None = None, read_stdout: bool = True):  # fmt: skip
        def child_setup():
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if file_limit is not None:  # writes past it fail as on a full disk (EFBIG)
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlx_stream", *args],
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=child_setup,
        )
        self.group = self.proc.pid
        self.lines: list[str] = []
        self.stdout = bytearray()
        self._new_line = threading.Condition()
        self._threads = [threading.Thread(target=self._read_stderr, daemon=True)]
        if read_stdout:
            self._threads.append(threading.Thread(target=self._read_stdout, daemon=True))
        if input is not None:
            self._threads.append(threading.Thread(target=self._write, args=(input,), daemon=True))
        for thread in self._threads:
            thread.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self._new_line:
                self.lines.append(line.decode(errors="replace"))
                self._new_line.notify_all()
        with self._new_line:
            self.lines.append("")  # end of stream
            self._new_line.notify_all()

    def _read_stdout(self):
        while data := self.proc.stdout.read1(1 << 16):
            self.stdout += data

    def _write(self, data: bytes):
        with contextlib.suppress(OSError):  # the command may end before reading it all
            for i in range(0, len(data), 1 << 16):
                self.proc.stdin.write(data[i : i + (1 << 16)])
            self.proc.stdin.close()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        with self._new_line:
            found = self._new_line.wait_for(
                lambda: any(needle in line for line in self.lines) or self.lines[-1:] == [""],
                timeout,
            )
        assert found and needle in self.stderr, f"no '{needle}' in:\n{self.stderr}"
        assert self.proc.poll() is None, f"ended before the fault:\n{self.stderr}"

    def wait(self, timeout: float = 60) -> float:
        """Wait for the exit; the time it came (time.monotonic)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {timeout} s later:\n{self.stderr}")
        ended = time.monotonic()
        for thread in self._threads:
            thread.join(10)
        return ended

    def __enter__(self) -> Cli:
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.group, signal.SIGKILL)
        self.proc.wait()


def group_members(group: int) -> list[str]:
    """Live processes of a process group (zombies excluded: they hold nothing but a pid)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1]
            state, _, pgrp = fields.split()[:3]
            if int(pgrp) == group and state != "Z":
                members.append(f"{stat.parent.name} {name}")
    return members


def accounting(stderr: str) -> dict:
    """The last summary: in = spoken + skipped must hold."""
    found = SUMMARY.findall(stderr)
    assert found, f"no summary in:\n{stderr}"
    total, spoken, audio, skipped, reasons, interrupted = found[-1]
    total, spoken, skipped = int(total), int(spoken), int(skipped or 0)
    assert total == spoken + skipped, found[-1]
    return {
        "total": total,
        "spoken": spoken,
        "audio": float(audio or 0),
        "reasons": dict(
            (r.split(" ", 1)[1], int(r.split(" ", 1)[0])) for r in reasons.split(", ") if r
        ),
        "interrupted": bool(interrupted),
    }


def ended_cleanly(cli: Cli, code: int, error: str | None = None, fault_at: float | None = None):
    """The checks every fault shares; returns the summary's accounting (or None after an error
    that came before any sentence)."""
    ended = cli.wait()
    stderr = cli.stderr
    assert cli.proc.returncode == code, stderr
    if fault_at is not None:
        assert ended - fault_at < 2.0, f"ended {ended - fault_at:.2f} s after the fault:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    if error is not None:
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("mlx-stream: error: ") and error in last, stderr
    for _ in range(20):  # a child killed with the command may take a moment to go
        if not group_members(cli.group):
            break
        time.sleep(0.05)
    assert group_members(cli.group) == [], "processes left behind"
    return accounting(stderr) if SUMMARY.search(stderr) else None


def assert_no_partial_files(folder: Path) -> None:
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".partial")]
    assert leftovers == [], leftovers


# --- the sink's side: sound server, stdout, disk -------------------------------------------------


def test_sound_server_killed_mid_stream(pulse_card):
    server = int((Path(pulse_card["PULSE_RUNTIME_PATH"]) / "pid").read_text())
    with Cli(*ESPEAK_EN, input=story(40).encode(), env=pulse_card) as cli:
        cli.wait_for("first audio")
        time.sleep(0.5)
        os.kill(server, signal.SIGKILL)
        fault_at = time.monotonic()
        report = ended_cleanly(cli, 1, "the audio output stopped", fault_at)
    assert report["total"] == 40 and report["reasons"]["the audio output stopped"] >= 1
    assert "--output out.wav" in cli.stderr.strip().splitlines()[-1]


def test_stdout_closed_early(tmp_path):
    # mlx-stream --output - ... | head -c 100
    with Cli(*ESPEAK_EN, "--output", "-", input=story(200).encode(), read_stdout=False) as cli:
        head = cli.proc.stdout.read(100)
        cli.proc.stdout.close()
        fault_at = time.monotonic()
        report = ended_cleanly(cli, 0, fault_at=fault_at)
    assert len(head) == 100
    assert report["total"] == 200 and report["reasons"]["output closed"] >= 1
    assert "mlx-stream: error" not in cli.stderr, "a reader that leaves is not an error"


def test_a_full_device_fails_before_anything_loads(nllb_dir):
    with Cli("--nllb", str(nllb_dir), "--tts", "espeak", "--output", "/dev/full", "Hello.") as cli:
        ended_cleanly(cli, 1, "cannot write '/dev/full' (No space left on device)")
    assert "loading" not in cli.stderr


def test_a_disk_that_fills_up_mid_file(tmp_path):
    # A file size limit fails the WAV's writes as a full disk does (EFBIG instead of ENOSPC),
    # needing no mount. espeak-ng's audio library maps PulseAudio shared memory, which the limit
    # caps too: it plays nothing here (--stdout), so its client is told not to use any.
    (tmp_path / "pulse-client.conf").write_text("enable-shm = no\nenable-memfd = no\n")
    env = {"PULSE_CLIENTCONFIG": str(tmp_path / "pulse-client.conf")}
    wav = tmp_path / "out.wav"
    with Cli(*ESPEAK_EN, "--output", str(wav), input=story(40).encode(), env=env,
             file_limit=300_000) as cli:  # fmt: skip
        report = ended_cleanly(cli, 1, f"cannot write '{wav}' (File too large)")
    assert "nothing was saved" in cli.stderr
    assert report["spoken"] == 0, "what was written went with the file: none of it was kept"
    assert report["reasons"] == {"the output could not be written": 40}
    assert [p.name for p in tmp_path.iterdir()] == ["pulse-client.conf"], "no WAV, no temporary"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_at_a_random_point_of_a_long_run(sig, seed, nllb_dir, tmp_path):
    delay = random.Random(seed).uniform(0.0, 1.5)  # from loading the models to well into speech
    wav = tmp_path / "out.wav"
    args = ["--nllb", str(nllb_dir), "--to", "fr", "--tts", "espeak", "--output", str(wav)]
    with Cli(*args, input=story(3000).encode()) as cli:
        cli.wait_for("loading NLLB")
        time.sleep(delay)
        cli.proc.send_signal(sig)
        fault_at = time.monotonic()
        report = ended_cleanly(cli, 128 + sig, fault_at=fault_at)
    assert_no_partial_files(tmp_path)
    if report is None:  # stopped while loading: no output at all
        assert not wav.exists()
        return
    assert report["interrupted"]
    if wav.exists():  # stopped while speaking: a complete WAV of exactly what was spoken
        info = sf.info(wav)
        assert info.samplerate == 22050 and info.subtype == "FLOAT"
        assert abs(info.duration - report["audio"]) < 0.06, (info.duration, report)
    else:
        assert report["spoken"] == 0


# --- the input side --------------------------------------------------------------------------


def spoken_sentences(stderr: str) -> list[str]:
    """The sources --show printed."""
    return re.findall(r"^\[\d+\] (?!→|first audio|translate |skipped: )(.*)$", stderr, re.M)


def test_random_binary_is_not_read_aloud(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    with Cli(*ESPEAK_EN, "--output", str(tmp_path / "out.wav"), input=noise) as cli:
        report = ended_cleanly(cli, 0)
    assert report["total"] == 0, "random bytes are not sentences"
    assert "skipped (not spoken): 1 stretch of binary data" in cli.stderr


def test_binary_inside_text_is_dropped_and_the_text_spoken(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    data = b"The build passed on all platforms.\n" + noise + b"\nThe release goes out tomorrow.\n"
    with Cli(*ESPEAK_EN, "--show", "--output", str(tmp_path / "out.wav"), input=data) as cli:
        report = ended_cleanly(cli, 0)
    assert spoken_sentences(cli.stderr) == [
        "The build passed on all platforms.",
        "The release goes out tomorrow.",
    ]
    assert report == {**report, "total": 2, "spoken": 2}
    assert "1 stretch of binary data" in cli.stderr


def test_nul_bytes(tmp_path):
    data = (
        b"Hello\x00 there, friend. How are\x00 you today?\n" + b"\x00" * 4096 + b"\nGoodbye now.\n"
    )
    with Cli(*ESPEAK_EN, "--show", "--output", str(tmp_path / "out.wav"), input=data) as cli:
        report = ended_cleanly(cli, 0)
    sentences = spoken_sentences(cli.stderr)
    assert sentences and not any("\x00" in s for s in sentences), sentences
    assert sentences[-1] == "Goodbye now." and report["spoken"] == report["total"] == len(sentences)
    assert "1 stretch of binary data" in cli.stderr


def test_invalid_utf8(tmp_path):
    data = "Café au lait, s'il vous plaît. A naïve approach works.\n".encode("latin-1")
    with Cli(*ESPEAK_EN, "--show", "--output", str(tmp_path / "out.wav"), input=data) as cli:
        report = ended_cleanly(cli, 0)
    assert report["spoken"] == report["total"] == 2, cli.stderr
    assert sf.info(tmp_path / "out.wav").frames > 0


def test_a_ten_megabyte_single_line(tmp_path):
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven"]
    rng = random.Random(0)
    line = " ".join(rng.choice(words) for _ in range(2_100_000))[:10_000_000].encode()
    wav = tmp_path / "out.wav"
    with Cli(*ESPEAK_EN, "--output", str(wav), input=line) as cli:
        cli.wait_for("first audio")  # speech starts without the line being read whole
        cli.proc.send_signal(signal.SIGINT)
        fault_at = time.monotonic()
        report = ended_cleanly(cli, 130, fault_at=fault_at)
    assert report["spoken"] >= 1 and report["interrupted"]
    assert abs(sf.info(wav).duration - report["audio"]) < 0.06
    assert_no_partial_files(tmp_path)


# --- the models' side ------------------------------------------------------------------------


def truncate(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def scramble(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def other_model_type(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    bert = {"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12}
    (folder / "config.json").write_text(json.dumps({**bert, "mlx_stream": config["mlx_stream"]}))


def other_shape(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "d_model": 2 * config["d_model"]}))


@pytest.mark.parametrize(
    "damage, error",
    [
        (truncate, "is not a readable safetensors file"),
        (scramble, "is not a readable safetensors file"),
        (other_model_type, "holds a 'bert' model, not NLLB"),
        (other_shape, "do not match its config.json"),
    ],
    ids=["truncated", "corrupt", "other-model-type", "other-shape"],
)
def test_a_damaged_model_folder(damage, error, nllb_dir, tmp_path):
    folder = tmp_path / "nllb"
    shutil.copytree(nllb_dir, folder)
    damage(folder)
    wav = tmp_path / "out.wav"
    with Cli("--nllb", str(folder), "--tts", "espeak", "--output", str(wav), "Hello.") as cli:
        ended_cleanly(cli, 1, error)
    assert not wav.exists(), "the output opened before loading is removed"
    assert_no_partial_files(tmp_path)
