"""Read PyTorch checkpoint files (`torch.save`) into numpy arrays, without torch.

Both formats are read: the zip archive of torch >= 1.6 (tensor data memory-mapped, so a 2 GB
checkpoint costs no copy until used) and the older single-stream format. Like
`torch.load(weights_only=True)`, nothing in the file can run code: the tensor machinery is
rebuilt from an allow-list, and any other class named in the pickle (a pickled config object,
say) becomes an inert `Opaque` record. bfloat16 tensors come back as float32 (numpy has no
bfloat16; the conversion is exact).
"""

from __future__ import annotations

import mmap
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
_TORCH_DTYPES = {
    "float64": "<f8", "float32": "<f4", "float16": "<f2", "bfloat16": "bfloat16",
    "int64": "<i8", "int32": "<i4", "int16": "<i2", "int8": "i1", "uint8": "u1", "bool": "?",
}  # fmt: skip


class Opaque:
    """Stands in for any pickled object that is not a tensor or a plain container."""

    name = "object"

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.state = args, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"Opaque({self.name})"


class _Storage:
    def __init__(self, dtype: str, data: np.ndarray | None = None):
        self.dtype, self.data = dtype, data


def load(path: str | os.PathLike) -> Any:
    """The object `torch.save` wrote to `path`, with every tensor as a numpy array."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as f:
        return _load_legacy(f)


def _opaque_class(name: str) -> type:
    return type(name.rsplit(".", 1)[-1], (Opaque,), {"name": name})


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, storage: Callable[..., _Storage], rebuild: Callable[..., Any]):
        super().__init__(file)
        self._storage, self._rebuild = storage, rebuild

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return self._rebuild
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *_: data
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "torch" and name in _TORCH_DTYPES:
            return _TORCH_DTYPES[name]
        if module == "builtins" and name in ("set", "frozenset", "slice", "complex"):
            return {"set": set, "frozenset": frozenset, "slice": slice, "complex": complex}[name]
        return _opaque_class(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return self._storage(*pid[1:])


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_) -> np.ndarray:
    data = storage.data
    if not size:
        return data[offset : offset + 1].reshape(()).copy()
    itemsize = data.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    return np.ascontiguousarray(view)


def _as_array(buffer, dtype: str, count: int, offset: int = 0) -> np.ndarray:
    if dtype == "bfloat16":
        raw = np.frombuffer(buffer, "<u2", count, offset)
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(buffer, dtype, count, offset)


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        names = archive.namelist()
        pickled = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pickled is None:
            raise pickle.UnpicklingError("no data.pkl in the archive: not a torch.save file")
        root = pickled[: -len("data.pkl")]
        byteorder = root + "byteorder"
        if byteorder in names and archive.read(byteorder).strip() != b"little":
            raise pickle.UnpicklingError("big-endian checkpoints are not supported")
        mapped = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
        storages: dict[str, _Storage] = {}

        def storage(dtype: str, key: str, location: str, count: int, *_) -> _Storage:
            if key not in storages:
                info = archive.getinfo(f"{root}data/{key}")
                if info.compress_type != zipfile.ZIP_STORED:
                    data = _as_array(archive.read(info), dtype, count)
                else:
                    data = _as_array(mapped, dtype, count, _data_offset(mapped, info))
                storages[key] = _Storage(dtype, data)
            return storages[key]

        with archive.open(pickled) as f:
            return _Unpickler(f, storage, _rebuild_tensor).load()


def _data_offset(mapped: mmap.mmap, info: zipfile.ZipInfo) -> int:
    """Where an uncompressed member's bytes start: after its local header, name and extra field."""
    start = info.header_offset
    name_length, extra_length = struct.unpack("<HH", mapped[start + 26 : start + 30])
    return start + 30 + name_length + extra_length


def _load_legacy(f) -> Any:
    """torch.save's format before zip files: three small pickles, the object, then raw storages."""
    try:
        magic = pickle.load(f)
    except Exception:
        raise pickle.UnpicklingError("not a PyTorch checkpoint") from None
    if magic != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a PyTorch checkpoint (bad magic number)")
    pickle.load(f)  # protocol version
    pickle.load(f)  # sys info
    pending: dict[str, _Storage] = {}

    def storage(dtype: str, key: str, location: str, count: int, view: Any = None) -> _Storage:
        if view is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        return pending.setdefault(key, _Storage(dtype))

    result = _Unpickler(f, storage, _Pending).load()
    for key in pickle.load(f):
        entry = pending[key]
        (count,) = struct.unpack("<q", f.read(8))
        itemsize = 2 if entry.dtype == "bfloat16" else np.dtype(entry.dtype).itemsize
        entry.data = _as_array(f.read(count * itemsize), entry.dtype, count)
    return _resolve(result)


def _resolve(obj: Any) -> Any:
    """Tensors of the legacy format are rebuilt before their storage bytes are read."""
    if isinstance(obj, _Pending):
        return _rebuild_tensor(obj.storage, *obj.args)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v) for v in obj)
    return obj


class _Pending:
    def __init__(self, storage: _Storage, *args: Any):
        self.storage, self.args = storage, args
