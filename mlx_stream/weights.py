"""Converted weight folders: what every model family (`nllb/`, `xtts/`) writes and reads the same way.

A converted folder holds `config.json` (the source's config plus an `"mlx_stream"` entry that marks
it as ours and, when quantized, `"quantization": {"group_size", "bits"}`), the weights as
safetensors (`model.safetensors`, or shards and `model.safetensors.index.json`; a family may add
other files, such as `speakers.safetensors`) and files copied from the source (tokenizers).

Here lives what does not depend on the network: reading source checkpoints (safetensors, or
PyTorch pickles through `torchfile`, which never runs code and never writes to the source),
quantizing and rebuilding quantized layers, saving and loading safetensors, writing the folder
atomically, and the one-line errors of each. A family's own `weights.py` keeps only its names:
which files, which config checks, how its checkpoint maps onto its `Model`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from . import hub, torchfile
from .errors import MlxStreamError

MARKER = "mlx_stream"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_SHARD_BYTES = 5 << 30
DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
QUANTIZATION_BITS = (2, 3, 4, 6, 8)
# Source checkpoints as the hub lays them out: safetensors preferred over PyTorch pickles.
HF_WEIGHT_FILES = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
)


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
            f"{self.parameters / 1e6:.1f}M parameters: {size_text(self.bytes_before)} -> "
            f"{size_text(self.bytes_after)} ({kind}) in {self.path}"
        )


# ---------------------------------------------------------------- settings


def default_dtype() -> str:
    """Half precision on a GPU; float32 on the CPU, where MLX's half-precision matmuls (quantized
    ones above all: about 30x for 8-bit) are much slower than float32 ones."""
    return "float32" if mx.default_device() == mx.cpu else "float16"


def check_settings(dtype: str, bits: int | None) -> None:
    """Refuse a dtype or a bit width `convert` cannot write, before any work is done."""
    if dtype not in DTYPES:
        raise MlxStreamError(f"unknown dtype '{dtype}': use one of {', '.join(DTYPES)}")
    if bits is not None and bits not in QUANTIZATION_BITS:
        raise MlxStreamError(f"cannot quantize to {bits} bits: use 4 or 8 (or 2, 3, 6)")


def default_weights_dir() -> Path:
    """Where weights converted on first use go: `$MLX_STREAM_WEIGHTS`, else `weights/` of a
    source checkout, else a per-user cache."""
    if env := os.environ.get("MLX_STREAM_WEIGHTS"):
        return Path(env)
    checkout = Path(__file__).resolve().parents[1] / "weights"
    if (checkout / "README.md").exists():
        return checkout
    return Path.home() / ".cache" / "mlx-stream" / "weights"


# ---------------------------------------------------------------- config.json and the marker


def read_json(path: Path, what: str) -> Any:
    """A JSON file, or a one-line error naming it (`what` says what the folder should hold)."""
    if not path.is_file():
        raise MlxStreamError(f"no {path.name} in '{path.parent}': pass a folder holding {what}")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise MlxStreamError(f"'{path}' is not valid JSON: download or convert it again") from None


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def is_converted(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds weights written by a converter here (not a source checkpoint)."""
    folder = Path(folder)
    has_weights = (folder / WEIGHTS_FILE).is_file() or (folder / INDEX_FILE).is_file()
    return has_weights and _marked(folder)


def _marked(folder: Path) -> bool:
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(config, dict) and MARKER in config


def mark(
    config: dict,
    quantization: dict | None = None,
    format: int = FORMAT_VERSION,
    **info: Any,
) -> dict:
    """The config to save: the source's, its old marks removed, ours (`format` and `info`) added."""
    config = {k: v for k, v in config.items() if k not in ("quantization", MARKER)}
    config[MARKER] = {"format": format, **info}
    if quantization:
        config["quantization"] = quantization
    return config


def check_converted(folder: Path, config: dict, convert: str, format: int = FORMAT_VERSION) -> None:
    """Refuse a config that no converter here wrote, or that a newer one wrote.

    `convert` is the command that makes such a folder, shown to the user.
    """
    if MARKER not in config:
        raise MlxStreamError(f"'{folder}' is not a converted folder: run {convert}")
    written = config[MARKER].get("format", 0) if isinstance(config[MARKER], dict) else 0
    if not isinstance(written, int) or written > format:
        raise MlxStreamError(
            f"'{folder}' was converted by a newer mlx-stream (format {written}, this one reads "
            f"up to {format}): upgrade mlx-stream, or run {convert}"
        )


# ---------------------------------------------------------------- source checkpoints


def resolve_source(
    path_or_repo: str | os.PathLike,
    allow_patterns: list[str],
    what: str,
    licence: str | None = None,
) -> Path:
    """The folder of a source checkpoint, downloaded once from the hub if need be (see `hub`).

    A folder that is already converted is refused: it loads as it is.
    """
    folder = hub.resolve(path_or_repo, allow_patterns=allow_patterns, what=what, licence=licence)
    if _marked(folder):
        raise MlxStreamError(f"'{folder}' is already converted: load it directly")
    return folder


def source_files(folder: Path, what: str, candidates=HF_WEIGHT_FILES) -> list[Path]:
    """The weight files of a source checkpoint: the first of `candidates` (single file, index)
    that is there, with every shard its index names."""
    for single, index in candidates:
        if (folder / single).is_file():
            return [folder / single]
        if (folder / index).is_file():
            return _indexed_files(folder, index, "download the checkpoint again")
    names = " or ".join(single for single, _ in candidates)
    raise MlxStreamError(
        f"no weights ({names}) in '{folder}': pass a folder holding a complete {what}"
    )


def read_source(files: list[Path]) -> dict[str, mx.array]:
    """Every tensor of a source checkpoint's files, safetensors or PyTorch pickles."""
    weights = {}
    for file in files:
        if file.suffix == ".safetensors":
            weights.update(read_safetensors([file]))
        else:
            weights.update(read_torch_weights(file))
    return weights


def read_torch(path: str | os.PathLike) -> Any:
    """What `torch.save` wrote to `path`, tensors as numpy arrays; torch is not needed.

    Like `torch.load(weights_only=True)`, nothing in the file can run code; unlike it, a pickled
    object that is not a tensor (coqui's old `XttsConfig`, say) does not fail the whole load but
    comes back as an inert `torchfile.Opaque`. The file is only read, never written back.
    """
    try:
        return torchfile.load(path)
    except Exception:  # zipfile, pickle and struct each raise their own types
        raise MlxStreamError(
            f"'{path}' is not a readable PyTorch checkpoint: download it again"
        ) from None


def read_torch_weights(path: str | os.PathLike, key: str | None = None) -> dict[str, mx.array]:
    """The state dict in a PyTorch checkpoint (under `key`, as coqui's `{"model": ...}`)."""
    state = read_torch(path)
    if key is not None:
        state = state.get(key) if isinstance(state, Mapping) else None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items()
    ):
        where = f" under '{key}'" if key else ""
        raise MlxStreamError(
            f"'{path}' is not a readable PyTorch checkpoint (no tensors by name{where}): "
            "download it again"
        )
    return {name: mx.array(value) for name, value in state.items()}


def sha256(path: str | os.PathLike) -> str:
    """The hex digest of a file, to record which source a folder was converted from."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- safetensors


def save_safetensors(
    folder: Path,
    weights: dict[str, mx.array],
    name: str = "model",
    max_shard_bytes: int | None = None,
) -> list[Path]:
    """Write `<name>.safetensors`, or shards of at most `max_shard_bytes` (default
    `MAX_SHARD_BYTES`) and `<name>.safetensors.index.json`. Returns the files written."""
    limit = MAX_SHARD_BYTES if max_shard_bytes is None else max_shard_bytes
    shards, current, size = [], {}, 0
    for key, value in weights.items():
        if current and size + value.nbytes > limit:
            shards.append(current)
            current, size = {}, 0
        current[key] = value
        size += value.nbytes
    shards.append(current)
    if len(shards) == 1:
        path = folder / f"{name}.safetensors"
        mx.save_safetensors(str(path), shards[0], metadata={"format": "mlx"})
        return [path]
    index = {"metadata": {"total_size": sum(v.nbytes for v in weights.values())}, "weight_map": {}}
    paths = []
    for i, shard in enumerate(shards, start=1):
        path = folder / f"{name}-{i:05d}-of-{len(shards):05d}.safetensors"
        mx.save_safetensors(str(path), shard, metadata={"format": "mlx"})
        index["weight_map"].update(dict.fromkeys(shard, path.name))
        paths.append(path)
    write_json(folder / f"{name}.safetensors.index.json", index)
    return paths


def load_safetensors(folder: Path, name: str = "model") -> dict[str, mx.array]:
    """Every tensor of `<name>.safetensors` (or of its shards) in a converted folder."""
    return read_safetensors(safetensors_files(folder, name))


def safetensors_files(folder: Path, name: str = "model") -> list[Path]:
    single = folder / f"{name}.safetensors"
    if single.is_file():
        return [single]
    if not (folder / f"{name}.safetensors.index.json").is_file():
        raise MlxStreamError(f"no {single.name} in '{folder}': convert the checkpoint again")
    return _indexed_files(folder, f"{name}.safetensors.index.json", "convert the checkpoint again")


def read_safetensors(files: list[Path]) -> dict[str, mx.array]:
    weights = {}
    for file in files:
        try:
            weights.update(mx.load(str(file)))
        except Exception:  # MLX raises RuntimeError/ValueError with a multi-line message
            raise MlxStreamError(
                f"'{file}' is not a readable safetensors file: download or convert it again"
            ) from None
    return weights


def _indexed_files(folder: Path, index: str, todo: str) -> list[Path]:
    try:
        names = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise MlxStreamError(f"'{folder / index}' is not a valid index: {todo}") from None
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise MlxStreamError(f"'{folder}' lacks {missing[0]}: {todo}")
    return [folder / n for n in names]


# ---------------------------------------------------------------- models


def count_parameters(model: nn.Module) -> int:
    return sum(v.size for _, v in tree_flatten(model.parameters()))


def quantize(
    model: nn.Module,
    group_size: int,
    bits: int,
    predicate: Callable[[str, nn.Module], bool] | None = None,
) -> dict:
    """Quantize, in place, the layers that can be (Linear, Embedding) and that `predicate(path,
    module)` accepts (default: all); returns the `"quantization"` entry for config.json.

    A layer whose input width is not a multiple of `group_size` stays as it is; `load_weights`
    rebuilds exactly the layers whose `.scales` were saved, so both choices reach the loader.
    """

    def quantizable(path: str, module: nn.Module) -> bool:
        return (
            hasattr(module, "to_quantized")
            and module.weight.shape[-1] % group_size == 0
            and (predicate is None or predicate(path, module))
        )

    nn.quantize(model, group_size=group_size, bits=bits, class_predicate=quantizable)
    return {"group_size": group_size, "bits": bits}


def load_weights(
    model: nn.Module,
    weights: dict[str, mx.array],
    folder: Path,
    quantization: dict | None = None,
    todo: str = "convert it again",
    strict: bool = True,
) -> None:
    """Put saved weights into `model`: quantized layers are rebuilt as saved (those with
    `.scales`, with the config's group size and bits), then every name and shape is checked.

    Errors say that `folder`'s weights and config.json disagree, and what to do (`todo`).
    """
    quantized = {name.removesuffix(".scales") for name in weights if name.endswith(".scales")}
    if bool(quantization) != bool(quantized):
        raise MlxStreamError(
            f"the quantization in '{folder / CONFIG_FILE}' does not match its weights: {todo}"
        )
    try:
        if quantization:
            nn.quantize(
                model,
                group_size=quantization["group_size"],
                bits=quantization["bits"],
                class_predicate=lambda path, _: path in quantized,
            )
        model.load_weights(list(weights.items()), strict=strict)
    except (ValueError, KeyError, TypeError) as e:
        reason = " ".join(str(e).split())[:160] or type(e).__name__  # MLX's run over lines
        raise MlxStreamError(
            f"the weights in '{folder}' do not match its config.json ({reason}): {todo}"
        ) from None
    mx.eval(model.parameters())


# ---------------------------------------------------------------- writing a folder


def check_target(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise MlxStreamError(f"'{path}' already exists: pass --force to overwrite it")


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; when the block ends, it becomes `path`
    (replacing what was there). If the block fails or is interrupted, nothing is left behind
    and what was at `path` stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.converting-{os.getpid()}"
    old = path.parent / f".{path.name}.replaced-{os.getpid()}"
    _remove(staging)
    staging.mkdir()
    try:
        yield staging
        if path.exists():
            path.rename(old)
        try:
            staging.rename(path)
        except BaseException:
            if old.exists():
                old.rename(path)
            raise
    finally:
        _remove(staging)
        _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def copy_files(source: Path, target: Path, names: list[str] | tuple[str, ...]) -> None:
    """Copy those of `names` that `source` has (tokenizer files, say) into `target`."""
    for name in names:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)


def files_size(paths) -> int:
    return sum(Path(p).stat().st_size for p in paths)


def size_text(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
