"""Text as XTTS v2 expects it in every language but Japanese: numbers and symbols as words.

The steps and their order are coqui-tts's `multilingual_cleaners`, because the model was trained on
text made this way: drop double quotes, lowercase, numbers to words, abbreviations, symbols, then
single spaces. Chinese numbers go through `zh_numbers` instead of num2words.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from functools import cache, partial

from num2words import num2words

from ...errors import MlxStreamError
from . import tables
from .zh_numbers import normalize_chinese_numbers

# `\d` (any script's digits) where the grouping and currency rules are, `[0-9]` where the rest are:
# Arabic-Indic digits lose their separators but are never spelt out.
_COMMA_GROUPED = re.compile(r"\b\d{1,3}(?:,\d{3})*(?:\.\d+)?\b")
# Any character may separate the groups here (coqui's pattern leaves its dot unescaped); only full
# stops are removed from what it finds.
_DOT_GROUPED = re.compile(r"\b\d{1,3}(?:[^\n]\d{3})*(?:,\d+)?\b")
_DECIMAL = re.compile(r"[0-9]+[.,][0-9]+")
_INTEGER = re.compile(r"[0-9]+")
_CURRENCIES = (("GBP", "£"), ("USD", "$"), ("EUR", "€"))


def clean(text: str, lang: str) -> str:
    """coqui's `multilingual_cleaners(text, lang)` for every XTTS language but `ja`."""
    text = text.replace('"', "")
    if lang == "tr":
        text = text.replace("İ", "i").replace("Ö", "ö").replace("Ü", "ü")
    text = text.lower()
    text = normalize_chinese_numbers(text) if lang == "zh" else _numbers_to_words(text, lang)
    for pattern, expansion in _abbreviations(lang):
        text = pattern.sub(expansion, text)
    text = _symbols_to_words(text, lang)
    return re.sub(r"\s+", " ", text).strip()


def _numbers_to_words(text: str, lang: str) -> str:
    if lang in tables.COMMA_THOUSANDS:
        text = _COMMA_GROUPED.sub(lambda m: m.group(0).replace(",", ""), text)
    else:
        text = _DOT_GROUPED.sub(lambda m: m.group(0).replace(".", ""), text)
    # num2words knows only some currencies per language: the first one it cannot say ends this
    # step, and what it left is read as symbols and plain numbers.
    with contextlib.suppress(Exception):
        for code, sign in _CURRENCIES:
            text = _currency_pattern(sign).sub(partial(_say_amount, currency=code, lang=lang), text)
    if lang != "tr":
        text = _DECIMAL.sub(_speller(lang, lambda s: float(s.replace(",", "."))), text)
    text = _ordinal_pattern(lang).sub(_speller(lang, int, ordinal=True), text)
    return _INTEGER.sub(_speller(lang, int), text)


@cache
def _currency_pattern(sign: str) -> re.Pattern:
    amount = "[0-9.,]*[0-9]+"
    return re.compile(f"{re.escape(sign)}{amount}|{amount}{re.escape(sign)}")


def _say_amount(m: re.Match, currency: str, lang: str) -> str:
    amount = float(re.sub(r"[^\d.]", "", m.group(0).replace(",", ".")))
    spoken = num2words(amount, to="currency", currency=currency, lang=lang)
    if amount.is_integer():
        cents = spoken.rfind(tables.CURRENCY_AND.get(lang, tables.CURRENCY_AND_DEFAULT))
        if cents != -1:
            spoken = spoken[:cents]
    return spoken


def _speller(lang: str, parse: Callable[[str], float], **how) -> Callable[[re.Match], str]:
    def spell(m: re.Match) -> str:
        number = m.group(1) if m.groups() else m.group(0)
        try:
            return num2words(parse(number), lang=lang, **how)
        except Exception as e:  # coqui fails here too; say why, in one line
            written = m.group(0) if len(m.group(0)) <= 24 else m.group(0)[:20] + "…"
            reason = _NUM2WORDS_FAILURES.get(type(e), f"num2words: {type(e).__name__}")
            kind = "ordinal" if how else "number"
            raise MlxStreamError(
                f"XTTS cannot read the {kind} '{written}' in '{lang}' ({reason}): write it in words"
            ) from None

    return spell


_NUM2WORDS_FAILURES = {
    NotImplementedError: "num2words cannot say it in this language",
    OverflowError: "it is too large for num2words",
}


@cache
def _ordinal_pattern(lang: str) -> re.Pattern:
    endings = []
    for ending in tables.ORDINAL_ENDINGS[lang]:
        endings.append(r"\.(?=\s|$)" if ending == ".$" else re.escape(ending))
    return re.compile(f"([0-9]+)(?:{'|'.join(endings)})")


@cache
def _abbreviations(lang: str) -> list[tuple[re.Pattern, str]]:
    end = r"\b" if lang in tables.WHOLE_WORD_ABBREVIATIONS else r"\."
    return [
        (re.compile(rf"\b{re.escape(short)}{end}", re.IGNORECASE), long)
        for short, long in tables.ABBREVIATIONS.get(lang, {}).items()
    ]


def _symbols_to_words(text: str, lang: str) -> str:
    for symbol, word in zip(tables.SYMBOLS, tables.SYMBOL_WORDS[lang]):
        text = text.replace(symbol, f" {word} ")
    return text
