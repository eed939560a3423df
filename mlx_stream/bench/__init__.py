"""Speed and memory of mlx-stream on this machine: `mlx-stream bench [--quick] [--only ...]`.

One module per section: `translate` (MLX NLLB against transformers and CTranslate2), `speech`
(XTTS v2), `text` (the front end), `e2e` (the real pipeline); `run` runs them, `report` writes
report.md, results.json and plots. The models are the real shapes with random weights, built once
and cached. The peers, coqui's XTTS and the plots need the `bench` extra; where one is missing,
its system or section is reported with the command that installs it, and the rest still runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from types import ModuleType

from .. import blas
from ..errors import MlxStreamError

EXTRA = "pip install 'mlx-stream[bench]'"
PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the workers import this same mlx_stream


def default_folder() -> Path:
    """Where runs and cached models go: `$MLX_STREAM_BENCH`, else `benchmarks/out/` of a source
    checkout, else `~/.cache/mlx-stream/bench`."""
    if env := os.environ.get("MLX_STREAM_BENCH"):
        return Path(env)
    checkout = PACKAGE_PARENT / "benchmarks"
    if (checkout / "README.md").exists():
        return checkout / "out"
    return Path.home() / ".cache" / "mlx-stream" / "bench"


def need(module: str, what: str) -> ModuleType:
    """Import a package only a peer or a plot needs, or say in one line how to install it."""
    try:
        return import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MlxStreamError(f"{what} needs {top}: {EXTRA}") from None


def spawn(module: str, name: str, settings: dict, timeout: float, own_blas: bool = True) -> dict:
    """Run `worker(name, settings)` of `mlx_stream.bench.<module>` in a fresh Python: its
    result, or {"error": its last line}, with the process's wall time (`process_s`).

    `own_blas=False` for a peer: it keeps torch's or CTranslate2's BLAS, which ours, loaded
    globally when the worker imports mlx_stream, would otherwise take over (LD_DEBUG=bindings
    shows it)."""
    command = [sys.executable, "-m", f"mlx_stream.bench.{module}", "--worker", name]
    command += ["--settings", json.dumps(settings)]
    path = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    if not own_blas:
        env[blas.ENV] = "off"
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        result = {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    else:
        result = json.loads(lines[-1].removeprefix("RESULT "))
    result["process_s"] = round(time.perf_counter() - start, 1)
    return result


def serve(worker: Callable[[str, dict], dict], name: str, settings: str) -> int:
    """The worker process's side of `spawn`: one result line on stdout, or, for a peer not
    installed (MlxStreamError), one line on stderr and exit status 1 for the parent to report."""
    try:
        result = worker(name, json.loads(settings))
    except MlxStreamError as e:
        print(e, file=sys.stderr)
        return 1
    print("RESULT " + json.dumps(result))
    return 0
