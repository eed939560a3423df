"""Clean text -> sentences, incrementally: feed it in deltas, take each sentence as it completes.

A sentence ends at . ! ? or an ellipsis followed by a space (and optional closing quotes or
brackets), at a stop of a script that needs no space after it (。！？ । ؟ ။ ... see scripts.py)
directly, or at a hard break ("\\n"). Abbreviations, initials, decimals and versions do not end
one. Pieces shorter than `min_chars` (a wide CJK character counting as two) are merged with the
next sentence; sentences longer than `max_chars` are split at a clause boundary, else at a space,
else hard.
Every decision waits for the characters it needs, so the sentences never depend on how the text
was cut into deltas.
"""

import re

from ..errors import MlxStreamError
from .scripts import (
    CLAUSE_MARKS,
    CLOSERS,
    GREEK_QUESTION,
    STOPS,
    STRONG_STOPS,
    is_greek,
    weighted_length,
)

DEFAULT_MAX_CHARS = 200  # English source sentences for the translator
DEFAULT_MIN_CHARS = 16

_NOT_SPACE = re.compile(r"[^ \n]")
_CANDIDATE = re.compile("[" + re.escape(STOPS + GREEK_QUESTION) + "\n]")
_CLAUSE_END = re.compile(
    r"[.!?…;:,)\]”’\"'](?= )| [-–—](?= )|[" + re.escape(CLAUSE_MARKS + STRONG_STOPS) + "）」』]"
)
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "cf", "al", "approx", "dept",
    "est", "gen", "gov", "lt", "col", "sgt", "capt", "rev", "hon", "ca", "resp", "viz",
}  # fmt: skip
_ABBREVIATIONS_BEFORE_NUMBER = {
    "no", "nos", "fig", "figs", "vol", "p", "pp", "ch", "sec", "eq", "art", "op",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}  # fmt: skip
_SPACE_BEFORE_MARK = re.compile(r" ([.,!?;:])(?= |$)")  # left where an emoji or a tag was dropped
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
_ALNUM = re.compile(r"[^\W_]")  # (as str.isalnum)
_STRONG = re.compile(f"[{re.escape(STRONG_STOPS)}]")
_MARKS = STOPS + CLOSERS


class SentenceSegmenter:
    """`feed(text) -> list[str]` of finished sentences; `flush()` at the end; `force()` when idle."""

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS, min_chars: int = DEFAULT_MIN_CHARS):
        if max_chars < 8:
            raise MlxStreamError(f"max_chars={max_chars} is too small: use at least 8")
        if not 0 <= min_chars <= max_chars // 2:
            raise MlxStreamError(f"min_chars={min_chars} must be between 0 and max_chars/2")
        self.max_chars, self.min_chars = max_chars, min_chars
        self._buffer = ""

    @property
    def pending(self) -> str:
        return self._buffer

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        return self._split(final=False)

    def flush(self) -> list[str]:
        """End of input: the rest is the last sentence."""
        return self._split(final=True)

    def force(self) -> list[str]:
        """Idle input: give out what is pending even without its full stop."""
        return self._split(final=True)

    def _split(self, final: bool) -> list[str]:
        text, sentences, start = self._buffer, [], 0
        while (m := _NOT_SPACE.search(text, start)) is not None:
            start = m.start()
            end = self._sentence_end(text, start, final)
            if end is None:
                break
            sentence = " ".join(text[start:end].split())
            if _SPACE_BEFORE_MARK.search(sentence):
                sentence = _SPACE_BEFORE_MARK.sub(r"\1", sentence)
            if _ALNUM.search(sentence):
                sentences.append(sentence)
            start = end
        else:
            start = len(text)
        self._buffer = text[start:]
        return sentences

    def _sentence_end(self, text: str, start: int, final: bool) -> int | None:
        """Where the sentence starting at `start` ends, or None until more text is needed."""
        limit = start + self.max_chars
        pos = start
        while (m := _CANDIDATE.search(text, pos, limit)) is not None:
            i = m.start()
            if text[i] == "\n":
                return i
            if text[i] == GREEK_QUESTION and not (i > start and is_greek(text[i - 1])):
                pos = i + 1
                continue  # a semicolon, except after a Greek word
            j = i + 1
            while j < len(text) and j - i < 8 and text[j] in _MARKS:
                j += 1
            if j == len(text) and not final:
                return None
            if j > limit:
                break  # the closing marks would overrun the limit
            pos = j
            if not _STRONG.search(text, i, j):
                if j < len(text) and text[j] != " " and text[j] != "\n":
                    continue  # 3.14, Node.js, e.g.,
                k = j
                while k < len(text) and text[k] == " ":
                    k += 1
                if k == len(text) and not final:
                    return None
                following = text[k] if k < len(text) else "\n"
                if following != "\n" and not _ends_sentence(text, start, i, following):
                    continue
            if weighted_length(text[start:j].strip()) >= self.min_chars:
                return j
        if len(text) - start > self.max_chars:
            return self._length_cut(text, start)
        return len(text) if final else None

    def _length_cut(self, text: str, start: int) -> int:
        """A cut for a sentence too long to speak whole: at the last clause boundary past a third
        of `max_chars`, else at a space, else exactly at `max_chars`."""
        limit = start + self.max_chars
        lowest = start + self.max_chars // 3
        best = None
        for m in _CLAUSE_END.finditer(text, start, limit + 1):
            if lowest <= m.end() <= limit:
                best = m.end()
        if best is None:
            space = text.rfind(" ", start, limit + 1)
            best = space if space > start else limit
        return best


def _ends_sentence(text: str, start: int, i: int, following: str) -> bool:
    """Does the full stop (or ! ? …) at `i`, followed by a space and `following`, end a sentence?"""
    if following.islower():
        return False
    if text[i] != ".":
        return True
    word = text[max(text.rfind(" ", start, i) + 1, start) : i].lstrip("\"'([{“‘«")
    if i + 1 < len(text) and text[i + 1] == ".":
        return True  # an ellipsis
    lower = word.lower()
    if lower in ("a.m", "p.m"):
        return True  # "at 5 p.m. He left": times end sentences more often than not
    if lower in _ABBREVIATIONS or (len(word) == 1 and word.isupper()) or _DOTTED.fullmatch(word):
        return False
    return not (following.isdigit() and lower in _ABBREVIATIONS_BEFORE_NUMBER)


def split_sentences(
    text: str, max_chars: int = DEFAULT_MAX_CHARS, min_chars: int = DEFAULT_MIN_CHARS
) -> list[str]:
    """All sentences of a whole (already clean) text."""
    segmenter = SentenceSegmenter(max_chars, min_chars)
    return segmenter.feed(text) + segmenter.flush()
