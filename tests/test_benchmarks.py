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


SPEECH_SYSTEMS = ["mlx fp32", "coqui fp32", "mlx 8-bit GPT"]
STREAM_FIELDS = [
    "codes", "samples", "audio_s", "ttfa_ms", "codes_before_first_audio", "chunk_ms", "chunks",
    "last_first_ratio", "rtf", "prefill_ms", "gpt_ms_per_code", "matmul_floor_ms",
    "weight_mb_per_code", "vocoder_ms_per_audio_s", "peak_memory_mb", "text_tokens", "kernels",
]  # fmt: skip


@pytest.fixture(scope="module")
def speech_results(tmp_path_factory):
    from mlx_stream.bench import speech

    cache = tmp_path_factory.mktemp("speech-cache")
    return speech.run(size="tiny", systems=SPEECH_SYSTEMS, cache=cache, torch_threads=1)


def test_speech_section_has_every_field_and_equal_work(speech_results):
    from mlx_stream.bench import speech

    done = {s["system"]: s for s in speech_results["systems"]}
    assert list(done) == SPEECH_SYSTEMS and not [s for s in done.values() if "error" in s], done
    mlx, coqui = done["mlx fp32"], done["coqui fp32"]
    for system in (mlx, coqui):
        missing = [field for field in STREAM_FIELDS if field not in system]
        assert not missing, (system["system"], missing)
        assert len(system["chunk_ms"]) == system["chunks"] == len(system["chunk_samples"])
    codes = speech.SIZES["tiny"]["codes"]
    # the same work: as many codes, samples and text tokens in both systems
    assert mlx["codes"] == coqui["codes"] == codes
    assert mlx["samples"] == coqui["samples"] == sum(mlx["chunk_samples"])
    assert mlx["text_tokens"] == coqui["text_tokens"]
    assert coqui["codes_before_first_audio"] == speech.CHUNK_TOKENS
    assert mlx["decoder_pushes"] and mlx["window_frames"]
    assert set(coqui["kernels"]["kinds"]) >= set(mlx["kernels"]["kinds"])
    assert set(mlx["kernels"]["tried"]) == {"dilated conv (d=3,5)", "transposed conv"}
    q8 = done["mlx 8-bit GPT"]
    assert "chunk_ms" not in q8 and q8["agreement"]["against"] == "mlx fp32"
    assert mlx["agreement"]["forced_equal_share"] == mlx["agreement"]["free_equal_share"] == 1.0
    assert [c["variant"] for c in speech_results["conversion"]] == ["float32", "q8"]
    assert all(c["recorded_sha256_match"] for c in speech_results["conversion"])
    assert speech_results["source sha256 unchanged"] is True
    assert set(speech_results["targets"]) >= {
        "mlx fp32 chunk last/first",
        "GPT steps to first audio, coqui / mlx",
        "time to first audio, mlx fp32 / coqui",
    }


def test_speech_report_has_tables_and_plots(speech_results, tmp_path):
    run = {"command": "test", "machine": {}, "sections": {"speech": speech_results}}
    text = report.write(run, tmp_path)
    for heading in ("## Speech: MLX XTTS", "### Wall ms of each chunk", "### Converting",
                    "### Greedy code agreement", "### HiFi-GAN kernels"):  # fmt: skip
        assert heading in text
    for name in SPEECH_SYSTEMS:
        assert f"| {name} |" in text
    for plot in ("speech_chunk_times.png", "speech_ttfa.png", "speech_kernels.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tried_conv_forms_equal_torch():
    """The speech section reports these as what MLX's slow conv kernels could be replaced by."""
    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_stream.bench.xtts_mlx import dilated_as_phases, transposed_as_matmul

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 37, 6)).astype(np.float32)
    for kernel, dilation in ((3, 3), (7, 5), (11, 5)):
        w = rng.standard_normal((4, 6, kernel)).astype(np.float32)  # torch: (out, in, k)
        padding = dilation * (kernel - 1) // 2
        expected = torch.nn.functional.conv1d(
            torch.from_numpy(x).transpose(1, 2),
            torch.from_numpy(w),
            padding=padding,
            dilation=dilation,
        ).transpose(1, 2)
        got = dilated_as_phases(mx.array(x), mx.array(w.transpose(0, 2, 1)), dilation, padding)
        np.testing.assert_allclose(np.array(got), expected.numpy(), rtol=1e-5, atol=1e-5)
    for stride in (8, 2):
        w = rng.standard_normal((6, 4, 2 * stride)).astype(np.float32)  # torch: (in, out, k)
        padding = stride // 2
        expected = torch.nn.functional.conv_transpose1d(
            torch.from_numpy(x).transpose(1, 2), torch.from_numpy(w), stride=stride, padding=padding
        ).transpose(1, 2)
        got = transposed_as_matmul(mx.array(x), mx.array(w.transpose(1, 2, 0)), stride, padding)
        np.testing.assert_allclose(np.array(got), expected.numpy(), rtol=1e-5, atol=1e-5)
