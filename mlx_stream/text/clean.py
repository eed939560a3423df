"""Markdown as it streams from a model -> text for the ear.

Code blocks are dropped; markup, emoji and HTML tags go; links keep their text; URLs become their
domain and file paths their file name. Cleaning is incremental and exact: however the input is cut
into deltas, the concatenated output is the same as for the whole text. A line is classified once
its first characters are known (fence, heading, list item, table row ...); within a line, text is
cleaned up to the last space that no link or tag spans, so it flows on while a sentence is typed.
Hard breaks (paragraph ends, headings, list items, table rows) come out as "\n", soft line breaks
as a space.
"""

import re

from .inline import clean_inline, last_separator, safe_cut, table_row
from .stats import IngestStats

HEAD_CHARS = 256  # a line is classified from at most this many of its first characters
TABLE_ROW_CHARS = 4096  # longer "table rows" are read as ordinary text
MAX_WORD_CHARS = 4000  # longer runs without a space are not words: dropped

_SEP = re.compile(r"[ 。！？、，]")
_LONG_RUN = re.compile("[^ 。！？、，]{" + str(MAX_WORD_CHARS + 1) + ",}")
_QUOTE_PREFIX = re.compile(r"(?:[ ]{0,3}>[ ]?)*")
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xa0\u2000-\u200c\u2028\u2029\u202f\u205f\u3000\ufeff\u2060]"
)
_TRANSLATE = {c: None for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]}
_TRANSLATE.update({c: " " for c in [0xA0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000]})
_TRANSLATE.update(
    {0x2028: "\n", 0x2029: "\n", 0x200B: None, 0x200C: None, 0xFEFF: None, 0x2060: None}
)


class MarkdownCleaner:
    """Incremental cleaner: `feed(delta) -> str`, `flush() -> str`, `force() -> str`."""

    def __init__(self, stats: IngestStats | None = None):
        self.stats = stats if stats is not None else IngestStats()
        self._reset()

    def _reset(self) -> None:
        self._phase = "start"  # start (classifying a line) | inline | hold (table row) | skip
        self._head = ""  # the start of the current line while it is being classified
        self._inline = ""  # text of this line not cleaned yet
        self._held = ""  # a table row, kept until its line ends
        self._run = 0  # length of the word at the end of _inline; -1 while dropping one
        self._kind = "blank"  # kind of the current (or last) line
        self._last_content = "blank"  # kind of the last non-blank line
        self._quoted = False
        self._in_list = False
        self._in_code_span = False
        self._fence: tuple[str, int] | None = None
        self._soft_break = False  # the last line may continue on the next one
        self._out_space = True  # the output so far ends with a space or a break (or is empty)
        self._at_break = True  # the output so far ends with a break (or is empty)
        self._cr = False

    @property
    def pending(self) -> str:
        """Text received but not yet given out (for deciding on an idle-time `force`)."""
        return self._head + self._inline + self._held

    def feed(self, delta: str) -> str:
        out: list[str] = []
        lines = self._normalize(delta).split("\n")
        for i, piece in enumerate(lines):
            eol = i < len(lines) - 1
            if piece or eol:
                self._take(piece, eol, out)
        return "".join(out)

    def flush(self) -> str:
        """End of input: finish the last line and start afresh (an open fence ends here)."""
        out: list[str] = []
        if self._cr:
            self._cr = False
            self._take("", True, out)
        if self._phase != "start" or self._head:
            self._take("", True, out)
        self._reset()
        return "".join(out)

    def force(self) -> str:
        """Idle input: give out the unfinished line as it stands; a pending line break is hard."""
        out: list[str] = []
        if self._phase == "start" and self._soft_break and not self._head:
            self._soft_break = False
            self._emit("\n", out)
        elif self._phase == "inline" and self._inline:
            self._emit_inline(self._inline, out)
            self._inline, self._run = "", 0
        return "".join(out)

    def _normalize(self, text: str) -> str:
        if self._cr:
            text, self._cr = "\r" + text, False
        if text.endswith("\r"):
            text, self._cr = text[:-1], True
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if _CONTROL.search(text):
            text = text.translate(_TRANSLATE)
        return text

    def _take(self, piece: str, eol: bool, out: list[str]) -> None:
        if self._phase == "start":
            self._head += piece
            line = self._classify(eol)
            if line is None:
                return
            kind, start = line
            head, self._head = self._head, ""
            self._begin(kind, head, start, out)
            piece = head[start:]
        if self._phase == "inline":
            self._add_inline(piece, out)
        elif self._phase == "hold":
            self._held += piece
            if len(self._held) > TABLE_ROW_CHARS:
                self._phase, held, self._held = "inline", self._held, ""
                self._add_inline(held, out)
        if eol:
            self._end_line(out)

    def _classify(self, eol: bool) -> tuple[str, int] | None:
        head = self._head
        line = classify_line(
            head[:HEAD_CHARS],
            eol and len(head) <= HEAD_CHARS,
            fence=self._fence,
            indented_code=self._kind in ("blank", "indented") and not self._in_list,
        )
        if line is None and len(head) > HEAD_CHARS:
            return ("fence_content", 0) if self._fence else ("text", 0)
        return line

    def _begin(self, kind: str, head: str, start: int, out: list[str]) -> None:
        quoted = kind.endswith(">")
        kind = kind.rstrip(">")
        soft, self._soft_break = self._soft_break, False
        if kind == "blank":
            if soft:
                self._emit("\n", out)
        elif kind in ("fence_content", "fence_close"):
            if kind == "fence_close":
                self._fence = None
            self._phase = "skip"
        else:
            continues = kind == "text" and soft and quoted == self._quoted
            self._emit(" " if continues else "\n", out)
            if kind == "fence_open":
                fence = head[start:]
                self._fence = (fence[0], len(fence) - len(fence.lstrip(fence[0])))
            if kind in ("fence_open", "indented"):
                if kind == "fence_open" or self._last_content != "indented":
                    self.stats.add("code block")
                self._phase = "skip"
            else:
                self._phase = {"table": "hold", "rule": "skip"}.get(kind, "inline")
            if kind == "item":
                self._in_list = True
            elif kind != "text" or (self._kind == "blank" and head[:1] not in (" ", "\t")):
                self._in_list = False
            self._last_content = kind
            self._quoted = quoted
        self._kind = kind

    def _end_line(self, out: list[str]) -> None:
        if self._phase == "inline":
            self._emit_inline(self._inline, out)
            self._inline, self._run = "", 0
        elif self._phase == "hold":
            self._emit(table_row(self._held), out)
            self._held = ""
        self._in_code_span = False
        if self._kind in ("text", "item"):
            self._soft_break = True
        elif self._kind not in ("blank", "fence_content"):
            self._emit("\n", out)
        self._phase = "start"

    def _add_inline(self, text: str, out: list[str]) -> None:
        if "\t" in text:
            text = text.replace("\t", " ")
        self._inline += self._limit_words(text)
        cut = safe_cut(self._inline)
        if cut:
            self._emit_inline(self._inline[:cut], out)
            self._inline = self._inline[cut:]

    def _limit_words(self, text: str) -> str:
        """Drop every run of more than MAX_WORD_CHARS characters without a space."""
        if self._run < 0:
            m = _SEP.search(text)
            if m is None:
                return ""
            text, self._run = text[m.start() :], 0
        m = _SEP.search(text)
        lead = m.start() if m else len(text)
        if self._run + lead > MAX_WORD_CHARS:
            self.stats.add("overlong word")
            self._inline = self._inline[: len(self._inline) - self._run]
            if m is None:
                self._run = -1
                return ""
            text = text[lead:]
        elif m is None:
            self._run += len(text)
            return text
        last = last_separator(text, len(text)) + 1
        body, tail = text[:last], text[last:]
        if len(body) > MAX_WORD_CHARS:
            body = _LONG_RUN.sub(self._drop_word, body)
        if len(tail) > MAX_WORD_CHARS:
            self.stats.add("overlong word")
            tail, self._run = "", -1
        else:
            self._run = len(tail)
        return body + tail

    def _drop_word(self, match: re.Match) -> str:
        self.stats.add("overlong word")
        return ""

    def _emit_inline(self, text: str, out: list[str]) -> None:
        cleaned, self._in_code_span = clean_inline(text, self._in_code_span)
        self._emit(cleaned, out)

    def _emit(self, text: str, out: list[str]) -> None:
        if self._at_break:
            text = text.lstrip(" \n")
        elif self._out_space:
            text = text.lstrip(" ")
        if text:
            out.append(text)
            self._out_space = text[-1] in " \n"
            self._at_break = text[-1] == "\n"


def classify_line(
    head: str, eol: bool, fence: tuple[str, int] | None = None, indented_code: bool = True
) -> tuple[str, int] | None:
    """What a line is, from its first characters: (kind, where its text starts), or None if more
    characters are needed. Kinds: blank, text, item, heading, table, rule, fence_open,
    fence_content, fence_close, indented; a ">" is appended inside a block quote."""
    q = _QUOTE_PREFIX.match(head).end()
    if q == len(head) and not eol:
        return None
    mark = ">" if q else ""
    body = head[q:].lstrip(" \t")
    if not body:
        return None if not eol else ("blank", 0)
    start = len(head) - len(body)
    indent = len(head[q:start].expandtabs(4))
    c = body[0]
    run = len(body) - len(body.lstrip(c))
    if fence:
        if c == fence[0] and run >= fence[1] and not body[run:].strip():
            return ("fence_close", 0) if eol else None
        if c == fence[0] and run == len(body) and not eol:
            return None
        return ("fence_content", 0)
    if indent >= 4 and indented_code:
        return ("indented" + mark, 0)
    if c in "`~":
        if run == len(body) and not eol and run < 3:
            return None
        if run >= 3:
            if c == "`" and "`" in body[run:]:
                return ("text" + mark, start)
            return ("fence_open" + mark, start) if eol else None
        return ("text" + mark, start)
    if c == "#":
        if run == len(body) and not eol:
            return None
        if run <= 6 and (run == len(body) or body[run] in " \t"):
            return ("heading" + mark, start + run)
        return ("text" + mark, start)
    if c in "-*+_":
        rest = body.lstrip(c + " \t")
        if not rest:
            if not eol:
                return None
            if c != "+" and body.count(c) >= 3:
                return ("rule" + mark, 0)
        bullet = c != "_" and (len(body) == 1 or body[1] in " \t")
        return ("item" + mark, start + 2) if bullet else ("text" + mark, start)
    if c == "=" and run == len(body.rstrip()):  # a setext heading's underline
        return ("rule" + mark, 0) if eol else None
    if c.isdigit():
        digits = len(body) - len(body.lstrip("0123456789"))
        if digits == len(body) and not eol and digits < 10:
            return None
        if digits < 10 and digits < len(body) and body[digits] in ".)":
            after = body[digits + 1 : digits + 2]
            if not after and not eol:
                return None
            if after in ("", " ", "\t"):
                return ("item" + mark, start + digits + 2)
        return ("text" + mark, start)
    if c == "|":
        return ("table" + mark, start)
    return ("text" + mark, start)
