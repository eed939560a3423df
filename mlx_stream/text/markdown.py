"""Markdown as it streams in -> text for the ear, read by a CommonMark parser (markdown-it-py).

Only the open end of the document is kept and parsed again as text arrives: the lines from the
start of the last top-level block (of the last item, in a list). A leaf block (paragraph,
heading, table row, code block) is spoken once no later line can change it:

- paragraph: ends at a blank line or where another block starts; until then it is spoken a piece
  at a time as far as its inline constructs allow (markup.py), except while its first line may
  yet become a table's header row (it shows a `|` within TABLE_PIPE_CHARS, or is shorter), or the
  paragraph may yet turn out to be link reference definitions (`[label]: url "title"`, silent);
- heading: at the end of its line (a setext heading was spoken as its paragraph);
- table: each row at the end of its line, as "header: cell, ...";
- code block: skipped and counted once it closes; raw HTML: its text, once the block ends;
- a line still being typed joins the document only once its first characters settle what it is
  (`settled`): "1" may become a list item, "--" a rule, "``" a fence.

Within a block, whatever has been spoken is dropped from the kept text as it goes (the lines of a
code block, a table's spoken rows, the spoken start of a long paragraph), so memory and the work
per delta stay bounded however long a block or a line is. Parsing is skipped where the parser
could not say anything new: while a line of an open paragraph grows, for a line that goes on
with it (it starts with a letter, a link, emphasis or code) or a blank line that ends it, and
inside a fenced code block for lines that cannot close it.

Most lines need no parse at all (`fast`): where nothing is open, a blank line, an ATX heading,
a fence, a table's header and delimiter rows, and the first line of a paragraph, list item or
block quote (its text starting with a letter, a link, emphasis or code) are recognised by
their first characters, as are the next rows of a table, the lines and the end of a fenced code
block, and a list item, block quote or heading that interrupts a paragraph. Each path leaves
the reader as a parse of the same lines would; any other line goes to the parser
(tests/test_text_fast.py compares the two, call by call).
"""

import re

import regex
from markdown_it.common.utils import MD_TRIM_CHARS as _MD_TRIM
from markdown_it.rules_block.table import escapedSplit
from markdown_it.token import Token

from . import markup
from .scripts import NO_SPACE
from .stats import IngestStats

HEAD_CHARS = 4096  # a line not settled by its first characters waits for its end
COMPACT_CHARS = 1024  # drop the spoken start of an open paragraph once it is this long

_CUT_CHAR = re.compile(f"[\\s{NO_SPACE}]")
_CONTAINERS = ("bullet_list_open", "ordered_list_open", "footnote_reference_open")
_ONE_PIECE = ("heading_open", "hr", "fence")  # closed once all of it is said
_TASK = re.compile(r"\[[ xX]\](?=\s)")
_BULLET = re.compile(r"[-*+][ \t]")
_ORDERED = re.compile(r"[0-9]{1,9}[.)]")
_LABEL = r"\[(?:[^\\\[\]]|\\[\s\S]){0,999}\]"
_DEST = r"(?:<(?:[^<>\n\\]|\\.)*>|(?:[^\s()\\]|\\[\s\S]|\((?:[^\s()\\]|\\[\s\S])*\))+)"
_TITLE = r"""(?:"(?:[^"\\]|\\[\s\S])*"|'(?:[^'\\]|\\[\s\S])*'|\((?:[^()\\]|\\[\s\S])*\))"""
_SPACE = r"[ \t]*\n?[ \t]*"
_DEFINITIONS = regex.compile(
    rf"(?:[ ]{{0,3}}{_LABEL}:{_SPACE}{_DEST}(?:(?:[ \t]+\n?[ \t]*|[ \t]*\n[ \t]*){_TITLE})?"
    r"[ \t]*(?:\n|\Z))+"
)


def settled(line: str) -> bool:
    """Has an unfinished line shown enough to tell what it is (text, a list item, a heading ...)?
    False while more characters could still change that."""
    while True:
        rest = line.lstrip(" \t>")
        if not rest:
            return False
        c = rest[0]
        marker = _BULLET.match(rest) or _ORDERED.match(rest)
        if marker and (len(rest) > marker.end() or c not in "0123456789"):
            line = rest[marker.end() :]
            if marker.group()[-1] in ".)" and line[:1] not in (" ", "\t"):
                return bool(line)  # "1.5": text; "1." alone: maybe an item
            continue  # an item: its content decides
        if c in "-*_=+" and not rest.strip("-*_=+ \t"):
            return False  # a rule, a setext underline, or an item still to come
        if c in "|:-" and not rest.strip("|:- \t"):
            return False  # a table's delimiter row
        if c == "#":
            hashes = len(rest) - len(rest.lstrip("#"))
            return hashes < len(rest) or hashes > 6
        if c in "`~":
            run = len(rest) - len(rest.lstrip(c))
            return run < 3 and run < len(rest)  # a fence waits for its info string to end
        if c.isdigit():
            return len(rest) - len(rest.lstrip("0123456789")) > 9 or not _ORDERED.match(rest + ".")
        if c == "<":
            return not markup.may_open_html_block(rest)
        if c == "[":
            close = rest.find("]")
            return close + 1 < len(rest) if close >= 0 else len(rest) > 1000
        return True


def _continues(line: str) -> bool:
    """Does this line, which follows a line of an open paragraph, surely go on with it? (A line
    that starts as text no block starts with continues a paragraph, lazily if need be.)"""
    rest = line.lstrip(" \t")
    return bool(rest) and _text_char(rest, 0)


def _text_char(line: str, i: int) -> bool:
    """Does line[i] start text that starts no block: a letter, a link (not a footnote's "[^"),
    or emphasis, strike or code span markers before a letter or a digit (not a fence)?"""
    c = line[i]
    if c.isalpha():
        return True
    if c == "[":
        return line[i + 1 : i + 2] != "^"
    if c in "*_~`":
        rest = line[i:].lstrip(c)
        return rest[:1].isalnum() and (c in "*_" or len(line) - i - len(rest) < 3)
    return False


def _opens_text(line: str, i: int) -> bool:
    """Does the first line of a paragraph surely start its text at line[i]: not with a task box
    or a link reference definition (as far as the line has come)?"""
    if not _text_char(line, i):
        return False
    return line[i] != "[" or not (
        _TASK.match(line, i) or _DEFINITIONS.fullmatch(line, i, partial=True)
    )


def _may_close(line: str, marker: str, length: int) -> bool:
    """Could this line close a fenced code block opened with `length` times `marker`?"""
    rest = line.lstrip(" ")
    return len(line) - len(rest) < 4 and rest.startswith(marker * length)


def _closes(line: str, fence: str) -> bool:
    """Does this line close a fenced code block opened with `fence` (e.g. "```")?"""
    rest = line.strip(" ")
    return (
        len(line) - len(line.lstrip(" ")) < 4
        and len(rest) >= len(fence)
        and rest == fence[0] * len(rest)
    )


def _text_column(line: str) -> tuple[int, str] | None:
    """A line at the left margin that opens a paragraph: alone, as a list item's first line or
    in a block quote. Returns where its text starts and what opens it ("" for a bare paragraph,
    ">" for a block quote, the bullet or the ordered delimiter for a list item); None for any
    other line (the parser reads those)."""
    c = line[:1]
    if c and _opens_text(line, 0):
        return 0, ""
    if c == ">":
        column, opener, most = 1, ">", 4  # ">" and one space, then at most 3 of indent
    elif c in "-*+":
        column, opener, most = 1, c, 4  # up to 4 spaces after the marker (5 open code)
    elif c.isdigit() and (m := _ORDERED.match(line)):
        column, opener, most = m.end(), line[m.end() - 1], 4
    else:
        return None
    text = len(line) - len(line[column:].lstrip(" "))
    if text == column and opener != ">" or text - column > most or text == len(line):
        return None
    return (text, opener) if _opens_text(line, text) else None


def _heading(line: str) -> str | None:
    """The text of an ATX heading at the left margin (markdown-it's rule), else None."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or line[level : level + 1] not in ("", " ", "\t"):
        return None
    text = line[level:].rstrip(" \t")
    bare = text.rstrip("#")
    if bare and len(bare) < len(text) and bare[-1] in " \t":
        text = bare
    return text.strip(_MD_TRIM)


def _fence(line: str) -> tuple[str, int] | None:
    """The marker and length of a fenced code block opened at the left margin, else None (and
    None while the next line could still make it a table's header row)."""
    c = line[:1]
    if c not in ("`", "~") or markup.may_head_table(line):
        return None
    length = len(line) - len(line.lstrip(c))
    if length < 3 or c == "`" and "`" in line[length:]:
        return None
    return c, length


def _row(line: str, columns: int) -> list[str] | None:
    """The cells of a table's body row (markdown-it's rule) for a line that starts with `|` (no
    other block can start so); None for any other line."""
    text = line.lstrip(" ")
    if (
        not text.startswith("|")
        or len(line) - len(text) > 3
        or "\t" in line[: len(line) - len(text)]
    ):
        return None
    cells = _cells(text)[:columns]
    return cells + [""] * (columns - len(cells))


_DELIMITER = re.compile(r":?-+:?")


def _table_head(header: str, delimiter: str) -> list[str] | None:
    """The names of a table's columns (markdown-it's rule) for a header row at the left margin
    and the line below it; None if that line is not the header's delimiter row."""
    text = delimiter.lstrip(" ")
    indent = len(delimiter) - len(text)
    if indent > 3 or text[:1] not in ("|", "-", ":") or text[1:2] not in ("|", "-", ":", " ", "\t"):
        return None
    if text[0] == "-" and text[1] in " \t" or text.strip("|-: \t"):
        return None
    columns = text.split("|")
    aligns = 0
    for i, column in enumerate(columns):
        column = column.strip(_MD_TRIM)
        if column:
            if not _DELIMITER.fullmatch(column):
                return None
            aligns += 1
        elif 0 < i < len(columns) - 1:
            return None
    names = _cells(header)
    return names if names and len(names) == aligns else None


def _cells(row: str) -> list[str]:
    """A table row's cells, as markdown-it splits them (at unescaped pipes, without the empty
    ones outside the first and last pipe), each trimmed."""
    cells = escapedSplit(row.strip(_MD_TRIM))
    if cells and cells[0] == "":
        cells.pop(0)
    if cells and cells[-1] == "":
        cells.pop()
    return [c.strip(_MD_TRIM) for c in cells]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _canon(content: str) -> str:
    """A block's inline text with each line's leading white space dropped (where the parser
    keeps some of it depends on the containers around; what is said does not)."""
    return "\n".join(line.lstrip(" \t") for line in content.split("\n"))


class _Leaf:
    __slots__ = ("kind", "start", "end", "text", "extra", "heading", "first_in_item", "before")

    def __init__(self, kind: str, start: int, end: int, text="", extra=None):
        self.kind, self.start, self.end, self.text, self.extra = kind, start, end, text, extra
        self.heading = self.first_in_item = False
        self.before = ""  # non-blank lines without a block just before (reference definitions)


class MarkdownReader:
    """`feed(text) -> str` of words to speak ("\\n" ends a sentence), `flush()` at the end,
    `force()` when the input goes quiet; `pending` is what waits. `text` must be free of
    control characters other than "\\n" (see clean.py)."""

    fast = True  # read the commonest lines without the parser (tests compare with fast=False)

    def __init__(self, stats: IngestStats | None = None):
        self.stats = stats if stats is not None else IngestStats()
        self._reset()

    def _reset(self) -> None:
        self._lines: list[str] = []  # complete lines of the open end of the document
        self._partial = ""  # the line still being typed
        self._settled = False  # ... and whether it shows what it is
        self._quiet = False  # ... and whether nothing in it can be spoken before it ends
        self._done = 0  # every leaf before this line has been spoken
        self._said = 0  # characters of the text of the leaf at _done already spoken
        # the open paragraph, while the line being typed goes on with it: its text is
        # _cache[0] + _partial[_cache[1]:], or just _cache[0] until that line settles
        self._cache: tuple[str, int | None] | None = None
        self._fence: tuple[str, int, int] | None = None  # an open top-level fence: its marker
        self._last_kind = ""  # the kind of the last leaf at the last parse
        self._pending = ""
        # for reading without the parser: what opened the open block when it is all that is
        # kept ("" a paragraph, ">" a block quote's, a list marker an item's, "#" a heading,
        # "|" a paragraph that may yet head a table); the header's names of a top-level table
        # of which only the header and delimiter rows are kept; the text of the open paragraph
        # that the line being typed, just settled, does not go on with
        self._opener: str | None = None
        self._names: list[str] | None = None
        self._closing: str | None = None

    @property
    def pending(self) -> str:
        return self._pending + ("" if self._settled else self._partial)

    @property
    def held(self) -> str:
        """What has been read of the open block and not yet said."""
        return self._pending

    def wake(self, held: str) -> str | None:
        """Inside an open fenced code block nothing is said before a line that may close it,
        and such a line holds the fence's marker: that marker, unless the line being typed
        (`held` is the end of it not given yet) may close the block already; else None."""
        if self._fence is None or self._cache is not None:
            return None
        marker, length, _ = self._fence
        return None if _may_close(self._partial + held, marker, length) else marker

    @property
    def idle(self) -> bool:
        """Has all been said, so that a blank line can say nothing?"""
        return self._said_all() and not self._partial.strip()

    def _said_all(self, but_heading: bool = False) -> bool:
        """Has every kept line been said (but for a heading being typed, with `but_heading`)?"""
        return (
            self._cache is None
            and self._fence is None
            and not self._said
            and (not self._pending or but_heading and self._opener == "#")
            and not "".join(self._lines[self._done :]).strip()
        )

    @property
    def telling(self) -> bool:
        """May the next characters end the block before, by showing what the line being typed
        is (as "- " after a paragraph line does)?"""
        return not self._settled and self._cache is not None

    def feed(self, text: str) -> str:
        first, *rest = text.split("\n")
        self._partial += first
        if not rest:
            return self._grow(first)
        out = []
        read = False  # the line now being typed has been read
        while rest:
            if self._cache is not None and self._cache[1] is None and self._partial.strip():
                self._tell()  # (the line being typed has ended: it shows what it is now)
            if self._cache is not None:  # the open paragraph goes on, or ends: no parsing
                if self._cache[1] is not None:
                    out.append(self._next_line(rest.pop(0)))
                    read = True
                    continue
                if not self._partial.strip():
                    out.append(self._end_paragraph(rest.pop(0)))
                    read = False
                    continue
            if self.fast and self._closing is not None:  # (no separator came to read the line)
                said = self._interrupt(self._closing)
                if said is not None:
                    self._closing = None
                    out.append(said)
                    continue
            if not self.fast or (step := self._line_ends(rest[0])) is None:
                break
            del rest[0]
            out.append(step[0])
            read = step[1]
        if rest:
            ended = [self._partial, *rest[:-1]]
            self._lines.extend(ended)
            self._partial = rest[-1]
            self._settle()
            self._cache = None
            if self._fence and not any(_may_close(line, *self._fence[:2]) for line in ended):
                return self._inside_fence(out)
            if self._done < len(self._lines) - len(ended) or "".join(ended).strip():
                out.append(self._round())
                return "".join(out)
            read = False  # blank lines after all was said: only the new line may say something
        if not read and self._settled and self._fence is None:
            out.append(self._read_on())  # as a parse of all the lines would read it
        return "".join(out)

    def _end_paragraph(self, partial: str) -> str:
        """A blank line ends the open paragraph."""
        head, _ = self._cache
        words = markup.render(head[self._said : len(head) - 1], self.stats)  # not the last "\n"
        self._lines.append(self._partial)
        self._done, self._said = len(self._lines), 0
        self._partial, self._cache, self._pending = partial, None, ""
        self._opener = None
        self._settle()
        return words + "\n"

    def _inside_fence(self, out: list[str]) -> str:
        """Lines of an open fenced code block: nothing to say, and only its first line and the
        last are kept (the fence closes on a later line or not at all)."""
        start = self._fence[2]
        if len(self._lines) - start > 3:
            del self._lines[start + 1 : len(self._lines) - 1]
        self._quiet = True
        return "".join(out)

    def _grow(self, text: str) -> str:
        """The line being typed grew by `text`."""
        if not self._settled and not self._tell():
            return ""
        if self._quiet:
            return ""
        return self._read_on() if _CUT_CHAR.search(text) else ""

    def _tell(self) -> bool:
        """Has the line being typed now shown what it is? If so, whether it goes on with the
        open paragraph, and whether anything of it may be said before it ends."""
        if not self._settle():
            return False
        head = self._cache[0] if self._cache and self._cache[1] is None else None
        goes_on = head and _continues(self._partial)
        self._cache = (head, _indent(self._partial)) if goes_on else None
        self._closing = None if goes_on else head
        # nothing of a heading, a table row or a line of code is said before its line ends
        # (but a line that may end the paragraph before it is read at once); a table or
        # a closed fence goes on into no line after a blank one or after it ends
        lines = self._lines
        ended = not lines or not lines[-1].strip()
        before = self._last_kind in ("row", "head", "code", "html") and not ended
        quiet = before or self._partial.lstrip(" ")[:1] in "#|"
        self._quiet = self._cache is None and head is None and quiet
        return True

    def _settle(self) -> bool:
        self._quiet = False
        self._settled = len(self._partial) <= HEAD_CHARS and settled(self._partial)
        return self._settled

    def _next_line(self, partial: str) -> str:
        """The line being typed ends inside the open paragraph, and the next one begins."""
        head, column = self._cache
        line = self._partial
        self._lines.append(line)
        self._partial = partial
        head += line[column:] + "\n"
        if self._settle() and not _continues(partial):
            self._cache, self._closing = None, head
            return self._read_on()
        self._cache = (head, _indent(partial) if self._settled else None)
        return self._read_cached(False)

    # --- the commonest lines, read without the parser ------------------------------------
    # Each path below leaves the reader as a parse of the same lines would have (the tests
    # compare every call's words with fast=False); any other line goes to the parser.

    def _read_on(self) -> str:
        """A pass over the open end of the document, or what it would say."""
        if self.fast and self._cache is None:
            closing, self._closing = self._closing, None
            said = self._interrupt(closing) if closing is not None else self._start()
            if said is not None:
                return said
        return self._round()

    def _line_ends(self, next_line: str) -> tuple[str, bool] | None:
        """The line being typed has ended, and `next_line` begins: what is said, and whether
        `next_line` has been read; None if only the parser can tell (nothing changed then).
        Read here: the lines of an open top-level fence and the line that closes it, a top-level
        table's rows, and where nothing is open, blank lines, ATX headings, fence openings,
        paragraph lines and a table's first two rows."""
        line = self._partial
        said = ""
        if self._fence is not None:
            marker, length, start = self._fence
            if _closes(line, marker * length):
                self.stats.add("code block")
                self._lines.clear()
                self._done, self._fence, self._last_kind = 0, None, "code"
            elif _may_close(line, marker, length):
                return None
            else:
                self._lines.append(line)
                if len(self._lines) - start > 3:
                    del self._lines[start + 1 : len(self._lines) - 1]
        elif self._names is not None and len(self._lines) == 2:
            cells = _row(line, len(self._names))
            if cells is None:
                return None
            out: list[str] = []
            self._speak_leaf(_Leaf("row", 2, 3, cells, self._names), out)
            said, self._done, self._last_kind = out[0], 2, "row"
        elif self._opener == "|" and len(self._lines) == 1:
            self._names = _table_head(self._lines[0], line)
            if self._names is None:
                return None
            self._lines.append(line)
            self._pending, self._opener, self._last_kind, self._cache = "", None, "head", None
        elif not self._rest():
            return None
        elif not line.strip():
            self._lines.append(line)
        elif (heading := _heading(line)) is not None:
            said = markup.render(heading, self.stats) + "\n"
            self._lines.clear()
            self._done, self._pending, self._opener, self._last_kind = 0, "", None, "text"
        elif fence := _fence(line):
            self._lines[:] = [line]
            self._done, self._fence, self._last_kind = 0, (*fence, 0), "code"
        elif line[0] == "|":  # may head a table: nothing is said before the next line
            self._lines.clear()
            return self._open(0, "|") + self._next_line(next_line), True
        elif (said := self._start()) is not None:
            return said + self._next_line(next_line), True
        else:
            return None
        self._partial = next_line
        self._settle()
        self._quiet = self._fence is not None  # (an open fence: nothing to say on this line)
        return said, False

    def _rest(self) -> bool:
        """Has all been said (but for a heading being typed), and does nothing open go on into
        a line at the left margin (the kept lines end with a blank one, or there are none)?"""
        lines = self._lines
        return (not lines or not lines[-1].strip()) and self._said_all(but_heading=True)

    def _start(self) -> str | None:
        """Where nothing is open, the line being typed opens a paragraph (alone, in a list item
        or in a block quote), or is a heading: read it. None for any other line."""
        if not self._rest():
            return None
        found = _text_column(self._partial)
        heading = _heading(self._partial) if found is None else None
        if found is None and heading is None:
            return None
        self._lines.clear()
        return self._open(*found) if found else self._open_heading(heading)

    def _interrupt(self, head: str) -> str | None:
        """The line being typed does not go on with the open paragraph (text `head`): if it opens
        a block that ends that paragraph (a list item, a block quote, a heading), the paragraph
        ends and the block opens. None if only the parser can tell."""
        line, opener = self._partial, self._opener
        found = _text_column(line)
        heading = _heading(line) if found is None else None
        if opener is None or opener in ("#", "|") or found is None and heading is None:
            return None
        if found and found[1] == ">" and opener == ">":
            return None  # (goes on with the quote's paragraph: the parser reads that)
        ordered = found is not None and found[1] in (".", ")")
        if ordered and not opener and int(line[: line.index(found[1])]) != 1:
            return None  # an ordered list interrupts a paragraph only from 1
        words = markup.render(head[self._said : len(head) - 1], self.stats) + "\n"
        self._lines.clear()
        return words + (self._open(*found) if found else self._open_heading(heading))

    def _open(self, column: int, opener: str) -> str:
        """The line being typed, the only kept line, opens a paragraph at `column`: alone (opener
        ""), in a block quote (">"), in a list item (its marker), or one that may yet be a
        table's header row ("|")."""
        self._begin(opener, "", quiet=False)
        self._leaf = _Leaf("text", 0, 1)
        self._cache = ("", column)
        return self._read_cached(False)

    def _open_heading(self, text: str) -> str:
        """The line being typed, the only kept line, is a heading: said when it ends."""
        self._begin("#", text, quiet=True)
        return ""

    def _begin(self, opener: str, pending: str, quiet: bool) -> None:
        """The line being typed opens the only block kept (see `_opener`)."""
        self._done = self._said = 0
        self._pending, self._last_kind, self._quiet = pending, "text", quiet
        self._fence = self._names = None
        self._opener = opener

    def flush(self) -> str:
        """End of input: everything left is spoken; the reader starts afresh."""
        out = self._round(final=True)
        self._reset()
        return out

    def force(self) -> str:
        """Quiet input: speak what can be spoken of the open block without waiting for its end
        (but never half a word, and never what a later line could still change)."""
        return self._round(force=True)

    # --- one pass over the open end of the document -------------------------------------

    def _round(self, final: bool = False, force: bool = False) -> str:
        if self._cache is not None and not final:
            return self._read_cached(force)
        self._opener = self._names = self._closing = None
        partial = self._partial if (self._settled or final) and self._partial else None
        lines = self._lines + ([partial] if partial is not None else [])
        if not lines:
            return ""
        md = markup.parser()
        tokens = []
        md.block.parse("\n".join(lines) + "\n", md, markup.new_env(), tokens)
        leaves = self._leaves(tokens, lines)
        if leaves:
            self._last_kind = leaves[-1].kind
        out: list[str] = []
        complete = len(self._lines)
        self._pending = ""
        for i, leaf in enumerate(leaves):
            if leaf.start < self._done:
                continue
            if leaf.start > self._done:
                self._done, self._said = leaf.start, 0
            last = i == len(leaves) - 1
            if final or not last or self._closed(leaf, lines, complete):
                self._speak_leaf(leaf, out)
                self._done, self._said = leaf.end, 0
            elif leaf.kind == "text" and not leaf.heading:
                self._read_open(leaf, out, complete, force, lines)
                self._quiet = False
            else:
                self._pending = leaf.text if leaf.kind == "text" else ""
                self._quiet = partial is not None
        if not final:
            top = self._drop_spoken(tokens, lines)
            table = top is not None and top.type == "table_open" and self._done in (0, 2)
            if table and self._lines == lines[top.map[0] : top.map[0] + 2]:
                self._names = leaves[-1].extra  # its header's names
        return "".join(out)

    def _closed(self, leaf: _Leaf, lines: list[str], complete: int) -> bool:
        """Can no later line change the last leaf of the document?"""
        n = len(lines)
        if leaf.kind == "text":
            return leaf.end < n or (leaf.heading and leaf.end <= complete)
        if leaf.kind == "row":
            return leaf.end <= complete
        if leaf.kind == "html":
            return leaf.end < n
        if leaf.extra == "fence":  # closed by its last line, or before it
            last = lines[leaf.end - 1]
            return leaf.end < n or leaf.end - 1 > leaf.start and _closes(last, leaf.text)
        return leaf.kind == "quiet"  # (an indented code block may go on after blank lines)

    def _read_open(self, leaf: _Leaf, out: list, complete: int, force: bool, lines: list) -> None:
        text = leaf.text + ("\n" if leaf.end <= complete else "")
        if not self._skip_task_box(leaf, text, final=False):
            self._pending = text
            return
        if self._may_define(leaf, text):
            self._pending = text[self._said :]
            return
        end = self._speakable_end(leaf, text, force)
        words, taken = markup.read(text[self._said : end], self.stats, final=False, force=force)
        out.append(words)
        self._said += taken
        self._pending = text[self._said :]
        if not leaf.heading and leaf.end == len(lines) and lines[-1] is self._partial:
            self._cache_open(leaf)
        elif not leaf.heading and leaf.end == complete == len(lines):
            self._cache, self._leaf = (text, None), leaf  # until the next line shows what it is
        if not leaf.heading and self._said >= COMPACT_CHARS:
            self._compact(leaf, lines)

    @staticmethod
    def _may_define(leaf: _Leaf, text: str) -> bool:
        """May this open paragraph still turn out to be link reference definitions (silent)?"""
        if leaf.heading or not (leaf.before or text.startswith("[")):
            return False
        source = leaf.before + text
        return len(source) <= markup.MAX_DEFINITION and bool(
            _DEFINITIONS.fullmatch(source, partial=True)
        )

    def _speakable_end(self, leaf: _Leaf, text: str, force: bool) -> int:
        """How much of an open paragraph's text may be spoken: not a first line that the next
        line could still make a table's header row (one with an early `|`), unless the input
        has gone quiet and the line has no `|` yet."""
        if leaf.heading or "\n" in text[:-1]:
            return len(text)
        if markup.may_head_table(text):
            return 0
        short = len(text) < markup.TABLE_PIPE_CHARS and not text.endswith("\n")
        return 0 if short and not force else len(text)

    def _cache_open(self, leaf: _Leaf) -> None:
        """The open paragraph ends with the line being typed: while that line grows, its text
        grows with it, and there is no need to parse again."""
        head, _, last = leaf.text.rpartition("\n")
        column = len(self._partial) - len(last)
        if column >= 0 and self._partial[column:] == last:
            self._cache = (head + "\n" if "\n" in leaf.text else "", column)
            self._leaf = leaf

    def _read_cached(self, force: bool) -> str:
        head, column = self._cache
        leaf = self._leaf
        leaf.text = text = head + (self._partial[column:] if column is not None else "")
        end = self._speakable_end(leaf, text, force)
        words, taken = markup.read(text[self._said : end], self.stats, final=False, force=force)
        self._said += taken
        self._pending = text[self._said :]
        if self._said >= COMPACT_CHARS:
            self._compact(leaf, self._lines + [self._partial])
        return words

    def _skip_task_box(self, leaf: _Leaf, text: str, final: bool) -> bool:
        """Step over a task list item's "[ ]" or "[x]"; False while the text may still become one."""
        if not leaf.first_in_item or self._said:
            return True
        if m := _TASK.match(text):
            self._said = m.end()
            return True
        return final or not ("[x] ".startswith(text) or "[ ] ".startswith(text) or text == "[X")

    def _speak_leaf(self, leaf: _Leaf, out: list) -> None:
        kind = leaf.kind
        if kind == "text":
            self._skip_task_box(leaf, leaf.text, final=True)
            out.append(markup.render(leaf.text[self._said :], self.stats) + "\n")
        elif kind == "row":
            cells = (markup.render(c, self.stats).strip() for c in leaf.text)
            names = [markup.render(n, self.stats).strip() for n in leaf.extra]
            said = [f"{n}: {c}" if n else c for n, c in zip(names, cells) if c]
            out.append(", ".join(said) + "\n")
        elif kind == "head":
            names = (markup.render(n, self.stats).strip() for n in leaf.extra)
            out.append(", ".join(n for n in names if n) + "\n")
        elif kind == "code":
            self.stats.add("code block")
        elif kind == "html" and markup.html_block_kind(leaf.text) > 5:
            out.append(markup.html_text(leaf.text) + "\n")

    # --- the parser's blocks -> leaves ----------------------------------------------------

    def _leaves(self, tokens: list, lines: list[str]) -> list[_Leaf]:
        leaves: list[_Leaf] = []
        covered = 0  # lines up to here belong to a block
        i = 0
        while i < len(tokens):
            t = tokens[i]
            kind = t.type
            if kind == "inline" and tokens[i - 1].type in ("paragraph_open", "heading_open"):
                end = tokens[i - 1].map[1]  # (a setext heading's text ends before its underline)
                leaf = _Leaf("text", t.map[0], end, _canon(t.content))
                leaf.heading = tokens[i - 1].type == "heading_open"
                if not leaf.heading:  # the parser strips white space at the end: keep it
                    last = lines[t.map[1] - 1]
                    leaf.text += last[len(last.rstrip()) :]
                leaf.first_in_item = i >= 2 and tokens[i - 2].type == "list_item_open"
                before = [line for line in lines[covered : t.map[0]] if line.strip()]
                leaf.before = "\n".join(before) + "\n" if before else ""
                leaves.append(leaf)
            elif kind == "table_open":
                covered = max(covered, t.map[1])
                i = self._table(tokens, i, leaves)
            elif kind in ("fence", "code_block"):
                leaves.append(_Leaf("code", t.map[0], t.map[1], t.markup, extra=kind))
            elif kind == "html_block":
                leaves.append(_Leaf("html", t.map[0], t.map[1], t.content))
            elif kind == "hr":
                leaves.append(_Leaf("quiet", t.map[0], t.map[1]))
            if t.map and t.nesting >= 0:
                covered = max(covered, t.map[1] if t.nesting == 0 or kind == "inline" else t.map[0])
            i += 1
        return leaves

    @staticmethod
    def _table(tokens: list, i: int, leaves: list) -> int:
        """Leaves for a table's body rows (each with the header's names); returns where it ends."""
        start, end = tokens[i].map
        names: list[str] = []
        rows = 0
        row: list[str] | None = None
        while tokens[i].type != "table_close":
            t = tokens[i]
            if t.type == "tr_open":
                row, line = [], t.map[0]
            elif t.type == "inline" and row is not None:
                row.append(t.content)
            elif t.type == "tr_close":
                if line == start:
                    names = row
                else:
                    leaves.append(_Leaf("row", line, line + 1, row, names))
                    rows += 1
                row = None
            i += 1
        if not rows:
            leaves.append(_Leaf("head", start, end, "", names))
        return i

    # --- forgetting what has been spoken --------------------------------------------------

    def _drop_spoken(self, tokens: list, lines: list[str]) -> Token | None:
        """Keep only the lines later text can still change: from the start of the last
        top-level block (or of the last item of a top-level list), and within that block drop
        the lines a code block, a quiet HTML block or a table no longer needs. Returns the
        last top-level block's token (None if none)."""
        tops = [t for t in tokens if t.level == 0 and t.map and t.nesting >= 0]
        if not tops:
            start = next(
                (n for n, line in enumerate(self._lines) if line.strip()), len(self._lines)
            )
        else:
            last = tops[-1]
            start = last.map[0]
            if last.type in ("bullet_list_open", "ordered_list_open"):
                items = [t for t in tokens if t.level == 1 and t.type == "list_item_open"]
                start = items[-1].map[0]
            closed = last.map[1] < len(lines) or last.type in _ONE_PIECE
            if closed and self._done >= last.map[1] and last.type not in _CONTAINERS:
                start = last.map[1]  # all said, and closed: nothing later can join it
            if len(tops) > 1 and any(line.strip() for line in lines[tops[-2].map[1] : last.map[0]]):
                start = min(start, tops[-2].map[1])  # link reference definitions stay
        start = min(start, self._done, len(self._lines))
        if start:
            del self._lines[:start]
            self._done -= start
        self._fence = None
        if tops and self._done < len(self._lines):
            begin = tops[-1].map[0] - start
            fence = tops[-1]
            if fence.type == "fence" and self._done == begin and fence.map[1] == len(lines):
                marker, length = fence.markup[0], len(fence.markup)
                last = lines[fence.map[1] - 1]
                alone = fence.map[1] - 1 == fence.map[0]
                table = alone and markup.may_head_table(lines[fence.map[0]])  # (no fence yet)
                if not table and (alone or not _may_close(last, marker, length)):
                    self._fence = (marker, length, begin)  # open, not just closed by its last line
            self._drop_inside(tops[-1], begin)
        return tops[-1] if tops else None

    def _drop_inside(self, top, begin: int) -> None:
        lines = self._lines
        if top.type == "table_open" and self._done > begin + 2:
            del lines[begin + 2 : self._done]
            self._done = begin + 2
        elif self._done == begin and len(lines) - begin > 3:
            silent_html = top.type == "html_block" and markup.html_block_kind(top.content) <= 5
            if top.type in ("fence", "code_block") or silent_html:
                del lines[begin + 1 : len(lines) - 1]  # the opening line and the last stay

    def _compact(self, leaf: _Leaf, lines: list[str]) -> None:
        """Rewrite an open paragraph's lines to start where speaking got to, after a stand-in
        word "x " that is never spoken: the same blocks, the same text to come."""
        said = self._said
        text_lines = leaf.text.split("\n")
        last = len(text_lines) - (2 if leaf.text.endswith("\n") else 1)  # (not the next line)
        j, offset = 0, 0
        while j < last and offset + len(text_lines[j]) < said:
            offset += len(text_lines[j]) + 1
            j += 1
        if leaf.start + j >= len(lines):
            return
        first, here = lines[leaf.start], lines[leaf.start + j]
        base0 = len(first.rstrip()) - len(text_lines[0].rstrip())
        base = len(here.rstrip()) - len(text_lines[j].rstrip())
        if base0 < 0 or base < 0 or "\t" in first[:base0] or "\t" in here[:base]:
            return
        if not here.rstrip().endswith(text_lines[j].rstrip()):
            return
        line = first[:base0] + "x " + here[base + said - offset :]
        if leaf.start + j == len(self._lines):
            del self._lines[leaf.start :]
            self._partial = line
        else:
            self._lines[leaf.start : leaf.start + j + 1] = [line]
        self._said = 2
        self._cache = None
