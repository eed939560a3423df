"""The driver: accounting, overlap of translation/synthesis with playback, the notebook result."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mlx_stream.audio import MemorySink, OutputClosed, RawSink
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
    # whole words only: "that" may still grow into "thatch", so it waits for the next delta
    assert [s.source for s in report.sentences][:2] == [
        "Let me think about",
        "that for a moment.",
    ]
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


def test_one_sentence_is_not_sentences():
    report = Pipeline(None, ToneSynthesizer(seconds=0, audio_seconds=0.05), tgt="eng_Latn").run(
        ["Just one sentence here."]
    )
    assert report.summary().startswith("1 sentence: 1 spoken (")


def test_a_sink_that_fails_ends_the_run_and_every_sentence_is_accounted_for():
    read, write = os.pipe()
    os.close(read)  # the reader of our output is gone before the first sample
    announced = []
    with os.fdopen(write, "wb") as out:
        pipe = Pipeline(
            SlowTranslator(0),
            ToneSynthesizer(seconds=0, audio_seconds=0.05),
            RawSink(24000, out),
            on_sentence=announced.append,
        )
        with pytest.raises(OutputClosed):
            pipe.run([TEXT])
        with contextlib.suppress(OSError):
            out.close()
    report = pipe.report
    assert [s.skipped for s in report.sentences] == ["output closed"] * 4
    assert [s.index for s in report.sentences] == [1, 2, 3, 4]
    assert [s.index for s in announced] == [1], "only the sentence in progress is announced"
    assert report.summary() == "4 sentences: 0 spoken, 4 skipped (4 output closed)"


def test_sentences_whose_audio_was_lost_with_the_sink_are_skipped_after_all(tmp_path):
    # A WAV whose disk fills up in the third sentence is removed: the first two, though handed to
    # the sink whole, were not kept either.
    code = f"""
        import resource, signal
        from mlx_stream.audio import SinkError, WavSink
        from mlx_stream.pipeline import Pipeline
        from tests.standins import SlowTranslator, ToneSynthesizer
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (250_000, 250_000))  # 2.6 s of float32 audio
        sink = WavSink({str(tmp_path / "out.wav")!r}, 24000)
        pipe = Pipeline(SlowTranslator(0), ToneSynthesizer(seconds=0, audio_seconds=1.0), sink)
        try:
            pipe.run([{TEXT!r}])
        except SinkError as e:
            print(e)
        print(pipe.report.summary())
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode == 0, result.stderr
    error, summary = result.stdout.strip().splitlines()
    assert "(File too large): nothing was saved" in error
    assert summary == "4 sentences: 0 spoken, 4 skipped (4 the output could not be written)"
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_announces_only_the_sentence_in_progress():
    announced = []

    class Interrupting(ToneSynthesizer):
        def stream(self, text, language):
            if "BIRDS" in text:
                raise KeyboardInterrupt
            yield from super().stream(text, language)

    pipe = Pipeline(
        SlowTranslator(0), Interrupting(seconds=0, audio_seconds=0.05), on_sentence=announced.append
    )
    with pytest.raises(KeyboardInterrupt):
        pipe.run([TEXT + " " + TEXT])
    assert [s.skipped for s in announced] == [None, "interrupted"]
    report = pipe.report
    assert len(report.sentences) == 8 and report.interrupted
    assert report.summary().startswith("8 sentences: 1 spoken (0.1 s of audio")
    assert ", 7 skipped (7 interrupted); interrupted" in report.summary()


def test_an_abort_mid_sentence_leaves_a_wav_of_exactly_the_sentences_spoken(tmp_path):
    """The interrupt watcher aborts the sink from its own thread while the driver is inside a
    sentence (here: after its second chunk): the WAV keeps the sentences the report calls
    spoken, sample for sample, and the cut one is reported interrupted."""
    import soundfile as sf

    from mlx_stream.audio import WavSink

    path = tmp_path / "out.wav"
    sink = WavSink(path, 24000)

    class Aborting(ToneSynthesizer):
        def stream(self, text, language):
            for i, part in enumerate(super().stream(text, language)):
                if "BIRDS" in text and i == 2:
                    sink.abort()
                yield part

    synthesizer = Aborting(seconds=0, audio_seconds=0.5)
    pipe = Pipeline(SlowTranslator(0), synthesizer, sink)
    with contextlib.suppress(KeyboardInterrupt):
        pipe.feed(TEXT)
    spoken = [s for s in pipe.report.sentences if not s.skipped]
    assert [s.skipped for s in pipe.report.sentences][: len(spoken) + 1] == [None] * len(spoken) + [
        "interrupted"
    ]
    audio, rate = sf.read(path, dtype="float32")
    expected = np.concatenate([synthesizer.audio_for(s.translation) for s in spoken])
    assert rate == 24000 and len(spoken) >= 1
    np.testing.assert_array_equal(audio, expected)


def test_a_signal_between_a_sentences_end_and_its_record_waits_for_the_record():
    """SIGINT arriving while the sink ends a sentence: the sentence is recorded as spoken first,
    then the KeyboardInterrupt comes, so the report and the audio agree."""
    import signal

    class Signalling(MemorySink):
        def end_sentence(self):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs at the next bytecode
            return super().end_sentence()

    synthesizer = ToneSynthesizer(seconds=0, audio_seconds=0.1)
    pipe = Pipeline(SlowTranslator(0), synthesizer, Signalling(24000))
    with pytest.raises(KeyboardInterrupt):
        pipe.run([TEXT])
    first = pipe.report.sentences[0]
    assert first.skipped is None and first.audio_seconds == pytest.approx(0.1)
    assert all(s.skipped == "interrupted" for s in pipe.report.sentences[1:])
    assert len(pipe.report.sentences) == 4 and pipe.report.interrupted
