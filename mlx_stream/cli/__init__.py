"""The `mlx-stream` command: one module per command, each owning its arguments and `main(argv)`.

`mlx-stream [speak]` (the default), `translate`, `sentences`, `convert`, `bench`. This module only
picks the command and turns errors into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from ..errors import MlxStreamError
from .common import EXAMPLES, UsageError, silence_stdout
from .live import exit_now

# name: what `mlx-stream --help` says of it. Each is the module `mlx_stream.cli.<name>`.
COMMANDS = {
    "speak": "translate text and speak it (the default)",
    "translate": "print translations, one per line",
    "sentences": "print each sentence that would be spoken",
    "convert": "convert an NLLB or XTTS checkpoint to MLX",
    "bench": "measure translation, speech and end-to-end speed",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level help: the commands and examples (each command parses its own arguments)."""
    parser = argparse.ArgumentParser(
        prog="mlx-stream",
        description="Speak English text aloud in another language, live: NLLB-200 in MLX, then speech.\n"
        f"Commands: {', '.join(COMMANDS)}; speak is the default. See `mlx-stream COMMAND --help`.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help in COMMANDS.items():
        sub.add_parser(name, help=help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    if not argv or argv[0] not in COMMANDS:
        argv.insert(0, "speak")
    try:
        command = import_module(f".{argv[0]}", __name__)
        return command.main(argv[1:])
    except MlxStreamError as e:
        print(f"mlx-stream: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        silence_stdout()
        return 0


def run() -> None:
    """The console entry point: `main()`, then exit without the interpreter's teardown.

    With torch and MLX both loaded, their C++ destructors can abort the process at exit
    ("terminate called without an active exception") after all the work is done; files and
    streams are closed by then, so skip that teardown.
    """
    exit_now(main())
