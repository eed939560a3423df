"""The weights toolkit every model family uses: folders, safetensors, quantization, torch pickles."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch
from mlx.utils import tree_flatten

from mlx_stream import torchfile
from mlx_stream import weights as common
from mlx_stream.errors import MlxStreamError


class PickledConfig:
    """Stands in for coqui's old `XttsConfig`, which its checkpoints pickled next to the weights."""

    def __init__(self):
        self.sample_rate = 24000


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(40, 64)
        self.body = [nn.Linear(64, 128), nn.Linear(128, 64)]
        self.head = nn.Linear(64, 40)
        self.odd = nn.Linear(48, 8)  # 48 is not a multiple of the group size 64
        self.norm = nn.LayerNorm(64)

    def __call__(self, ids: mx.array) -> mx.array:
        x = self.norm(self.embed(ids))
        x = self.body[1](nn.relu(self.body[0](x)))
        return self.head(x) + self.odd(x[..., :48]).sum(-1, keepdims=True)


def tiny(seed: int = 0) -> Tiny:
    mx.random.seed(seed)
    model = Tiny()
    mx.eval(model.parameters())
    return model


def flat(model: nn.Module) -> dict[str, mx.array]:
    return dict(tree_flatten(model.parameters()))


def test_atomic_folder_publishes_only_a_finished_folder(tmp_path):
    target = tmp_path / "out" / "model"
    with common.atomic_folder(target) as staging:
        assert not target.exists() and staging.parent == target.parent
        (staging / "a.txt").write_text("first")
    assert (target / "a.txt").read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model"]

    with pytest.raises(KeyboardInterrupt), common.atomic_folder(target) as staging:
        (staging / "a.txt").write_text("half")
        raise KeyboardInterrupt
    assert (target / "a.txt").read_text() == "first", "a failed write keeps the old folder"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model"]

    with common.atomic_folder(target) as staging:
        (staging / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["model"]


def test_check_target_needs_force(tmp_path):
    common.check_target(tmp_path / "new", force=False)
    with pytest.raises(MlxStreamError, match="--force"):
        common.check_target(tmp_path, force=False)
    common.check_target(tmp_path, force=True)


@pytest.mark.parametrize("limit", [None, 3000], ids=["one-file", "shards"])
def test_safetensors_round_trip(tmp_path, limit, monkeypatch):
    if limit:
        monkeypatch.setattr(common, "MAX_SHARD_BYTES", limit)
    weights = flat(tiny())
    files = common.save_safetensors(tmp_path, weights, name="speakers")
    assert (len(files) > 1) == bool(limit)
    assert (tmp_path / "speakers.safetensors.index.json").is_file() == bool(limit)
    loaded = common.load_safetensors(tmp_path, "speakers")
    assert loaded.keys() == weights.keys()
    for name, value in weights.items():
        assert mx.array_equal(loaded[name], value), name
    if limit:
        files[-1].unlink()
        with pytest.raises(MlxStreamError, match=files[-1].name):
            common.load_safetensors(tmp_path, "speakers")
    with pytest.raises(MlxStreamError, match="no model.safetensors"):
        common.load_safetensors(tmp_path)


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_model_reloads_equal(tmp_path, bits):
    model = tiny()
    quantization = common.quantize(
        model, 64, bits, predicate=lambda path, _: not path.startswith("head")
    )
    assert quantization == {"group_size": 64, "bits": bits}
    saved = flat(model)
    assert {n.removesuffix(".scales") for n in saved if n.endswith(".scales")} == {
        "embed",
        "body.0",
        "body.1",
    }, "the predicate kept `head` and the group size kept `odd` in float"
    common.save_safetensors(tmp_path, saved)

    fresh = tiny(seed=1)
    common.load_weights(fresh, common.load_safetensors(tmp_path), tmp_path, quantization)
    ids = mx.array([[1, 5, 39, 0]])
    assert mx.array_equal(fresh(ids), model(ids))

    with pytest.raises(MlxStreamError, match="quantization .* does not match"):
        common.load_weights(tiny(), common.load_safetensors(tmp_path), tmp_path, None)
    wrong = {"group_size": 64, "bits": 12 - bits}
    with pytest.raises(MlxStreamError, match="do not match its config.json"):
        common.load_weights(tiny(), common.load_safetensors(tmp_path), tmp_path, wrong)


def test_load_weights_is_strict(tmp_path):
    weights = flat(tiny())
    weights.pop("head.bias")
    with pytest.raises(MlxStreamError, match="head.bias") as error:
        common.load_weights(tiny(), weights, tmp_path, todo="convert it again")
    assert "\n" not in str(error.value) and str(error.value).endswith("convert it again")


def test_torch_pickle_with_a_config_object(tmp_path):
    """coqui's checkpoints: `{"config": <object>, "model": state dict}`. torch's weights-only
    loader refuses the whole file because of the object; ours reads the tensors and leaves the
    object inert, with torch's own values."""
    torch.manual_seed(0)
    state = {"gpt.weight": torch.randn(3, 4), "mel_stats": torch.rand(80).double()}
    path = tmp_path / "model.pth"
    torch.save({"config": PickledConfig(), "model": state}, path)
    before = common.sha256(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)

    assert isinstance(common.read_torch(path)["config"], torchfile.Opaque)
    weights = common.read_torch_weights(path, key="model")
    assert weights.keys() == state.keys()
    np.testing.assert_array_equal(np.array(weights["gpt.weight"]), state["gpt.weight"].numpy())
    assert common.sha256(path) == before == hashlib.sha256(path.read_bytes()).hexdigest()

    with pytest.raises(MlxStreamError, match="no tensors by name under 'weights'"):
        common.read_torch_weights(path, key="weights")
    with pytest.raises(MlxStreamError, match="not a readable PyTorch checkpoint"):
        common.read_torch_weights(path)  # the top level holds a config, not tensors
    (tmp_path / "broken.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(MlxStreamError, match="not a readable PyTorch checkpoint"):
        common.read_torch(tmp_path / "broken.pth")


def test_source_files_prefer_safetensors_and_follow_indexes(tmp_path):
    with pytest.raises(MlxStreamError, match="no weights .* complete NLLB checkpoint"):
        common.source_files(tmp_path, "NLLB checkpoint")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    assert common.source_files(tmp_path, "x") == [tmp_path / "pytorch_model.bin"]
    index = {"weight_map": {"a": "model-2.safetensors", "b": "model-1.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(MlxStreamError, match="lacks model-1.safetensors"):
        common.source_files(tmp_path, "x")
    for name in ("model-1.safetensors", "model-2.safetensors"):
        (tmp_path / name).write_bytes(b"")
    assert common.source_files(tmp_path, "x") == [
        tmp_path / "model-1.safetensors",
        tmp_path / "model-2.safetensors",
    ]


def test_marks_and_format_versions(tmp_path):
    source = {"model_type": "xtts", "quantization": {"bits": 2}, common.MARKER: {"format": 0}}
    config = common.mark(source, {"group_size": 64, "bits": 4}, dtype="float16")
    assert config == {
        "model_type": "xtts",
        "quantization": {"group_size": 64, "bits": 4},
        common.MARKER: {"format": common.FORMAT_VERSION, "dtype": "float16"},
    }
    assert "quantization" not in common.mark(source)
    common.check_converted(tmp_path, config, "mlx-stream convert xtts")
    with pytest.raises(MlxStreamError, match="not a converted folder: run mlx-stream convert"):
        common.check_converted(tmp_path, {"model_type": "xtts"}, "mlx-stream convert xtts")
    newer = common.mark(source, format=common.FORMAT_VERSION + 1)
    with pytest.raises(MlxStreamError, match="newer mlx-stream"):
        common.check_converted(tmp_path, newer, "mlx-stream convert xtts")

    assert not common.is_converted(tmp_path)
    common.write_json(tmp_path / "config.json", config)
    assert not common.is_converted(tmp_path), "a config without weights is not a converted folder"
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert common.is_converted(tmp_path)
    with pytest.raises(MlxStreamError, match="already converted"):
        common.resolve_source(tmp_path, ["*"], what="XTTS v2 model")


def test_json_errors_name_the_file(tmp_path):
    with pytest.raises(MlxStreamError, match="no config.json in .*: pass a folder holding an X"):
        common.read_json(tmp_path / "config.json", "an X")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(MlxStreamError, match="config.json' is not valid JSON"):
        common.read_json(tmp_path / "config.json", "an X")


def test_settings_are_checked_first():
    common.check_settings("bfloat16", 4)
    with pytest.raises(MlxStreamError, match="unknown dtype 'float64'"):
        common.check_settings("float64", None)
    with pytest.raises(MlxStreamError, match="cannot quantize to 5 bits"):
        common.check_settings("float32", 5)


def test_summary_sizes(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * (3 << 20))
    assert common.files_size([tmp_path / "a"]) == 3 << 20
    summary = common.ConversionSummary(tmp_path, 2_500_000, 3 << 30, 3 << 20, "float16", None)
    assert str(summary) == f"2.5M parameters: 3.00 GiB -> 3.0 MiB (float16) in {tmp_path}"
    assert "(4-bit)" in str(common.ConversionSummary(Path("x"), 1, 1, 1, "float32", 4))
