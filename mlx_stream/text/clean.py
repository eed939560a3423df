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

from .stats import IngestStats

HEAD_CHARS = 256  # a line is classified from at most this many of its first characters
TABLE_ROW_CHARS = 4096  # longer "table rows" are read as ordinary text
MAX_WORD_CHARS = 4000  # longer runs without a space are not words: dropped

_SEPARATORS = " 。！？、，"
_TOKEN = r"[^\s。！？、，]"
_SEP = re.compile(r"[ 。！？、，]")
_LONG_RUN = re.compile("[^ 。！？、，]{" + str(MAX_WORD_CHARS + 1) + ",}")
_ALONE = r"(?<![^\s。！？、，])(?:%s)(?![^\s。！？、，])"  # a whole word: spaces or nothing around

_LINK = r"!?\[([^\[\]\n]{0,1000})\]\([^()\s]{0,2000}\)"
_AUTOLINK = r"<([A-Za-z][A-Za-z0-9+.-]*:[^\s<>]{0,2000})>"
_TAG = r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]{0,500})?/?>"
_CONSTRUCT = re.compile(f"{_LINK}|{_AUTOLINK}|{_TAG}")
_CONSTRUCT_AT = re.compile(f"{_LINK[2:]}|{_AUTOLINK}|{_TAG}")  # matched at a "[" or "<"
_CONSTRUCT_PREFIX = re.compile(
    r"\[[^\[\]\n]{0,1000}(?:\](?:\([^()\s]{0,2000})?)?"
    r"|<(?:/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]{0,500})?/?"
    r"|[A-Za-z][A-Za-z0-9+.-]*(?::[^\s<>]{0,2000})?|/)?"
)
_OPEN_OR_SEP = re.compile(r"[\[< 。！？、，]")

_PLAIN = re.compile(r"[A-Za-z0-9 ,.;:!?'\"()\-]*")
_URL = re.compile(r"\b(?:https?|ftp|file)://" + _TOKEN + r"*|\bwww\." + _TOKEN + "+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9-]+\.)+(?:com|org|net|io|dev|ai|edu|gov|co|app|sh|me|info|uk|de|jp|fr)",
    re.IGNORECASE,
)
_SLASHED = re.compile(r"[^\s/\\。！？、，]*[/\\]" + _TOKEN + "*")
_UNDERSCORED = re.compile(_TOKEN + "*_" + _TOKEN + "*")
_STARS = re.compile(r"(?<![A-Za-z0-9])\*+|\*+(?![A-Za-z0-9])")
_STRIKE = re.compile(r"~~+")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_LONE_BACKSLASH = re.compile(_ALONE % r"\\+")
_LONE_MARKS = re.compile(_ALONE % r"[#|]+")
_CHECKBOX_OR_FOOTNOTE = re.compile(_ALONE % r"\[[ xX]\]" + r"|\[\^[^\]\s]{1,20}\]")
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|nbsp|#39);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": " ", "#39": "'"}
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0e\ufe0f\u200d\u20e3"
    "\U000e0020-\U000e007f\u231a\u231b\u2328\u23cf\u23e9-\u23f3\u23f8-\u23fa\u3030\u303d]"
)
_SPACES = re.compile(r" {2,}")
_OPENERS = "\"'([{“‘«*_"
_CLOSERS = "\"')]}”’»*_.,;:!?"
_LINE_NUMBER = re.compile(r"(?::\d+)+$|#L\d+(?:-L?\d+)?$")
_FILE_EXT = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")

_QUOTE_PREFIX = re.compile(r"(?:[ ]{0,3}>[ ]?)*")
_TABLE_DIVIDER = re.compile(r"\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*")
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
        last = _last_separator(text, len(text)) + 1
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


def safe_cut(text: str) -> int:
    """How much of `text` (a part of one line) can be cleaned now: up to the last separator that
    no link, tag or autolink spans, and before any that might still be completing."""
    opens = [i for i in (text.find("["), text.find("<")) if i >= 0]
    end = min(opens) if opens else len(text)
    cut = _last_separator(text, end) + 1
    pos = end
    while opens:
        m = _OPEN_OR_SEP.search(text, pos)
        if m is None:
            break
        i = m.start()
        if text[i] in _SEPARATORS:
            cut, pos = i + 1, i + 1
        elif full := _CONSTRUCT_AT.match(text, i):
            pos = full.end()
        elif _CONSTRUCT_PREFIX.fullmatch(text, i):
            break
        else:
            pos = i + 1
    return cut


def table_row(line: str) -> str:
    """A markdown table row as words: its cells joined by commas; the divider row says nothing."""
    if _TABLE_DIVIDER.fullmatch(line):
        return ""
    cells = re.split(r"(?<!\\)\|", line.strip())
    cleaned = (clean_inline(cell)[0].strip() for cell in cells)
    return ", ".join(cell for cell in cleaned if cell)


def _last_separator(text: str, end: int) -> int:
    if text.isascii():
        return text.rfind(" ", 0, end)
    return max(text.rfind(s, 0, end) for s in _SEPARATORS)


def clean_inline(text: str, in_code: bool = False) -> tuple[str, bool]:
    """Clean a piece of a line; `in_code` says whether an inline code span is open. Returns the
    text (spaces collapsed) and whether a code span is still open at its end."""
    if _PLAIN.fullmatch(text) and "www." not in text.lower():
        return _SPACES.sub(" ", text), in_code
    text = _CONSTRUCT.sub(_construct_text, text)
    text = _CHECKBOX_OR_FOOTNOTE.sub("", text)
    parts = text.split("`")
    cleaned = []
    for i, part in enumerate(parts):
        if i:
            in_code = not in_code
        if part:
            cleaned.append(_strip_markup(part, in_code))
    return _SPACES.sub(" ", _shorten(_EMOJI.sub("", "".join(cleaned)))), in_code


def _construct_text(m: re.Match) -> str:
    if m.group(1) is not None:  # a link or an image keeps its text
        return m.group(1)
    if m.group(2) is not None:  # <https://...>: the address, shortened later
        return m.group(2)
    return " "  # an HTML tag


def _strip_markup(text: str, code: bool) -> str:
    if "*" in text:  # also in code: `**kwargs` is said "kwargs"
        text = _STARS.sub("", text)
    if "~" in text:
        text = _STRIKE.sub("", text)
    if not code:
        if "_" in text:
            text = _UNDERSCORED.sub(_strip_underscores, text)
        if "\\" in text:
            text = _LONE_BACKSLASH.sub("", _ESCAPE.sub(r"\1", text))
    return text


def _shorten(text: str) -> str:
    """URLs to their domain, paths to their file name; after the markup is gone, so that nothing
    it hid (a URL in *stars*, split by backticks) escapes."""
    if "/" in text or "\\" in text or "www." in text.lower():
        text = _URL.sub(_short_url, text)
        text = _SLASHED.sub(_short_path, text)
    if "&" in text:
        text = _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)
    return _LONE_MARKS.sub("", text)


def _split_punctuation(token: str) -> tuple[str, str, str]:
    core = token.lstrip(_OPENERS)
    lead = token[: len(token) - len(core)]
    stripped = core.rstrip(_CLOSERS)
    return lead, stripped, core[len(stripped) :]


def _short_url(m: re.Match) -> str:
    url = m.group(0)
    body = url.rstrip(".,;:!?'\"”’*_")
    while (body.endswith(")") and body.count("(") < body.count(")")) or (
        body.endswith("]") and body.count("[") < body.count("]")
    ):
        body = body[:-1].rstrip(".,;:!?'\"”’*_")
    tail = url[len(body) :]
    if body.lower().startswith("file:"):
        return _file_name(body[5:].lstrip("/")) + tail
    host = re.sub(r"^[a-z]+://", "", body, flags=re.IGNORECASE)
    host = re.split(r"[/?#]", host, maxsplit=1)[0].rsplit("@", 1)[-1].split(":")[0]
    host = re.sub(r"\bwww\.", "", host, flags=re.IGNORECASE).strip(".-")
    return host + tail


def _short_path(m: re.Match) -> str:
    token = m.group(0)
    lead, core, tail = _split_punctuation(token)
    if not _is_path(core):
        return token
    if _BARE_DOMAIN.fullmatch(re.split(r"[/\\]", core, maxsplit=1)[0]):
        return lead + re.split(r"[/\\]", core, maxsplit=1)[0] + tail
    return lead + _file_name(core) + tail


def _is_path(core: str) -> bool:
    if not re.search(r"[A-Za-z]", core):
        return False  # 24/7, 1/2, 11/25/2026
    if re.match(r"(?:~|\.{1,2})?/.|[A-Za-z]:\\.", core):
        return True
    parts = re.split(r"[/\\]", core)
    if len(parts) >= 3:
        return True
    first, last = parts
    if not first:
        return False
    if not last:
        return "\\" not in core  # src/
    if first[0].isupper() and last[0].isupper() and not re.search(r"[_\-]", first):
        return False  # Deno/Node.js, TCP/IP
    return bool(_FILE_EXT.search(_LINE_NUMBER.sub("", last)))


def _file_name(path: str) -> str:
    parts = [p for p in re.split(r"[/\\]", path) if p]
    return _LINE_NUMBER.sub("", parts[-1]) if parts else ""


def _strip_underscores(m: re.Match) -> str:
    lead, core, tail = _split_punctuation(m.group(0))
    inner = core.strip("_")
    if not inner:
        return m.group(0)
    if "_" not in inner:  # _emphasis_, __strong__, or one end of a longer _emphasis span
        return lead.replace("_", "") + inner + tail.replace("_", "")
    return m.group(0)  # snake_case, __init__.py
