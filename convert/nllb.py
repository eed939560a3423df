"""Convert a Hugging Face NLLB-200 checkpoint into MLX weights.

python -m convert.nllb --hf-path facebook/nllb-200-distilled-600M --mlx-path weights/nllb-600m-q4 -q --q-bits 4
"""

from __future__ import annotations

import argparse
import sys

from mlx_stream.errors import MlxStreamError
from mlx_stream.nllb import weights


def build_parser(prog: str = "python -m convert.nllb") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Convert an NLLB-200 checkpoint to MLX."
    )
    parser.add_argument("--hf-path", required=True, help="hub id or local Hugging Face folder")
    parser.add_argument("--mlx-path", required=True, help="folder to write the MLX weights to")
    parser.add_argument(
        "--dtype",
        choices=sorted(weights.DTYPES),
        help="float precision (default: float16 on a GPU, float32 on the CPU)",
    )
    parser.add_argument("-q", "--quantize", action="store_true", help="quantize the linear layers")
    parser.add_argument("--q-bits", type=int, choices=(4, 8), default=4, help="bits (default: 4)")
    parser.add_argument(
        "--q-group-size", type=int, choices=(32, 64, 128), default=64, help="(default: 64)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --mlx-path if it exists")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m convert.nllb") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        summary = weights.convert(
            args.hf_path,
            args.mlx_path,
            dtype=args.dtype,
            q_bits=args.q_bits if args.quantize else None,
            q_group_size=args.q_group_size,
            force=args.force,
        )
    except MlxStreamError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    print(f"converted {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
