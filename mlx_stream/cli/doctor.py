"""`mlx-stream doctor`: what this machine gives mlx-stream, one fact a line on stdout.

Where MLX runs, the BLAS under it, the precision NLLB is converted to by default, and which speech
engines and audio output can run here, each missing one with the command that installs it.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version

from .common import Parser


def build_parser(prog: str = "mlx-stream doctor") -> argparse.ArgumentParser:
    return Parser(
        prog=prog,
        description="What this machine gives mlx-stream: MLX's device, the BLAS under it, the "
        "default NLLB precision, the speech engines and audio output, one a line on stdout.",
    )


def mlx_facts() -> list[tuple[str, str]]:
    """mlx-stream's and MLX's versions, MLX's device and the BLAS (`mlx-stream --version`)."""
    import mlx.core as mx

    from .. import __version__, blas

    return [
        ("mlx-stream", __version__),
        ("python", f"{platform.python_version()} ({platform.system()} {platform.machine()})"),
        ("mlx", f"{_version('mlx')}, default device {mx.default_device().type.name}"),
        ("BLAS", str(blas.in_use())),
    ]


def version_line() -> str:
    """`mlx-stream --version`: "mlx-stream 0.1.0 (mlx 0.32.4 on cpu, BLAS: BLIS 0.9.0, 2 threads (...))"."""
    facts = dict(mlx_facts())
    mlx = facts["mlx"].replace(", default device", " on")
    return f"mlx-stream {facts['mlx-stream']} (mlx {mlx}, BLAS: {facts['BLAS']})"


def precision() -> str:
    from ..weights import default_dtype

    dtype = default_dtype()
    if dtype == "float32":
        return f"{dtype} on the CPU (fastest there; --bits 8 or 4 saves memory: see --help)"
    return f"{dtype} on the GPU (--bits 4 reads 4x fewer bytes a token)"


def speech_facts() -> list[tuple[str, str]]:
    from ..tts import choice

    coqui = (
        f"installed (coqui-tts {_version('coqui-tts')}, torch {_version('torch')})"
        if choice.coqui_installed()
        else "not installed: pip install 'mlx-stream[xtts]'"
    )
    install = "brew install espeak-ng" if sys.platform == "darwin" else "apt-get install espeak-ng"
    espeak = shutil.which("espeak-ng")
    facts = [
        ("XTTS v2 (MLX)", f"built in, runs on {choice.accelerator('mlx')}"),
        ("XTTS v2 (coqui)", coqui),
        ("espeak-ng", espeak or f"not found: {install}"),
    ]
    if sys.platform == "darwin":
        facts.append(("say", shutil.which("say") or "not found"))
    return facts


def audio_fact() -> tuple[str, str]:
    from ..audio import list_output_devices
    from ..errors import MlxStreamError

    try:
        devices = list_output_devices()
    except MlxStreamError as error:
        return ("audio output", str(error))
    if not devices:
        return ("audio output", "no device: write to a file with --output out.wav")
    return ("audio output", f"{len(devices)} device{'s' if len(devices) > 1 else ''}")


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    facts = [*mlx_facts(), ("NLLB precision", precision()), *speech_facts(), audio_fact()]
    width = max(len(name) for name, _ in facts)
    for name, value in facts:
        print(f"{name + ':':<{width + 1}} {value}")
    return 0


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
