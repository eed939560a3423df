"""Which characters end sentences, and which scripts are written without spaces between words.

The sentence marks cover every script NLLB-200 reads: the Latin . ! ? (and Greek ; as a question
mark), the full-width 。！？ of Chinese and Japanese, the danda । ॥ of Devanagari, Bengali and
their neighbours, Arabic-script ؟ ۔, Ethiopic ። ፧, Armenian ։, Myanmar ။, Khmer ។ ៕, Ol Chiki
᱾ ᱿ and the Tibetan shad.
"""

import re

# End a sentence only before a space and a word that is not lower case (abbreviations, decimals
# and versions are told apart in segment.py); "।" and "؟" are usually followed by a space anyway.
WEAK_STOPS = ".!?…‼⁇⁈⁉།"
# End a sentence right where they stand: these scripts put no space after them, or never use
# them inside a sentence.
STRONG_STOPS = "。！？｡।॥؟۔።፧։။។៕᱾᱿༎\u037e"  # the last: the Greek question mark
GREEK_QUESTION = ";"  # ASCII ";" after a Greek word is how most Greek text types "?"
STOPS = WEAK_STOPS + STRONG_STOPS
CLOSERS = "\"')]}”’»›」』）】》〉〕〗〙｣"
CLAUSE_MARKS = "、，；：،؛"

_GREEK = re.compile("[\u0370-\u03ff\u1f00-\u1fff]")

# Scripts written without spaces between words (CJK, kana, Thai, Lao, Khmer, Myanmar, Tibetan),
# their punctuation, and the strong stops: a text may be cut after any of them.
NO_SPACE = (
    "\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff\u3000-\u30ff"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff01-\uff9f"
    "\U00020000-\U0003134f" + re.escape(STRONG_STOPS + "၊")
)
# Characters that take two columns: for judging a sentence's length, one counts as two letters.
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]"
)


def is_greek(char: str) -> bool:
    return bool(_GREEK.match(char))


def weighted_length(text: str) -> int:
    """Length in letters, with each wide (CJK, kana, Hangul) character counted twice."""
    n = len(text)
    return n + len(_WIDE.findall(text)) if not text.isascii() else n
