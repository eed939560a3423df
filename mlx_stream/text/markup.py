"""Inline markdown for the ear, read by markdown-it-py (the Python port of the CommonMark reference
parser), one piece of a paragraph at a time.

A paragraph is spoken while it is still being written, so its text is cut into pieces, and a cut
is only made where no inline construct can span it, now or after more text arrives. A cut is
placed after a space (or after a character of a script written without spaces), and before the
first construct whose fate is still open. How each construct waits:

- code span: a backtick run waits for a closing run of the same length (or for the paragraph
  to end, or MAX_SPAN characters: a longer "code span" is read as text with its backticks);
- link and image: `[` waits for its `]`, then for what follows it: `(destination "title")` or
  `[label]` may still complete; a label that closes is a link whatever it names (definitions
  may come later in the document, so every reference is taken as defined);
- raw HTML, comment and autolink: `<` waits while the text after it could still become a tag,
  a comment or an autolink (markdown-it's own patterns, matched partially);
- entities, escapes and footnote markers hold no space, so no cut can fall inside them;
- emphasis and strikethrough never wait: their markers are dropped where they stand at the edge
  of a word, matched or not, and kept inside one (2*3, snake_case), so no later text can
  change what was said.

Text with no markup but these last two and code spans, the commonest in a model's answer, is
read without the parser (`_code_spans`), as the parser reads it (a property test compares them).
"""

import re
from collections.abc import Callable
from functools import cache
from html.parser import HTMLParser

import regex
from markdown_it import MarkdownIt
from markdown_it.common.html_re import HTML_TAG_RE
from markdown_it.rules_block.html_block import HTML_SEQUENCES
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

from .inline import CODE_PLACEHOLDER, speak_code, speak_plain, speak_text
from .scripts import NO_SPACE
from .stats import IngestStats

SOFT_BREAK = "\v"  # a line break inside a paragraph: a space, or a sentence break when idle
MAX_SPAN = 2000  # an inline construct longer than this is read as text
MAX_DEFINITION = 4000  # a link reference definition longer than this is read as text
TABLE_PIPE_CHARS = 32  # a table's header row shows its first | within this many characters
_TERMINATORS = re.compile(r"[\n!&*<\[\\\]_`~]")
_CUT = re.compile(r"(?s).*[\s" + NO_SPACE + "]")
_SLOW = re.compile(r"[`\[<&\\]")
_SLOW_BUT_TICKS = re.compile(r"[\[<&\\]")
_OPENERS = re.compile(r"[\[<`]")
_TICKS = re.compile(r"`+")
_SPACES = re.compile(r"\s{2,}")
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)")
_MAYBE_TAG = regex.compile(
    HTML_TAG_RE.pattern
    + r"|<[a-zA-Z][a-zA-Z0-9+.\-]{1,31}:[^<>\x00-\x20]*>"
    + r"|<[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9.-]*>"
)
_SILENT_HTML = {
    "a", "abbr", "b", "cite", "code", "del", "em", "font", "i", "ins", "kbd", "mark", "q", "s",
    "samp", "small", "span", "strong", "sub", "sup", "tt", "u", "var",
}  # fmt: skip
_HTML_BREAKS = {
    "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "section", "summary", "table", "td", "th", "tr", "ul",
}  # fmt: skip
_HTML_UNSPOKEN = {"script", "style", "pre", "textarea", "template", "svg", "math"}


class _AnyReference(dict):
    """Link references, all defined: a definition may come after its use, and the stream can
    not wait for the end of the document to find out."""

    _REF = {"href": "", "title": ""}

    def __contains__(self, label) -> bool:
        return True

    def get(self, label, default=None):
        return self._REF if label.strip() and len(label) < 1000 else default


def new_env() -> dict:
    return {"references": _AnyReference()}


def _bounded(rule: Callable, literal_run: bool = False) -> Callable:
    """`rule` limited to MAX_SPAN characters; recorded in env["spans"] as (start, end, kind) when
    it reads the top level of the text being cut (see `read`): kind "open" for a backtick run
    left unmatched, "done" for a construct complete."""

    def bounded(state: StateInline, silent: bool) -> bool:
        start = state.pos
        if state.posMax - start > MAX_SPAN:  # it may be too long: measure it first
            if not rule(state, True):
                return False
            if state.pos - start > MAX_SPAN:
                if not literal_run:
                    state.pos = start
                    return False
                end = start
                while end < state.posMax and state.src[end] == "`":
                    end += 1
                state.pos = end
                if not silent:
                    state.pending += state.src[start:end]
                    _record(state, start, "open")
                return True
            if silent:
                return True
            state.pos = start
        elif silent:
            return rule(state, True)
        count = len(state.tokens)
        if not rule(state, False):
            return False
        code = any(t.type == "code_inline" for t in state.tokens[count:])
        _record(state, start, "open" if literal_run and not code else "done")
        return True

    return bounded


def _record(state: StateInline, start: int, kind: str) -> None:
    spans = state.env.get("spans")
    if spans is not None and state.linkLevel == 0 and state.src is spans[0]:
        spans.append((start, state.pos, kind))


def _footnote_marker(state: StateInline, silent: bool) -> bool:
    """[^label]: a footnote marker, silent; its note is spoken where it is defined."""
    src, start = state.src, state.pos
    if not src.startswith("[^", start):
        return False
    end = start + 2
    while end < state.posMax and src[end] not in "] \n":
        end += 1
    if end == start + 2 or end >= state.posMax or src[end] != "]":
        return False
    if not silent:
        state.push("footnote_ref", "", 0)
    state.pos = end + 1
    return True


def _bounded_block(rule: Callable, max_chars: int) -> Callable:
    """A link reference definition of at most `max_chars` characters."""

    def bounded(state, start_line: int, end_line: int, silent: bool) -> bool:
        if not rule(state, start_line, end_line, silent):
            return False
        if not silent and state.bMarks[state.line] - state.bMarks[start_line] > max_chars:
            state.line = start_line
            return False
        return True

    return bounded


def _bounded_table(rule: Callable) -> Callable:
    """A table that starts a block (it does not interrupt a paragraph) and whose header row shows
    a `|` within its first TABLE_PIPE_CHARS characters. GitHub has neither limit; without them
    any line of a paragraph still being written could yet turn into a table's header row, and
    no word of it could be spoken before the next line begins."""

    def bounded(state, start_line: int, end_line: int, silent: bool) -> bool:
        begin = state.bMarks[start_line] + state.tShift[start_line]
        pipe = state.src.find("|", begin, state.eMarks[start_line]) - begin
        if silent or not 0 <= pipe < TABLE_PIPE_CHARS:  # (silent: asked to end a paragraph)
            return False
        return rule(state, start_line, end_line, silent)

    return bounded


@cache
def parser() -> MarkdownIt:
    """CommonMark with GitHub's tables and strikethrough, footnotes where they are defined, raw
    HTML recognised (to be left unsaid), and every construct bounded in length."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    footnote_plugin(md, inline=False, move_to_end=False)
    md.inline.ruler.disable("footnote_ref")
    md.inline.ruler.before("link", "footnote_marker", _footnote_marker)
    for name in ("link", "image", "autolink", "html_inline"):
        md.inline.ruler.at(name, _bounded(_rule(md.inline.ruler, name)))
    md.inline.ruler.at("backticks", _bounded(_rule(md.inline.ruler, "backticks"), True))
    reference = _rule(md.block.ruler, "reference")
    md.block.ruler.at("reference", _bounded_block(reference, MAX_DEFINITION))
    md.block.ruler.at("table", _bounded_table(_rule(md.block.ruler, "table")))
    if hasattr(md.inline, "terminator_re"):
        md.inline.terminator_re = _TERMINATORS  # only the characters our rules start at
    # where a link points is never said: not normalised (a third of the time spent on READMEs
    # full of badges). Validation is unchanged (the scheme it checks is not normalised).
    md.normalizeLink = str
    return md


def _rule(ruler, name: str) -> Callable:
    return next(r.fn for r in ruler.__rules__ if r.name == name)


# --- reading a piece of a paragraph ---------------------------------------------------------


def read(text: str, stats: IngestStats, final: bool, force: bool = False) -> tuple[str, int]:
    """Speak the longest start of `text` (the unspoken rest of a paragraph or heading) that no
    more text can change. Returns the words and how many characters of `text` they took;
    `final` says the paragraph has ended, `force` takes a last word that ends in a stop. A
    piece that ends at a line break ends with SOFT_BREAK."""
    if final:
        return render(text, stats), len(text)
    cut, tokens = _safe_cut(text, force)
    if not cut:
        return "", 0
    line_end = text[cut - 1] == "\n"  # a line break: said as a space, or a break when idle
    words = _speak(tokens, stats) if tokens is not None else render(text[: cut - line_end], stats)
    return words + SOFT_BREAK * line_end, cut


def _safe_cut(text: str, force: bool) -> tuple[int, list | None]:
    """The last cut no later text can move, and the tokens of what is before it but a line
    break it ends with (None when nothing there needed parsing)."""
    cut = _last_cut(text, len(text))
    if force and text and text[-1] in ".,;:!?…)]}\"'”’»" and cut < len(text):
        cut = len(text)
    while cut > 0:
        piece = text[:cut]
        if not _SLOW.search(piece):
            return cut, None
        tokens, spans = _parse(piece.removesuffix("\n"))  # (the same constructs)
        blocked = _first_open(piece, text, spans)
        if blocked is None:
            return cut, tokens
        cut = _last_cut(text, blocked, spans)
    return 0, None


def render(text: str, stats: IngestStats) -> str:
    """Speak a whole piece of inline markdown (a finished paragraph, a heading, a table cell)."""
    if not _SLOW.search(text):
        return speak_text(text.replace("\n", " "))
    return _speak(_parse(text)[0], stats)


def _parse(text: str) -> tuple[list[Token], list]:
    """The inline tokens of `text`, and the spans of its top-level constructs (see _bounded)."""
    if len(text) <= MAX_SPAN and not _SLOW_BUT_TICKS.search(text):
        return _code_spans(text)
    env = new_env()
    env["spans"] = spans = [text]
    tokens: list[Token] = []
    md = parser()
    md.inline.parse(text, md, env, tokens)
    return tokens, spans[1:]


def _code_spans(text: str) -> tuple[list[Token], list]:
    """`_parse` for text whose only markup is code spans, emphasis and strike markers: what
    markdown-it's backtick rule makes of it, without the parser (every inline parse of the
    benchmark's answer was of such text: a tenth of its time). Emphasis and strike markers
    come out as text: `_speak` says them as it says the markers of the parser's tokens. A
    backtick run opens a code span closed by the next run of the same length, else it is
    text."""
    text = text.replace("\n", " ")  # (the parser's line breaks and code spans say them so)
    tokens: list[Token] = []
    spans = []
    done = pos = 0
    while (start := text.find("`", pos)) >= 0:
        end = _TICKS.match(text, start).end()
        close = end
        while (close := text.find("`", close)) >= 0:
            close_end = _TICKS.match(text, close).end()
            if close_end - close == end - start:
                break
            close = close_end
        if close < 0:
            spans.append((start, end, "open"))
            pos = end
            continue
        content = text[end:close]
        if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
            content = content[1:-1]
        if done < start:
            tokens.append(Token("text", "", 0, content=text[done:start]))
        tokens.append(Token("code_inline", "code", 0, content=content))
        spans.append((start, close_end, "done"))
        done = pos = close_end
    if done < len(text):
        tokens.append(Token("text", "", 0, content=text[done:]))
    return tokens, spans


def _last_cut(text: str, end: int, spans: list = ()) -> int:
    """The last place at or before `end` right after a space (or a character of a script without
    spaces) and outside every construct in `spans`; 0 if none. Never right after a line
    break that follows a "\\": that is a hard break if the paragraph goes on, a "\\" if not."""
    while end > 0:
        m = _CUT.match(text, 0, end)
        if m is None:
            return 0
        cut = m.end()
        inside = next((s for s, e, _ in spans if s < cut < e), None)
        if inside is not None:
            end = inside
        elif text[cut - 1] == "\n" and _escaped(text, cut - 1):
            end = cut - 1
        else:
            return cut
    return 0


def _escaped(text: str, i: int) -> bool:
    """Is text[i] escaped: after an odd run of backslashes?"""
    return (i - len(text[:i].rstrip("\\"))) % 2 == 1


def may_head_table(line: str) -> bool:
    """Could this line head a table, if a delimiter row came next? (It shows a `|` within
    TABLE_PIPE_CHARS characters: see _bounded_table.)"""
    return "|" in line[:TABLE_PIPE_CHARS]


def _first_open(piece: str, text: str, spans: list) -> int | None:
    """Where the first construct of `piece` that more of `text` (or text yet to come) could
    still change begins; None if there is none."""
    done = {s: e for s, e, kind in spans if kind == "done"}
    open_at = [
        s for s, e, kind in spans if kind == "open" and _ticks_may_close(text, s, e, len(piece))
    ]
    open_at += [s for s, e in done.items() if piece[s] in "![" and _holds_open_ticks(text, s, e)]
    open_at.sort()
    inside = sorted(done.items())
    for m in _OPENERS.finditer(piece):
        i = m.start()
        if open_at and i >= open_at[0]:
            break
        c = piece[i]
        if c == "`":
            continue
        image = c == "[" and i > 0 and piece[i - 1] == "!"
        if image and not _escaped(piece, i - 1):  # "![", not "\\!["
            if i - 1 in done:
                i -= 1  # an image: read from its "!"
            elif (
                i not in done
                and not any(s < i - 1 < e for s, e in inside)  # (not inside a link done)
                and _link_may_grow(text, i - 1, i + 1)
            ):
                return i - 1  # an image still to come
        if i in done:
            end = done[i]
            if (
                c == "["
                and end < len(piece)
                and piece[end] in "(["
                and _link_may_grow(text, i, end)
            ):
                return i
            continue
        if any(s < i < e for s, e in inside):
            continue
        if (c == "[" and _link_may_grow(text, i, i + 1)) or (c == "<" and _tag_may_close(text, i)):
            return i
    return open_at[0] if open_at else None


def _holds_open_ticks(text: str, start: int, end: int) -> bool:
    """Does the link or image at text[start:end] hold a backtick run that text yet to come may
    still close? (The code span would then take in its `]`, and the brackets be plain text.)"""
    pos = start
    while (run := _TICKS.search(text, pos, end)) is not None:
        length = len(run.group())
        close = next(
            (m for m in _TICKS.finditer(text, run.end(), end) if len(m.group()) == length), None
        )
        if close is None and _ticks_may_close(text, run.start(), run.end(), end):
            return True
        pos = close.end() if close is not None else run.end()
    return False


def _ticks_may_close(text: str, start: int, end: int, piece_end: int) -> bool:
    """An unmatched backtick run at start:end: may a run of its length still close it?"""
    run = "`" * (end - start)
    limit = start + MAX_SPAN
    pos = piece_end
    while (found := text.find(run, pos, limit)) >= 0:
        close = found + len(run)
        if (found == 0 or text[found - 1] != "`") and (close >= len(text) or text[close] != "`"):
            return True
        pos = close
    return len(text) < limit


def _link_may_grow(text: str, start: int, end: int) -> bool:
    """Does the link (or the `[` that is not one yet) at `start`, which the piece saw end at
    `end`, take in more of `text`, or could it with text yet to come?"""
    if _probe(text, start) > end:
        return True
    if len(text) - start >= MAX_SPAN:
        return False
    for closer in (")", "x)", '")', "')", ">)", "))", ")))", "]", "x]", "x]]"):
        if _probe(text + closer, start) > len(text):
            return True
    md = parser()
    label = start + 1 if text[start] == "!" else start
    return md.helpers.parseLinkLabel(StateInline(text, md, new_env(), []), label) < 0


def _probe(text: str, start: int) -> int:
    """Where a link or image starting at `start` of `text` would end (-1 if none does)."""
    md = parser()
    state = StateInline(text, md, new_env(), [])
    state.pos = start
    rule = "link" if text[start] == "[" else "image"
    return state.pos if _rule(md.inline.ruler, rule)(state, True) else -1


def _tag_may_close(text: str, start: int) -> bool:
    if len(text) - start >= MAX_SPAN:
        m = _MAYBE_TAG.match(text, start, start + MAX_SPAN)
        return m is not None
    return _MAYBE_TAG.match(text, start, partial=True) is not None


# --- tokens to words ------------------------------------------------------------------------


def _speak(tokens: list[Token], stats: IngestStats) -> str:
    """Inline tokens as words: text, link text, image descriptions, speakable code; markup,
    tags and footnote markers left unsaid."""
    parts: list[tuple[str, bool]] = []  # (text, is code)
    _collect(tokens, parts, stats)
    words, run = [], []
    for text, code in parts:
        if code:
            words.append(speak_text("".join(run)))
            words.append(text)
            run = []
        else:
            run.append(text)
    words.append(speak_text("".join(run)))
    return _SPACES.sub(" ", "".join(words))


def _collect(tokens: list[Token], parts: list, stats: IngestStats) -> None:
    for t in tokens:
        kind = t.type
        if kind in ("text", "text_special"):
            parts.append((t.content, False))
        elif kind in ("softbreak", "hardbreak"):
            parts.append((" ", False))
        elif kind == "code_inline":
            code = speak_code(t.content)
            if code is None:
                stats.add("code snippet")
                code = CODE_PLACEHOLDER
            parts.append((code, True))
        elif kind in ("em_open", "em_close", "strong_open", "strong_close", "s_open", "s_close"):
            parts.append((t.markup, False))
        elif kind == "image":
            parts.append((" ", False))
            _collect(t.children or [], parts, stats)
            parts.append((" ", False))
        elif kind == "html_inline":
            name = _tag_name(t.content)
            parts.append(("" if not name or name in _SILENT_HTML else " ", False))


def _tag_name(tag: str) -> str:
    m = _TAG_NAME.match(tag)
    return m.group(1).lower() if m else ""


# --- blocks of raw HTML ---------------------------------------------------------------------


class _HtmlText(HTMLParser):
    """The text a browser would show for a block of HTML: tags, comments, scripts unsaid;
    images by their alt text; block elements end a sentence."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in _HTML_UNSPOKEN:
            self.hidden += 1
        elif tag == "img" and not self.hidden:
            alt = dict(attrs).get("alt") or ""
            self.parts.append(f" {alt} ")
        if tag in _HTML_BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _HTML_UNSPOKEN:
            self.hidden = max(0, self.hidden - 1)
        if tag in _HTML_BREAKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    """What a block of raw HTML says: lines of plain text ("\\n" between block elements)."""
    reader = _HtmlText()
    reader.feed(html)
    reader.close()
    lines = (speak_plain(line).strip() for line in "".join(reader.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def html_block_kind(line: str) -> int:
    """Which of CommonMark's seven kinds of HTML block `line` opens (1-7), 0 for none."""
    line = line.lstrip(" ")
    return next((i + 1 for i, seq in enumerate(HTML_SEQUENCES) if seq[0].search(line)), 0)


_HTML_STARTS = [
    regex.compile(seq[0].pattern, seq[0].flags & regex.IGNORECASE) for seq in HTML_SEQUENCES
]


def may_open_html_block(line: str) -> bool:
    """Could `line` (not finished yet) still turn out to open a block of raw HTML?"""
    return any(p.match(line, partial=True) for p in _HTML_STARTS)
