"""The whole text front end: deltas in, clean speakable sentences out."""

import sys
from collections.abc import Iterable, Iterator
from typing import IO, TextIO

from .clean import MarkdownCleaner, PlainCleaner
from .ingest import read_deltas
from .segment import DEFAULT_MAX_CHARS, DEFAULT_MIN_CHARS, SentenceSegmenter
from .stats import IngestStats


class TextFrontEnd:
    """`feed(delta) -> list[str]` of sentences ready to speak; `flush()` at the end of input;
    `force()` after an idle time gives out the pending text (see `pending`) without waiting for
    its full stop (whole words only). `max_chars` caps a sentence's length: set it for the
    speech engine's limit (after translation, which may lengthen it). The text is read as
    markdown (CommonMark), or as plain text with `markdown=False`."""

    def __init__(
        self,
        max_chars: int = DEFAULT_MAX_CHARS,
        min_chars: int = DEFAULT_MIN_CHARS,
        stats: IngestStats | None = None,
        markdown: bool = True,
    ):
        self.stats = stats if stats is not None else IngestStats()
        self.cleaner = (MarkdownCleaner if markdown else PlainCleaner)(self.stats)
        self.segmenter = SentenceSegmenter(max_chars, min_chars)

    @property
    def pending(self) -> str:
        """Text received that no sentence has given out yet (empty when there is nothing to force)."""
        return self.segmenter.pending + self.cleaner.pending

    def feed(self, delta: str) -> list[str]:
        return self.segmenter.feed(self.cleaner.feed(delta))

    def flush(self) -> list[str]:
        return self.segmenter.feed(self.cleaner.flush()) + self.segmenter.flush()

    def force(self) -> list[str]:
        return self.segmenter.feed(self.cleaner.force()) + self.segmenter.force()


def iter_sentences(deltas: Iterable[str], front_end: TextFrontEnd | None = None) -> Iterator[str]:
    """Every sentence of a stream of deltas, each as soon as it is complete."""
    front_end = front_end if front_end is not None else TextFrontEnd()
    for delta in deltas:
        yield from front_end.feed(delta)
    yield from front_end.flush()


def clean_sentences(
    text: str, max_chars: int = DEFAULT_MAX_CHARS, min_chars: int = DEFAULT_MIN_CHARS
) -> list[str]:
    """The sentences that would be spoken for a whole text."""
    return list(iter_sentences([text], TextFrontEnd(max_chars, min_chars)))


def print_sentences(
    source: IO[bytes] | Iterable[bytes | str] | str,
    format: str = "auto",
    out: TextIO | None = None,
    err: TextIO | None = None,
    tool_cues: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> int:
    """`mlx-stream sentences`: print each sentence that would be spoken, one a line, as it comes;
    then what was skipped on `err`. Returns the exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    stats = IngestStats()
    front_end = TextFrontEnd(max_chars, min_chars, stats, markdown=format != "plain")
    for sentence in iter_sentences(read_deltas(source, format, tool_cues, stats), front_end):
        print(sentence, file=out, flush=True)
    if summary := stats.summary():
        print(summary, file=err)
    return 0
