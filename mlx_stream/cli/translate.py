"""`mlx-stream translate`: print translations, one per line (of the arguments, or of each input line)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from .common import Parser, add_languages, add_nllb, load_translator


def build_parser(prog: str = "mlx-stream translate") -> argparse.ArgumentParser:
    p = Parser(
        prog=prog,
        description="Translate text with NLLB-200 in MLX and print the translations.",
        epilog='example: echo "Hello" | mlx-stream translate --to jpn_Jpan',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "text", nargs="*", help="text to translate (default: each line of standard input)"
    )
    add_languages(p)
    add_nllb(p)
    p.add_argument("--max-new-tokens", type=int, help="cap on generated tokens per sentence")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..nllb.languages import resolve_language

    src, tgt = resolve_language(args.src), resolve_language(args.tgt)  # before any download
    translator = load_translator(args, show=sys.stderr.isatty())
    lines = [" ".join(args.text)] if args.text else _lines(sys.stdin.buffer)
    for line in lines:
        out = (
            translator.translate(
                line, src=src, tgt=tgt, beams=args.beams, max_new_tokens=args.max_new_tokens
            )
            if line.strip()
            else ""
        )
        print(out, flush=True)
    return 0


def _lines(stream) -> Iterator[str]:
    """Each line of a byte stream as it comes, invalid UTF-8 replaced (U+FFFD), not fatal."""
    for raw in stream:
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
