"""Convert coqui's XTTS v2 checkpoint into MLX weights, from a source checkout.

python -m convert.xtts --hf-path coqui/XTTS-v2 --mlx-path weights/xtts-v2

The same as `mlx-stream convert xtts ...` (the code is `mlx_stream.cli.convert`).
"""

from __future__ import annotations

import sys

from mlx_stream.cli import convert


def main(argv: list[str] | None = None, prog: str = "python -m convert.xtts") -> int:
    return convert.main(argv, prog=prog, family="xtts")


if __name__ == "__main__":
    sys.exit(main())
