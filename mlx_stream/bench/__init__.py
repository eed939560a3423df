"""Speed and memory of mlx-stream on this machine: `mlx-stream bench [--quick] [--only ...]`.

One module per section: `translate` (MLX NLLB against transformers and CTranslate2), `speech`
(XTTS v2), `text` (the front end), `e2e` (the real pipeline); `run` runs them, `report` writes
report.md, results.json and plots. The models are the real shapes with random weights, built once
and cached. The peers, coqui's XTTS and the plots need the `bench` extra; where one is missing,
its system or section is reported with the command that installs it, and the rest still runs.
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from types import ModuleType

from ..errors import MlxStreamError

EXTRA = "pip install 'mlx-stream[bench]'"


def default_folder() -> Path:
    """Where runs and cached models go: `$MLX_STREAM_BENCH`, else `benchmarks/out/` of a source
    checkout, else `~/.cache/mlx-stream/bench`."""
    if env := os.environ.get("MLX_STREAM_BENCH"):
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "benchmarks"
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
