"""What the CLI says of this machine (`--version`, `doctor`), the precision NLLB is converted to by
default, and `bench` going on when a peer is missing. Each runs the real `mlx-stream` in a
subprocess, so the BLAS is chosen as a user's process chooses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from .conftest import run_cli
from .fixtures.nllb import make_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def blas_in_a_fresh_process(env: dict | None = None) -> str:
    code = "import mlx_stream; print(mlx_stream.blas.in_use())"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_version_names_mlx_its_device_and_the_blas():
    done = run_cli("--version")
    assert done.returncode == 0 and done.stderr == b""
    import mlx_stream

    expected = (
        f"mlx-stream {mlx_stream.__version__} (mlx {version('mlx')} on cpu, "
        f"BLAS: {blas_in_a_fresh_process()})\n"
    )
    assert done.stdout.decode() == expected
    off = run_cli("--version", env={"MLX_STREAM_BLAS": "off"}).stdout.decode()
    assert off.endswith("BLAS: reference (netlib): MLX_STREAM_BLAS=off)\n")


def test_doctor_one_fact_a_line_and_what_to_install(tmp_path):
    # PATH without espeak-ng: only the Python that runs the CLI
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    done = run_cli("doctor", env={"PATH": str(bin_dir)})
    assert done.returncode == 0, done.stderr.decode()
    facts = dict(line.split(":", 1) for line in done.stdout.decode().splitlines())
    facts = {name: value.strip() for name, value in facts.items()}
    assert facts["BLAS"] == blas_in_a_fresh_process()
    assert facts["mlx"] == f"{version('mlx')}, default device cpu"
    assert facts["NLLB precision"].startswith("float32 on the CPU")
    assert facts["espeak-ng"] == "not found: apt-get install espeak-ng"
    assert set(facts) >= {
        "mlx-stream",
        "python",
        "XTTS v2 (MLX)",
        "XTTS v2 (coqui)",
        "audio output",
    }


def test_nllb_is_converted_to_float32_by_default_on_the_cpu(tmp_path):
    hf = tmp_path / "nllb-tiny"
    make_checkpoint(hf)
    env = {"MLX_STREAM_WEIGHTS": str(tmp_path / "w"), "HF_HUB_OFFLINE": "1"}
    done = run_cli("translate", "--nllb", str(hf), "--to", "fr", "Good morning.", env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["nllb-tiny-float32"]
    config = json.loads((tmp_path / "w" / "nllb-tiny-float32" / "config.json").read_text())
    assert "quantization" not in config
    quantized = run_cli("translate", "--nllb", str(hf), "--bits", "8", "--to", "fr", "Hi.", env=env)
    assert quantized.returncode == 0, quantized.stderr.decode()
    assert (tmp_path / "w" / "nllb-tiny-q8").is_dir()


def test_bench_reports_a_missing_peer_and_runs_the_rest(tmp_path):
    """coqui-tts missing and no cached XTTS checkpoint: the e2e section says what to install
    (before building anything), the text section still runs, and the run succeeds (only a
    failure of our own code fails it)."""
    blocked = tmp_path / "blocked"
    (blocked / "TTS").mkdir(parents=True)
    (blocked / "TTS" / "__init__.py").write_text("raise ImportError('not installed')\n")
    out = tmp_path / "out"
    done = run_cli(
        "bench", "--quick", "--only", "e2e,text", "--out", str(out),
        env={"PYTHONPATH": str(blocked), "MLX_STREAM_BENCH": str(tmp_path / "bench")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    results = json.loads((out / "results.json").read_text())
    e2e, text = results["sections"]["e2e"], results["sections"]["text"]
    assert e2e["missing"] == (
        "the end-to-end benchmark's random XTTS checkpoint (built once by coqui) needs TTS: "
        "pip install 'mlx-stream[bench]'"
    )
    assert "error" not in text and "missing" not in text
    report = (out / "report.md").read_text()
    assert f"## E2e\n\nNot run: {e2e['missing']}" in report
    assert not (tmp_path / "bench" / "cache").exists() or not any(
        (tmp_path / "bench" / "cache").iterdir()
    )
    assert results["machine"]["BLAS under MLX"] == blas_in_a_fresh_process()
