"""The torch-free checkpoint reader against `torch.load(weights_only=True)` itself."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mlx_stream import torchfile


def tensors() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    base = torch.randn(6, 5)
    return {
        "float32": torch.randn(3, 4),
        "transposed": torch.randn(4, 3).t(),  # strides (1, 3)
        "column_slice": base[:, 1:3],  # an offset view into a shared storage
        "row": base[2],
        "same_storage": base,
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 7),
        "float16": torch.randn(4, 2).half(),
        "bfloat16": torch.randn(9).bfloat16(),
        "float64": torch.randn(3).double(),
        "int64": torch.arange(-5, 5),
        "int32": torch.arange(7, dtype=torch.int32),
        "int8": torch.tensor([-3, 0, 3], dtype=torch.int8),
        "uint8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "parameter": torch.nn.Parameter(torch.randn(2, 2)),
        "expanded": torch.randn(3, 1).expand(3, 4),  # stride 0
    }


def reference(value: torch.Tensor) -> np.ndarray:
    value = value.detach()
    return value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_every_tensor_equals_torch_load(tmp_path, zip_format):
    path = tmp_path / "checkpoint.pth"
    state = tensors()
    nested = {"model": state, "step": 12, "names": ["a", "b"], "pair": (1, 2.5)}
    torch.save(nested, path, _use_new_zipfile_serialization=zip_format)
    expected = torch.load(path, weights_only=True)
    ours = torchfile.load(path)
    assert ours["step"] == 12 and ours["names"] == ["a", "b"] and ours["pair"] == (1, 2.5)
    assert ours["model"].keys() == expected["model"].keys()
    for name, value in expected["model"].items():
        got, want = ours["model"][name], reference(value)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_a_state_dict_keeps_its_order(tmp_path):
    path = tmp_path / "model.pth"
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    torch.save(model.state_dict(), path)
    ours = torchfile.load(path)
    assert list(ours) == list(model.state_dict())


def test_a_pickled_config_object_becomes_an_inert_record(tmp_path):
    """Old XTTS files pickle coqui's XttsConfig beside the weights; only the weights matter."""
    from TTS.tts.configs.xtts_config import XttsConfig

    path = tmp_path / "model.pth"
    torch.save({"config": XttsConfig(), "model": {"w": torch.ones(2)}}, path)
    ours = torchfile.load(path)
    assert isinstance(ours["config"], torchfile.Opaque)
    assert ours["config"].name.endswith("XttsConfig")
    np.testing.assert_array_equal(ours["model"]["w"], np.ones(2, np.float32))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_nothing_in_the_file_runs(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save(
        {"model": {"w": torch.ones(1)}, "x": _Exploit(marker)},
        path,
        _use_new_zipfile_serialization=zip_format,
    )
    ours = torchfile.load(path)
    assert not marker.exists()
    assert isinstance(ours["x"], torchfile.Opaque) and "system" in ours["x"].name


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken"])
def test_garbage_is_an_unpickling_error(tmp_path, content):
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    with pytest.raises((pickle.UnpicklingError, EOFError, ValueError)):
        torchfile.load(path)


def test_a_truncated_checkpoint_fails(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"w": torch.randn(1000)}, path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(Exception):  # noqa: B017 - zipfile, pickle or numpy; callers word the error
        torchfile.load(path)


def test_the_reader_imports_no_torch(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"w": torch.randn(3)}, path)
    code = (
        "import sys; from mlx_stream import torchfile; "
        f"print(torchfile.load({str(path)!r})['w'].shape, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["(3,)", "False"]


def test_the_tiny_xtts_checkpoint_equals_torch_load(tiny_xtts_dir):
    expected = torch.load(tiny_xtts_dir / "model.pth", weights_only=True)["model"]
    ours = torchfile.load(tiny_xtts_dir / "model.pth")["model"]
    assert list(ours) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(ours[name], reference(value), err_msg=name)
