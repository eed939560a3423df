"""Shared fixtures. The model fixtures live in tests/fixtures/ and are registered here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.tokenizer", "tests.fixtures.nllb", "tests.fixtures.xtts"]

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict | None = None, input: bytes | None = None, timeout: float = 300):
    """Run the real `mlx-stream` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "mlx_stream", *args],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture
def alsa_capture(tmp_path):
    """A "sound card" that writes what reaches it to a file: PortAudio -> ALSA -> file plugin.

    Returns (env, path of the raw capture). The null device behind it consumes as fast as it is fed.
    """
    home = tmp_path / "alsa-home"
    home.mkdir()
    capture = tmp_path / "card.raw"
    (home / ".asoundrc").write_text(
        'pcm.!default {\n  type file\n  slave.pcm "null"\n'
        f'  file "{capture}"\n  format "raw"\n}}\n'
    )
    return {"HOME": str(home)}, capture


@pytest.fixture
def pulse_card(tmp_path):
    """A sound card that plays in real time: PulseAudio's null sink, reached through ALSA's pulse plugin."""
    if not shutil.which("pulseaudio"):
        pytest.fail(
            "pulseaudio is not installed: run .ci/run, which installs the test dependencies"
        )
    home = tmp_path / "pulse-home"
    runtime = home / "run"
    runtime.mkdir(parents=True)
    (home / ".asoundrc").write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
    env = {
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
    }
    full = {**os.environ, **env}
    subprocess.run(
        [
            "pulseaudio",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "-n",
            "--log-target=stderr",
            "--load=module-null-sink sink_name=card rate=24000",
            "--load=module-native-protocol-unix",
        ],
        env=full,
        check=True,
        capture_output=True,
        timeout=30,
    )
    for _ in range(50):
        if subprocess.run(["pactl", "info"], env=full, capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    yield env
    subprocess.run(["pulseaudio", "--kill"], env=full, capture_output=True, timeout=30)
