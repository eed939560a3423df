"""Convert a Hugging Face NLLB-200 checkpoint into MLX weights, from a source checkout.

python -m convert.nllb --hf-path facebook/nllb-200-distilled-600M --mlx-path weights/nllb-600m-q4 -q --q-bits 4

The same as `mlx-stream convert nllb ...` (the code is `mlx_stream.cli.convert`).
"""

from __future__ import annotations

import sys

from mlx_stream.cli import convert


def main(argv: list[str] | None = None, prog: str = "python -m convert.nllb") -> int:
    return convert.main(argv, prog=prog, family="nllb")


if __name__ == "__main__":
    sys.exit(main())
