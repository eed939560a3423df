"""Real-world markdown no one on the project wrote, and how much of it the text front end reads
the way a markdown renderer shows it.

The documents are the long descriptions (READMEs, changelogs) in the METADATA of the packages
installed in the test environment. The reference is the parser's own view of the prose: the
text a browser shows for markdown-it's HTML rendering (CommonMark with GitHub tables,
strikethrough, footnotes and task lists), without code blocks, with images by their alt text.
Words are compared after the speech rules that are not about markdown (a URL is said as its
domain, a path as its file name, emoji are not said: `speak_plain`), as multisets.
"""

import re
from collections import Counter
from functools import cache
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from mlx_stream.bench.text import readmes
from mlx_stream.text import TextFrontEnd
from mlx_stream.text.inline import CODE_PLACEHOLDER, speak_plain

_WORD = re.compile(r"[^\W_]+(?:[_'][^\W_]+)*")
# markup a listener should never hear, unless the prose itself shows it
MARKUP = re.compile(
    r"\*\*|__|~~|`|!?\[[^\]\n]*\]\(|\]\[|^\[[^\]\n]+\]:|<!--|-->|</?[A-Za-z][A-Za-z0-9-]*[\s/>]"
    r"|^#{1,6}\s|^>\s|^[-*+]\s|\|\s*:?-{3,}|:?-{3,}:?\s*\|"
)
_HIDDEN = {"pre", "script", "style", "template", "svg"}
_BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "tr", "br", "blockquote",
           "div", "table", "dt", "dd", "summary", "details", "hr", "ul", "ol"}  # fmt: skip


class _VisibleText(HTMLParser):
    """What a browser shows: prose and inline code apart; no code blocks, scripts or footnote
    back-references; images by their alt text; a table cell after its column's name (a table
    is read to a listener row by row, "name: cell")."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.prose: list[str] = []
        self.code: list[str] = []
        self.hidden = self.in_code = 0
        self.names: list[str] = []
        self.column = self.cell = -1

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag in _HIDDEN or "footnote-backref" in classes or "footnote-ref" in classes:
            self.hidden += 1
        elif tag == "code":
            self.in_code += 1
        elif tag == "img" and not self.hidden:
            self.prose.append(f" {attrs.get('alt') or ''} ")
        elif tag == "thead":
            self.names = []
        elif tag == "tr":
            self.column = -1
        elif tag == "th":
            self.names.append("")
        elif tag == "td":
            self.column += 1
            self.cell = len(self.prose)
        if tag in _BLOCKS:
            self.prose.append("\n")

    def handle_endtag(self, tag):
        if tag in _HIDDEN or tag in ("a", "sup") and self.hidden:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "code":
            self.in_code = max(0, self.in_code - 1)
            self.code.append(" ")
        elif (
            tag == "td"
            and self.column < len(self.names)
            and "".join(self.prose[self.cell :]).strip()
        ):
            self.prose.insert(self.cell, f" {self.names[self.column]} ")
        if tag in _BLOCKS:
            self.prose.append("\n")

    def handle_data(self, data):
        if self.hidden:
            return
        (self.code if self.in_code else self.prose).append(data)
        if self.lasttag == "th" and self.names:
            self.names[-1] += data


@cache
def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    footnote_plugin(md)
    tasklists_plugin(md)
    return md


def reference(markdown: str) -> tuple[str, str]:
    """(prose, inline code) as a reader of the rendered page sees them."""
    view = _VisibleText()
    view.feed(_renderer().render(markdown))
    view.close()
    return "".join(view.prose), "".join(view.code)


def words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def documents(min_chars: int = 1000) -> list[tuple[str, str]]:
    """(package, long description) for every installed package whose description is markdown."""
    return readmes(min_chars)


def spoken(markdown: str, delta_chars: int = 0) -> list[str]:
    """The sentences the front end speaks for a document, fed whole or in deltas."""
    front_end = TextFrontEnd()
    deltas = (
        [markdown]
        if not delta_chars
        else (markdown[i : i + delta_chars] for i in range(0, len(markdown), delta_chars))
    )
    out = [s for d in deltas for s in front_end.feed(d)]
    return out + front_end.flush()


def figures(docs: list[tuple[str, str]]) -> dict:
    """The three corpus figures, over all documents together:
    prose_spoken: share of the reference's prose words that are spoken;
    markup_lines: share of spoken lines in which markup is heard (markup the prose does not show);
    extra_words: share of spoken words found neither in the prose nor in inline code."""
    prose_total = prose_hit = spoken_total = extra = lines = markup_lines = 0
    placeholder = Counter(words(CODE_PLACEHOLDER))
    worst: list[tuple[str, str]] = []
    for name, markdown in docs:
        prose, code = reference(markdown)
        prose_words = Counter(words(speak_plain(prose)))
        allowed = prose_words + Counter(words(speak_plain(code))) + Counter(words(code))
        sentences = spoken(markdown)
        said = Counter(w for s in sentences for w in words(s))
        snippets = sum(s.count(CODE_PLACEHOLDER) for s in sentences)
        said_other = said - Counter({w: n * snippets for w, n in placeholder.items()})
        prose_total += sum(prose_words.values())
        prose_hit += sum((prose_words & said).values())
        spoken_total += sum(said.values())
        extra += sum((said_other - allowed).values())
        visible = prose + code
        for sentence in sentences:
            lines += 1
            if any(m.group() not in visible for m in MARKUP.finditer(sentence)):
                markup_lines += 1
                worst.append((name, sentence))
    return {
        "documents": len(docs),
        "prose_words": prose_total,
        "spoken_lines": lines,
        "prose_spoken": prose_hit / max(1, prose_total),
        "markup_lines": markup_lines / max(1, lines),
        "extra_words": extra / max(1, spoken_total),
        "markup_examples": worst[:20],
    }
