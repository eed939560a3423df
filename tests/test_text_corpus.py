"""The front end against real-world markdown (READMEs and changelogs of the installed packages):
how much of the prose is spoken, how often markup is heard, how many words come from nowhere;
and the same sentences however the documents are cut into deltas."""

from tests.corpus import documents, figures, spoken


def test_real_markdown_is_read_as_the_parser_shows_it():
    docs = documents()
    assert len(docs) >= 20, "the test environment should hold at least 20 markdown READMEs"
    result = figures(docs)
    print(
        f"\n{result['documents']} documents, {result['prose_words']} prose words, "
        f"{result['spoken_lines']} lines spoken: {result['prose_spoken']:.2%} of the prose "
        f"spoken, markup heard on {result['markup_lines']:.2%} of lines, "
        f"{result['extra_words']:.2%} of words from neither prose nor code"
    )
    assert result["prose_spoken"] >= 0.99
    assert result["markup_lines"] <= 0.002, result["markup_examples"]
    assert result["extra_words"] <= 0.005


def test_real_markdown_in_deltas_gives_the_same_sentences():
    for name, markdown in documents():
        assert spoken(markdown, delta_chars=4) == spoken(markdown), name
