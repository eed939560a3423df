"""Cleaning within a line: markup, links, tags, emoji out; URLs to their domain, paths to their
file name. Every rule looks only within a word, or within a link or tag that `safe_cut` never cuts
through, so cleaning the pieces of a line gives the same text as cleaning it whole.
"""

import re

SEPARATORS = " 。！？、，"
_TOKEN = r"[^\s。！？、，]"
_ALONE = r"(?<![^\s。！？、，])(?:%s)(?![^\s。！？、，])"  # a whole word: spaces or nothing around

_LINK = r"!?\[([^\[\]\n]{0,1000})\]\([^()\s]{0,2000}\)"
_AUTOLINK = r"<([A-Za-z][A-Za-z0-9+.-]*:[^\s<>]{0,2000})>"
_TAG = r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]{0,500})?/?>"
_CONSTRUCT = re.compile(f"{_LINK}|{_AUTOLINK}|{_TAG}")
_CONSTRUCT_AT = re.compile(f"{_LINK[2:]}|{_AUTOLINK}|{_TAG}")  # matched at a "[" or "<"
_CONSTRUCT_PREFIX = re.compile(
    r"\[[^\[\]\n]{0,1000}(?:\](?:\([^()\s]{0,2000})?)?"
    r"|<(?:/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]{0,500})?/?"
    r"|[A-Za-z][A-Za-z0-9+.-]*(?::[^\s<>]{0,2000})?|/)?"
)
_OPEN_OR_SEP = re.compile(r"[\[< 。！？、，]")

_PLAIN = re.compile(r"[A-Za-z0-9 ,.;:!?'\"()\-]*")
_URL = re.compile(r"\b(?:https?|ftp|file)://" + _TOKEN + r"*|\bwww\." + _TOKEN + "+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9-]+\.)+(?:com|org|net|io|dev|ai|edu|gov|co|app|sh|me|info|uk|de|jp|fr)",
    re.IGNORECASE,
)
_SLASHED = re.compile(r"[^\s/\\。！？、，]*[/\\]" + _TOKEN + "*")
_UNDERSCORED = re.compile(_TOKEN + "*_" + _TOKEN + "*")
_STARS = re.compile(r"(?<![A-Za-z0-9])\*+|\*+(?![A-Za-z0-9])")
_STRIKE = re.compile(r"~~+")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_LONE_BACKSLASH = re.compile(_ALONE % r"\\+")
_LONE_MARKS = re.compile(_ALONE % r"[#|]+")
_CHECKBOX_OR_FOOTNOTE = re.compile(_ALONE % r"\[[ xX]\]" + r"|\[\^[^\]\s]{1,20}\]")
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|nbsp|#39);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": " ", "#39": "'"}
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0e\ufe0f\u200d\u20e3"
    "\U000e0020-\U000e007f\u231a\u231b\u2328\u23cf\u23e9-\u23f3\u23f8-\u23fa\u3030\u303d]"
)
_SPACES = re.compile(r" {2,}")
_OPENERS = "\"'([{“‘«*_"
_CLOSERS = "\"')]}”’»*_.,;:!?"
_LINE_NUMBER = re.compile(r"(?::\d+)+$|#L\d+(?:-L?\d+)?$")
_FILE_EXT = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")
_TABLE_DIVIDER = re.compile(r"\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*")


def safe_cut(text: str) -> int:
    """How much of `text` (a part of one line) can be cleaned now: up to the last separator that
    no link, tag or autolink spans, and before any that might still be completing."""
    opens = [i for i in (text.find("["), text.find("<")) if i >= 0]
    end = min(opens) if opens else len(text)
    cut = last_separator(text, end) + 1
    pos = end
    while opens:
        m = _OPEN_OR_SEP.search(text, pos)
        if m is None:
            break
        i = m.start()
        if text[i] in SEPARATORS:
            cut, pos = i + 1, i + 1
        elif full := _CONSTRUCT_AT.match(text, i):
            pos = full.end()
        elif _CONSTRUCT_PREFIX.fullmatch(text, i):
            break
        else:
            pos = i + 1
    return cut


def table_row(line: str) -> str:
    """A markdown table row as words: its cells joined by commas; the divider row says nothing."""
    if _TABLE_DIVIDER.fullmatch(line):
        return ""
    cells = re.split(r"(?<!\\)\|", line.strip())
    cleaned = (clean_inline(cell)[0].strip() for cell in cells)
    return ", ".join(cell for cell in cleaned if cell)


def last_separator(text: str, end: int) -> int:
    if text.isascii():
        return text.rfind(" ", 0, end)
    return max(text.rfind(s, 0, end) for s in SEPARATORS)


def clean_inline(text: str, in_code: bool = False) -> tuple[str, bool]:
    """Clean a piece of a line; `in_code` says whether an inline code span is open. Returns the
    text (spaces collapsed) and whether a code span is still open at its end."""
    if _PLAIN.fullmatch(text) and "www." not in text.lower():
        return _SPACES.sub(" ", text), in_code
    text = _CONSTRUCT.sub(_construct_text, text)
    text = _CHECKBOX_OR_FOOTNOTE.sub("", text)
    parts = text.split("`")
    cleaned = []
    for i, part in enumerate(parts):
        if i:
            in_code = not in_code
        if part:
            cleaned.append(_strip_markup(part, in_code))
    return _SPACES.sub(" ", _shorten(_EMOJI.sub("", "".join(cleaned)))), in_code


def _construct_text(m: re.Match) -> str:
    if m.group(1) is not None:  # a link or an image keeps its text
        return m.group(1)
    if m.group(2) is not None:  # <https://...>: the address, shortened later
        return m.group(2)
    return " "  # an HTML tag


def _strip_markup(text: str, code: bool) -> str:
    if "*" in text:  # also in code: `**kwargs` is said "kwargs"
        text = _STARS.sub("", text)
    if "~" in text:
        text = _STRIKE.sub("", text)
    if not code:
        if "_" in text:
            text = _UNDERSCORED.sub(_strip_underscores, text)
        if "\\" in text:
            text = _LONE_BACKSLASH.sub("", _ESCAPE.sub(r"\1", text))
    return text


def _shorten(text: str) -> str:
    """URLs to their domain, paths to their file name; after the markup is gone, so that nothing
    it hid (a URL in *stars*, split by backticks) escapes."""
    if "/" in text or "\\" in text or "www." in text.lower():
        text = _URL.sub(_short_url, text)
        text = _SLASHED.sub(_short_path, text)
    if "&" in text:
        text = _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)
    return _LONE_MARKS.sub("", text)


def _split_punctuation(token: str) -> tuple[str, str, str]:
    core = token.lstrip(_OPENERS)
    lead = token[: len(token) - len(core)]
    stripped = core.rstrip(_CLOSERS)
    return lead, stripped, core[len(stripped) :]


def _short_url(m: re.Match) -> str:
    url = m.group(0)
    body = url.rstrip(".,;:!?'\"”’*_")
    while (body.endswith(")") and body.count("(") < body.count(")")) or (
        body.endswith("]") and body.count("[") < body.count("]")
    ):
        body = body[:-1].rstrip(".,;:!?'\"”’*_")
    tail = url[len(body) :]
    if body.lower().startswith("file:"):
        return _file_name(body[5:].lstrip("/")) + tail
    host = re.sub(r"^[a-z]+://", "", body, flags=re.IGNORECASE)
    host = re.split(r"[/?#]", host, maxsplit=1)[0].rsplit("@", 1)[-1].split(":")[0]
    host = re.sub(r"\bwww\.", "", host, flags=re.IGNORECASE).strip(".-")
    return host + tail


def _short_path(m: re.Match) -> str:
    token = m.group(0)
    lead, core, tail = _split_punctuation(token)
    if not _is_path(core):
        return token
    if _BARE_DOMAIN.fullmatch(re.split(r"[/\\]", core, maxsplit=1)[0]):
        return lead + re.split(r"[/\\]", core, maxsplit=1)[0] + tail
    return lead + _file_name(core) + tail


def _is_path(core: str) -> bool:
    if not re.search(r"[A-Za-z]", core):
        return False  # 24/7, 1/2, 11/25/2026
    if re.match(r"(?:~|\.{1,2})?/.|[A-Za-z]:\\.", core):
        return True
    parts = re.split(r"[/\\]", core)
    if len(parts) >= 3:
        return True
    first, last = parts
    if not first:
        return False
    if not last:
        return "\\" not in core  # src/
    if first[0].isupper() and last[0].isupper() and not re.search(r"[_\-]", first):
        return False  # Deno/Node.js, TCP/IP
    return bool(_FILE_EXT.search(_LINE_NUMBER.sub("", last)))


def _file_name(path: str) -> str:
    parts = [p for p in re.split(r"[/\\]", path) if p]
    return _LINE_NUMBER.sub("", parts[-1]) if parts else ""


def _strip_underscores(m: re.Match) -> str:
    lead, core, tail = _split_punctuation(m.group(0))
    inner = core.strip("_")
    if not inner:
        return m.group(0)
    if "_" not in inner:  # _emphasis_, __strong__, or one end of a longer _emphasis span
        return lead.replace("_", "") + inner + tail.replace("_", "")
    return m.group(0)  # snake_case, __init__.py
