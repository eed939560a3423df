"""Run the benchmarks and write a report: `python -m benchmarks.run [--quick] [--out DIR] [--only ...]`.

Sections: translate (MLX NLLB against transformers and CTranslate2), speech (XTTS), text (the front
end), e2e (the real pipeline to a null sink). Each writes into one results.json, report.md and PNG
plots; a section that fails is reported as failed and the others still run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from . import report
from .bench_translate import versions

SECTIONS = ("translate", "speech", "text", "e2e")


def run_section(name: str, quick: bool) -> dict:
    if name == "translate":
        from . import bench_translate

        return bench_translate.run(quick=quick)
    if name == "speech":
        from . import bench_tts

        return bench_tts.run(quick=quick)
    if name == "text":
        from . import bench_text

        return bench_text.run(quick=quick)
    from . import bench_e2e

    return bench_e2e.run(quick=quick)


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
    return info


def parse_sections(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown)}: choose from {','.join(SECTIONS)}"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mlx-stream bench", description="Speed and memory, side by side with the peers."
    )
    parser.add_argument("--quick", action="store_true", help="small settings, about 2 minutes")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/out/<time>)")
    parser.add_argument(
        "--only",
        type=parse_sections,
        default=list(SECTIONS),
        help=f"comma-separated sections to run, from {','.join(SECTIONS)}",
    )
    args = parser.parse_args(argv)
    started = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or Path(__file__).parent / "out" / started
    results = {
        "command": " ".join(
            ["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]
        ),
        "started": started,
        "quick": args.quick,
        "machine": machine(),
        "versions": versions(),
        "sections": {},
    }
    failed = []
    for name in args.only:
        print(f"== {name}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            results["sections"][name] = run_section(name, args.quick)
        except Exception as error:  # one broken section must not hide the others' numbers
            results["sections"][name] = {"error": f"{type(error).__name__}: {error}"}
            failed.append(name)
        results["sections"][name]["section_seconds"] = round(time.perf_counter() - start, 1)
    print(report.write(results, out))
    print(f"Report written to {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
