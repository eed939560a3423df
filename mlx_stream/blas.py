"""An optimized BLAS under MLX on Linux CPUs.

The `mlx[cpu]` wheel links netlib's reference BLAS (`mlx_cpu.libs/libblas-*.so`): correct, single
threaded and several times slower than an optimized one. libmlx imports `cblas_sgemm` and the LAPACK
names unversioned, so a library loaded first with RTLD_GLOBAL serves them instead. `load()` does that,
once, before MLX is first imported (`mlx_stream/__init__.py` calls it), with the first of these the
machine has (fastest first, measured at NLLB-600M's and XTTS's decode shapes on a 2-core Zen 4):

1. the distribution's BLIS (`apt-get install libblis4-pthread`),
2. MKL from PyPI (`pip install mkl`: x86_64 only, 0.9 GB),
3. the distribution's OpenBLAS (`apt-get install libopenblas0-pthread`; 0.3.21 packs the weights
   even for the one-row products of decoding, so it barely beats the reference there).

Never on macOS (MLX uses Accelerate), nor under an MLX that is not the `mlx[cpu]` wheel (the CUDA
build multiplies on the GPU; a source build chose its own BLAS), nor once mlx is imported (Python
binds an extension's symbols as it loads it). Libraries loaded later in the process (torch,
CTranslate2) resolve their own BLAS names to the same library too.

    MLX_STREAM_BLAS=off            keep MLX's reference BLAS
    MLX_STREAM_BLAS=/path/lib.so   use that library (a folder: the first known library in it)
    MLX_STREAM_BLAS_THREADS=N      its threads (default: the library's own variable if set, else
                                   the physical cores this process may run on)
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

ENV = "MLX_STREAM_BLAS"
THREADS_ENV = "MLX_STREAM_BLAS_THREADS"
OFF = ("0", "off", "no", "false", "reference")

# File names, preferred first; in each folder of `search_places()`.
NAMES = (
    "blis-pthread/libblis.so.4",  # Debian, Ubuntu
    "blis-openmp/libblis.so.4",
    "libblisp.so.4",  # Fedora (pthread)
    "libblis.so.4",
    "libmkl_rt.so.3",  # the `mkl` wheel (2024.1 on), in <prefix>/lib
    "libmkl_rt.so.2",
    "openblas-pthread/libopenblas.so.0",  # Debian, Ubuntu
    "openblas-openmp/libopenblas.so.0",
    "libopenblasp.so.0",  # Fedora (pthread)
    "libopenblas.so.0",
)
# kind: (what the library exports to set and to get its thread count, the variables it reads them from)
THREADS = {
    "BLIS": ("bli_thread_set_num_threads", "bli_thread_get_num_threads", "BLIS_NUM_THREADS"),
    "MKL": ("MKL_Set_Num_Threads", "MKL_Get_Max_Threads", "MKL_NUM_THREADS"),
    "OpenBLAS": ("openblas_set_num_threads", "openblas_get_num_threads", "OPENBLAS_NUM_THREADS"),
}
INSTALL_HINT = "apt-get install libblis4-pthread (or pip install mkl) for fp32 several times faster"


@dataclass(frozen=True)
class Blas:
    """The BLAS MLX's CPU matmuls call in this process."""

    name: str  # "MKL 2026.2.1", "BLIS 0.9.0", "OpenBLAS 0.3.21 (Cooperlake)", "reference (netlib)"
    path: str | None = None  # the library loaded; None when MLX's own is in use
    threads: int | None = None
    note: str = ""  # why this one, and what would be faster

    @property
    def optimized(self) -> bool:
        return self.path is not None

    def __str__(self) -> str:
        text = self.name
        if self.threads:
            text += f", {self.threads} thread{'s' if self.threads > 1 else ''}"
        if self.path:
            text += f" ({self.path})"
        return f"{text}: {self.note}" if self.note else text


_in_use: Blas | None = None


def load() -> Blas:
    """Put an optimized BLAS under MLX if this machine has one; once per process. Never raises."""
    global _in_use
    if _in_use is None:
        try:
            _in_use = _choose()
        except Exception as error:  # a broken library must not stop `import mlx_stream`
            _in_use = Blas("reference (netlib)", note=f"loading failed ({error}); {INSTALL_HINT}")
    return _in_use


def in_use() -> Blas:
    """What `load()` chose (loading now if nothing called it yet)."""
    return load()


def _choose() -> Blas:
    setting = os.environ.get(ENV, "auto").strip()
    if sys.platform == "darwin":
        return Blas("Accelerate", note="macOS: MLX uses Apple's Accelerate")
    if not sys.platform.startswith("linux"):
        return Blas("MLX's own", note=f"not Linux ({sys.platform}): left alone")
    if setting.lower() in OFF:
        return Blas("reference (netlib)", note=f"{ENV}={setting}")
    if bundled_reference_blas() is None and setting.lower() in ("", "auto"):
        return Blas("MLX's own", note="not the mlx[cpu] wheel (CUDA or source build): left alone")
    if "mlx.core" in sys.modules:
        # Python loads extensions with RTLD_NOW, so libmlx's BLAS names are bound already.
        return Blas(
            "reference (netlib)", note="mlx was imported first: import mlx_stream before mlx"
        )
    places = [Path(setting)] if setting.lower() not in ("", "auto") else search_places()
    tried = []
    for path in candidates(places):
        blas = _load_library(path)
        if blas is not None:
            return blas
        tried.append(str(path))
    where = ", ".join(tried) if tried else " ".join(str(p) for p in places)
    found = f"none usable in {where}" if tried else f"no optimized BLAS in {where}"
    return Blas("reference (netlib)", note=f"{found}; {INSTALL_HINT}")


def bundled_reference_blas() -> Path | None:
    """netlib's BLAS inside the `mlx[cpu]` wheel, found without importing mlx."""
    spec = importlib.util.find_spec("mlx")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted((Path(folder).parent / "mlx_cpu.libs").glob("libblas*.so*"))
        if found:
            return found[0]
    return None


def search_places() -> list[Path]:
    """Where pip puts the `mkl` wheel's libraries, then the distribution's library folders."""
    places = [Path(sys.prefix) / "lib", Path(site.getuserbase()) / "lib"]
    triplet = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    places += [Path(p) for p in (f"/usr/lib/{triplet}", "/usr/lib64", "/usr/lib", "/usr/local/lib")]
    return list(dict.fromkeys(places))


def candidates(places: list[Path]) -> list[Path]:
    """Existing libraries in preference order: a file is taken as is, a folder searched for NAMES."""
    found = [place for place in places if place.is_file()]
    for name in NAMES:
        found += [place / name for place in places if (place / name).is_file()]
    unique = {}
    for path in found:  # distributions link one file under several names
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def _load_library(path: Path) -> Blas | None:
    """Load `path` globally if it serves cblas_sgemm; None if it cannot be loaded or does not."""
    try:
        library = ctypes.CDLL(str(path))  # locally first: a library without the names stays out
    except OSError:
        return None
    if not hasattr(library, "cblas_sgemm"):
        return None
    library = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    kind = next((k for k, calls in THREADS.items() if hasattr(library, calls[0])), None)
    if kind is None:
        return Blas(path.name, str(path), note="thread count not controlled")
    threads = _set_threads(library, kind)
    return Blas(f"{kind} {_version(library, kind)}".strip(), str(path), threads)


def _set_threads(library, kind: str) -> int:
    setter, getter, variable = THREADS[kind]
    if kind == "BLIS":  # dim_t is 64-bit
        getattr(library, setter).argtypes = [ctypes.c_int64]
        getattr(library, getter).restype = ctypes.c_int64
    wanted = os.environ.get(THREADS_ENV, "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        getattr(library, setter)(int(wanted))
    elif not any(os.environ.get(v, "").strip() for v in (variable, "OMP_NUM_THREADS")):
        getattr(library, setter)(physical_cores())  # else the library read the user's own setting
    return int(getattr(library, getter)())


def _version(library, kind: str) -> str:
    try:
        if kind == "MKL":
            buffer = ctypes.create_string_buffer(256)
            library.MKL_Get_Version_String(buffer, len(buffer))
            words = buffer.value.decode(errors="replace").split()
            return next((w.split("-")[0] for w in words if w[:1].isdigit()), "")
        if kind == "BLIS":
            library.bli_info_get_version_str.restype = ctypes.c_char_p
            return library.bli_info_get_version_str().decode()
        library.openblas_get_config.restype = ctypes.c_char_p
        library.openblas_get_corename.restype = ctypes.c_char_p
        version = library.openblas_get_config().decode().split()[1]
        return f"{version} ({library.openblas_get_corename().decode()})"
    except (AttributeError, IndexError, UnicodeDecodeError):
        return ""


def physical_cores() -> int:
    """Cores (not hyper-threads) among the CPUs this process may run on."""
    cpus = (
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    )
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(
                ((topology / "physical_package_id").read_text(), (topology / "core_id").read_text())
            )
        except OSError:
            return len(cpus)
    return len(cores) or 1
