"""The optimized BLAS under MLX (mlx_stream/blas.py).

Which library libmlx's `cblas_sgemm` binds to is read from the dynamic linker's own trace
(LD_DEBUG=bindings), in a fresh process per case: the choice is made once, before mlx is imported.
Results are compared with MLX's reference BLAS (the same script under MLX_STREAM_BLAS=off).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlx_stream import blas

ROOT = Path(__file__).resolve().parents[1]
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's dynamic linker")

REPORT = """
import json, mlx_stream
from mlx_stream import blas
import mlx.core as mx
mx.eval(mx.ones((4, 4)) @ mx.ones((4, 4)))
b = blas.in_use()
print(json.dumps({"name": b.name, "path": b.path, "threads": b.threads, "note": b.note}))
"""

# Products at NLLB's decode, beam and encoder shapes, a plain layout, a batch, a strided view, an
# inverse (LAPACK) and a compiled function, from the same seeded inputs in every process.
PRODUCTS = """
import sys
import numpy as np
import mlx_stream
import mlx.core as mx

rng = np.random.default_rng(0)
def normal(*shape):
    return rng.standard_normal(shape, dtype=np.float32)
cases = {
    "decode": (normal(1, 1024), normal(4096, 1024), True),
    "beam": (normal(3, 1024), normal(1000, 1024), True),
    "encoder": (normal(24, 1024), normal(1024, 1024), True),
    "plain": (normal(64, 256), normal(256, 512), False),
    "batch": (normal(2, 7, 64), normal(2, 64, 9), False),
}
out = {}
for name, (x, w, transposed) in cases.items():
    wm = mx.array(w)
    out[name] = np.array(mx.array(x) @ (wm.T if transposed else wm))
    out[name + "_bound"] = np.abs(x).astype(np.float64) @ np.abs(w.T if transposed else w)
x, w = normal(48, 300), normal(300, 80)
out["strided"] = np.array(mx.array(x)[::2, 1:] @ mx.array(w)[1:, ::3])
out["strided_bound"] = np.abs(x[::2, 1:]).astype(np.float64) @ np.abs(w[1:, ::3])
a = normal(64, 64) * 0.05 + np.eye(64, dtype=np.float32)
out["inverse"] = np.array(mx.linalg.inv(mx.array(a), stream=mx.cpu))
x, w, bias = normal(5, 512), normal(768, 512), normal(768)
layer = mx.compile(lambda x, w, b: mx.maximum(x @ w.T + b, 0.0))
out["compiled"] = np.array(layer(mx.array(x), mx.array(w), mx.array(bias)))
out["compiled_bound"] = np.abs(x).astype(np.float64) @ np.abs(w.T) + np.abs(bias)
np.savez(sys.argv[1], **out)
"""


def python(code: str, *args: str, env: dict | None = None, trace: Path | None = None):
    """Run `code` in a fresh interpreter with none of the BLAS settings of this one's environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLX_STREAM_BLAS", "LD_"))}
    for variable in (
        "OMP_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):
        clean.pop(variable, None)
    if trace is not None:
        clean.update(LD_DEBUG="bindings", LD_DEBUG_OUTPUT=str(trace))
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**clean, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def report(env: dict | None = None, code: str = REPORT, trace: Path | None = None) -> dict:
    return json.loads(python(code, env=env, trace=trace).strip().splitlines()[-1])


def sgemm_binding(trace: Path) -> Path:
    """The file libmlx's `cblas_sgemm` was bound to, from LD_DEBUG_OUTPUT's per-process files."""
    pattern = re.compile(
        r"binding file (\S*libmlx\.so) \[\d+\] to (\S+) \[\d+\]: normal symbol `cblas_sgemm'"
    )
    found = set()
    for part in trace.parent.glob(trace.name + ".*"):
        found |= {m.group(2) for m in pattern.finditer(part.read_text(errors="replace"))}
    assert len(found) == 1, f"cblas_sgemm bindings of libmlx: {found or 'none traced'}"
    return Path(found.pop()).resolve()


def reference_path() -> Path:
    path = blas.bundled_reference_blas()
    assert path is not None, "mlx is not the mlx[cpu] wheel: reinstall with pip install -e '.[dev]'"
    return path.resolve()


@linux
def test_sgemm_binds_to_the_chosen_library(tmp_path):
    chosen = report(trace=tmp_path / "ld")
    assert chosen["path"], (
        f"no optimized BLAS under MLX ({chosen['note']}): "
        "apt-get install libblis4-pthread (.ci/run installs it)"
    )
    assert chosen["name"].startswith("BLIS"), f"{chosen}: apt-get install libblis4-pthread"
    assert sgemm_binding(tmp_path / "ld") == Path(chosen["path"]).resolve()
    assert chosen["threads"] == blas.physical_cores()


@linux
def test_results_equal_the_reference_blas(tmp_path):
    chosen = report()
    assert chosen["path"], chosen["note"]
    python(PRODUCTS, str(tmp_path / "ours.npz"))
    python(PRODUCTS, str(tmp_path / "reference.npz"), env={"MLX_STREAM_BLAS": "off"})
    ours, reference = np.load(tmp_path / "ours.npz"), np.load(tmp_path / "reference.npz")
    products = [k for k in reference.files if not k.endswith("_bound") and k != "inverse"]
    assert len(products) == 7
    for name in products:
        # Relative to the sum of |terms| of each dot product: the error a float32 GEMM is allowed.
        error = np.abs(ours[name].astype(np.float64) - reference[name]) / reference[name + "_bound"]
        assert error.max() <= 1e-5, f"{name}: {error.max():.2e}"
    assert any((ours[k] != reference[k]).any() for k in products), "the same library twice?"
    inverse = np.linalg.norm(ours["inverse"] - reference["inverse"]) / np.linalg.norm(
        reference["inverse"]
    )
    assert inverse <= 1e-5


@linux
def test_opt_out_keeps_the_reference(tmp_path):
    kept = report({"MLX_STREAM_BLAS": "off"}, trace=tmp_path / "ld")
    assert kept == {
        "name": "reference (netlib)",
        "path": None,
        "threads": None,
        "note": "MLX_STREAM_BLAS=off",
    }
    assert sgemm_binding(tmp_path / "ld") == reference_path()


@linux
def test_nothing_found_falls_back_to_the_reference(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    kept = report({"MLX_STREAM_BLAS": str(empty)}, trace=tmp_path / "ld")
    assert kept["path"] is None
    assert kept["note"].startswith(
        f"no optimized BLAS in {empty}; apt-get install libblis4-pthread"
    )
    assert sgemm_binding(tmp_path / "ld") == reference_path()


@linux
def test_a_library_without_cblas_is_not_loaded(tmp_path):
    libm = next(p for p in candidates_of("libm.so.6") if p.is_file())
    kept = report({"MLX_STREAM_BLAS": str(libm)}, trace=tmp_path / "ld")
    assert kept["path"] is None
    assert kept["note"].startswith(f"none usable in {libm}")
    assert sgemm_binding(tmp_path / "ld") == reference_path()


@linux
def test_a_named_library_and_thread_count(tmp_path):
    chosen = report()
    named = report({"MLX_STREAM_BLAS": chosen["path"], "MLX_STREAM_BLAS_THREADS": "1"})
    assert (named["path"], named["threads"]) == (chosen["path"], 1)
    assert report({"MLX_STREAM_BLAS": chosen["path"], "OMP_NUM_THREADS": "1"})["threads"] == 1


@linux
def test_mlx_imported_first_keeps_the_reference(tmp_path):
    """Python binds libmlx's names as it loads it (RTLD_NOW): a library loaded later is not used."""
    kept = report(code="import mlx.core\n" + REPORT, trace=tmp_path / "ld")
    assert kept["path"] is None
    assert kept["note"] == "mlx was imported first: import mlx_stream before mlx"
    assert sgemm_binding(tmp_path / "ld") == reference_path()


def test_candidates_prefer_blis_then_mkl_then_openblas(tmp_path):
    for name in (
        "openblas-pthread/libopenblas.so.0",
        "libmkl_rt.so.3",
        "blis-pthread/libblis.so.4",
    ):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "libopenblas.so.0").symlink_to(tmp_path / "openblas-pthread/libopenblas.so.0")
    assert blas.candidates([tmp_path, tmp_path / "absent"]) == [
        tmp_path / "blis-pthread/libblis.so.4",
        tmp_path / "libmkl_rt.so.3",
        tmp_path / "openblas-pthread/libopenblas.so.0",
    ]
    assert blas.candidates([tmp_path / "libmkl_rt.so.3"]) == [tmp_path / "libmkl_rt.so.3"]


def test_physical_cores():
    assert 1 <= blas.physical_cores() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_never_loads_off_linux(platform, monkeypatch):
    """macOS (MLX uses Accelerate) and other systems: nothing is looked for or loaded, whatever
    the setting says."""
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv(blas.ENV, "/usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4")
    monkeypatch.setattr(blas, "_load_library", lambda path: pytest.fail(f"loaded {path}"))
    chosen = blas._choose()
    assert chosen.path is None
    if platform == "darwin":
        assert chosen.name == "Accelerate"
        assert chosen.note == "macOS: MLX uses Apple's Accelerate"
    else:
        assert chosen.note == "not Linux (win32): left alone"


def candidates_of(name: str) -> list[Path]:
    return [place / name for place in blas.search_places()] + [Path("/lib") / name]
