"""`mlx-stream` speaking with the MLX XTTS engine, through the real command in a subprocess."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from mlx_stream.tts.mlx_xtts import MlxXttsSynthesizer
from tests.conftest import run_cli

TEXT = "Hello there, this is my voice."


def test_a_recording_under_auto_speaks_with_mlx_xtts(small_xtts_mlx_dir, reference_wav, tmp_path):
    """No --tts: the recording can only mean XTTS, even on a CPU that would pick espeak-ng."""
    out = tmp_path / "out.wav"
    env = {"MLX_STREAM_CACHE": str(tmp_path / "cache")}
    args = ["--to", "en", "--xtts", str(small_xtts_mlx_dir), "--voice", str(reference_wav)]
    result = run_cli(*args, "--seed", "5", "--output", str(out), TEXT, env=env)
    assert result.returncode == 0, result.stderr.decode()
    stderr = result.stderr.decode()
    assert (
        f"speech: XTTS v2 (MLX) (--voice {reference_wav} is a recording); warning: on this CPU"
        in stderr
    )
    assert "Traceback" not in stderr and result.stdout == b""
    audio, rate = sf.read(out, dtype="float32")
    reference = MlxXttsSynthesizer.from_pretrained(
        small_xtts_mlx_dir, voice=str(reference_wav), seed=5, cache_dir=tmp_path / "cache"
    ).synthesize(TEXT, "en")
    assert rate == 24000
    np.testing.assert_allclose(audio, reference, rtol=0, atol=1e-6)
    # the run's real-time factor is remembered for the next warning
    assert (tmp_path / "cache" / "speed.json").read_text().count("xtts-mlx:cpu") == 1


def test_a_coqui_folder_is_converted_once_for_the_mlx_engine(small_xtts_dir, tmp_path):
    env = {"MLX_STREAM_WEIGHTS": str(tmp_path / "weights"), "MLX_STREAM_CACHE": str(tmp_path)}
    args = ["--to", "en", "--tts", "xtts", "--xtts", str(small_xtts_dir), "--xtts-engine", "mlx"]
    first = run_cli(*args, "--output", str(tmp_path / "a.wav"), "Good morning.", env=env)
    assert first.returncode == 0, first.stderr.decode()
    assert "converting XTTS v2" in first.stderr.decode()
    (converted,) = (tmp_path / "weights").iterdir()
    assert (converted / "model.safetensors").is_file()
    again = run_cli(*args, "--output", str(tmp_path / "b.wav"), "Good morning.", env=env)
    assert again.returncode == 0 and "converting" not in again.stderr.decode()


def test_mlx_stream_convert_xtts(small_xtts_dir, tmp_path):
    target = tmp_path / "xtts-q8"
    result = run_cli(
        "convert", "xtts", "--hf-path", str(small_xtts_dir), "--mlx-path", str(target), "-q",
        "--q-bits", "8", "--q-group-size", "32",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert "8-bit" in (result.stdout + result.stderr).decode()
    assert (target / "config.json").is_file() and (target / "speakers.safetensors").is_file()
