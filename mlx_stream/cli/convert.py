"""`mlx-stream convert nllb|xtts`: turn a source checkpoint into a converted MLX folder.

Each model family converts through `mlx_stream.<family>.weights.convert(hf_path, mlx_path,
dtype=None, q_bits=None, q_group_size=64, force=False) -> ConversionSummary`; adding that module
is all a family needs to appear here. `mlx-stream convert --hf-path ...` (no family) is NLLB, as
before families existed. `python -m convert.<family>` from a checkout runs the same code.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from ..errors import MlxStreamError
from ..weights import DTYPES
from .common import Parser, UsageError

# family: what its source checkpoint is
FAMILIES = {
    "nllb": "an NLLB-200 checkpoint (Hugging Face layout; e.g. facebook/nllb-200-distilled-600M)",
    "xtts": "an XTTS v2 checkpoint (coqui layout; e.g. coqui/XTTS-v2)",
}


def build_parser(prog: str = "mlx-stream convert", family: str | None = None) -> Parser:
    """The options every family takes; without `family`, the first argument names it."""
    what = FAMILIES[family] if family else "an NLLB-200 or XTTS v2 checkpoint"
    p = Parser(
        prog=prog,
        description=f"Convert {what} into MLX weights, written atomically to --mlx-path.",
        epilog="families:\n"
        + "\n".join(f"  {name:6}{text}" for name, text in FAMILIES.items())
        + "\n\nexample:\n  mlx-stream convert nllb --hf-path facebook/nllb-200-distilled-600M "
        "--mlx-path weights/nllb-600m-q4 -q --q-bits 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if family is None:
        p.add_argument(
            "family",
            nargs="?",
            choices=FAMILIES,
            default="nllb",
            help="model family (default: nllb)",
        )
    p.add_argument("--hf-path", required=True, help="hub id or local folder of the checkpoint")
    p.add_argument("--mlx-path", required=True, help="folder to write the MLX weights to")
    p.add_argument(
        "--dtype",
        choices=sorted(DTYPES),
        help="float precision (default: float16 on a GPU, float32 on the CPU)",
    )
    p.add_argument("-q", "--quantize", action="store_true", help="quantize the linear layers")
    p.add_argument("--q-bits", type=int, choices=(4, 8), default=4, help="bits (default: 4)")
    p.add_argument(
        "--q-group-size", type=int, choices=(32, 64, 128), default=64, help="(default: 64)"
    )
    p.add_argument("--force", action="store_true", help="overwrite --mlx-path if it exists")
    return p


def converter(family: str):
    """`mlx_stream.<family>.weights.convert`, or a clear error if this version has none."""
    name = f"mlx_stream.{family}.weights"
    try:
        module = import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise MlxStreamError(
                f"the {family} converter cannot be loaded ({e}): reinstall mlx-stream"
            ) from None
        module = None
    if not hasattr(module, "convert"):
        raise MlxStreamError(
            f"converting {family} is not available in this version of mlx-stream: upgrade it"
        )
    return module.convert


def main(
    argv: list[str] | None = None, prog: str = "mlx-stream convert", family: str | None = None
) -> int:
    """Errors are one line, prefixed with `prog` (the command the user typed)."""
    try:
        args = build_parser(prog, family).parse_args(argv)
        convert = converter(family or args.family)
        summary = convert(
            args.hf_path,
            args.mlx_path,
            dtype=args.dtype,
            q_bits=args.q_bits if args.quantize else None,
            q_group_size=args.q_group_size,
            force=args.force,
        )
    except MlxStreamError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    print(f"converted {summary}")
    return 0
