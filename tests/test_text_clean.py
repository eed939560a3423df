"""Markdown -> text for the ear: a table of cases, and agreement with Python-Markdown's rendering."""

import re
from html.parser import HTMLParser

import markdown
import pytest

from mlx_stream.text import MarkdownCleaner


def clean(text: str) -> str:
    cleaner = MarkdownCleaner()
    return (cleaner.feed(text) + cleaner.flush()).strip()


# (markdown, what the ear gets: "\n" is a hard break between sentences)
CASES = [
    # emphasis and inline markup
    (
        "Use **bold**, *italic*, ***both***, __strong__ and _em_ here.",
        "Use bold, italic, both, strong and em here.",
    ),
    ("~~old~~ new", "old new"),
    ("Call `foo()` then `bar --baz`.", "Call foo() then bar --baz."),
    ("It's 2*3 = 6 and a * b.", "It's 2*3 = 6 and a b."),
    ("**Note:** read this.", "Note: read this."),
    ("A **multi word bold span** here.", "A multi word bold span here."),
    ("_Multi word emphasis_ too.", "Multi word emphasis too."),
    # headings, rules, lists, quotes, tables
    ("## Heading ##", "Heading"),
    ("# Title\nBody text.", "Title\nBody text."),
    ("#hashtag and # alone", "#hashtag and alone"),
    ("1. first\n2) second\n10. tenth", "first\nsecond\ntenth"),
    ("* star item\n+ plus item\n- dash item", "star item\nplus item\ndash item"),
    ("- [ ] todo\n- [x] done", "todo\ndone"),
    ("- item\n  continued\n- next", "item continued\nnext"),
    ("- outer\n    - inner", "outer\ninner"),
    ("- item\n\n    more of the item", "item\nmore of the item"),
    ("> quoted\n> > nested", "quoted\nnested"),
    ("Intro:\n> a quote", "Intro:\na quote"),
    ("***\n---\n___\n- - -", ""),
    ("text\n---\nmore", "text\nmore"),
    ("Title\n=====\nBody", "Title\nBody"),
    ("| Name | Age |\n|:-----|----:|\n| Bob | 42 |", "Name: Bob, Age: 42"),
    ("Line one\nline two\n\nPara two", "Line one line two\nPara two"),
    # code
    ("    code line", ""),
    ("para\n    not code", "para not code"),
    ("```\nno lang\n```\nafter", "after"),
    ("Here:\n```python\nimport os\nprint(os.getcwd())\n```\nDone.", "Here:\nDone."),
    ("~~~python\nx = 1\n~~~\nafter", "after"),
    ("````\n```\ninner\n```\n````\nafter", "after"),
    ("```js\nnever closed\nstill code", ""),
    ("> ```\n> code in quote\n> ```\n> after quote", "after quote"),
    ("Inline ```triple``` ticks stay prose.", "Inline triple ticks stay prose."),
    # HTML and entities
    ('<b>bold</b> and <br/> break <span class="x">span</span>', "bold and break span"),
    ("a < b and c > d", "a < b and c > d"),
    ("x <= y", "x <= y"),
    ("AT&amp;T &lt;tag&gt; &quot;q&quot;", 'AT&T <tag> "q"'),
    # links and URLs
    ("![alt text](img.png) and [the docs](http://x.com/a)", "alt text and the docs"),
    ("<https://example.com/path> autolink", "example.com autolink"),
    ("Visit https://docs.python.org/3/library/json.html, now.", "Visit docs.python.org, now."),
    ("(see https://en.wikipedia.org/wiki/Foo_(bar))", "(see en.wikipedia.org)"),
    ("www.example.com/page is good", "example.com is good"),
    ("Clone github.com/ml-explore/mlx-lm today.", "Clone github.com today."),
    ("Go to http://user@host.io:8080/x?y=1#z.", "Go to host.io."),
    ("Open file:///home/me/notes.txt please", "Open notes.txt please"),
    # paths
    (
        "Edit /usr/local/bin/python3 or ~/app/main.py or ./run.sh or ../up/x.txt.",
        "Edit python3 or main.py or run.sh or x.txt.",
    ),
    (r"Open C:\Users\me\Documents\report.docx now.", "Open report.docx now."),
    ("See src/app/utils.py:42 and docs/ folder.", "See utils.py and docs folder."),
    ("In **src/app/views.py**, fix it.", "In views.py, fix it."),
    ("Check `mlx_stream/text/clean.py`.", "Check clean.py."),
    # what must NOT be mangled
    (
        "and/or, either/or, TCP/IP, I/O, km/h, 24/7, 1/2, 11/25/2026",
        "and/or, either/or, TCP/IP, I/O, km/h, 24/7, 1/2, 11/25/2026",
    ),
    ("Node.js/Deno and Node.js and e.g. and i.e.", "Node.js/Deno and Node.js and e.g. and i.e."),
    ("Pi is 3.14, the U.S. is big, use v1.2.3.", "Pi is 3.14, the U.S. is big, use v1.2.3."),
    (
        "snake_case and __init__.py and _private_name",
        "snake_case and __init__.py and _private_name",
    ),
    ("Wait... really… yes", "Wait... really… yes"),
    (
        "\"double\" 'single' “curly” ‘curly’ «guillemets»",
        "\"double\" 'single' “curly” ‘curly’ «guillemets»",
    ),
    ("It's the user's file, isn't it?", "It's the user's file, isn't it?"),
    ("Costs $5 (about €4.60) - cheap!", "Costs $5 (about €4.60) - cheap!"),
    ("C++ and C# and F# are languages.", "C++ and C# and F# are languages."),
    # emoji, control characters, escapes
    ("Emoji 🎉 party 👍🏽 thumbs ✅ done ❤️ love 🇯🇵 flag", "Emoji party thumbs done love flag"),
    ("Tabs\tand\x07 bells\x1b and\x00 NULs", "Tabs and bells and NULs"),
    ("Windows\r\nline\rends", "Windows line ends"),
    (r"Escaped \*stars\* stay words", "Escaped stars stay words"),
    # CJK passes through
    ("これは日本語です。とても良い！", "これは日本語です。とても良い！"),
    ("**重要**：`設定.json`を確認", "重要：設定.jsonを確認"),
]


@pytest.mark.parametrize(("markdown_text", "spoken"), CASES)
def test_cleaning(markdown_text, spoken):
    assert clean(markdown_text) == spoken


@pytest.mark.parametrize(("markdown_text", "spoken"), CASES)
def test_cleaning_one_character_at_a_time(markdown_text, spoken):
    cleaner = MarkdownCleaner()
    out = "".join(cleaner.feed(c) for c in markdown_text) + cleaner.flush()
    assert out.strip() == spoken


def test_code_blocks_are_counted():
    cleaner = MarkdownCleaner()
    cleaner.feed("Text.\n\n```sh\nls\n```\n\n    indented\n    more\n\nEnd.\n")
    cleaner.flush()
    assert cleaner.stats["code block"] == 2
    assert cleaner.stats.summary() == "skipped (not spoken): 2 code blocks"


def test_fence_opened_in_one_delta_closed_many_deltas_later():
    cleaner = MarkdownCleaner()
    out = [
        cleaner.feed(d) for d in ["Before.\n`", "``py", "thon\nx = 1\n", "y = 2\n``", "`\nAfter."]
    ]
    out.append(cleaner.flush())
    assert "".join(out) == "Before.\nAfter."
    assert out[0] == "Before."  # the text before the fence was not held back


def test_text_flows_before_the_line_ends():
    cleaner = MarkdownCleaner()
    assert (
        cleaner.feed("The first sentence is done. The second ")
        == "The first sentence is done. The second"  # the space waits for the next word
    )
    assert cleaner.feed("[link text](http://exa") == ""  # a link may still be completing
    assert cleaner.feed("mple.com) ends.") == " link text"
    assert cleaner.flush() == " ends."


def test_force_gives_out_an_unfinished_line():
    cleaner = MarkdownCleaner()
    assert cleaner.feed("Let me check the file\n") == "Let me check the file"
    assert cleaner.pending == ""
    assert cleaner.force() == "\n"  # the soft line break becomes a hard one
    assert cleaner.feed("Still typ") == "Still"
    assert cleaner.pending == "typ"
    assert cleaner.force() == ""  # "typ" may be the start of "typing": no word is cut
    assert cleaner.pending == "typ"


def test_a_huge_word_is_dropped_and_counted():
    cleaner = MarkdownCleaner()
    out = cleaner.feed("before " + "x" * 5000 + " after") + cleaner.flush()
    assert out == "before after"
    assert cleaner.stats["overlong word"] == 1


# --- agreement with a reference markdown renderer -------------------------------------------


class _ProseText(HTMLParser):
    """The text Python-Markdown renders, minus code blocks (<pre>); a table row as its cells,
    each after its column's name (how a table is read aloud)."""

    def __init__(self):
        super().__init__()
        self.parts, self.in_pre = [], 0
        self.names: list[str] = []
        self.cell: list[str] | None = None
        self.column = 0

    def handle_starttag(self, tag, attrs):
        self.in_pre += tag == "pre"
        if tag in ("p", "li", "h1", "h2", "h3", "td", "th", "br", "blockquote"):
            self.parts.append(" ")
        if tag == "tr":
            self.column = 0
        if tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        self.in_pre -= tag == "pre"
        if tag == "th":
            self.names.append("".join(self.cell))
        elif tag == "td":
            name = self.names[self.column] if self.column < len(self.names) else ""
            self.parts.append(f" {name} {''.join(self.cell)} ")
            self.column += 1
        if tag in ("td", "th"):
            self.cell = None
        self.parts.append(" ")

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        elif not self.in_pre:
            self.parts.append(data)


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]+", text)


REFERENCE_DOCUMENTS = [
    "# Setting up\n\nInstall the **package** first, then run the *tests*.\n\n"
    "```bash\npip install thing\npytest -q\n```\n\nIf that fails, read the [guide](https://example.com/guide).",
    "Some options:\n\n- `fast` mode skips checks\n- `safe` mode runs them\n  on every file\n- neither\n\n"
    "1. Open the file\n2. Change the value\n\n> Note: back up first.\n> Really.\n\nThanks!",
    "| Option | Meaning |\n|--------|---------|\n| debug | print more |\n| quiet | print less |\n\n"
    "~~~\ncode here\n~~~\n\nText with <em>html</em> and &amp; entities.\n\n---\n\nThe end.",
    "Para one line one\nline two of para one.\n\n    indented code block\n    second line\n\n"
    "## Heading two\n\nFinal words with _under_ and __double__ emphasis.",
]


@pytest.mark.parametrize("document", REFERENCE_DOCUMENTS)
def test_prose_words_match_python_markdown(document):
    parser = _ProseText()
    parser.feed(markdown.markdown(document, extensions=["fenced_code", "tables"]))
    assert _words(clean(document)) == _words("".join(parser.parts))
