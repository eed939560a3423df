"""Markdown read as a listener expects, the same however the text is cut into deltas, and spoken
as soon as each sentence is complete."""

import pytest

from mlx_stream.text import MarkdownCleaner, TextFrontEnd
from mlx_stream.text.markdown import COMPACT_CHARS
from mlx_stream.text.markup import MAX_SPAN
from mlx_stream.text.stats import IngestStats


def clean(text: str, stats: IngestStats | None = None) -> str:
    cleaner = MarkdownCleaner(stats)
    return cleaner.feed(text) + cleaner.flush()


# (markdown, what the ear gets: "\n" is a sentence break)
CONSTRUCTS = [
    # links of every kind: their text only
    ("See [the docs](https://example.com/docs 'Docs') now.", "See the docs now."),
    ("See [the docs][1] now.\n\n[1]: https://example.com", "See the docs now."),
    ("See [the docs][] now.\n\n[the docs]: https://example.com", "See the docs now."),
    ('See [the docs] now.\n\n[the docs]: <https://example.com> "Title"', "See the docs now."),
    ("A [label] defined nowhere reads as its text.", "A label defined nowhere reads as its text."),
    ("Mail <me@example.com> or <https://example.com/x>.", "Mail me@example.com or example.com."),
    ("![A cat on a mat](cat.png 'cat') sat.", "A cat on a mat sat."),
    ("[![Build status](https://ci.example/b.svg)](https://ci.example) Passing.", "Build status Passing."),
    # definitions, comments and tags: silent
    ('[1]: https://example.com\n[two]:\n  /url\n  "Title"\n\nText.', "Text."),
    ("Text <!-- a note --> more.", "Text more."),
    ("<!--\nA comment\nover lines\n-->\nAfter.", "After."),
    ("Line<br>break, a <span class='x'>span</span> and <b>bold</b>.", "Line break, a span and bold."),
    (
        '<div align="center">\n  <h1>The Title</h1>\n  <p>A <b>bold</b> claim.</p>\n</div>\n\nAfter.',
        "The Title\nA bold claim.\nAfter.",
    ),
    # emphasis and strike markers: silent where they mark, kept inside a word
    ("*em* **strong** ***both*** ~~strike~~ _u_ __uu__", "em strong both strike u uu"),
    ("snake_case, __init__.py, 2*3 and a * b", "snake_case, __init__.py, 2*3 and a b"),
    # block quotes, headings, list items
    ("> Quoted text\n> continues.\n\nAfter.", "Quoted text continues.\nAfter."),
    ("> - quoted item\n> - another", "quoted item\nanother"),
    ("# One\n## Two ##\nThree\n=====\nFour\n----\nBody", "One\nTwo\nThree\nFour\nBody"),
    ("- one\n- two\n  wrapped\n\n1. first\n2) second", "one\ntwo wrapped\nfirst\nsecond"),
    ("- item\n\n    continuation paragraph\n\n- next", "item\ncontinuation paragraph\nnext"),
    ("- [ ] todo item\n- [x] done item\n- [X] also done", "todo item\ndone item\nalso done"),
    ("Above\n\n---\n\n***\nBelow", "Above\nBelow"),
    # tables: row by row, each cell after its column's name
    ("| speed | unit |\n|---|---|\n| 3 | ms |\n| 4 | s |", "speed: 3, unit: ms\nspeed: 4, unit: s"),
    ("| name | note |\n|:--|--:|\n| a | |\n| | b |", "name: a\nnote: b"),
    ("| `x` | [y](u) |\n|---|---|\n| **1** | 2 |", "x: 1, y: 2"),
    ("| alone | header |\n|---|---|\n\nAfter.", "alone, header\nAfter."),
    ("Text | with a pipe\nand more.", "Text with a pipe and more."),
    # footnotes: markers silent, notes where they are defined
    ("A claim.[^1] More.\n\n[^1]: The source.", "A claim. More.\nThe source."),
    ("A marker[^note] for nothing.", "A marker for nothing."),
    # code
    ("Run `pip install x` or `ls -la | wc`.", "Run pip install x or ls -la | wc."),
    ('Config `{"a": 1, "b": [2]}` here.', "Config a code snippet here."),
    ("See `<b>https://x.io/a/b.html` now.", "See x.io now."),
    ("Go to www.`w.com` now.", "Go to w.com now."),
    ("```\ncode\n```\n\n    indented\n\nText.", "Text."),
    # entities, escapes, line breaks
    ("AT&amp;T &copy; 2024 \\*not em\\*", "AT&T © 2024 not em"),
    ("Hard  \nbreak and\\\nescaped break", "Hard break and escaped break"),
    ("A backslash ends a line\\\n\nor a paragraph\\", "A backslash ends a line\\\nor a paragraph\\"),
    ("A hard break\\\nbefore![an image](i.png) here", "A hard break before an image here"),
    # a backtick run inside a link's brackets may yet open a code span that takes in its "]"
    ("[```x]u.io/p)<https://a.io/x>👍🏽日```", "[a code snippet"),
    # other scripts pass through
    ("今日は**いい**天気ですね。明日も`晴れ`るでしょうか？", "今日はいい天気ですね。明日も晴れるでしょうか？"),
]  # fmt: skip


@pytest.mark.parametrize(("markdown", "spoken"), CONSTRUCTS)
def test_each_construct_is_read_as_a_listener_expects(markdown, spoken):
    assert clean(markdown).strip() == spoken


@pytest.mark.parametrize(("markdown", "spoken"), CONSTRUCTS)
def test_a_construct_split_at_any_character_reads_the_same(markdown, spoken):
    whole_stats = IngestStats()
    whole = clean(markdown, whole_stats)
    for i in range(1, len(markdown)):
        stats = IngestStats()
        cleaner = MarkdownCleaner(stats)
        assert cleaner.feed(markdown[:i]) + cleaner.feed(markdown[i:]) + cleaner.flush() == whole
        assert stats.counts == whole_stats.counts
    cleaner = MarkdownCleaner()
    assert "".join(cleaner.feed(c) for c in markdown) + cleaner.flush() == whole


def test_code_is_counted_once_for_each_block_and_unspeakable_snippet():
    stats = IngestStats()
    clean("```py\nx = 1\n```\n\n    a\n\n    b\n\n~~~\nnever closed", stats)
    assert stats["code block"] == 3  # (the blank line inside an indented block does not end it)
    clean('Use `{"json": true}` and `<div>`, not `name`.', stats)
    assert stats["code snippet"] == 2


def test_a_construct_longer_than_max_span_is_read_as_text():
    words = "word " * (MAX_SPAN // 5 + 50)
    for markdown, spoken in [
        (f"Go `{words}` end.", f"Go {words}end."),
        (f"Go [{words}](http://x.io/a) end.", f"Go [{words}](x.io) end."),
        (f"Go [a]({'x' * MAX_SPAN}) end.", f"Go [a]({'x' * MAX_SPAN}) end."),
        ("Go `w w` end. Go [w w](http://x.io/a) end.", "Go w w end. Go w w end."),
    ]:
        stats = IngestStats()
        assert clean(markdown, stats) == spoken
        assert not stats.counts  # (no code snippet)
        cleaner = MarkdownCleaner()
        cut = [markdown[i : i + 7] for i in range(0, len(markdown), 7)]
        assert "".join(map(cleaner.feed, cut)) + cleaner.flush() == spoken


# --- spoken as soon as complete -------------------------------------------------------------


def fed(front_end: TextFrontEnd, *deltas: str) -> list[list[str]]:
    return [front_end.feed(d) for d in deltas]


@pytest.mark.parametrize(
    "prefix", ["", "- ", "1. ", "> ", "> - ", "- [ ] ", "[^1]: ", "Intro line\n", "See [a](b) "]
)
def test_a_sentence_is_spoken_before_its_block_ends(prefix):
    front_end = TextFrontEnd()
    first = fed(front_end, prefix + "The first sentence is complete. ", "The sec")
    assert first[0] + first[1] == [
        ("Intro line " if prefix.startswith("Intro") else "")
        + ("See a " if prefix.startswith("See") else "")
        + "The first sentence is complete."
    ]


# Fed one character at a time, the front end gives out each sentence as soon as the text so far,
# fed whole, gives it out: a list item when the next item starts, a line ended by a lone "\r",
# the sentence after a code block, a sentence cut for its length.
ON_TIME = [
    "- first item\n- second item\n\n1. one\n2. two\n> a quote\n- item\n# Heading\nText.\n",
    "Intro\r- one\r- two\r\rPara line\rgoes on\r\rEnd.",
    "```\ncode. More code.\n~~~\n```\nAfter it. Next one.\n\n~~~ py\nx\n~~~\nDone. Yes.\n",
    "word " * 60 + "end. Next.\n",
    "Then:\n\n```\nfoo\n---\n```\n\nThe line after the code block. It goes on.\n\n    code\n\nText. More.\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter the table. Next one.\n",
    # a blank line that ends a block not yet said (a table of names only, raw HTML)
    "| a | b |\n|---|---|\n\n<div>\nText in a block.\n</div>\n\nAfter it.\n",
]


@pytest.mark.parametrize("markdown", ON_TIME)
def test_each_sentence_comes_out_as_soon_as_its_text_is_in(markdown):
    front_end = TextFrontEnd()
    given = []
    for i, char in enumerate(markdown, 1):
        given += front_end.feed(char)
        assert given == TextFrontEnd().feed(markdown[:i]), repr(markdown[:i])


def test_table_rows_and_headings_are_spoken_at_the_end_of_their_line():
    front_end = TextFrontEnd()
    assert front_end.feed("# A heading\n") == ["A heading"]
    assert front_end.feed("| speed | unit |\n|---|---|\n| 3 | ms |\n") == ["speed: 3, unit: ms"]
    assert front_end.feed("| 4 | s") == []  # the row may go on
    assert front_end.feed(" |\n") == ["speed: 4, unit: s"]


def test_a_construct_still_open_holds_back_only_what_comes_after_it():
    front_end = TextFrontEnd()
    assert front_end.feed("The first one is done now. Then `a code") == [
        "The first one is done now."
    ]
    assert front_end.feed(" span with. stops` ends. Next one") == [
        "Then a code span with. stops ends."
    ]
    front_end = TextFrontEnd()
    assert front_end.feed("The first one is done now. See [the long") == [
        "The first one is done now."
    ]
    assert front_end.feed(" link. text](http://x.io/a) now. Next one") == [
        "See the long link. text now."
    ]


def test_a_badge_an_image_inside_a_link_holds_nothing_back():
    front_end = TextFrontEnd(min_chars=0)
    badge = "[![Build](https://ci.io/b.svg)](https://ci.io)"
    assert front_end.feed(badge + " passes. [![PyPI](https://pypi.org/p.svg)") == []
    assert front_end.feed("](https://pypi.org) Next") == ["Build passes."]
    front_end = TextFrontEnd(min_chars=0)
    assert front_end.feed(badge + "\n[![PyPI](https://pypi.org/p.svg)") == []
    assert front_end.force() == ["Build"]  # the line is said: the next one waits for its ")"


def test_a_line_that_may_yet_head_a_table_waits_for_the_next_line():
    front_end = TextFrontEnd(min_chars=0)
    assert front_end.feed("Some intro. ") == []  # a short first line: a `|` may yet come
    assert front_end.feed("It goes on for a while. ") == ["Some intro."]
    assert front_end.feed("\n\n| speed | unit |\n") == ["It goes on for a while."]
    assert front_end.feed("|---|---|\n| 3 | ms |\n") == ["speed: 3, unit: ms"]
    front_end = TextFrontEnd(min_chars=0)
    assert front_end.feed("A | B are letters. So is the sea. ") == []
    assert front_end.feed("\nNot a table.\n\n") == [
        "A B are letters.",
        "So is the sea.",
        "Not a table.",
    ]


def test_a_line_waits_until_its_first_characters_tell_what_it_is():
    front_end = TextFrontEnd()
    assert front_end.feed("A paragraph that is open\n") == []
    assert front_end.feed("--") == []  # a setext underline, a rule, or an item?
    assert front_end.feed("-\nNext paragraph. ") == ["A paragraph that is open"]
    assert front_end.flush() == ["Next paragraph."]


def test_an_idle_flush_never_splits_a_word():
    front_end = TextFrontEnd()
    assert front_end.feed("Let me check the configu") == []
    assert front_end.force() == ["Let me check the"]
    assert front_end.feed("ration file. Done") == []  # "Done" may go on ("Doneness")
    assert front_end.force() == ["configuration file."]
    assert front_end.feed(" now") == []
    assert front_end.force() == ["Done"]
    assert front_end.feed(" and checking the logs:") == []
    assert front_end.force() == ["now and checking the logs:"]  # a stop ends a word


def test_a_long_paragraph_line_is_read_in_bounded_memory():
    cleaner = MarkdownCleaner()
    unit = "Some `code`, a [link](https://x.io/a/b) and **bold** text here. "
    words = 0
    for _ in range(2000):  # one line of 130 kB
        words += len(cleaner.feed(unit * 2).split())
        reader = cleaner._reader
        assert len(reader._partial) + sum(map(len, reader._lines)) < 8 * 1024
    words += len(cleaner.flush().split())
    assert words == 2000 * 2 * 8  # "Some code, a link and bold text here."


def test_a_paragraph_ends_where_it_ends_however_long_it_is():
    # its spoken start is dropped once COMPACT_CHARS long, also when that falls at a line's end
    for size in range(COMPACT_CHARS - 4, COMPACT_CHARS + 6):
        body = ""
        while len(body) < size:
            body += "word wo"[: max(1, size - len(body) - 1)] + "\n"
        for after in ("\nNext one.", "- Next one."):
            markdown = body + after
            for step in (1, 4, 9, len(markdown)):
                cleaner = MarkdownCleaner()
                cut = [markdown[i : i + step] for i in range(0, len(markdown), step)]
                out = "".join(map(cleaner.feed, cut)) + cleaner.flush()
                said, _, last = out.rpartition("\n")
                assert last == "Next one." and "\n" not in said and "-" not in said, (size, step)


# --- plain text ------------------------------------------------------------------------------


def test_plain_text_is_not_read_as_markdown():
    text = (
        "5 * 3 = 15 and #1 <name> [1] _x_ \\n\n"
        "    an indented line, not code\n"
        "1) first and 2) second\n\n"
        "# not a heading. See https://example.com/a/b 🎉\n"
    )
    front_end = TextFrontEnd(min_chars=0, markdown=False)
    sentences = front_end.feed(text) + front_end.flush()
    assert sentences == [
        "5 * 3 = 15 and #1 <name> [1] _x_ \\n an indented line, not code 1) first and 2) second",
        "# not a heading.",
        "See example.com",
    ]
