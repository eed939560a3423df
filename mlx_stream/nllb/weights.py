"""Converted NLLB weights: `convert` a Hugging Face checkpoint into MLX safetensors, and `load` them.

Both directions live here so that what is written and what is read cannot drift apart.
A converted folder holds `config.json` (the Hugging Face config plus an `"mlx_stream"` entry and,
when quantized, `"quantization": {"group_size", "bits"}`), `model.safetensors` (or shards and
`model.safetensors.index.json`) and the tokenizer files. The tied embedding is stored once.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from .. import hub
from ..errors import MlxStreamError
from . import tokenizer as nllb_tokenizer
from .model import Model, ModelArgs

MARKER = "mlx_stream"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_SHARD_BYTES = 5 << 30
DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
LICENCE = "NLLB-200 weights are CC-BY-NC-4.0, non-commercial use only"
HF_WEIGHT_PATTERNS = [
    "config.json",
    "model*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
]


@dataclass
class ConversionSummary:
    path: Path
    parameters: int
    bytes_before: int
    bytes_after: int
    dtype: str
    bits: int | None

    def __str__(self) -> str:
        kind = f"{self.bits}-bit" if self.bits else self.dtype
        return (
            f"{self.parameters / 1e6:.1f}M parameters: {_size(self.bytes_before)} -> "
            f"{_size(self.bytes_after)} ({kind}) in {self.path}"
        )


def default_dtype() -> str:
    """Half precision on a GPU; float32 on the CPU, where MLX's half-precision matmuls (quantized
    ones above all: about 30x for 8-bit) are much slower than float32 ones."""
    return "float32" if mx.default_device() == mx.cpu else "float16"


def is_converted(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds weights written by `convert` (as opposed to a Hugging Face checkpoint)."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    has_weights = (folder / WEIGHTS_FILE).is_file() or (folder / INDEX_FILE).is_file()
    return isinstance(config, dict) and MARKER in config and has_weights


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise MlxStreamError(
            f"no config.json in '{folder}': pass a folder holding an NLLB checkpoint"
        )
    try:
        config = json.loads(path.read_text())
    except ValueError:
        raise MlxStreamError(f"'{path}' is not valid JSON: download or convert it again") from None
    if config.get("model_type") != "m2m_100":
        raise MlxStreamError(
            f"'{folder}' holds a '{config.get('model_type')}' model, not NLLB (model_type m2m_100): "
            "pass an NLLB-200 checkpoint such as facebook/nllb-200-distilled-600M"
        )
    return config


def load(folder: str | os.PathLike) -> tuple[Model, dict]:
    """The model and config of a converted folder; quantized layers are rebuilt as saved."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MlxStreamError(f"'{folder}' is not a folder: convert a checkpoint there first")
    config = read_config(folder)
    if MARKER not in config:
        raise MlxStreamError(
            f"'{folder}' is not a converted folder: run "
            f"python -m convert.nllb --hf-path {folder} --mlx-path weights/<name>"
        )
    weights = _read_safetensors(_weight_files(folder))
    model = Model(ModelArgs.from_dict(config))
    quantization = config.get("quantization")
    quantized = {name.removesuffix(".scales") for name in weights if name.endswith(".scales")}
    if bool(quantization) != bool(quantized):
        raise MlxStreamError(
            f"the quantization in '{folder / 'config.json'}' does not match its weights: "
            "convert the checkpoint again"
        )
    if quantization:
        nn.quantize(
            model,
            group_size=quantization["group_size"],
            bits=quantization["bits"],
            class_predicate=lambda path, _: path in quantized,
        )
    try:
        model.load_weights(list(weights.items()), strict=True)
    except ValueError as e:
        reason = str(e).splitlines()[0][:160]
        raise MlxStreamError(
            f"the weights in '{folder}' do not match its config.json ({reason}): convert it again"
        ) from None
    mx.eval(model.parameters())
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
    if dtype not in DTYPES:
        raise MlxStreamError(f"unknown dtype '{dtype}': use one of {', '.join(DTYPES)}")
    if q_bits is not None and q_bits not in (2, 3, 4, 6, 8):
        raise MlxStreamError(f"cannot quantize to {q_bits} bits: use 4 or 8 (or 2, 3, 6)")
    mlx_path = Path(mlx_path)
    if mlx_path.exists() and not force:
        raise MlxStreamError(f"'{mlx_path}' already exists: pass --force to overwrite it")
    source = hub.resolve(
        hf_path,
        allow_patterns=HF_WEIGHT_PATTERNS + list(nllb_tokenizer.FILES),
        what="NLLB checkpoint",
        licence=LICENCE,
    )
    config = read_config(source)
    if MARKER in config:
        raise MlxStreamError(f"'{source}' is already converted: load it directly")
    tokenizer = nllb_tokenizer.Tokenizer.from_folder(source)
    files = _hf_weight_files(source)
    model = Model(ModelArgs.from_dict(config))
    try:
        model.load_weights(list(Model.sanitize(_read_hf_weights(files)).items()), strict=True)
    except ValueError as e:
        reason = str(e).splitlines()[0][:160]
        raise MlxStreamError(
            f"the weights in '{source}' do not match its config.json ({reason}): "
            "download the checkpoint again"
        ) from None
    model.set_dtype(DTYPES[dtype])
    parameters = sum(v.size for _, v in tree_flatten(model.parameters()))
    if q_bits is not None:
        if model.args.d_model % q_group_size:
            raise MlxStreamError(
                f"d_model {model.args.d_model} is not a multiple of --q-group-size {q_group_size}: "
                "use 32 or 64"
            )
        nn.quantize(
            model,
            group_size=q_group_size,
            bits=q_bits,
            class_predicate=lambda _, m: (
                hasattr(m, "to_quantized") and m.weight.shape[-1] % q_group_size == 0
            ),
        )
    weights = dict(tree_flatten(model.parameters()))
    config = {k: v for k, v in config.items() if k not in ("quantization", MARKER)}
    config[MARKER] = {"format": FORMAT_VERSION, "dtype": dtype}
    if q_bits is not None:
        config["quantization"] = {"group_size": q_group_size, "bits": q_bits}

    mlx_path.parent.mkdir(parents=True, exist_ok=True)
    staging = mlx_path.parent / f".{mlx_path.name}.converting-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _save_weights(staging, weights)
        (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        tokenizer.save(staging)
        if mlx_path.exists():
            shutil.rmtree(mlx_path)
        staging.rename(mlx_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ConversionSummary(
        path=mlx_path,
        parameters=parameters,
        bytes_before=sum(f.stat().st_size for f in files),
        bytes_after=sum(f.stat().st_size for f in mlx_path.glob("*.safetensors")),
        dtype=dtype,
        bits=q_bits,
    )


def _save_weights(folder: Path, weights: dict[str, mx.array]) -> None:
    shards, current, size = [], {}, 0
    for name, value in weights.items():
        if current and size + value.nbytes > MAX_SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[name] = value
        size += value.nbytes
    shards.append(current)
    if len(shards) == 1:
        mx.save_safetensors(str(folder / WEIGHTS_FILE), shards[0], metadata={"format": "mlx"})
        return
    index = {"metadata": {"total_size": sum(v.nbytes for v in weights.values())}, "weight_map": {}}
    for i, shard in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        mx.save_safetensors(str(folder / name), shard, metadata={"format": "mlx"})
        index["weight_map"].update(dict.fromkeys(shard, name))
    (folder / INDEX_FILE).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def _weight_files(folder: Path) -> list[Path]:
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE]
    index = folder / INDEX_FILE
    if not index.is_file():
        raise MlxStreamError(f"no {WEIGHTS_FILE} in '{folder}': convert the checkpoint again")
    try:
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    except (ValueError, KeyError):
        raise MlxStreamError(
            f"'{index}' is not a valid index: convert the checkpoint again"
        ) from None
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise MlxStreamError(f"'{folder}' lacks {missing[0]}: convert the checkpoint again")
    return [folder / n for n in names]


def _read_safetensors(files: list[Path]) -> dict[str, mx.array]:
    weights = {}
    for file in files:
        try:
            weights.update(mx.load(str(file)))
        except Exception:  # MLX raises RuntimeError/ValueError with a multi-line message
            raise MlxStreamError(
                f"'{file}' is not a readable safetensors file: download or convert it again"
            ) from None
    return weights


def _hf_weight_files(folder: Path) -> list[Path]:
    """The checkpoint's weight files, safetensors preferred over PyTorch pickles."""
    for single, index in (
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        if (folder / single).is_file():
            return [folder / single]
        if (folder / index).is_file():
            try:
                names = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            except (ValueError, KeyError):
                raise MlxStreamError(f"'{folder / index}' is not a valid index") from None
            missing = [n for n in names if not (folder / n).is_file()]
            if missing:
                raise MlxStreamError(
                    f"'{folder}' lacks {missing[0]}: download the checkpoint again"
                )
            return [folder / n for n in names]
    raise MlxStreamError(
        f"no weights (model.safetensors or pytorch_model.bin) in '{folder}': "
        "pass a folder holding a complete NLLB checkpoint"
    )


def _read_hf_weights(files: list[Path]) -> dict[str, mx.array]:
    if files[0].suffix == ".safetensors":
        return _read_safetensors(files)
    try:
        import torch
    except ImportError:
        raise MlxStreamError(
            "reading pytorch_model.bin needs PyTorch: pip install 'mlx-stream[convert]'"
        ) from None
    weights = {}
    for file in files:
        try:
            try:
                state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:  # files from before torch 1.6's zip format cannot be mapped
                if "mmap" not in str(e):
                    raise
                state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception:
            raise MlxStreamError(
                f"'{file}' is not a readable PyTorch checkpoint: download it again"
            ) from None
        for name, tensor in state.items():
            if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
                weights[name] = mx.array(tensor.float().numpy()).astype(mx.bfloat16)
            else:
                weights[name] = mx.array(tensor.numpy())
        del state
    return weights


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
