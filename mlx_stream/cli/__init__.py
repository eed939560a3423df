"""The `mlx-stream` command: one module per command, each owning its arguments and `main(argv)`.

`mlx-stream [speak]` (the default), `translate`, `sentences`, `convert`, `bench`. This module only
picks the command and turns errors into one line on stderr and an exit status (1, or 2 for a bad
command line; 130 after Ctrl-C, 143 after SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from ..errors import MlxStreamError
from .common import UsageError, silence_stdout
from .live import exit_code, exit_now, raise_on_sigterm

# name: what `mlx-stream --help` says of it. Each is the module `mlx_stream.cli.<name>`.
COMMANDS = {
    "speak": "translate text and speak it (the default)",
    "translate": "print translations, one per line",
    "sentences": "print each sentence that would be spoken",
    "convert": "convert an NLLB or XTTS checkpoint to MLX",
    "bench": "measure translation, speech and end-to-end speed",
    "doctor": "what this machine gives mlx-stream: device, BLAS, precision, speech engines",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level help: the default command's options, the other commands and examples."""
    from .speak import build_parser as speak_parser

    parser = speak_parser(prog="mlx-stream [speak]")
    commands = "\n".join(f"  {name:<10} {help}" for name, help in COMMANDS.items())
    parser.description = (
        "Speak English text aloud in another language, live: NLLB-200 in MLX, then speech.\n\n"
        f"commands (`mlx-stream COMMAND --help` for each one's options):\n{commands}\n"
        "  --version  mlx-stream's and MLX's versions, MLX's device and BLAS\n\n"
        "The options below are speak's."
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    if argv and argv[0] == "--version":
        from .doctor import version_line

        print(version_line())
        return 0
    if not argv or argv[0] not in COMMANDS:
        argv.insert(0, "speak")
    try:
        raise_on_sigterm()
        command = import_module(f".{argv[0]}", __name__)
        return command.main(argv[1:])
    except MlxStreamError as e:
        print(f"mlx-stream: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt as e:
        return exit_code(e)
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
