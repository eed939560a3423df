"""`mlx-stream bench`: measure speed and memory on this machine (see benchmarks/README.md)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import MlxStreamError


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "run.py").exists():
        raise MlxStreamError(
            "benchmarks run from a source checkout: clone the repository and run it there"
        )
    # first on the path: site-packages may hold another `benchmarks` (pysbd ships one)
    sys.path.insert(0, str(root))
    from benchmarks.run import main as bench_main

    return bench_main(argv)
