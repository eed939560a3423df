"""Words for the ear: what is left of markup once a parser has read it, emoji, URLs (said as their
domain), file paths (said as their file name), and inline code (said when it can be said).

Every rule looks only within a word: a run of characters between spaces or characters of the
scripts written without spaces (scripts.NO_SPACE). So a text cut at a space, or after such a
character, and cleaned piece by piece gives the same words as the text cleaned whole.
"""

import re

from .scripts import NO_SPACE

CODE_PLACEHOLDER = "a code snippet"
MAX_CODE_CHARS = 48  # longer inline code is not read out
MAX_CODE_WORDS = 6
_CODE_SYMBOLS = re.compile(r"[{}\[\];=|&\"'`$%^~\\]|([<>])")

_SEP = r"\s" + NO_SPACE
_TOKEN = f"[^{_SEP}]"
_ALONE = f"(?<![^{_SEP}])(?:%s)(?![^{_SEP}])"  # a whole word: a separator or nothing around

_URL = re.compile(
    r"(?<![A-Za-z0-9_])(?:(?:https?|ftp|file)://" + _TOKEN + r"*|www\." + _TOKEN + "*)",
    re.IGNORECASE,
)
_BARE_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9-]+\.)+(?:com|org|net|io|dev|ai|edu|gov|co|app|sh|me|info|uk|de|jp|fr)",
    re.IGNORECASE,
)
_SLASHED = re.compile(f"(?<![^{_SEP}])[^{_SEP}/\\\\]*[/\\\\]{_TOKEN}*")  # (from a word's start)
_UNDERSCORED = re.compile(_TOKEN + "*_" + _TOKEN + "*")
_STARS = re.compile(r"(?<![A-Za-z0-9])\*+|\*+(?![A-Za-z0-9])")
_STRIKE = re.compile(r"~~+")
_LONE_MARKS = re.compile(_ALONE % r"[#|\\]+")
_EMOJI_CHARS = (
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0e\ufe0f\u20e3"
    "\U000e0020-\U000e007f\u231a\u231b\u2328\u23cf\u23e9-\u23f3\u23f8-\u23fa\u3030\u303d]"
)
_EMOJI = re.compile(f"{_EMOJI_CHARS}(?:\u200d?{_EMOJI_CHARS})*")  # a joiner only between emoji
_SPACES = re.compile(r"\s+")
_LITERAL_TAG = re.compile(
    r"</?(?:a|b|br|code|div|em|hr|i|img|kbd|li|p|pre|s|span|strong|sub|sup|u)/?>", re.IGNORECASE
)
_PLAIN = re.compile(r"[A-Za-z0-9 ,.;:!?'\"()\-]*")
_OPENERS = "\"'([{“‘«*_"
_CLOSERS = "\"')]}”’»*_.,;:!?"
_LINE_NUMBER = re.compile(r"(?::\d+)+$|#L\d+(?:-L?\d+)?$")
_FILE_EXT = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")
_SCHEME = re.compile(r"^[a-z]+://", re.IGNORECASE)
_HOST_END = re.compile(r"[/?#]")
_WWW = re.compile(r"\bwww\.", re.IGNORECASE)
_PATH_SEP = re.compile(r"[/\\]")
_LETTER = re.compile(r"[A-Za-z]")
_ROOTED = re.compile(r"(?:~|\.{1,2})?/.|[A-Za-z]:\\.")
_DASHED = re.compile(r"[_\-]")


def speak_text(text: str) -> str:
    """Text a markdown parser left (emphasis markers kept where they stood), for the ear:
    emphasis and strike markers, stray backticks, lone # | and backslashes, and emoji go; URLs
    become their domain, paths their file name; runs of white space become one space."""
    if _PLAIN.fullmatch(text) and "www." not in text.lower():
        return _one_space(text)
    if "`" in text:
        text = text.replace("`", "")
    if "<" in text:  # a tag the parser left as text (it was escaped): not said either
        text = _LITERAL_TAG.sub(" ", text)
    if "*" in text:
        text = _STARS.sub("", text)
    if "~" in text:
        text = _STRIKE.sub("", text)
    if "_" in text:
        text = _UNDERSCORED.sub(_strip_underscores, text)
    if "#" in text or "|" in text or "\\" in text:
        text = _LONE_MARKS.sub("", text)
    return speak_plain(text)


def speak_plain(text: str) -> str:
    """Plain text (nothing in it is markup) for the ear: URLs, paths, emoji, white space."""
    if _PLAIN.fullmatch(text) and "www." not in text.lower():
        return _one_space(text)
    return _one_space(_shorten(_EMOJI.sub("", text)))


def _one_space(text: str) -> str:
    """Runs of white space as one space."""
    return text if single_spaced(text) else _SPACES.sub(" ", text)


def single_spaced(text: str) -> bool:
    """A quick test that `text` has no white space but single spaces (every other white space
    character is unprintable); False does not tell it has."""
    return text.isprintable() and "  " not in text


def speak_code(code: str) -> str | None:
    """Inline code as words when it can be said (an identifier, a path, a short command or
    call), else None: JSON, tags, expressions and long snippets are not read symbol by symbol."""
    code = " ".join(code.split())
    if len(code) > MAX_CODE_CHARS or code.count(" ") >= MAX_CODE_WORDS:
        return None
    symbols = sum(2 if angle else 1 for angle in _CODE_SYMBOLS.findall(code))
    if symbols > 2 + len(code) // 10:
        return None
    if "*" in code or "~" in code or "`" in code:  # `**kwargs` is said "kwargs"
        code = _STRIKE.sub("", _STARS.sub("", code)).replace("`", "")
    if "<" in code:  # a tag among words: not said
        code = _LITERAL_TAG.sub(" ", code)
    return _SPACES.sub(" ", _shorten(code))


def _shorten(text: str) -> str:
    """URLs to their domain, paths to their file name."""
    if "/" in text or "\\" in text or "www." in text.lower():
        text = _URL.sub(_short_url, text)
        text = _SLASHED.sub(_short_path, text)
    return text


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
    if body.lower() == "www":  # "www." and no more (code may follow): nothing to say
        return tail[1:]
    if body.lower().startswith("file:"):
        return _file_name(body[5:].lstrip("/")) + tail
    host = _SCHEME.sub("", body)
    host = _HOST_END.split(host, maxsplit=1)[0].rsplit("@", 1)[-1].split(":")[0]
    host = _WWW.sub("", host).strip(".-")
    return host + tail


def _short_path(m: re.Match) -> str:
    token = m.group(0)
    lead, core, tail = _split_punctuation(token)
    if not _is_path(core):
        return token
    domain = _PATH_SEP.split(core, maxsplit=1)[0]
    if _BARE_DOMAIN.fullmatch(domain):
        return lead + domain + tail
    return lead + _file_name(core) + tail


def _is_path(core: str) -> bool:
    if not _LETTER.search(core):
        return False  # 24/7, 1/2, 11/25/2026
    if _ROOTED.match(core):
        return True
    parts = _PATH_SEP.split(core)
    if len(parts) >= 3:
        return True
    first, last = parts
    if not first:
        return False
    if not last:
        return "\\" not in core  # src/
    if first[0].isupper() and last[0].isupper() and not _DASHED.search(first):
        return False  # Deno/Node.js, TCP/IP
    return bool(_FILE_EXT.search(_without_line_number(last)))


def _file_name(path: str) -> str:
    parts = [p for p in _PATH_SEP.split(path) if p]
    return _without_line_number(parts[-1]) if parts else ""


def _without_line_number(name: str) -> str:
    return _LINE_NUMBER.sub("", name) if ":" in name or "#" in name else name


def _strip_underscores(m: re.Match) -> str:
    lead, core, tail = _split_punctuation(m.group(0))
    inner = core.strip("_")
    if not inner:
        return m.group(0)
    if "_" not in inner:  # _emphasis_, __strong__, or one end of a longer _emphasis span
        return lead.replace("_", "") + inner + tail.replace("_", "")
    return m.group(0)  # snake_case, __init__.py
