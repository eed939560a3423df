"""Properties of the text front end, checked on generated input (hypothesis)."""

import io
import json
import os
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mlx_stream.text import MarkdownCleaner, TextFrontEnd, markup, read_deltas
from mlx_stream.text.stats import IngestStats

# TEXT_EXAMPLES=3000 searches harder (minutes instead of seconds)
SETTINGS = settings(max_examples=int(os.environ.get("TEXT_EXAMPLES", 200)), deadline=None)

# Pieces that exercise every rule of the cleaner and the segmenter when strung together.
ATOMS = [
    "a", "b", "Word", "z", "1", "42", " ", " ", "  ", "\n", "\n", "\n\n", "\t", "    ", ".", ". ", "!",
    "?", ",", ";", ":", "*", "**", "_", "__", "~~", "`", "```", "~~~", "```py\n", "#", "# ", "## ",
    "- ", "* ", "1. ", "2) ", "> ", "|", "| a | b |", "|---|", "[", "]", "(", ")", "](", "![",
    "[x](http://u.io/p)", "<", ">", "<b>", "</b>", "<br/>", "<https://a.io/x>", "http://",
    "https://x.io/a/b.html", "www.", "www.w.com", "/", "\\", "src/a.py", "~/x/y.txt", "C:\\d\\e.md",
    "and/or", "snake_case", "__init__.py", "e.g.", "U.S.", "Dr.", "3.14", "v1.2.3", "Node.js", "...",
    "…", '"', "'", "”", "’", "(", "。", "、", "！", "日本語", "🎉", "👍🏽", "&amp;", "&lt;", "\r",
    "\r\n", "\x00", "é", "\u00a0", "\u200b", "---", "***",
]  # fmt: skip

markdownish = st.lists(st.sampled_from(ATOMS), max_size=60).map("".join)


@st.composite
def cut(draw, text_strategy=markdownish):
    """A text and a way of cutting it into deltas."""
    text = draw(text_strategy)
    points = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *points, len(text)]
    return text, [text[i:j] for i, j in zip(bounds, bounds[1:], strict=False)]


def front_end_sentences(deltas, **kwargs) -> list[str]:
    front_end = TextFrontEnd(**kwargs)
    out = [s for d in deltas for s in front_end.feed(d)]
    return out + front_end.flush()


@SETTINGS
@given(cut())
def test_any_cut_gives_the_same_clean_text(case):
    text, deltas = case
    whole, pieces = MarkdownCleaner(), MarkdownCleaner()
    expected = whole.feed(text) + whole.flush()
    assert "".join(pieces.feed(d) for d in deltas) + pieces.flush() == expected
    assert whole.stats.counts == pieces.stats.counts


@SETTINGS
@given(cut(), st.sampled_from([(200, 16), (40, 0), (71, 10), (12, 6)]))
def test_any_cut_gives_the_same_sentences(case, limits):
    text, deltas = case
    max_chars, min_chars = limits
    expected = front_end_sentences([text], max_chars=max_chars, min_chars=min_chars)
    assert front_end_sentences(deltas, max_chars=max_chars, min_chars=min_chars) == expected
    assert all(len(s) <= max_chars for s in expected)


@SETTINGS
@given(cut())
def test_one_character_at_a_time_gives_the_same_sentences(case):
    text, _ = case
    assert front_end_sentences(list(text)) == front_end_sentences([text])


@SETTINGS
@given(markdownish)
def test_no_code_fence_url_or_markup_is_spoken(text):
    for sentence in front_end_sentences([text]):
        assert "```" not in sentence and "~~~" not in sentence and "`" not in sentence
        assert "://" not in sentence and not re.search(r"\bwww\.[A-Za-z0-9]", sentence)
        assert "<b>" not in sentence and "**" not in sentence and "\x00" not in sentence
        assert sentence == sentence.strip() and "\n" not in sentence and "  " not in sentence


# --- every prose word survives -------------------------------------------------------------
# Prose words start with "q"; code and addresses are made of words that do not, so the words
# of the output that start with "q" must be exactly the prose, in order.

prose_word = st.text("abcdefghij", min_size=1, max_size=6).map(lambda w: "q" + w)
punctuation = st.sampled_from(["", "", "", ",", ".", "!", "?", ";", ":", "..."])


@st.composite
def inline_word(draw):
    word = draw(prose_word)
    style = draw(st.sampled_from(["plain"] * 6 + ["bold", "em", "code", "link", "strike", "quote"]))
    wrapped = {
        "plain": word,
        "bold": f"**{word}**",
        "em": f"_{word}_",
        "code": f"`{word}`",
        "link": f"[{word}](https://zz.example.com/zpath/zfile.zz)",
        "strike": f"~~{word}~~",
        "quote": f'"{word}"',
    }[style]
    return [word], wrapped + draw(punctuation)


@st.composite
def prose_line(draw):
    words, parts = [], []
    for _ in range(draw(st.integers(1, 8))):
        extra = draw(
            st.sampled_from([None] * 8 + ["https://zz.io/zdir/zfile.zz", "src/zdir/zfile.zz", "🎉"])
        )
        if extra:
            parts.append(extra)
        w, text = draw(inline_word())
        words += w
        parts.append(text)
    return words, " ".join(parts)


@st.composite
def markdown_block(draw):
    kind = draw(
        st.sampled_from(["paragraph", "heading", "list", "numbered", "quote", "code", "table"])
    )
    if kind == "code":
        body = "\n".join(draw(st.lists(st.text("zxy =()", min_size=1, max_size=12), max_size=4)))
        return [], f"```{draw(st.sampled_from(['', 'python', 'bash']))}\n{body}\n```"
    if kind == "table":  # read row by row, each cell after its column's name
        cells = draw(st.lists(prose_word, min_size=2, max_size=6))
        head, rows = cells[:2], list(zip(cells[2::2], cells[3::2], strict=False))
        lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
        lines += [f"| {a} | {b} |" for a, b in rows]
        words = [w for a, b in rows for w in (head[0], a, head[1], b)]
        return words or head, "\n".join(lines)
    lines = draw(st.lists(prose_line(), min_size=1, max_size=3))
    words = [w for line_words, _ in lines for w in line_words]
    texts = [text for _, text in lines]
    if kind == "heading":
        return words[: len(lines[0][0])], "## " + texts[0]
    prefix = {"paragraph": "", "list": "- ", "numbered": "1. ", "quote": "> "}[kind]
    return words, "\n".join(prefix + text for text in texts)


@SETTINGS
@given(st.lists(markdown_block(), min_size=1, max_size=6), st.data())
def test_every_prose_word_is_spoken_in_order(blocks, data):
    words = [w for block_words, _ in blocks for w in block_words]
    document = "\n\n".join(text for _, text in blocks)
    points = sorted(data.draw(st.lists(st.integers(0, len(document)), max_size=8)))
    bounds = [0, *points, len(document)]
    deltas = [document[i:j] for i, j in zip(bounds, bounds[1:], strict=False)]
    spoken = " ".join(front_end_sentences(deltas))
    assert re.findall(r"\bq[a-j]*", spoken) == words
    assert "zx" not in spoken and "zpath" not in spoken and "zdir" not in spoken


# --- nothing raises -----------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from(["auto", "text", "claude-json"]))
def test_arbitrary_bytes_never_raise(data, format):
    sentences = front_end_sentences(read_deltas(data, format=format))
    assert all(isinstance(s, str) and "\x00" not in s for s in sentences)
    "\n".join(sentences).encode("utf-8")  # printable


@SETTINGS
@given(cut(st.text(max_size=300)))
def test_arbitrary_unicode_never_raises_and_cuts_do_not_matter(case):
    text, deltas = case
    sentences = front_end_sentences(deltas)
    assert sentences == front_end_sentences([text])
    "\n".join(sentences).encode("utf-8")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
event_types = st.sampled_from(["system", "stream_event", "assistant", "user", "result", "x"])


def maybe(strategy):
    """The right kind of value, or any JSON value in its place."""
    return strategy | json_values


block = st.fixed_dictionaries(
    {},
    optional={
        "type": maybe(st.sampled_from(["text", "thinking", "tool_use", "tool_result"])),
        "text": json_values,
        "id": json_values,
        "name": json_values,
    },
)
stream_event = st.fixed_dictionaries(
    {
        "type": st.just("stream_event"),
        "event": maybe(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(
                        [
                            "message_start",
                            "content_block_start",
                            "content_block_delta",
                            "content_block_stop",
                            "message_stop",
                        ]
                    )
                },
                optional={
                    "index": maybe(st.integers(0, 3)),
                    "content_block": maybe(block),
                    "message": maybe(st.fixed_dictionaries({"id": json_values})),
                    "delta": maybe(
                        st.fixed_dictionaries(
                            {"type": maybe(st.just("text_delta")), "text": json_values}
                        )
                    ),
                },
            )
        ),
    }
)
message_event = st.fixed_dictionaries(
    {"type": st.sampled_from(["assistant", "user"])},
    optional={
        "message": maybe(
            st.fixed_dictionaries(
                {}, optional={"id": json_values, "content": maybe(st.lists(maybe(block)))}
            )
        ),
        "parent_tool_use_id": json_values,
    },
)
loose_event = st.fixed_dictionaries({"type": event_types}, optional={
    "event": json_values, "message": json_values, "parent_tool_use_id": json_values})  # fmt: skip


@SETTINGS
@given(st.lists(stream_event | message_event | loose_event, max_size=12))
def test_malformed_claude_events_never_raise(events):
    lines = "".join(json.dumps(e) + "\n" for e in events)
    sentences = front_end_sentences(read_deltas(lines, format="claude-json"))
    assert all(isinstance(s, str) for s in sentences)


FIXTURES = sorted((Path(__file__).parent / "fixtures" / "claude").glob("*.jsonl"))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(FIXTURES), st.lists(st.integers(0, 1 << 16), max_size=30), st.booleans())
def test_any_byte_chunking_of_a_transcript_gives_the_same_sentences(path, points, tool_cues):
    data = path.read_bytes()
    bounds = [0, *sorted(p % (len(data) + 1) for p in points), len(data)]
    chunks = [data[i:j] for i, j in zip(bounds, bounds[1:], strict=False)]  # may split UTF-8 too
    expected = front_end_sentences(read_deltas(io.BytesIO(data), tool_cues=tool_cues))
    assert front_end_sentences(read_deltas(chunks, tool_cues=tool_cues)) == expected
    assert expected


CODE_ATOMS = [
    "`", "``", "```", "a", "b c", " ", "  ", "\n", "*", "**", "_", "~~", "x.y/z", "{", "}", "=",
    "src/a.py", "https://x.io/a", "é", "日本", "#", "|",
]  # fmt: skip


@SETTINGS
@given(st.lists(st.sampled_from(CODE_ATOMS), max_size=30).map("".join))
def test_code_spans_read_without_the_parser_as_the_parser_reads_them(text):
    md = markup.parser()
    env = markup.new_env()
    env["spans"] = [text]
    tokens = []
    md.inline.parse(text, md, env, tokens)
    stats, fast_stats = IngestStats(), IngestStats()
    fast_tokens, fast_spans = markup._code_spans(text)
    assert fast_spans == env["spans"][1:]
    assert markup._speak(fast_tokens, fast_stats) == markup._speak(tokens, stats)
    assert fast_stats.counts == stats.counts
