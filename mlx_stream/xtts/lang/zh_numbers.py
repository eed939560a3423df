"""Chinese numbers in words, as XTTS v2 reads them before its text becomes pinyin.

This reproduces what coqui-tts's Chinese normaliser (`TextNorm()`, from chn_text_norm) does with its
default settings: dates, money, mobile and landline numbers, fractions, percentages, counted things,
long digit strings and plain numbers become Chinese numerals, in that order; then every punctuation
mark becomes ",". Each rule finds all its matches first and then rewrites the first occurrence of
each matched text, as the original does, so repeated numbers come out the same way.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

_DIGITS = "零一二三四五六七八九"
# Units by power of ten: up to 万 each step is x10, above it each step is x10^4.
_UNITS = {1: "十", 2: "百", 3: "千", 4: "万"} | {
    8 + 4 * i: unit for i, unit in enumerate("亿兆京垓秭穰沟涧正载")
}
_UNITS_BUT_TEN = "".join(u for p, u in _UNITS.items() if p > 1)
# 二 before 百/千/万/... is read 两, unless a 十 comes right before it (二十二万 keeps its 二).
_LIANG = re.compile(f"(?<![^{_UNITS_BUT_TEN}])二(?=[{_UNITS_BUT_TEN}])")

_MONEY_UNIT = "(?:[亿万元块角毛分]|[千百]万?)"
# Measure words and time units after which a number is a count (二 before them is still 两).
_COUNTERS = (
    "丈世丘丝两个丸代令件伏位冬出刀分刻勺匹升单卮厘双叠口只合名周啖回场块坡堂堆墙壳壶夏夜天头季客"
    "家寸对寻尺尾层山岁岭常幢年座张忽户手扎打担挑捆撮支斗斛斤日旬时春曲更月本条杯板枝根桶棵毫江泡溪"
    "炮煲片瓶盆盏盒盘石砣碗碟秋秒程窠笼管箩箱篮簋粒纪线罐网罗群脚腔袋袭课贯贴跳身辆辈道里针钟钧钱钵"
    "铢铺锅锱阙队阵面页顶颗首"
)
_NUMBER = r"\d+(?:\.\d+)?"

_PUNCTUATION = (
    string.punctuation
    + "".join(chr(ord(c) + 0xFEE0) for c in string.punctuation if c != ".")  # full-width forms
    + "·–—‘’‛“”„‟…‧、。〃〈〉《》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿﹏｟｠｡｢｣､"
)
_TO_COMMAS = str.maketrans(_PUNCTUATION, "," * len(_PUNCTUATION))


def read_digits(digits: str) -> str:
    """Each digit on its own, other characters dropped: 010-8888 -> 零一零八八八八."""
    return "".join(_DIGITS[int(c)] for c in digits if c.isdecimal())


def say_number(number: str) -> str:
    """A number with at most one decimal point as a Chinese numeral: 1200.5 -> 一千两百点五."""
    whole, _, fraction = number.partition(".")
    words = _with_units(whole) if len(whole) > 1 else read_digits(whole)
    if fraction:
        words += "点" + read_digits(fraction)
    words = _LIANG.sub("两", words)
    if words.startswith("点"):
        return "零" + words
    return words[1:] if words.startswith("一十") else words


def _with_units(digits: str) -> str:
    significant = digits.lstrip("0")
    if len(significant) <= 1:
        zero = "零" if significant and len(digits) > 1 else ""
        return zero + read_digits(significant)
    power = max(p for p in _UNITS if p < len(significant))
    return _with_units(digits[:-power]) + _UNITS[power] + _with_units(significant[-power:])


def _say_date(date: str) -> str:
    year, has_year, rest = date.partition("年")
    if not has_year:
        year, rest = "", date
    spoken = read_digits(year) + "年" if has_year else ""
    if rest:
        month, _, day = rest.partition("月")
        spoken += say_number(month) + "月"
        if day:
            spoken += say_number(day[:-1]) + day[-1]
    return spoken


def _say_money(money: str) -> str:
    for number in re.findall(_NUMBER, money):
        money = money.replace(number, say_number(number))
    return money


def _say_fraction(fraction: str) -> str:
    numerator, denominator = fraction.split("/")
    return say_number(denominator) + "分之" + say_number(numerator)


# (pattern whose group 1 is what to rewrite, how to say it), applied in this order.
_RULES: tuple[tuple[re.Pattern, Callable[[str], str]], ...] = tuple(
    (re.compile(pattern), say)
    for pattern, say in (
        (r"\D+((?:(?:[089]\d|19\d\d|20\d\d)年)?(?:\d{1,2}月(?:\d{1,2}[日号])?)?)", _say_date),
        (rf"\D+({_NUMBER}[多余几]?{_MONEY_UNIT}(?:\d{_MONEY_UNIT}?)?)", _say_money),
        (r"\D((?:\+?86 ?)?1(?:3\d|8\d|5[0-35-9]|7[6-8]|9[89])\d{8})\D", read_digits),
        (r"\D((?:0(?:10|2[1-3]|[3-9]\d\d)-?)?[1-9]\d{6,7})\D", read_digits),
        (r"(\d+/\d+)", _say_fraction),
        (rf"({_NUMBER}%)", lambda p: "百分之" + say_number(p.strip().strip("%"))),
        (rf"({_NUMBER})[多余几]?(?:[{_COUNTERS}]|[千微][克米])", say_number),
        (r"(\d{4,32})", read_digits),
        (rf"({_NUMBER})", say_number),
        # Undo "2" read as 二 inside Latin words: P2P, B2B, O2O.
        (r"([a-zA-Z]+二[a-zA-Z]+)", lambda word: word.replace("二", "2")),
    )
)


def normalize_chinese_numbers(text: str) -> str:
    """Numbers in Chinese text as words, and all punctuation as ",", as coqui's `TextNorm()` does."""
    text = "^" + text.replace("％", "%") + "$"  # the anchors give the rules a non-digit at each end
    for pattern, say in _RULES:
        for match in [m.group(1) for m in pattern.finditer(text)]:
            if match:
                text = text.replace(match, say(match), 1)
    return text.lstrip("^").rstrip("$").translate(_TO_COMMAS)
