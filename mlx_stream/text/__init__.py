"""The text front end: input streams -> text deltas -> clean, speakable sentences.

for delta in read_deltas(sys.stdin.buffer, format="auto", stats=stats):
    for sentence in front_end.feed(delta): ...
"""

from .clean import MarkdownCleaner
from .frontend import TextFrontEnd, clean_sentences, iter_sentences, print_sentences
from .ingest import FORMATS, ClaudeStreamReader, read_deltas
from .inline import clean_inline
from .segment import DEFAULT_MAX_CHARS, DEFAULT_MIN_CHARS, SentenceSegmenter, split_sentences
from .stats import IngestStats

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MIN_CHARS",
    "FORMATS",
    "ClaudeStreamReader",
    "IngestStats",
    "MarkdownCleaner",
    "SentenceSegmenter",
    "TextFrontEnd",
    "clean_inline",
    "clean_sentences",
    "iter_sentences",
    "print_sentences",
    "read_deltas",
    "split_sentences",
]
