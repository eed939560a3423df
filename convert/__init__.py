"""Conversion commands of a source checkout: `python -m convert.nllb|convert.xtts ...`.

Not installed with the package: each is a shim over `mlx_stream.cli.convert`, which an installed
package runs as `mlx-stream convert nllb|xtts ...`.
"""
