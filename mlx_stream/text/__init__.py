"""The text front end: input streams -> text deltas -> clean, speakable sentences.

for delta in read_deltas(sys.stdin.buffer, format="auto", stats=stats):
    for sentence in front_end.feed(delta): ...
"""

from .clean import MarkdownCleaner, PlainCleaner
from .frontend import TextFrontEnd, clean_sentences, iter_sentences, print_sentences
from .ingest import FORMAT_HELP, FORMATS, ClaudeStreamReader, read_deltas
from .segment import DEFAULT_MAX_CHARS, DEFAULT_MIN_CHARS, SentenceSegmenter, split_sentences
from .stats import IngestStats

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MIN_CHARS",
    "FORMATS",
    "FORMAT_HELP",
    "ClaudeStreamReader",
    "IngestStats",
    "MarkdownCleaner",
    "PlainCleaner",
    "SentenceSegmenter",
    "TextFrontEnd",
    "clean_sentences",
    "iter_sentences",
    "print_sentences",
    "read_deltas",
    "split_sentences",
]
