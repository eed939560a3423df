"""Conversion: Hugging Face folder -> `python -m convert.nllb` -> MLX folder, and its failure modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import torch

from convert.nllb import main as convert_main
from mlx_stream import weights as common
from mlx_stream.errors import MlxStreamError
from mlx_stream.nllb import weights
from mlx_stream.nllb.generate import translate_ids
from mlx_stream.translate import Translator

from .fixtures.nllb import make_checkpoint

TEXTS = [
    "Hello, how are you today?",
    "Café, naïve, résumé — 😀 🎉",
    "今日はとても良い天気ですね。",
    "We'll meet at the station at half past ten, won't we?",
    "Größere Straßen führen über die Brücke.",
]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf-nllb")
    model, tokenizer = make_checkpoint(folder, safetensors=False)  # the real one ships a .bin
    return folder, model, tokenizer


def reference(model, tokenizer, texts, **options) -> list[list[int]]:
    tokenizer.src_lang = "eng_Latn"
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    target = tokenizer.convert_tokens_to_ids("jpn_Jpan")
    with torch.no_grad():
        out = model.generate(**batch, forced_bos_token_id=target, max_new_tokens=16, **options)
    rows = []
    for row in out.tolist():
        row = row[1:]
        rows.append(row[: row.index(2)] if 2 in row else row)
    return rows


def convert(source: Path, out: Path, *flags: str) -> Path:
    assert convert_main(["--hf-path", str(source), "--mlx-path", str(out), *flags]) == 0
    return out


@pytest.mark.parametrize("safetensors", [False, True], ids=["bin", "safetensors"])
def test_round_trip_gives_transformers_tokens(tmp_path, safetensors, capsys):
    model, tokenizer = make_checkpoint(tmp_path / "hf", "narrow", safetensors)
    out = convert(tmp_path / "hf", tmp_path / "mlx", "--dtype", "float32")
    assert "MiB" in capsys.readouterr().out
    translator = Translator.from_pretrained(out)
    sources = [translator.tokenizer.encode(t, "eng_Latn") for t in TEXTS]
    target = translator.tokenizer.lang_id("jpn_Jpan")
    expected = reference(model, tokenizer, TEXTS)
    assert translate_ids(translator.model, sources, target, max_new_tokens=16) == expected
    texts = translator.translate(TEXTS, tgt="jpn_Jpan", max_new_tokens=16)
    assert texts == [tokenizer.decode(r, skip_special_tokens=True) for r in expected]
    assert any(texts)


def test_tied_embedding_is_stored_once(checkpoint, tmp_path):
    folder, model, _ = checkpoint
    out = convert(folder, tmp_path / "mlx", "--dtype", "float32")
    parameters = sum(p.numel() for p in model.parameters())  # tied tensors count once
    size = (out / "model.safetensors").stat().st_size
    assert 4 * parameters <= size < 4 * parameters + 64 * 1024  # plus the JSON header
    names = mx.load(str(out / "model.safetensors")).keys()
    assert [n for n in names if "embed" in n or "lm_head" in n or "shared" in n] == [
        "shared.weight"
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "m2m_100" and "quantization" not in config


def agreement(model, quantized, sources, target) -> tuple[float, float]:
    """Largest logit difference and share of equal argmaxes, teacher-forced on the float output."""
    outputs = translate_ids(model, sources, target, max_new_tokens=16)
    worst, same, total = 0.0, 0, 0
    for source, output in zip(sources, outputs):
        ids, decoder = mx.array([source]), mx.array([[2, *output]])
        exact = np.array(model(ids, decoder))[0]
        approx = np.array(quantized(ids, decoder).astype(mx.float32))[0]
        worst = max(worst, float(np.abs(exact - approx).max()))
        same += int((exact.argmax(-1) == approx.argmax(-1)).sum())
        total += len(exact)
    return worst, same / total


def test_quantized_models_agree_with_float(checkpoint, tmp_path):
    folder, _, tokenizer = checkpoint
    exact, _ = weights.load(convert(folder, tmp_path / "f32", "--dtype", "float32"))
    rng = np.random.default_rng(0)
    sources = [
        [int(rng.integers(260, 700)), *rng.integers(4, 500, int(n)).tolist(), 2]
        for n in rng.integers(3, 20, 30)
    ]
    target = tokenizer.convert_tokens_to_ids("jpn_Jpan")
    results = {}
    for bits in (8, 4):
        out = convert(
            folder, tmp_path / f"q{bits}", "-q", "--q-bits", str(bits), "--dtype", "float32"
        )
        assert json.loads((out / "config.json").read_text())["quantization"] == {
            "group_size": 64,
            "bits": bits,
        }
        quantized, _ = weights.load(out)
        results[bits] = agreement(exact, quantized, sources, target)
        print(
            f"\n{bits}-bit: max |logit diff| {results[bits][0]:.4f}, argmax agreement "
            f"{results[bits][1]:.1%} over {len(sources)} sources"
        )
    half, _ = weights.load(convert(folder, tmp_path / "bf16", "--dtype", "bfloat16"))
    assert half.shared.weight.dtype == mx.bfloat16
    results["bfloat16"] = agreement(exact, half, sources, target)
    print(
        f"bfloat16: max |logit diff| {results['bfloat16'][0]:.4f}, argmax agreement "
        f"{results['bfloat16'][1]:.1%}"
    )
    assert results[8][0] < 0.25  # these logits span about +-8; 8-bit moves them by ~1-2%
    assert results[8][1] >= 0.95
    assert 0.0 < results[4][1] <= 1.0
    assert results["bfloat16"][1] >= 0.95


def run_convert(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "convert.nllb", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m convert.nllb: error: "), result.stderr
    assert words in lines[0]


def test_cli_errors_are_one_line(checkpoint, tmp_path):
    folder, _, _ = checkpoint
    out = str(tmp_path / "out")
    assert_one_line_error(
        run_convert("--hf-path", str(tmp_path / "nowhere"), "--mlx-path", out), "not found"
    )

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "sentencepiece.bpe.model", "tokenizer_config.json"):
        (broken / name).write_bytes((folder / name).read_bytes())
    assert_one_line_error(run_convert("--hf-path", str(broken), "--mlx-path", out), "no weights")

    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all")
    assert_one_line_error(
        run_convert("--hf-path", str(broken), "--mlx-path", out), "not a readable safetensors"
    )

    config = json.loads((folder / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "model_type": "bart"}))
    assert_one_line_error(run_convert("--hf-path", str(broken), "--mlx-path", out), "bart")

    Path(out).mkdir()
    assert_one_line_error(run_convert("--hf-path", str(folder), "--mlx-path", out), "--force")
    assert run_convert("--hf-path", str(folder), "--mlx-path", out, "--force").returncode == 0
    assert weights.is_converted(out)


def test_offline_hub_is_a_clear_error(tmp_path):
    result = run_convert(
        "--hf-path",
        "nobody-here/nllb-not-cached",
        "--mlx-path",
        str(tmp_path / "out"),
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")},
    )
    assert_one_line_error(result, "HF_HUB_OFFLINE")
    assert not (tmp_path / "out").exists()


def test_bad_converted_folders_fail_in_one_line(checkpoint, tmp_path):
    folder, _, _ = checkpoint
    q8 = convert(folder, tmp_path / "q8", "-q", "--q-bits", "8")
    config = json.loads((q8 / "config.json").read_text())

    def fails(words: str) -> None:
        with pytest.raises(MlxStreamError) as error:
            weights.load(q8)
        assert words in str(error.value) and "\n" not in str(error.value)

    (q8 / "config.json").write_text(json.dumps({**config, "quantization": None}))
    fails("does not match")
    (q8 / "config.json").write_text(
        json.dumps({**config, "quantization": {"group_size": 64, "bits": 4}})
    )
    fails("do not match")
    (q8 / "config.json").write_text(json.dumps(config))
    weights.load(q8)
    (q8 / "model.safetensors").write_bytes(b"garbage")
    fails("not a readable safetensors")
    (q8 / "model.safetensors").unlink()
    fails("no model.safetensors")
    with pytest.raises(MlxStreamError, match="not a converted folder"):
        weights.load(folder)
    with pytest.raises(MlxStreamError, match="not a folder"):
        weights.load(tmp_path / "missing")


def test_sharded_weights_load_like_one_file(checkpoint, tmp_path, monkeypatch):
    folder, _, _ = checkpoint
    single, _ = weights.load(convert(folder, tmp_path / "one", "--dtype", "float32"))
    monkeypatch.setattr(common, "MAX_SHARD_BYTES", 200_000)
    out = convert(folder, tmp_path / "shards", "--dtype", "float32")
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) > 1 and (out / weights.INDEX_FILE).is_file()
    sharded, _ = weights.load(out)
    source, decoder = mx.array([[300, 17, 99, 2]]), mx.array([[2, 500, 42]])
    assert mx.array_equal(single(source, decoder), sharded(source, decoder))
    (out / shards[-1]).unlink()
    with pytest.raises(MlxStreamError, match=shards[-1]):
        weights.load(out)


def test_unsafe_or_broken_pickles_are_refused(checkpoint, tmp_path):
    folder, _, _ = checkpoint
    broken = tmp_path / "pickle"
    broken.mkdir()
    for name in ("config.json", "sentencepiece.bpe.model", "tokenizer_config.json"):
        (broken / name).write_bytes((folder / name).read_bytes())
    torch.save({"model.shared.weight": torch.zeros(2), "code": print}, broken / "pytorch_model.bin")
    result = run_convert("--hf-path", str(broken), "--mlx-path", str(tmp_path / "out"))
    assert_one_line_error(result, "not a readable PyTorch checkpoint")
    (broken / "pytorch_model.bin").write_bytes(b"PK\x03\x04 truncated")
    result = run_convert("--hf-path", str(broken), "--mlx-path", str(tmp_path / "out"))
    assert_one_line_error(result, "not a readable PyTorch checkpoint")


def test_old_pickle_format_and_already_converted_folders(checkpoint, tmp_path):
    folder, model, _ = checkpoint
    old = tmp_path / "old"
    old.mkdir()
    for name in ("config.json", "sentencepiece.bpe.model", "tokenizer_config.json"):
        (old / name).write_bytes((folder / name).read_bytes())
    # torch < 1.6 wrote this format; it cannot be memory-mapped
    torch.save(model.state_dict(), old / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    converted, _ = weights.load(convert(old, tmp_path / "mlx", "--dtype", "float32"))
    source, decoder = [[300, 17, 99, 2]], [[2, 500, 42]]
    with torch.no_grad():
        expected = model(
            input_ids=torch.tensor(source), decoder_input_ids=torch.tensor(decoder)
        ).logits.numpy()
    assert np.abs(np.array(converted(mx.array(source), mx.array(decoder))) - expected).max() < 1e-4
    with pytest.raises(MlxStreamError, match="already converted"):
        weights.convert(tmp_path / "mlx", tmp_path / "again")


def test_interrupted_conversion_leaves_nothing(checkpoint, tmp_path, monkeypatch):
    folder, _, _ = checkpoint

    def fail(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(common, "save_safetensors", fail)
    with pytest.raises(KeyboardInterrupt):
        weights.convert(folder, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
