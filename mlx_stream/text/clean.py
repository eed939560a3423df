"""Text as it streams from a model -> text for the ear: markdown (read by a CommonMark parser,
markdown.py) or plain text (nothing in it is markup).

Both cleaners are incremental and exact: however the input is cut into deltas, the concatenated
output is the same as for the whole text. Control characters go, runs of more than
MAX_WORD_CHARS characters without a space are dropped (and counted), a sentence break comes out
as "\\n" and any other white space as one space.
"""

import re

from .inline import single_spaced, speak_plain
from .markdown import MarkdownReader
from .markup import SOFT_BREAK
from .scripts import NO_SPACE
from .stats import IngestStats

MAX_WORD_CHARS = 4000  # longer runs without a space are not words: dropped

_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xa0\u2000-\u200c\u2028\u2029\u202f\u205f\u3000\ufeff\u2060]"
)
_TRANSLATE = {c: None for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]}
_TRANSLATE.update({c: " " for c in [0xA0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000]})
_TRANSLATE.update(
    {0x2028: "\n", 0x2029: "\n", 0x200B: None, 0x200C: None, 0xFEFF: None, 0x2060: None}
)
_SEPARATOR = re.compile(f"[\\s{NO_SPACE}]")
_LAST_SEPARATOR = re.compile(f"(?s).*[\\s{NO_SPACE}]")
_LONG_RUN = re.compile(f"[^\\s{NO_SPACE}]{{{MAX_WORD_CHARS + 1},}}")
_BREAK_RUN = re.compile(r"\s*\n\s*")
_SPACE_RUN = re.compile(r"[^\S\n]+")
_ODD_SPACE = re.compile(r"[^\S \n]| {2}")  # (once the runs with a line break are one)
_ENDS_WORD = ".,;:!?…)]}\"'”’»"


class _Input:
    """Deltas -> text without control characters, and only whole words (a word is held until a
    space follows it; one longer than MAX_WORD_CHARS is dropped and counted)."""

    def __init__(self, stats: IngestStats):
        self.stats = stats
        self.held = ""  # the word at the end, not finished yet
        self.dropping = False  # inside a word too long to keep
        self.held_cr = False

    def feed(self, delta: str) -> str:
        text = self._normalize(delta)
        last = _LAST_SEPARATOR.match(text)
        if last is None:
            if not self.dropping:
                self.held += text
                self._limit_held()
            return ""
        head, rest = text[: last.end()], text[last.end() :]
        if self.dropping:
            head = head[_SEPARATOR.search(head).start() :]
            self.dropping = False
        else:
            head = self.held + head
        if len(head) > MAX_WORD_CHARS:
            head = _LONG_RUN.sub(self._drop, head)
        self.held = rest
        self._limit_held()
        return head

    def force(self) -> str:
        """Give out the held word only if it plainly ends (with a stop, a comma, a bracket)."""
        if self.held.endswith(tuple(_ENDS_WORD)):
            held, self.held = self.held, ""
            return held
        return ""

    def flush(self) -> str:
        held, self.held, self.dropping = self.held, "", False
        if self.held_cr:
            held, self.held_cr = held + "\n", False
        return held

    def _limit_held(self) -> None:
        if len(self.held) > MAX_WORD_CHARS:
            self.stats.add("overlong word")
            self.held, self.dropping = "", True

    def _drop(self, match: re.Match) -> str:
        self.stats.add("overlong word")
        return ""

    def _normalize(self, text: str) -> str:
        if self.held_cr:
            text, self.held_cr = "\r" + text, False
        if text.endswith("\r"):
            text, self.held_cr = text[:-1], True
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if _CONTROL.search(text):
            text = text.translate(_TRANSLATE)
        return text


class _Spacing:
    """Output spacing: a sentence break ("\n") given out at once (the segmenter waits for it);
    other white space held until the next word, then one space. A line break inside a
    paragraph (SOFT_BREAK) is a space, or a sentence break if the input goes quiet after it.
    Nothing at the start. (Holding spaces keeps the output independent of where the input
    was cut.)"""

    def __init__(self):
        self.started = False  # a word has been given out
        self.broke = False  # ... and a sentence break after it
        self.held = ""  # white space waiting for the next word: " " or SOFT_BREAK

    def __call__(self, text: str) -> str:
        words = text.strip()
        if not words:
            return self._space(text)
        out = self._space(text[: len(text) - len(text.lstrip())])
        if self.held and self.started and not self.broke:
            out += " "
        if "\n" in words:
            words = _BREAK_RUN.sub("\n", words)
        if not single_spaced(words) and _ODD_SPACE.search(words):
            words = _SPACE_RUN.sub(" ", words)
        self.started, self.broke, self.held = True, False, ""
        return out + words + self._space(text[len(text.rstrip()) :])

    def _space(self, space: str) -> str:
        """A run of white space between the words given out and the next."""
        if "\n" in space:
            self.held = ""
            if self.started and not self.broke:
                self.broke = True
                return "\n"
        elif space and not self.broke:  # (a line break with something read after it: a space)
            self.held = SOFT_BREAK if space[-1] == SOFT_BREAK else " "
        return ""

    def force(self) -> str:
        held, self.held = self.held, ""
        if held == SOFT_BREAK and self.started and not self.broke:
            self.broke = True
            return "\n"
        return ""

    def reset(self) -> None:
        self.__init__()


class MarkdownCleaner:
    """Incremental markdown cleaner: `feed(delta) -> str`, `flush() -> str`, `force() -> str`."""

    def __init__(self, stats: IngestStats | None = None):
        self.stats = stats if stats is not None else IngestStats()
        self._input = _Input(self.stats)
        self._reader = self._new_reader()
        self._spacing = _Spacing()

    def _new_reader(self):
        return MarkdownReader(self.stats)

    @property
    def pending(self) -> str:
        """Text received but not yet given out (for deciding on an idle-time `force`)."""
        return self._reader.pending + self._input.held

    @property
    def held(self) -> str:
        """What of `pending` has been read and waits on what comes next (not a line still to
        show what it is)."""
        return self._reader.held + self._input.held

    @property
    def settling(self) -> bool:
        """May the next characters, whatever they are, end a sentence without a stop or a line
        break of their own (they tell whether a "\\r" held back is a line break of its own)?"""
        return self._input.held_cr

    @property
    def idle(self) -> bool:
        """Has all been said (but for the start of a line, in `pending`), so that a blank line
        can say nothing?"""
        return self._reader.idle and not self._input.held_cr

    @property
    def telling(self) -> bool:
        """May the next separator end a sentence by showing what the line being typed is (as
        "- " after a paragraph line does)? (The reader sees whole words only.)"""
        return self._reader.telling

    @property
    def wake(self) -> str | None:
        """A character without which the next deltas can not make anything speakable (the
        marker of a fenced code block being read), or None."""
        return None if self._input.held_cr else self._reader.wake(self._input.held)

    def feed(self, delta: str) -> str:
        return self._spacing(self._reader.feed(self._input.feed(delta)))

    def flush(self) -> str:
        """End of input: the rest is given out, and the cleaner starts afresh."""
        out = self._spacing(self._reader.feed(self._input.flush()) + self._reader.flush())
        self._spacing.reset()
        return out.removesuffix("\n")

    def force(self) -> str:
        """Idle input: give out what can be said now (whole words only); a pending line break
        becomes a sentence break."""
        out = self._spacing(self._reader.feed(self._input.force()) + self._reader.force())
        return out + self._spacing.force()


class PlainReader:
    """Plain text: every character is text. A line break is a space, a blank line a sentence
    break; URLs, paths and emoji are cleaned as in markdown."""

    def __init__(self, stats: IngestStats | None = None):
        self.stats = stats if stats is not None else IngestStats()
        self._line = ""  # the unspoken end of the line being typed
        self._blank = True  # ... and whether that line is blank so far

    @property
    def pending(self) -> str:
        return self._line

    telling = False  # a sentence ends only at a stop or a blank line

    @property
    def idle(self) -> bool:
        return not self._line

    def wake(self, held: str) -> None:
        return None

    @property
    def held(self) -> str:
        return self._line

    def feed(self, text: str) -> str:
        first, *rest = text.split("\n")
        out = [self._add(first)]
        for line in rest:
            out.append(speak_plain(self._line) + SOFT_BREAK if not self._blank else "\n")
            self._line, self._blank = "", True
            out.append(self._add(line))
        return "".join(out)

    def _add(self, text: str) -> str:
        self._line += text
        self._blank = self._blank and not text.strip()
        cut = _LAST_SEPARATOR.match(self._line)
        if cut is None:
            return ""
        said, self._line = self._line[: cut.end()], self._line[cut.end() :]
        return speak_plain(said)

    def flush(self) -> str:
        line, self._line, self._blank = self._line, "", True
        return speak_plain(line)

    def force(self) -> str:
        return ""


class PlainCleaner(MarkdownCleaner):
    """Incremental cleaner for plain text (`--format plain`): no character is markup."""

    def _new_reader(self):
        return PlainReader(self.stats)
