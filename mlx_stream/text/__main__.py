"""`python -m mlx_stream.text [--format FORMAT] [FILE]`: the sentences that would be spoken."""

import argparse
import sys

from ..errors import MlxStreamError
from .frontend import print_sentences
from .ingest import FORMAT_HELP, FORMATS
from .segment import DEFAULT_MAX_CHARS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlx_stream.text",
        description="Print each sentence that would be spoken, one a line; what was skipped goes to stderr.",
    )
    parser.add_argument("file", nargs="?", help="input file (default: standard input)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help=FORMAT_HELP,
    )
    parser.add_argument(
        "--tool-cues", action="store_true", help="say a short cue for each tool call"
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=DEFAULT_MAX_CHARS,
        help=f"longest sentence; longer ones are split (default: {DEFAULT_MAX_CHARS})",
    )
    args = parser.parse_args(argv)
    try:
        source = open(args.file, "rb") if args.file else sys.stdin.buffer  # noqa: SIM115
    except OSError as e:
        print(f"mlx-stream: error: cannot read '{args.file}': {e.strerror}", file=sys.stderr)
        return 1
    try:
        return print_sentences(
            source, args.format, tool_cues=args.tool_cues, max_chars=args.max_chars
        )
    except MlxStreamError as e:
        print(f"mlx-stream: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `| head`: stop quietly
        sys.stdout = None
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if args.file:
            source.close()


if __name__ == "__main__":
    sys.exit(main())
