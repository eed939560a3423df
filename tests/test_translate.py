"""Translator: from a Hugging Face folder or hub id (converted once), or a converted folder."""

from __future__ import annotations

import pytest
import torch

from mlx_stream.errors import MlxStreamError
from mlx_stream.nllb import weights
from mlx_stream.translate import Translator

from .fixtures.nllb import make_checkpoint

TEXTS = ["Hello, how are you today?", "Ça va très bien, merci !", "東京の駅でお会いしましょう。"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf") / "nllb-tiny"
    model, tokenizer = make_checkpoint(folder, safetensors=True)
    return folder, model, tokenizer


@pytest.fixture(scope="module")
def translator(checkpoint, tmp_path_factory):
    folder, _, _ = checkpoint
    return Translator.from_pretrained(
        folder, dtype="float32", weights_dir=tmp_path_factory.mktemp("weights")
    )


def hf_translate(model, tokenizer, texts, src="eng_Latn", tgt="jpn_Jpan", **options):
    tokenizer.src_lang = src
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    target = tokenizer.convert_tokens_to_ids(tgt)
    with torch.no_grad():
        out = model.generate(**batch, forced_bos_token_id=target, max_new_tokens=16, **options)
    return tokenizer.batch_decode(out, skip_special_tokens=True)


def test_translations_equal_transformers(checkpoint, translator):
    _, model, tokenizer = checkpoint
    expected = hf_translate(model, tokenizer, TEXTS)
    assert translator.translate(TEXTS, max_new_tokens=16) == expected
    assert translator.translate(TEXTS[0], max_new_tokens=16) == expected[0]
    assert any(expected)


def test_beam_search_and_other_languages_equal_transformers(checkpoint, translator):
    _, model, tokenizer = checkpoint
    for text in TEXTS:
        expected = hf_translate(model, tokenizer, [text], "fra_Latn", "deu_Latn", num_beams=3)
        assert (
            translator.translate(text, "fra_Latn", "deu_Latn", beams=3, max_new_tokens=16)
            == (expected[0])
        )


def test_languages_accept_aliases(translator):
    by_code = translator.translate(TEXTS[0], src="eng_Latn", tgt="jpn_Jpan", max_new_tokens=8)
    assert translator.translate(TEXTS[0], src="en", tgt="ja", max_new_tokens=8) == by_code
    assert translator.translate(TEXTS[0], src="English", tgt="Japanese", max_new_tokens=8) == (
        by_code
    )
    with pytest.raises(MlxStreamError) as error:
        translator.translate(TEXTS[0], tgt="Japanes")
    assert "jpn_Jpan" in str(error.value) and "\n" not in str(error.value)


def test_empty_texts_stay_empty(translator):
    assert translator.translate(["", "  ", TEXTS[0]], max_new_tokens=4)[:2] == ["", ""]
    assert translator.translate([]) == []


def test_bad_arguments_are_clear_errors(translator):
    with pytest.raises(MlxStreamError, match="beams"):
        translator.translate("Hi", beams=0)
    with pytest.raises(MlxStreamError, match="max_new_tokens"):
        translator.translate("Hi", max_new_tokens=0)


def test_hugging_face_folder_is_converted_once_and_reused(checkpoint, tmp_path, capsys):
    folder, _, _ = checkpoint
    first = Translator.from_pretrained(folder, quantize_bits=8, weights_dir=tmp_path)
    assert first.path == tmp_path / "nllb-tiny-q8" and weights.is_converted(first.path)
    assert "converted" in capsys.readouterr().err  # stdout is for translations
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    again = Translator.from_pretrained(folder, quantize_bits=8, weights_dir=tmp_path)
    assert "converted" not in capsys.readouterr().err
    assert (again.path / "model.safetensors").stat().st_mtime_ns == stamp
    direct = Translator.from_pretrained(first.path, quantize_bits=4)  # a converted folder as is
    assert direct.path == first.path and direct.config["quantization"]["bits"] == 8
    assert "8-bit" in repr(direct) and "nllb-tiny-q8" in repr(direct)
    assert direct.translate(TEXTS, max_new_tokens=8) == first.translate(TEXTS, max_new_tokens=8)


def test_offline_hub_id_is_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-home"))
    with pytest.raises(MlxStreamError) as error:
        Translator.from_pretrained("nobody-here/nllb-not-cached", weights_dir=tmp_path / "w")
    assert "HF_HUB_OFFLINE" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "w" / "nllb-not-cached-float32").exists()


def test_repr_says_what_is_loaded(translator):
    text = repr(translator)
    assert text.startswith("Translator(") and "2+2 layers" in text and "float32" in text
