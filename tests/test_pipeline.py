"""The driver: accounting, overlap of translation/synthesis with playback, the notebook result."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mlx_stream.audio import MemorySink
from mlx_stream.errors import MlxStreamError
from mlx_stream.pipeline import Pipeline
from tests.standins import SlowTranslator, ToneSynthesizer

TEXT = "The sun is out today. Birds are singing in the park! Shall we go for a walk? I would like that."


def test_every_sentence_is_spoken_in_order_and_reaches_the_sink():
    synth = ToneSynthesizer(seconds=0, audio_seconds=0.1)
    sink = MemorySink(synth.sample_rate)
    pipe = Pipeline(SlowTranslator(0), synth, sink, tgt="ja")
    for piece in [TEXT[i : i + 7] for i in range(0, len(TEXT), 7)]:
        pipe.feed(piece)
    pipe.flush()
    report = pipe.report
    sources = [s.source for s in report.sentences]
    assert sources == [
        "The sun is out today.",
        "Birds are singing in the park!",
        "Shall we go for a walk?",
        "I would like that.",
    ]
    assert synth.spoken == [s.upper() for s in sources]
    np.testing.assert_array_equal(
        sink.audio, np.concatenate([synth.audio_for(t) for t in synth.spoken])
    )
    assert all(
        s.translate_ms is not None and s.first_audio_ms is not None for s in report.sentences
    )
    assert [s.index for s in report.sentences] == [1, 2, 3, 4]
    assert report.summary().startswith("4 sentences: 4 spoken (0.4 s of audio")


def test_a_failing_sentence_is_skipped_with_its_reason_and_the_rest_are_spoken():
    synth = ToneSynthesizer(seconds=0, audio_seconds=0.05, fail_on="BIRDS")
    pipe = Pipeline(SlowTranslator(0), synth, MemorySink(24000))
    report = pipe.run([TEXT])
    assert len(report.sentences) == 4 and len(report.spoken) == 3
    (skipped,) = report.skipped
    assert skipped.source == "Birds are singing in the park!"
    assert skipped.skipped == "RuntimeError: cannot say 'BIRDS ARE SINGING IN THE PARK!'"
    assert "1 skipped" in report.summary()


def test_same_source_and_target_language_skips_translation():
    synth = ToneSynthesizer(seconds=0, audio_seconds=0.05)
    report = Pipeline(None, synth, src="en", tgt="English").run(
        ["Hello there, friend. Bye for now, friend."]
    )
    assert synth.spoken == ["Hello there, friend.", "Bye for now, friend."]
    assert all(s.translate_ms is None and s.translation == s.source for s in report.sentences)


def test_unknown_language_is_a_clear_error():
    with pytest.raises(MlxStreamError, match="Klingon"):
        Pipeline(SlowTranslator(0), ToneSynthesizer(), tgt="Klingon")


def test_idle_forces_out_an_unfinished_sentence():
    synth = ToneSynthesizer(seconds=0, audio_seconds=0.05)
    pipe = Pipeline(SlowTranslator(0), synth)
    report = pipe.run(["Let me think about that", None, " for a moment. Done."])
    assert [s.source for s in report.sentences][0] == "Let me think about that"
    assert len(report.spoken) == len(report.sentences)


def test_speak_returns_the_audio_and_renders_in_a_notebook():
    synth = ToneSynthesizer(seconds=0, audio_seconds=0.1)
    pipe = Pipeline(SlowTranslator(0), synth)
    result = pipe.speak("This is the first one. This is the second one.")
    assert result.sample_rate == 24000 and len(result.sentences) == 2
    np.testing.assert_array_equal(
        result.audio,
        np.concatenate(
            [synth.audio_for("THIS IS THE FIRST ONE."), synth.audio_for("THIS IS THE SECOND ONE.")]
        ),
    )
    html = result._repr_html_()
    assert (
        html.startswith('<audio controls src="data:audio/wav;base64,')
        and "<td>THIS IS THE SECOND ONE.</td>" in html
    )


def test_translation_and_synthesis_overlap_playback(pulse_card):
    # Ten sentences, each: translate 100 ms, synthesize 200 ms, 1 s of audio, played in real time.
    # Without overlap that is 10 x 1.3 s = 13 s; pipelined, playback bounds it: 0.3 s + 10 x 1 s.
    code = """
        import time
        from mlx_stream.audio import Player
        from mlx_stream.pipeline import Pipeline
        from tests.standins import SlowTranslator, ToneSynthesizer
        synth = ToneSynthesizer(seconds=0.2, audio_seconds=1.0)
        pipe = Pipeline(SlowTranslator(0.1), synth, Player(24000))
        text = " ".join(f"This is sentence number {i}." for i in range(10))
        start = time.perf_counter()
        report = pipe.run([text])
        print(f"{time.perf_counter() - start:.2f} {report.underruns} {len(report.spoken)}")
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **pulse_card},
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode == 0, result.stderr
    elapsed, underruns, spoken = result.stdout.split()
    assert spoken == "10" and underruns == "0"
    assert 10.0 <= float(elapsed) < 12.0, f"took {elapsed} s: bound 10.3 s, sum 13 s"
