"""The driver: text deltas in; each finished sentence translated, spoken and handed to a sink.

It runs on the caller's thread. The only other thread is the sound card's callback (see
`audio.Player`), so sentence N plays while N+1 is translated and synthesized, and a full audio
buffer blocks the driver. A sink that fails (`audio.SinkError`) ends the run: every sentence not
delivered is reported as skipped with the sink's reason, and the error goes to the caller.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import html
import io
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from .audio import MemorySink, Sink, SinkError
from .errors import MlxStreamError
from .nllb.languages import resolve_language
from .text import TextFrontEnd


@dataclass
class Sentence:
    """What happened to one sentence. Times are milliseconds from the moment the driver took it."""

    index: int
    source: str
    translation: str | None = None
    translate_ms: float | None = None
    first_audio_ms: float | None = None
    audio_seconds: float = 0.0
    synth_seconds: float = 0.0
    skipped: str | None = None

    @property
    def rtf(self) -> float | None:
        """Real-time factor: seconds spent synthesizing per second of audio (below 1 keeps up)."""
        return self.synth_seconds / self.audio_seconds if self.audio_seconds else None

    def latency_line(self) -> str:
        if self.skipped:
            return f"[{self.index}] skipped: {self.skipped}"
        parts = []
        if self.translate_ms is not None:
            parts.append(f"translate {self.translate_ms:.0f} ms")
        parts.append(f"first audio {self.first_audio_ms:.0f} ms")
        parts.append(f"{self.audio_seconds:.1f} s audio")
        parts.append(f"RTF {self.rtf:.2f}")
        return f"[{self.index}] " + " · ".join(parts)


@dataclass
class Report:
    """Every sentence that entered the pipeline, spoken or skipped."""

    sentences: list[Sentence] = field(default_factory=list)
    underruns: int = 0
    interrupted: bool = False

    @property
    def spoken(self) -> list[Sentence]:
        return [s for s in self.sentences if not s.skipped]

    @property
    def skipped(self) -> list[Sentence]:
        return [s for s in self.sentences if s.skipped]

    def summary(self) -> str:
        spoken, skipped = self.spoken, self.skipped
        n = len(self.sentences)
        text = f"{n} sentence{'' if n == 1 else 's'}: {len(spoken)} spoken"
        if spoken:
            audio = sum(s.audio_seconds for s in spoken)
            first = statistics.median(s.first_audio_ms for s in spoken)
            text += f" ({audio:.1f} s of audio, median first audio {first:.0f} ms)"
        if skipped:
            reasons: dict[str, int] = {}
            for s in skipped:
                reasons[s.skipped] = reasons.get(s.skipped, 0) + 1
            why = ", ".join(f"{n} {r}" for r, n in reasons.items())
            text += f", {len(skipped)} skipped ({why})"
        if self.underruns:
            text += f"; {self.underruns} audio underruns"
        return text + ("; interrupted" if self.interrupted else "")

    def _repr_html_(self) -> str:
        return _sentence_table(self.sentences) + f"<p>{html.escape(self.summary())}</p>"


@dataclass
class SpeechResult:
    """What `Pipeline.speak` returns: the audio and the per-sentence records. Plays in Jupyter."""

    audio: np.ndarray
    sample_rate: int
    sentences: list[Sentence]

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def save(self, path: str) -> None:
        import soundfile as sf

        sf.write(path, self.audio, self.sample_rate, subtype="FLOAT")

    def _repr_html_(self) -> str:
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, self.audio, self.sample_rate, format="WAV", subtype="PCM_16")
        data = base64.b64encode(buf.getvalue()).decode()
        audio = f'<audio controls src="data:audio/wav;base64,{data}"></audio>'
        return audio + _sentence_table(self.sentences)

    def __repr__(self) -> str:
        return (
            f"SpeechResult({len(self.sentences)} sentences, {self.duration:.2f} s at "
            f"{self.sample_rate} Hz)"
        )


class Pipeline:
    """Text in, speech out, one sentence at a time.

    >>> pipe = Pipeline(translator, synthesizer, Player(synthesizer.sample_rate))
    >>> report = pipe.run(["Hello there. ", "How are you?"])

    `on_sentence` is called with each sentence once it is spoken or skipped, except the ones a
    stop skips all at once (the report's summary counts those). A sentence is spoken once its
    audio is in the sink; if the sink then fails before the audio reached its destination, the
    sentence is reported as skipped after all.
    """

    def __init__(
        self,
        translator,
        synthesizer,
        sink: Sink | None = None,
        src: str = "eng_Latn",
        tgt: str = "jpn_Jpan",
        front_end: TextFrontEnd | None = None,
        on_sentence: Callable[[Sentence], None] | None = None,
        beams: int = 1,
    ):
        self.src, self.tgt = resolve_language(src), resolve_language(tgt)
        if translator is None and self.src != self.tgt:
            raise MlxStreamError(
                "a translator is needed unless the source and target languages are the same"
            )
        self.translator, self.synthesizer = translator, synthesizer
        self.sink = sink if sink is not None else Sink()
        self.front_end = front_end or TextFrontEnd()
        self.on_sentence = on_sentence
        self.beams = beams
        self.report = Report()
        self._current: Sentence | None = None
        self._queued: collections.deque[str] = collections.deque()
        self._written = 0  # samples handed to the sink
        self._ends: list[tuple[int, Sentence]] = []  # where each spoken sentence's audio ends

    def feed(self, delta: str) -> list[Sentence]:
        """Take more text; speak every sentence it completes."""
        return self._speak_all(self.front_end.feed(delta))

    def idle(self) -> list[Sentence]:
        """No text has come for a while: speak what is pending even without its full stop."""
        return self._speak_all(self.front_end.force())

    def flush(self) -> list[Sentence]:
        """End of input: speak what is left, then wait until the sink has played it all."""
        done = self._speak_all(self.front_end.flush())
        try:
            self.sink.drain()
        except SinkError as e:
            self.fail(e)
            raise
        self.report.underruns = self.sink.underruns
        return done

    def run(self, deltas: Iterable[str | None]) -> Report:
        """Feed every delta (`None` means "idle": force out pending text), then flush."""
        try:
            for delta in deltas:
                if delta is None:
                    self.idle()
                else:
                    self.feed(delta)
            self.flush()
        except KeyboardInterrupt:
            self.interrupt()
            raise
        return self.report

    def interrupt(self, unread: Iterable[str] = ()) -> Report:
        """Stop now: silence the sink, and report every sentence not spoken as skipped.

        `unread` is text received but not yet fed; its sentences are accounted for too. Safe to
        call more than once, and from another thread while the driver is stuck in a model call.
        """
        self.report.interrupted = True
        self.sink.abort()
        return self.stop("interrupted", unread)

    def stop(self, reason: str, unread: Iterable[str] = ()) -> Report:
        """Account for everything not spoken: the sentence in progress, those waiting, the text
        pending in the front end and `unread` (text received but not fed) are skipped with
        `reason`. Only the sentence in progress is passed to `on_sentence`."""
        if self._current is not None:
            self._current.skipped = reason
            self._record(self._current)
        texts = list(self._queued) + [t for delta in unread for t in self.front_end.feed(delta)]
        self._queued.clear()
        for text in texts + self.front_end.flush():
            sentence = Sentence(len(self.report.sentences) + 1, text, skipped=reason)
            self.report.sentences.append(sentence)
        self.report.underruns = self.sink.underruns
        return self.report

    def speak(self, text: str) -> SpeechResult:
        """Speak a whole text and also return its audio (for notebooks); plays on the sink if any."""
        memory = MemorySink(self.synthesizer.sample_rate)
        sink, self.sink = self.sink, _Tee(self.sink, memory)
        first = len(self.report.sentences)
        try:
            self.feed(text)
            self.flush()
        finally:
            self.sink = sink
        return SpeechResult(memory.audio, memory.sample_rate, self.report.sentences[first:])

    def _speak_all(self, sentences: list[str]) -> list[Sentence]:
        self._queued.extend(sentences)  # visible to interrupt() until each is taken
        done = []
        while self._queued:
            done.append(self._speak(self._queued.popleft()))
        return done

    def _speak(self, source: str) -> Sentence:
        record = self._current = Sentence(len(self.report.sentences) + 1, source)
        start = time.perf_counter()
        try:
            if not any(c.isalnum() for c in source):
                record.skipped = "nothing to say"
            else:
                record.translation = self._translate(source, record)
                if any(c.isalnum() for c in record.translation):
                    self._synthesize(record, start)
                else:
                    record.skipped = "the translation was empty"
        except KeyboardInterrupt:
            self.interrupt()
            raise
        except SinkError as e:
            self.fail(e)
            raise
        except MlxStreamError as e:
            record.skipped = str(e)
        except Exception as e:  # one bad sentence must not end the stream: report it and go on
            record.skipped = f"{type(e).__name__}: {e}".splitlines()[0]
        with _signals_held():  # the sink's sentence end and the report agree, whatever comes
            if self.sink.end_sentence() is False and not record.skipped:
                record.skipped = "interrupted"  # the sink was aborted before the sentence ended
            self._record(record)
        return record

    def _translate(self, source: str, record: Sentence) -> str:
        if self.src == self.tgt:
            return source
        t = time.perf_counter()
        out = self.translator.translate(source, src=self.src, tgt=self.tgt, beams=self.beams)
        record.translate_ms = (time.perf_counter() - t) * 1000
        return out

    def _synthesize(self, record: Sentence, start: float) -> None:
        chunks = iter(self.synthesizer.stream(record.translation, self.tgt))
        samples = 0
        while True:
            t = time.perf_counter()
            chunk = next(chunks, None)
            record.synth_seconds += time.perf_counter() - t
            if chunk is None:
                break
            if record.first_audio_ms is None:
                record.first_audio_ms = (time.perf_counter() - start) * 1000
            samples += len(chunk)
            self.sink.write(chunk)
            self._written += len(chunk)
        record.audio_seconds = samples / self.synthesizer.sample_rate
        if not samples:
            record.skipped = "the speech engine made no audio"
        else:
            self._ends.append((self._written, record))

    def fail(self, error: SinkError, unread: Iterable[str] = ()) -> Report:
        """The sink can take no more (the driver calls this itself when a write fails; call it
        when closing the sink fails): like `stop`, and the sentences whose audio the sink did
        not deliver are skipped too."""
        if error.delivered is not None:
            while self._ends and self._ends[-1][0] > error.delivered:
                self._ends.pop()[1].skipped = error.reason
        return self.stop(error.reason, unread)

    def _record(self, record: Sentence) -> None:
        if record is self._current:
            self._current = None
        self.report.sentences.append(record)
        if self.on_sentence:
            self.on_sentence(record)


@contextlib.contextmanager
def _signals_held():
    """Run the block whole: a SIGINT or SIGTERM arriving meanwhile is acted on at its end.

    Python raises the signal's exception (KeyboardInterrupt) between any two bytecodes; between
    the sink's end of a sentence and its record, the report and the audio would disagree. Only
    the main thread receives signals, so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in caught[:1]:
            handler = previous[s]
            if callable(handler):
                handler(s, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(s)


class _Tee(Sink):
    def __init__(self, *sinks: Sink):
        self.sinks = sinks

    @property
    def underruns(self) -> int:
        return sum(s.underruns for s in self.sinks)

    def write(self, chunk):
        for s in self.sinks:
            s.write(chunk)

    def end_sentence(self) -> bool:
        return all([s.end_sentence() is not False for s in self.sinks])

    def drain(self):
        for s in self.sinks:
            s.drain()

    def abort(self):
        for s in self.sinks:
            s.abort()


def _sentence_table(sentences: list[Sentence]) -> str:
    head = "<tr><th>#</th><th>source</th><th>translation</th><th>translate ms</th>"
    head += "<th>first audio ms</th><th>audio s</th><th>RTF</th><th>skipped</th></tr>"

    def cell(value, fmt="{:.0f}"):
        return "" if value is None else html.escape(fmt.format(value) if fmt else str(value))

    rows = [
        f"<tr><td>{s.index}</td><td>{cell(s.source, None)}</td><td>{cell(s.translation, None)}</td>"
        f"<td>{cell(s.translate_ms)}</td><td>{cell(s.first_audio_ms)}</td>"
        f"<td>{cell(s.audio_seconds, '{:.2f}')}</td><td>{cell(s.rtf, '{:.2f}')}</td>"
        f"<td>{cell(s.skipped, None)}</td></tr>"
        for s in sentences
    ]
    return f"<table>{head}{''.join(rows)}</table>"
