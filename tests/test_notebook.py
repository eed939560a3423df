"""examples/quickstart.ipynb runs top to bottom on tiny models and shows a playable result."""

from __future__ import annotations

import os

import nbformat
from nbclient import NotebookClient

from mlx_stream.nllb import weights

from .conftest import ROOT
from .fixtures.nllb import make_checkpoint


def test_quickstart_notebook_runs(tmp_path, small_xtts_mlx_dir, monkeypatch):
    make_checkpoint(tmp_path / "hf")
    weights.convert(tmp_path / "hf", tmp_path / "nllb", dtype="float32")
    monkeypatch.setenv("MLX_STREAM_NLLB", str(tmp_path / "nllb"))
    monkeypatch.setenv("MLX_STREAM_XTTS", str(small_xtts_mlx_dir))
    # the tiny NLLB's translations are random tokens: the pipeline cell speaks them with espeak-ng
    monkeypatch.setenv("MLX_STREAM_TTS", "espeak")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any(h.startswith("<audio controls") and "<table>" in h for h in html)
    text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "Translator(" in text and "2+2 layers" in text
    assert "MlxXttsSynthesizer(" in text  # the MLX engine is shown first, and it spoke
    assert sum("<audio" in h for h in html) >= 2
    assert (tmp_path / "quickstart.wav").stat().st_size > 1000
