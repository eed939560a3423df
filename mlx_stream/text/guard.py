"""Is it text? Binary data piped in by mistake is not read aloud.

Decoded input passes straight through while it holds no character that text does not: a
replacement character (an invalid UTF-8 byte), a NUL or another control character. Once one
appears, its line is held back (up to HOLD_CHARS characters at a time) and judged when it ends:
a line with many such characters is binary and is dropped, counted in the stats (once for each
stretch of binary lines); a few stray bytes in a line of text are not. A short line next to
binary data goes with its neighbours. Real text in any script never holds these characters, so it is
never dropped. Terminal colour codes are removed, and UTF-8 that was decoded as Windows-1252
and encoded again ("cafÃ©", "itâ€™s") is repaired.
"""

import re

from .stats import IngestStats

HOLD_CHARS = 4096
SHORT_CHARS = 32  # a suspect line shorter than this is judged with its neighbours
_BAD = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f\ufffd\ufffe\uffff]")
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_ANSI_START = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*|\][^\x07\x1b]*\x1b?)?$")
_CP1252 = "€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ"
_CONTINUATION = "[\x80-\xbf" + _CP1252 + "]"
_MOJIBAKE = re.compile(f"(?:[ÂÃ]{_CONTINUATION}|[âä-ï]{_CONTINUATION}{{2}}|ð{_CONTINUATION}{{3}})+")
_MOJIBAKE_START = re.compile(f"[ÂÃâä-ïð]{_CONTINUATION}{{0,2}}$")
_WORD = re.compile(r"[^\W\d_]{4}")
_BYTES = {c: bytes([0x80 + i]) for i, c in enumerate(_CP1252)}


class TextGuard:
    """`feed(text) -> str` gives out the text found in decoded input; `flush()` at the end."""

    def __init__(self, stats: IngestStats | None = None):
        self.stats = stats if stats is not None else IngestStats()
        self.line = ""  # a suspect line, held until it ends
        self.suspect = False  # the line being read is held and judged
        self.waiting: list[str] = []  # short lines too short to judge: their neighbours decide
        self.binary = False  # the last line judged was binary
        self.tail = ""  # an escape sequence or mojibake cut off at the end of the last chunk

    def feed(self, text: str) -> str:
        text = self.tail + text
        m = _ANSI_START.search(text, max(0, len(text) - 64)) if "\x1b" in text else None
        cut = m.start() if m else len(text)
        if (m2 := _MOJIBAKE_START.search(text, max(0, cut - 3), cut)) is not None:
            cut = m2.start()
        text, self.tail = text[:cut], text[cut:]
        if "\x1b" in text:
            text = _ANSI.sub("", text)
        if _MOJIBAKE.search(text):
            text = _MOJIBAKE.sub(_repair, text)
        if not self.suspect and not _BAD.search(text):
            return text
        return self._read(text)

    def flush(self) -> str:
        tail, self.tail = self.tail, ""
        out = self._read(_ANSI.sub("", tail)) if tail else ""
        if self.line:
            out += self._judge()
        out += _words_only(self.waiting) if self.binary else "".join(self.waiting)
        self.__init__(self.stats)
        return out

    def _read(self, text: str) -> str:
        out = []
        pos = 0
        while pos < len(text):
            if not self.suspect:
                bad = _BAD.search(text, pos)
                if bad is None:
                    out.append(text[pos:])
                    break
                start = max(pos, text.rfind("\n", pos, bad.start()) + 1)  # hold its whole line
                while start > pos and start - 1 - text.rfind("\n", pos, start - 1) <= SHORT_CHARS:
                    start = max(pos, text.rfind("\n", pos, start - 1) + 1)  # and short ones before
                out.append(text[pos:start])
                pos, self.suspect = start, True
            end = text.find("\n", pos)
            end = min(len(text) if end < 0 else end + 1, pos + HOLD_CHARS - len(self.line))
            self.line += text[pos:end]
            pos = end
            if self.line.endswith("\n") or len(self.line) >= HOLD_CHARS:
                out.append(self._judge())
        return "".join(out)

    def _judge(self) -> str:
        line, self.line = self.line, ""
        bad = len(_BAD.findall(line))
        if bad >= max(3, len(line) // 8):
            kept = _words_only(self.waiting)
            self.waiting.clear()
            if not self.binary:
                self.stats.add("stretch of binary data")
            self.binary = True
            return kept + "\n"
        if len(line) < SHORT_CHARS and sum(map(len, self.waiting)) < HOLD_CHARS:
            self.waiting.append(line)
            return ""
        text = "".join(self.waiting) + line
        self.waiting.clear()
        self.binary = self.suspect = False
        return text


def _words_only(lines: list[str]) -> str:
    """The short lines next to binary data that are plainly words, not bytes that look like
    letters by chance: no stray character, a word of four letters, mostly letters."""
    return "".join(
        line
        for line in lines
        if not _BAD.search(line)
        and _WORD.search(line)
        and 2 * sum(c.isalpha() or c.isspace() for c in line) >= len(line)
    )


def _repair(m: re.Match) -> str:
    """UTF-8 read as Windows-1252 (or Latin-1) and written again as UTF-8, read back."""
    run = m.group()
    try:
        return b"".join(_BYTES.get(c) or bytes([ord(c)]) for c in run).decode("utf-8")
    except (UnicodeDecodeError, ValueError):
        return run
