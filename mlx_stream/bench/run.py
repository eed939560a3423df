"""Run the benchmarks and write a report: `mlx-stream bench [--quick] [--out DIR] [--only ...]`.

Sections: translate (MLX NLLB against transformers and CTranslate2), speech (XTTS), text (the front
end), e2e (the real pipeline to a null sink); soak (10,000 sentences, memory sampled) only when
asked for. Each writes into one results.json, report.md and PNG
plots; a section that fails (a peer not installed, say) is reported as failed and the others run.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib import import_module
from pathlib import Path

from .. import blas
from ..errors import MlxStreamError
from . import default_folder, report
from .translate import versions

SECTIONS = ("translate", "speech", "text", "e2e")  # each is the module of that name here
OPT_IN = ("soak",)  # long: run only when named in --only, never by default or in --quick


def run_section(name: str, quick: bool) -> dict:
    return import_module(f".{name}", __package__).run(quick=quick)


def machine() -> dict:
    """What the numbers were measured on, including how busy the machine already was."""
    info = {
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "cpu cores": os.cpu_count(),
    }
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if names:
            info["cpu"] = names[0]
    elif platform.processor():
        info["cpu"] = platform.processor()
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory GB"] = round(pages * page_size / 1e9, 1)
    except (ValueError, OSError):
        pass
    if hasattr(os, "getloadavg"):
        info["load average at start (1 min)"] = round(os.getloadavg()[0], 2)
    try:
        import mlx.core as mx

        info["mlx device"] = str(mx.default_device())
    except ImportError:
        info["mlx device"] = "mlx not importable"
    info["BLAS under MLX"] = str(blas.in_use())
    return info


def run(
    sections: list[str], quick: bool = False, out: Path | None = None, command: str = ""
) -> int:
    """Run `sections` (names from SECTIONS) one after the other and write the report into `out`
    (default: `default_folder()/<time>`); 1 if a section's own code failed, else 0.

    A section that cannot run here (a peer or an engine missing: an `MlxStreamError`, which says
    what to install) is reported as not run, and does not fail the run."""
    started = time.strftime("%Y%m%d-%H%M%S")
    out = out or default_folder() / started
    results = {
        "command": command,
        "started": started,
        "quick": quick,
        "machine": machine(),
        "versions": versions(),
        "sections": {},
    }
    failed = []
    for name in sections:
        print(f"== {name}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            results["sections"][name] = run_section(name, quick)
        except MlxStreamError as error:
            results["sections"][name] = {"missing": str(error)}
            print(f"{name}: not run: {error}", file=sys.stderr, flush=True)
        except Exception as error:  # one broken section must not hide the others' numbers
            results["sections"][name] = {"error": f"{type(error).__name__}: {error}"}
            failed.append(name)
        results["sections"][name]["section_seconds"] = round(time.perf_counter() - start, 1)
    print(report.write(results, out))
    print(f"Report written to {out}", file=sys.stderr)
    return 1 if failed else 0
