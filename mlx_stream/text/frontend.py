"""The whole text front end: deltas in, clean speakable sentences out."""

import re
import sys
from collections.abc import Iterable, Iterator
from typing import IO, TextIO

from .clean import MarkdownCleaner, PlainCleaner
from .ingest import read_deltas
from .scripts import CLOSERS, GREEK_QUESTION, NO_SPACE, STOPS, STRONG_STOPS, WEAK_STOPS
from .segment import DEFAULT_MAX_CHARS, DEFAULT_MIN_CHARS, SentenceSegmenter
from .stats import IngestStats

# a stop that may yet end a sentence: not one followed by a letter or a digit (3.14, Node.js,
# src/a.py), unless it needs no space after it
_STOP = re.compile(
    f"[{re.escape(STRONG_STOPS)}]|[{re.escape(WEAK_STOPS + GREEK_QUESTION)}](?![^\\W_])"
)
_SEPARATOR = re.compile(f"[\\s{NO_SPACE}]")
_BREAK = re.compile("[\u2028\u2029]")  # line breaks too, for the cleaner (besides \n and \r)


class TextFrontEnd:
    """`feed(delta) -> list[str]` of sentences ready to speak; `flush()` at the end of input;
    `force()` after an idle time gives out the pending text (see `pending`) without waiting for
    its full stop (whole words only). `max_chars` caps a sentence's length: set it for the
    speech engine's limit (after translation, which may lengthen it). The text is read as
    markdown (CommonMark), or as plain text with `markdown=False`.

    A sentence ends at a stop, at a line break, where the first characters of a line end the
    block before it ("- " after a paragraph line) or where it grows too long, and the cleaner
    gives out whole words only. So deltas are gathered until a line break comes (but one that
    ends only blank lines after all was said), or a separator (white space, a character of a
    script without spaces) after a stop, while the cleaner waits to see what a line is, or
    once a sentence too long may be held (or any character after a held "\r"): the same
    sentences, at the same moment, for less work."""

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
        self._gathered: list[str] = []  # deltas not yet cleaned
        self._size = 0
        self._open = False  # a separator may end a sentence (after a stop, see the cleaner)
        self._settling = False  # ... or any character may (see the cleaner)
        self._room = max_chars  # characters until a sentence too long is cut
        self._wake: str | None = None  # ... and a character the next deltas need (see the cleaner)
        self._idle: str | None = ""  # all has been said but this start of a line, or None

    @property
    def pending(self) -> str:
        """Text received that no sentence has given out yet (empty when there is nothing to force)."""
        return self.segmenter.pending + self.cleaner.pending + "".join(self._gathered)

    def feed(self, delta: str) -> list[str]:
        self._gathered.append(delta)
        self._size += len(delta)
        if self._wake is not None:  # inside a code block: only a line that may close it counts
            if self._wake not in delta and self._size <= self._room:
                return []
        elif not self._open and _STOP.search(delta):
            self._open = True
        if not (
            self._wake is not None
            or self._settling
            or ("\n" in delta and not self._blank())
            or ((self._open or self._size > self._room) and _SEPARATOR.search(delta))
            or "\r" in delta
            or (not delta.isascii() and _BREAK.search(delta))
            or self._size > self.segmenter.max_chars
        ):
            return []
        text = self.cleaner.feed(self._take())
        sentences = self.segmenter.feed(text) if text else []  # (no new text: nothing ends)
        self._watch()
        return sentences

    def _watch(self) -> None:
        """What the next deltas must bring for a sentence to end: a separator after a stop the
        segmenter or the cleaner holds, any character while the cleaner waits to see what a
        line is, a separator once the text held could be a sentence too long."""
        said = self.segmenter.pending
        self._open = self.cleaner.telling or bool(_at_stop(said) or _STOP.search(self.cleaner.held))
        self._settling = self.cleaner.settling
        self._wake = self.cleaner.wake
        pending = self.cleaner.pending
        self._room = self.segmenter.max_chars - len(said) - len(pending)
        self._idle = pending if not said and self.cleaner.idle else None

    def _blank(self) -> bool:
        """Has all been said, and is all since then up to the last line break white space (the
        line breaks end blank lines, which say nothing)?"""
        if self._idle is None:
            return False
        text = self._idle + "".join(self._gathered)
        return not text[: text.rfind("\n")].strip()

    def flush(self) -> list[str]:
        text = self.cleaner.feed(self._take()) + self.cleaner.flush()
        sentences = self.segmenter.feed(text) + self.segmenter.flush()
        self._watch()
        return sentences

    def force(self) -> list[str]:
        text = self.cleaner.feed(self._take()) + self.cleaner.force()
        sentences = self.segmenter.feed(text) + self.segmenter.force()
        self._watch()
        return sentences

    def _take(self) -> str:
        text = "".join(self._gathered)
        self._gathered, self._size = [], 0
        return text


def _at_stop(text: str) -> bool:
    """Does `text` end with a stop (then closing marks and white space)?"""
    tail = text.rstrip().rstrip(CLOSERS)
    return bool(tail) and tail[-1] in STOPS + GREEK_QUESTION


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
