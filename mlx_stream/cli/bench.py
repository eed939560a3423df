"""`mlx-stream bench`: speed and memory on this machine, side by side with the peers."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import Parser


def build_parser(prog: str = "mlx-stream bench") -> argparse.ArgumentParser:
    from ..bench import EXTRA, default_folder
    from ..bench.run import OPT_IN, SECTIONS

    def sections(value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in SECTIONS + OPT_IN]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown section {', '.join(unknown)}: choose from {','.join(SECTIONS + OPT_IN)}"
            )
        return names

    p = Parser(
        prog=prog,
        description="Speed and memory of mlx-stream, side by side with the peers (transformers, "
        f"CTranslate2, coqui-tts: {EXTRA}). A section or system whose peer is missing is "
        "reported as such; the others run.",
    )
    p.add_argument("--quick", action="store_true", help="small settings, about 2.5 minutes")
    p.add_argument("--out", type=Path, help=f"output folder (default: {default_folder()}/<time>)")
    p.add_argument(
        "--only",
        type=sections,
        default=list(SECTIONS),
        help=f"comma-separated sections to run, from {','.join(SECTIONS + OPT_IN)} (default: "
        f"{','.join(SECTIONS)}; {','.join(OPT_IN)} only when named: 10,000 sentences, minutes)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..bench.run import run

    command = " ".join(["mlx-stream bench", *(argv or [])])
    return run(args.only, quick=args.quick, out=args.out, command=command)
