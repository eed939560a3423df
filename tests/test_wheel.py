"""The wheel is the package and nothing else, and it works installed, away from the checkout.

Built offline from a copy of the source (no build isolation, no index) and installed without
dependencies into a fresh venv that borrows this environment's site-packages for mlx, numpy and
the rest; every command then runs from outside the checkout with no PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import mlx.core as mx
import pytest

from mlx_stream.nllb import weights
from mlx_stream.translate import Translator

from .conftest import ROOT
from .fixtures.nllb import make_checkpoint

SOURCES = ("pyproject.toml", "README.md", "mlx_stream", "convert", "benchmarks", "tests")
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "out", "build", "*.egg-info")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=JUNK)
        else:
            shutil.copy(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(dist), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (wheel,) = dist.glob("mlx_stream-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # Plain path lines: this environment's own .pth files (its editable install) are not run.
    Path(purelib, "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return venv / "bin"


def run(bin: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(bin / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**env, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )


def test_wheel_holds_only_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    metadata = {t for t in top if t.endswith(".dist-info")}
    assert top - metadata == {"mlx_stream"} and len(metadata) == 1, (
        top
    )  # no convert, benchmarks, tests
    for part in ("cli/convert.py", "bench/run.py", "weights.py", "nllb/weights.py"):
        assert f"mlx_stream/{part}" in names, part


def test_installed_commands_run_outside_the_checkout(installed, tmp_path):
    where = run(
        installed, "python", "-c", "import mlx_stream; print(mlx_stream.__file__)", cwd=tmp_path
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout
    assert (
        "No module named 'convert'"
        in run(installed, "python", "-c", "import convert", cwd=tmp_path).stderr
    )

    top = run(installed, "mlx-stream", "--help", cwd=tmp_path)
    assert top.returncode == 0 and "examples:" in top.stdout and "convert" in top.stdout
    bench = run(installed, "mlx-stream", "bench", "--help", cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    assert "--only" in bench.stdout and "mlx-stream[bench]" in bench.stdout
    convert = run(installed, "mlx-stream", "convert", "--help", cwd=tmp_path)
    assert convert.returncode == 0 and "nllb" in convert.stdout and "xtts" in convert.stdout


def test_installed_conversion_equals_the_checkouts(installed, tmp_path):
    make_checkpoint(tmp_path / "hf")
    done = run(installed, "mlx-stream", "convert", "nllb", "--hf-path", "hf", "--mlx-path", "mlx",
               "--dtype", "float32", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("converted ") and "MiB" in done.stdout

    weights.convert(tmp_path / "hf", tmp_path / "here", dtype="float32")
    theirs = mx.load(str(tmp_path / "mlx" / "model.safetensors"))
    ours = mx.load(str(tmp_path / "here" / "model.safetensors"))
    assert theirs.keys() == ours.keys()
    assert all(mx.array_equal(theirs[k], ours[k]).item() for k in ours)

    said = run(installed, "mlx-stream", "translate", "--nllb", "mlx", "--to", "fr",
               "Good morning.", cwd=tmp_path)  # fmt: skip
    assert said.returncode == 0, said.stderr
    expected = Translator.from_pretrained(tmp_path / "here").translate("Good morning.", tgt="fr")
    assert said.stdout == expected + "\n"
