"""The benchmark harness on a tiny model: every system does the same work, the report is complete."""

from __future__ import annotations

import io
import json
import time

import pytest

from mlx_stream.bench import report
from mlx_stream.bench import translate as bench_translate
from mlx_stream.bench.e2e import RealTimeClockSink
from tests.fixtures.nllb import CONFIGS, VOCAB_SIZE, make_hf_model
from tests.fixtures.tokenizer import make_hf_tokenizer

from .conftest import run_cli

CONFIG = {
    **bench_translate.NLLB_600M,
    **CONFIGS["wide"],
    "vocab_size": VOCAB_SIZE,
    "max_position_embeddings": 256,
}
SETTINGS = {"source_tokens": 10, "new_tokens": 9, "reps": 1, "sweep_tokens": 12, "sweep": True}
SYSTEMS = [
    "transformers fp32 beam3",
    "transformers fp32 greedy",
    "ctranslate2 int8 greedy",
    "mlx fp32 beam3",
    "mlx fp32 greedy",
    "mlx 8-bit greedy",
    "mlx 4-bit greedy",
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cache = tmp_path_factory.mktemp("bench-cache")
    # The fixture's peaked random model; this seed does not just repeat one token, so a
    # difference in decoding would show.
    folder = cache / f"{bench_translate.model_name(CONFIG)}-random-hf"
    make_hf_model("wide", seed=2).save_pretrained(folder)
    make_hf_tokenizer(folder)
    settings = {**SETTINGS, "config": CONFIG, "cache": str(cache)}
    return {name: bench_translate.worker(name, settings) for name in SYSTEMS}


def test_systems_make_the_same_tokens_as_transformers(results):
    n = SETTINGS["new_tokens"]
    target = bench_translate.language_ids(CONFIG)[1]
    for name, result in results.items():
        assert len(result["tokens"]) == n, name
        assert result["tokens"][0] == target, name
        assert len(result["step_ms"]) == n - 2, name
    greedy = results["transformers fp32 greedy"]["tokens"]
    beam3 = results["transformers fp32 beam3"]["tokens"]
    assert len(set(greedy)) > 1 and len(set(beam3)) > 2 and greedy != beam3
    assert results["mlx fp32 greedy"]["tokens"] == greedy
    assert results["mlx fp32 beam3"]["tokens"] == beam3


def test_weight_bytes_per_token_counts_the_decoder_step(results):
    d, ffn, layers = CONFIG["d_model"], CONFIG["decoder_ffn_dim"], CONFIG["decoder_layers"]
    per_layer = 6 * (d * d + d) + (d * ffn + ffn) + (ffn * d + d) + 3 * 2 * d
    expected = 4 * (layers * per_layer + 2 * d + VOCAB_SIZE * d)
    assert results["transformers fp32 greedy"]["weight_bytes_per_token"] == expected
    assert results["mlx fp32 greedy"]["weight_bytes_per_token"] == expected
    q8 = results["mlx 8-bit greedy"]["weight_bytes_per_token"]
    q4 = results["mlx 4-bit greedy"]["weight_bytes_per_token"]
    assert expected / 4 < q8 < expected / 2
    assert q4 < q8


def test_the_sweep_covers_every_position(results):
    for name in bench_translate.SWEEP:
        if name in results:
            assert len(results[name]["sweep_step_ms"]) == SETTINGS["sweep_tokens"] - 2


def test_report_has_every_system_ratios_and_plots(results, tmp_path):
    translate = {
        "settings": SETTINGS,
        "model": CONFIG,
        "systems": [*results.values(), {"system": "broken peer", "error": "not installed"}],
    }
    run = {"command": "test", "machine": {"cpu": "test"}, "sections": {"translate": translate}}
    text = report.write(run, tmp_path)
    for name in [*results, "broken peer"]:
        assert f"| {name} |" in text
    assert "failed: not installed" in text
    beam3 = results["transformers fp32 beam3"]["latency_ms"]
    ratio = beam3 / results["mlx fp32 greedy"]["latency_ms"]
    assert f"{ratio:.2f}×" in text
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["sections"]["translate"]["systems"][0]["system"] == SYSTEMS[0]
    for plot in ("translate_ms_per_token.png", "translate_step_vs_position.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({plot})" in text


def test_clock_sink_counts_underruns_inside_a_sentence_only():
    sink = RealTimeClockSink(1000)
    sink.write([0.0] * 20)  # 20 ms of audio
    time.sleep(0.05)
    sink.write([0.0] * 20)  # arrived after the player ran dry mid-sentence
    assert sink.underruns == 1
    assert sink.underrun_seconds >= 0.03
    sink.end_sentence()
    time.sleep(0.05)
    sink.write([0.0] * 10_000)  # the next sentence starting late is a gap, not an underrun
    sink.write([0.0] * 10)  # queued well before 10 s of audio ran out
    assert sink.underruns == 1
    assert sink.gap_seconds >= 0.03


def test_reference_model_is_built_once_and_converts(tmp_path):
    from transformers import M2M100ForConditionalGeneration

    config = {**CONFIG, "vocab_size": 300}
    folder = bench_translate.reference_model(config, tmp_path)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert bench_translate.reference_model(config, tmp_path) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("*.partial"))
    hf = M2M100ForConditionalGeneration.from_pretrained(folder)
    assert hf.config.vocab_size == 300 and hf.config.d_model == CONFIG["d_model"]
    converted = bench_translate.mlx_model(folder, "q4", config, tmp_path)
    assert json.loads((converted / "config.json").read_text())["quantization"]["bits"] == 4


def test_mlx_built_reference_is_transformers_model_of_same_weights(tmp_path):
    """The reference model needs no torch to build, and transformers reads it as written."""
    import mlx.core as mx
    import numpy as np
    import torch
    from transformers import M2M100ForConditionalGeneration

    from mlx_stream.nllb import weights

    config = {**CONFIG, "vocab_size": 300}
    folder = bench_translate.reference_model(config, tmp_path)
    hf = M2M100ForConditionalGeneration.from_pretrained(folder).eval()
    ours, _ = weights.load(bench_translate.mlx_model(folder, "float32", config, tmp_path))
    source, decoder = [[3, 17, 99, 2]], [[2, 250, 42]]
    with torch.no_grad():
        expected = hf(
            input_ids=torch.tensor(source), decoder_input_ids=torch.tensor(decoder)
        ).logits.numpy()
    got = np.array(ours(mx.array(source), mx.array(decoder)))
    assert np.abs(got - expected).max() < 1e-4
    assert float(hf.model.shared.weight.detach().std()) == pytest.approx(0.02, rel=0.05)


def test_a_missing_peer_is_reported_with_the_extra_to_install(tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    (blocked / "ctranslate2").mkdir(parents=True)
    (blocked / "ctranslate2" / "__init__.py").write_text("raise ImportError('not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(blocked))  # the worker imports this one first
    config = {**CONFIG, "vocab_size": 300}
    done = bench_translate.run(
        quick=True, systems=["ctranslate2 int8 greedy"], config=config, cache=tmp_path / "cache"
    )
    assert done["systems"][0]["error"] == (
        "the CTranslate2 system needs ctranslate2: pip install 'mlx-stream[bench]'"
    )


def test_generated_claude_transcript_speaks_only_the_answer():
    from mlx_stream.bench import text
    from mlx_stream.text import iter_sentences, read_deltas

    transcript = text.transcript(text.MARKDOWN)
    with_deltas = list(iter_sentences(read_deltas(io.BytesIO(transcript), "auto")))
    assert with_deltas == list(iter_sentences([text.MARKDOWN]))
    assert with_deltas and not [s for s in with_deltas if "lock file" in s or "npm run" in s]


def test_speech_vocab_is_what_coqui_reads(tmp_path):
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer

    from mlx_stream.bench import speech

    speech.write_vocab(tmp_path / "vocab.json", XttsConfig().languages, size=400)
    tokenizer = VoiceBpeTokenizer(vocab_file=str(tmp_path / "vocab.json"))
    assert tokenizer.get_number_tokens() == 400
    ids = tokenizer.encode("hello world", "en")
    assert ids and max(ids) < 400 and tokenizer.decode(ids) == "[en]hello world"


def test_bench_command_line_errors_are_one_line():
    result = run_cli("bench", "--only", "speed")
    stderr = result.stderr.decode().strip()
    assert result.returncode == 2 and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("mlx-stream: error: ") and "translate,speech,text,e2e" in stderr
