"""The markdown reader reads the commonest lines without the parser (MarkdownReader.fast). Those
paths must say exactly what the parser's reading says, call by call, on every input: checked
on real READMEs and on generated markdown, cut into deltas of every kind, with idle-time
forces between them."""

import random

from hypothesis import given
from hypothesis import strategies as st

from mlx_stream.bench.text import MARKDOWN
from mlx_stream.text import MarkdownCleaner, TextFrontEnd
from tests.corpus import documents
from tests.test_text_properties import ATOMS, SETTINGS, cut, markdown_block


def words_per_call(deltas: list[str], forces: set[int], fast: bool) -> list:
    """What the cleaner gives out for each delta (and each idle-time force), then the counts."""
    cleaner = MarkdownCleaner()
    cleaner._reader.fast = fast
    out = []
    for i, delta in enumerate(deltas):
        out.append(cleaner.feed(delta))
        if i in forces:
            out.append(("force", cleaner.force()))
    return [*out, cleaner.flush(), dict(cleaner.stats.counts)]


def sentences_per_call(deltas: list[str], forces: set[int], fast: bool) -> list:
    front_end = TextFrontEnd()
    front_end.cleaner._reader.fast = fast
    out = []
    for i, delta in enumerate(deltas):
        out.append(front_end.feed(delta))
        if i in forces:
            out.append(("force", front_end.force()))
    return [*out, front_end.flush()]


def assert_same(deltas: list[str], forces: set[int] = frozenset(), name: str = "") -> None:
    fast = words_per_call(deltas, forces, True)
    slow = words_per_call(deltas, forces, False)
    for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
        assert a == b, f"{name}: call {i} after {''.join(deltas)[-200:]!r}"
    assert sentences_per_call(deltas, forces, True) == sentences_per_call(deltas, forces, False)


# each rule of the fast paths at its edges, and each way out of them
EDGES = [
    "# One\n## Two ##\n### Three \\###\n#### Four#\n##### \n#5 no\n####### seven\n#\tTab #\t\nText.",
    "Intro:\n- one\n- two\n* three\n+ four\n1. five\n2) six\n3. seven\n\nAfter.",
    "Para\n2. lazy\n1. interrupts\n> quote\n> goes on\n- item\n# Heading\ntext\n",
    "- item\n  more\nlazy\n-    four spaces\n-     code\n-\ttab\n- [ ] task\n- [x] done\n",
    ">quote\n>    three\n>     code\n> a\n2. b\n\n1. x\n## h\n> q\n# h2\n- l\n> q2\n",
    "| a | b |\n|:--|--:|\n| 1 | 2 |\n|3|\n| 4 | 5 | 6 |\n| x \\| y | z |\n|\n   | in |\nlazy row\n\nNext.",
    "| a |\n| - |\n\n|a|b|\n|---|\n\n| a\n|--|\n| b\n\n|x|\n| :-: |\n    | code |\n\n|y|\n-|-\n",
    "|a|b|\n|-||-|\n\n|a|b|\n|-|x|\n\n|a|b|\n- | -\n\n|a|b|\n|:-:|-:\n|c|d|\n\n|a|\n\t|-|\n\n|a|b|\n|:|-|\n\n|a|b|\n|-:-|-|\n",
    "```\ncode\n```\n~~~ py\n~~~~\n\n````\n```\n`````\n\n```js `x` is code\n\n  ```\nin\n```  \nEnd.",
    "~~~ ~ tilde info\ncode\n~~~\n\n``\nnot a fence\n\n```\nnever closed\n``` x\n````\n",
    "Text\n```\n\n```\n    code\n\n<div>\nhtml\n</div>\n\n[a]: /url\n\nB\n===\n\n---\n***\n",
    "- a\n\n- b\n\n  c\n\nd\n\n> e\n\nf\n\n1. g\n\n   h\n\n|i|\n|-|\n|j|\n\n# k\n",
    "## Fixing\nThe error `x`, see **y**. Then:\n- It *works*.\n- Done! Really.\n| h |\nand more text here.",
    # lines led by a link: text, unless a definition, a footnote or a task box may yet follow
    "[a](b) c.\n[d] e\n[^1]: note\n[f]: /g\n\n[h]: /i 't'\n[j]\n\n- [k](l) m\n- [ ] n\n- [o]: /p\n",
    "> [a](b)\n> [c]: /d\n\n1. [e] f\n[g](h)\n2. [i](j)\n\n[![k](l)](m)\n[![n](o)](p)\n\n[q]:\n/r\n",
    # ... or by emphasis, strike or code markers: text, unless a rule, an item or a fence
    "*a* b\n**c**\n* d\n_e_ f\n__g__\n___\n~h~\n~~i~~\n~~~\n`j`\n``k``\n```\n\n- `l` m\n- **n**\n- *\n",
    "> **a**\n> ~~b~~ c\n\n1. _d_\n`e`\n2. `f\n\n**g\n* * *\n*h\n** i\n`` j\n",
    # found by the comparison: an image holding a link, a code span that may take in a "]"
    "Node.js42,1. Node.js![!~/x/y.txt[’#\n#* e.g.](\n;# > <b><b>~/x/y.txtWord\n],\n\nhttps",
    "a **]```py\nhttp://]__init__.py<br/>[x](http://u.io/p)~~**\n ?\n",
    "w.com![\u200b```\u200bhttp://__! Word v1.2.3]Word~~[x](http://u.io/p)**]```py\nhttp://]x\n",
    "Say ![(]( `(\n\nU.S.Word## |---|~~b|---| www.https://x.io/a/b.html\n_<br/>![. ,(]( `(**~~\n",
    "~~~|\n|---|\n| a |\n\n```x|\nnot a delimiter\n```\n",  # a fence line may head a table
    "Word    。\n<br/>\n~~  `and/or x",  # a line break, then a tag read: a space, even when idle
]


def test_each_fast_rule_reads_the_same_with_and_without_the_parser():
    for text in EDGES:
        for size in range(1, 9):
            assert_same([text[i : i + size] for i in range(0, len(text), size)], name=text)
        for i in range(len(text)):
            assert_same([text[:i], text[i:]], {0}, name=text)


def test_real_markdown_reads_the_same_with_and_without_the_parser():
    rng = random.Random(0)
    for name, text in [("bench", MARKDOWN * 2), *documents()]:
        for size in (4, 7):
            deltas = [text[i : i + size] for i in range(0, len(text), size)]
            assert_same(deltas, set(rng.sample(range(len(deltas)), 5)), f"{name} in {size}s")
        points = sorted(rng.sample(range(len(text)), len(text) // 40))
        deltas = [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]
        assert_same(deltas, set(rng.sample(range(len(deltas)), 3)), f"{name} cut at random")


@SETTINGS
@given(cut(), st.data())
def test_generated_markdown_reads_the_same_with_and_without_the_parser(case, data):
    _, deltas = case
    forces = set(data.draw(st.lists(st.integers(0, max(0, len(deltas) - 1)), max_size=3)))
    assert_same(deltas, forces)


@SETTINGS
@given(st.lists(markdown_block(), min_size=1, max_size=8), st.integers(1, 9))
def test_generated_documents_read_the_same_with_and_without_the_parser(blocks, size):
    text = "\n\n".join(markdown for _, markdown in blocks)
    assert_same([text[i : i + size] for i in range(0, len(text), size)])


def test_one_character_at_a_time_reads_the_same():
    rng = random.Random(1)
    for _ in range(300):
        text = "".join(rng.choice(ATOMS) for _ in range(rng.randrange(40)))
        assert_same(list(text), set(rng.sample(range(len(text)), min(2, len(text)))))
