"""Converted NLLB weights: `convert` a Hugging Face checkpoint into MLX safetensors, and `load` them.

Both directions live here so that what is written and what is read cannot drift apart; what every
model family shares (the folder format, safetensors, quantization, atomic writes) is in
`mlx_stream.weights`. A converted folder holds `config.json` (the Hugging Face config plus an
`"mlx_stream"` entry and, when quantized, `"quantization": {"group_size", "bits"}`),
`model.safetensors` (or shards and `model.safetensors.index.json`) and the tokenizer files. The
tied embedding is stored once.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlx.utils import tree_flatten

from .. import weights as common
from ..errors import MlxStreamError
from ..weights import (
    DTYPES,
    INDEX_FILE,
    MARKER,
    WEIGHTS_FILE,
    ConversionSummary,
    default_dtype,
    is_converted,
)
from . import tokenizer as nllb_tokenizer
from .model import Model, ModelArgs

FORMAT_VERSION = 1
LICENCE = "NLLB-200 weights are CC-BY-NC-4.0, non-commercial use only"
HF_WEIGHT_PATTERNS = [
    "config.json",
    "model*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
]
CONVERT_COMMAND = "mlx-stream convert nllb --hf-path {folder} --mlx-path weights/<name>"


def read_config(folder: Path) -> dict:
    config = common.read_json(folder / "config.json", "an NLLB checkpoint")
    if not isinstance(config, dict) or config.get("model_type") != "m2m_100":
        kind = config.get("model_type") if isinstance(config, dict) else None
        raise MlxStreamError(
            f"'{folder}' holds a '{kind}' model, not NLLB (model_type m2m_100): "
            "pass an NLLB-200 checkpoint such as facebook/nllb-200-distilled-600M"
        )
    return config


def load(folder: str | os.PathLike) -> tuple[Model, dict]:
    """The model and config of a converted folder; quantized layers are rebuilt as saved."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MlxStreamError(f"'{folder}' is not a folder: convert a checkpoint there first")
    config = read_config(folder)
    common.check_converted(folder, config, CONVERT_COMMAND.format(folder=folder), FORMAT_VERSION)
    weights = common.load_safetensors(folder)
    model = Model(ModelArgs.from_dict(config))
    common.load_weights(model, weights, folder, config.get("quantization"))
    return model, config


def convert(
    hf_path: str | os.PathLike,
    mlx_path: str | os.PathLike,
    dtype: str | None = None,
    q_bits: int | None = None,
    q_group_size: int = 64,
    force: bool = False,
) -> ConversionSummary:
    """Convert a Hugging Face NLLB checkpoint (folder or hub id) into a folder `load` reads.

    `dtype` defaults to `default_dtype()`; with `q_bits`, the scales and the layers left
    unquantized (layer norms, biases) keep that dtype.
    """
    dtype = dtype or default_dtype()
    common.check_settings(dtype, q_bits)
    mlx_path = Path(mlx_path)
    common.check_target(mlx_path, force)
    source = common.resolve_source(
        hf_path,
        HF_WEIGHT_PATTERNS + list(nllb_tokenizer.FILES),
        what="NLLB checkpoint",
        licence=LICENCE,
    )
    config = read_config(source)
    tokenizer = nllb_tokenizer.Tokenizer.from_folder(source)
    files = common.source_files(source, "NLLB checkpoint")
    model = Model(ModelArgs.from_dict(config))
    common.load_weights(
        model,
        Model.sanitize(common.read_source(files)),
        source,
        todo="download the checkpoint again",
    )
    model.set_dtype(DTYPES[dtype])
    parameters = common.count_parameters(model)
    quantization = None
    if q_bits is not None:
        if model.args.d_model % q_group_size:
            raise MlxStreamError(
                f"d_model {model.args.d_model} is not a multiple of --q-group-size {q_group_size}: "
                "use 32 or 64"
            )
        quantization = common.quantize(model, q_group_size, q_bits)
    config = common.mark(config, quantization, FORMAT_VERSION, dtype=dtype)

    with common.atomic_folder(mlx_path) as staging:
        common.save_safetensors(staging, dict(tree_flatten(model.parameters())))
        common.write_json(staging / "config.json", config)
        tokenizer.save(staging)
    return ConversionSummary(
        path=mlx_path,
        parameters=parameters,
        bytes_before=common.files_size(files),
        bytes_after=common.files_size(mlx_path.glob("*.safetensors")),
        dtype=dtype,
        bits=q_bits,
    )


__all__ = [
    "DTYPES",
    "INDEX_FILE",
    "MARKER",
    "WEIGHTS_FILE",
    "ConversionSummary",
    "convert",
    "default_dtype",
    "is_converted",
    "load",
    "read_config",
]
