"""`mlx-stream sentences`: print each sentence that would be spoken, one per line."""

from __future__ import annotations

import argparse
import sys

from ..errors import MlxStreamError
from ..text import FORMAT_HELP, FORMATS
from .common import Parser


def build_parser(prog: str = "mlx-stream sentences") -> argparse.ArgumentParser:
    p = Parser(prog=prog, description="Print exactly what would be spoken, one sentence a line.")
    p.add_argument("file", nargs="?", help="input file (default: standard input)")
    p.add_argument("--format", choices=FORMATS, default="auto", help=FORMAT_HELP)
    p.add_argument(
        "--tool-cues",
        action="store_true",
        help="include the short cue said when Claude runs a tool",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..text import print_sentences

    try:
        source = open(args.file, "rb") if args.file else sys.stdin.buffer  # noqa: SIM115
    except OSError as e:
        raise MlxStreamError(f"cannot read '{args.file}': {e.strerror}") from None
    try:
        return print_sentences(
            source, format=args.format, out=sys.stdout, err=sys.stderr, tool_cues=args.tool_cues
        )
    finally:
        if args.file:
            source.close()
