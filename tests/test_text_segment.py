"""Sentence segmentation: a table of cases, agreement with pysbd, length limits, streaming."""

import pysbd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlx_stream.errors import MlxStreamError
from mlx_stream.text import SentenceSegmenter, TextFrontEnd, clean_sentences, split_sentences


def sentences(text, max_chars=1000, min_chars=0):
    return split_sentences(text, max_chars=max_chars, min_chars=min_chars)


CASES = [
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("One! Two? Three.", ["One!", "Two?", "Three."]),
    ("Use e.g. this or i.e. that. Done.", ["Use e.g. this or i.e. that.", "Done."]),
    ("Pi is 3.14. Version v1.2.3 works.", ["Pi is 3.14.", "Version v1.2.3 works."]),
    ("I use Node.js daily. It is fast.", ["I use Node.js daily.", "It is fast."]),
    ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
    ("The U.S. Army is large. It is old.", ["The U.S. Army is large.", "It is old."]),
    ("J. K. Rowling wrote it. Good.", ["J. K. Rowling wrote it.", "Good."]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ("(This is aside.) Back to it.", ["(This is aside.)", "Back to it."]),
    ('"Really?" she asked.', ['"Really?" she asked.']),
    ("Wait... What? Nothing.", ["Wait...", "What?", "Nothing."]),
    ("Hmm… okay then. Go.", ["Hmm… okay then.", "Go."]),
    ("It was slow... and then fast.", ["It was slow... and then fast."]),
    ("See Fig. 3 for details. Also No. 5 here.", ["See Fig. 3 for details.", "Also No. 5 here."]),
    ("Released in Jan. 2024. Fixed bugs.", ["Released in Jan. 2024.", "Fixed bugs."]),
    ("This costs approx. 10 dollars. Buy it.", ["This costs approx. 10 dollars.", "Buy it."]),
    ("Meet at 5 p.m. Bring food.", ["Meet at 5 p.m.", "Bring food."]),
    ("We use grep, sed, etc. They help.", ["We use grep, sed, etc.", "They help."]),
    ("No full stop at the end", ["No full stop at the end"]),
    ("Heading\nBody sentence.", ["Heading", "Body sentence."]),
    ("今日は晴れです。明日は雨！本当？", ["今日は晴れです。", "明日は雨！", "本当？"]),
    ("「はい。」と言った。次。", ["「はい。」", "と言った。", "次。"]),
    ("Mixed English. 日本語です。End.", ["Mixed English.", "日本語です。", "End."]),
    ("Numbers like 1,000.50 stay. Ok.", ["Numbers like 1,000.50 stay.", "Ok."]),
    ("The file main.py. Open it.", ["The file main.py.", "Open it."]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ("  spaced   out  text.   Next.  ", ["spaced out text.", "Next."]),
    (". . .", []),
    ("Not great . Fine , then !", ["Not great.", "Fine, then!"]),
    ("— • —", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_segmentation(text, expected):
    assert sentences(text) == expected


PIECES = [
    "word", "Word", "a", "I", "Dr.", "e.g.", "3.14", "v2.1", "Node.js", "end.", "Stop!", "why?",
    "so...", "。", "日本", "।", ";", "καλά;", "\u201d", ")", ".)", "!?", " ", " ", "  ", "\n",
    "x" * 30, "clause,", "—",
]  # fmt: skip


@settings(max_examples=1000, deadline=None)
@example(["x" * 30, "\n", "word", "。", "word"], [1, 10, 1, 8], (24, 4))  # a hard cut first
@given(
    st.lists(st.sampled_from(PIECES), max_size=60),
    st.lists(st.integers(1, 12), min_size=1, max_size=30),
    st.sampled_from([(8, 0), (24, 4), (40, 16), (200, 16)]),
)
def test_the_sentences_do_not_depend_on_where_the_text_was_cut(pieces, cuts, limits):
    text = "".join(pieces)
    segmenter = SentenceSegmenter(*limits)
    got, i = [], 0
    for size in cuts * (len(text) // sum(cuts) + 1):
        got += segmenter.feed(text[i : i + size])
        i += size
    assert got + segmenter.flush() == split_sentences(text, *limits)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_segmentation_streamed_in_two_character_deltas(text, expected):
    segmenter = SentenceSegmenter(max_chars=1000, min_chars=0)
    got = [s for i in range(0, len(text), 2) for s in segmenter.feed(text[i : i + 2])]
    assert got + segmenter.flush() == expected


PYSBD_AGREES = [
    "Hello there. How are you today?",
    "I moved to the U.S. Army in 2010. It was hard.",
    "Use e.g. Node.js v1.2.3 or 3.14. Then stop.",
    'He said "Stop." Then he left.',
    "Wait... what happened? Nothing!",
    "Dr. Smith arrived at 5 p.m. He was late.",
    "J. R. R. Tolkien wrote it. Good book.",
    "Mr. and Mrs. Brown live on Main St. near the park. They have two dogs.",
    "The price is $3.50. That is cheap!",
    "Is it true? Yes! It is.",
    'She asked, "Are you coming?" and I said no.',
    "See Fig. 3 for details. The results are clear.",
    "Version 2.0 was released in Jan. 2024. It fixed many bugs.",
    "The file is called main.py. Open it.",
    "Prof. Lee teaches math (and physics). Students like her.",
    "I love Python! Do you? Let me know.",
    "The meeting is at 10 a.m. tomorrow. Don't be late.",
    "It was great (really great). We should go again.",
    "You can use tools like grep, sed, etc. They are useful.",
]


@pytest.mark.parametrize("text", PYSBD_AGREES)
def test_agrees_with_pysbd(text):
    reference = [s.strip() for s in pysbd.Segmenter(language="en", clean=False).segment(text)]
    assert sentences(text) == reference


def test_tiny_fragments_are_merged_with_the_next_sentence():
    assert sentences("Yes. I fixed the bug. Ok.", min_chars=16) == ["Yes. I fixed the bug.", "Ok."]
    assert sentences("Sure! Ok. That works well for me. Good.", min_chars=16) == [
        "Sure! Ok. That works well for me.",
        "Good.",  # the last piece has nothing to merge with
    ]
    # a hard break still ends a short piece: a heading is not glued to its paragraph
    assert sentences("Install\nRun the installer now.", min_chars=16) == [
        "Install",
        "Run the installer now.",
    ]


LONG = (
    "When the configuration file is missing, the loader falls back to the defaults, which are "
    "fine for a laptop but far too small for a server with many users, so you should create one "
    "before deploying and check it into version control together with the code"
)


@pytest.mark.parametrize("max_chars", [40, 71, 100, 200])
def test_long_sentences_are_split_at_clauses_then_words(max_chars):
    parts = sentences(LONG, max_chars=max_chars)
    assert all(len(p) <= max_chars for p in parts)
    assert " ".join(parts).split() == LONG.split()  # nothing lost, no word cut in two
    if max_chars == 100:
        assert (
            parts[0]
            == "When the configuration file is missing, the loader falls back to the defaults,"
        )


def test_text_without_spaces_is_cut_hard_at_the_limit():
    text = "あ" * 150 + "。"
    parts = sentences(text, max_chars=71)
    assert [len(p) for p in parts] == [71, 71, 9]
    assert "".join(parts) == text


def test_japanese_is_cut_at_commas_first():
    text = "今日はとても良い天気なので、公園に行って散歩をしたり、友達と話したりして、楽しい一日を過ごしました。"
    parts = sentences(text, max_chars=30)
    assert "".join(parts) == text
    assert all(len(p) <= 30 for p in parts)
    assert all(p.endswith(("、", "。")) for p in parts)


def test_force_gives_out_the_pending_sentence():
    segmenter = SentenceSegmenter()
    assert segmenter.feed("Let me check the logs") == []
    assert segmenter.pending == "Let me check the logs"
    assert segmenter.force() == ["Let me check the logs"]
    assert segmenter.pending == ""
    assert segmenter.feed(" and the config files. Then") == ["and the config files."]


def test_a_sentence_is_given_out_as_soon_as_the_next_one_starts():
    segmenter = SentenceSegmenter(min_chars=0)
    assert segmenter.feed("First one.") == []  # could still be "First one.js"
    assert segmenter.feed(" ") == []  # could still be "First one. the..." (lowercase: no end)
    assert segmenter.feed("S") == ["First one."]


def test_front_end_limits_and_parameters():
    front_end = TextFrontEnd(max_chars=71, min_chars=10)
    out = front_end.feed(LONG) + front_end.flush()
    assert all(len(s) <= 71 for s in out)
    with pytest.raises(MlxStreamError, match="max_chars"):
        TextFrontEnd(max_chars=3)
    with pytest.raises(MlxStreamError, match="min_chars"):
        SentenceSegmenter(max_chars=50, min_chars=40)


def test_markdown_answer_end_to_end():
    answer = (
        "## Summary\n\nThe fix is in `src/parser.py`. It handles **empty** input now.\n\n"
        "```python\ndef parse(s):\n    return s or None\n```\n\n"
        "- Tests pass on Python 3.11 and 3.12.\n- See https://github.com/org/repo/pull/42 for details.\n"
    )
    assert clean_sentences(answer) == [
        "Summary",
        "The fix is in parser.py.",
        "It handles empty input now.",
        "Tests pass on Python 3.11 and 3.12.",
        "See github.com for details.",
    ]


def test_front_end_force_after_idle_time():
    front_end = TextFrontEnd()
    assert front_end.feed("Let me check the logs\n") == []
    assert front_end.pending.strip() == "Let me check the logs"
    assert front_end.force() == ["Let me check the logs"]
    assert front_end.pending == "" and front_end.force() == []
    assert front_end.feed("Found the problem in the config. It") == []  # "It" may be "It's"
    assert front_end.feed(" was") == ["Found the problem in the config."]
    assert front_end.flush() == ["It was"]


# Sentence stops of every script NLLB reads (min_chars=0: each sentence stands alone).
SCRIPT_CASES = [
    (
        "今日はいい天気ですね。明日も晴れるでしょうか？",
        ["今日はいい天気ですね。", "明日も晴れるでしょうか？"],
    ),
    ("これはペンです。 それは本です！", ["これはペンです。", "それは本です！"]),
    ("你好！你好吗？我很好。", ["你好！", "你好吗？", "我很好。"]),
    ("「はい。」と言った。『本当？』", ["「はい。」", "と言った。", "『本当？』"]),
    ("यह एक वाक्य है। यह दूसरा है॥", ["यह एक वाक्य है।", "यह दूसरा है॥"]),
    ("এটা একটা বাক্য।এটা আরেকটা।", ["এটা একটা বাক্য।", "এটা আরেকটা।"]),
    ("هل أنت بخير؟ نعم، أنا بخير.", ["هل أنت بخير؟", "نعم، أنا بخير."]),
    ("یہ ایک جملہ ہے۔ یہ دوسرا ہے۔", ["یہ ایک جملہ ہے۔", "یہ دوسرا ہے۔"]),
    ("ይህ ዓረፍተ ነገር ነው። ሁለተኛው ይህ ነው፧", ["ይህ ዓረፍተ ነገር ነው።", "ሁለተኛው ይህ ነው፧"]),
    ("Բարեւ։ Ինչպե՞ս ես։", ["Բարեւ։", "Ինչպե՞ս ես։"]),
    ("ဒါက စာကြောင်းပါ။ ဒါက နောက်တစ်ခုပါ။", ["ဒါက စာကြောင်းပါ။", "ဒါက နောက်တစ်ခုပါ။"]),
    ("នេះជាប្រយោគ។ នេះជាប្រយោគទីពីរ៕", ["នេះជាប្រយោគ។", "នេះជាប្រយោគទីពីរ៕"]),
    ("นี่คือประโยค. นี่คืออีกประโยค.", ["นี่คือประโยค.", "นี่คืออีกประโยค."]),
    ("Τι κάνεις; Είμαι καλά.", ["Τι κάνεις;", "Είμαι καλά."]),
    ("Τι κάνεις\u037e Καλά.", ["Τι κάνεις\u037e", "Καλά."]),
    ("Use a; then b. Done.", ["Use a; then b.", "Done."]),  # an English ";" ends nothing
    ("He said “Stop.” Then left.", ["He said “Stop.”", "Then left."]),
    ("ᱱᱚᱣᱟ ᱢᱤᱫ᱾ ᱟᱨ ᱢᱤᱫ᱾", ["ᱱᱚᱣᱟ ᱢᱤᱫ᱾", "ᱟᱨ ᱢᱤᱫ᱾"]),
]


@pytest.mark.parametrize(("text", "expected"), SCRIPT_CASES)
def test_sentence_stops_of_every_script(text, expected):
    assert sentences(text) == expected
    segmenter = SentenceSegmenter(max_chars=1000, min_chars=0)
    assert [s for c in text for s in segmenter.feed(c)] + segmenter.flush() == expected


def test_a_wide_character_counts_twice_towards_the_shortest_sentence():
    # 11 Japanese characters are a whole sentence, not a fragment to merge (default min_chars)
    assert split_sentences("今日はいい天気ですね。明日も晴れるでしょうか？") == [
        "今日はいい天気ですね。",
        "明日も晴れるでしょうか？",
    ]
    assert split_sentences("はい。そうです。") == ["はい。そうです。"]  # 3 and 5: too short
