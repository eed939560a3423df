"""XTTS v2's text front end: a sentence and its language to the GPT's text token ids.

The ids equal those coqui-tts's `Xtts.inference` feeds its GPT: the sentence is stripped and
lowercased, spelt out for its language (`lang/`), romanised for Chinese (pypinyin), Korean
(ko-speech-tools) and Japanese (cutlet), prefixed with its language token, and its spaces become
`[SPACE]` before the BPE in `vocab.json` splits it. Neither torch nor coqui is imported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from tokenizers import Tokenizer as BpeTokenizer

from ..errors import MlxStreamError
from .lang.cleaners import clean

LANGUAGES = (
    "en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh-cn", "hu", "ko", "ja", "hi",
)  # fmt: skip
# Characters per sentence above which XTTS may cut the speech short; long text is split below them.
CHAR_LIMITS = {
    "en": 250, "de": 253, "fr": 273, "es": 239, "it": 213, "pt": 203, "pl": 224, "zh": 82, "ar": 166,
    "cs": 186, "ru": 182, "nl": 251, "tr": 226, "ja": 71, "hu": 224, "ko": 95, "hi": 150,
}  # fmt: skip
MAX_TEXT_TOKENS = 402  # `gpt_max_text_tokens` of the released model


def base_language(language: str) -> str:
    """The code XTTS's text rules use, the part before any "-": `zh-cn` -> `zh`."""
    base = language.split("-")[0]
    if base not in CHAR_LIMITS:
        raise MlxStreamError(
            f"XTTS does not speak language '{language}': use one of {', '.join(LANGUAGES)}"
        )
    return base


class Tokenizer:
    """Text to XTTS text-token ids. Build it with `Tokenizer.from_file(model_dir / "vocab.json")`."""

    char_limits = CHAR_LIMITS

    def __init__(self, bpe: BpeTokenizer, max_tokens: int = MAX_TEXT_TOKENS):
        self._bpe = bpe
        self.max_tokens = max_tokens
        self.start_id = self._special_id("[START]")
        self.stop_id = self._special_id("[STOP]")
        # What coqui sizes the GPT's text embedding by.
        self.vocab_size = max(bpe.get_vocab().values()) + 1

    @classmethod
    def from_file(cls, vocab_json: str | Path, max_tokens: int = MAX_TEXT_TOKENS) -> Tokenizer:
        try:
            bpe = BpeTokenizer.from_file(str(vocab_json))
        except Exception as e:
            raise MlxStreamError(f"cannot read XTTS vocabulary {vocab_json}: {e}") from None
        return cls(bpe, max_tokens)

    def _special_id(self, token: str) -> int:
        token_id = self._bpe.token_to_id(token)
        if token_id is None:
            raise MlxStreamError(f"this vocab.json has no {token} token: use XTTS v2's vocab.json")
        return token_id

    def char_limit(self, language: str) -> int:
        return CHAR_LIMITS[base_language(language)]

    def preprocess(self, text: str, language: str) -> str:
        """`text` spelt out and romanised as XTTS reads it (coqui's `preprocess_text`)."""
        lang = base_language(language)
        if lang == "ja":
            return _romaji()(text).lower()
        text = clean(text, lang)
        if lang == "zh":
            return _pinyin()(text)
        if lang == "ko":
            return _hangul_romanize()(text)
        return text

    def encode(self, text: str, language: str) -> list[int]:
        """The GPT's text ids for one sentence, without `[START]`/`[STOP]` (the GPT adds them)."""
        lang = base_language(language)
        text = text.strip().lower()
        if len(text) > CHAR_LIMITS[lang]:
            print(
                f"mlx-stream: XTTS may cut short text over {CHAR_LIMITS[lang]} characters in "
                f"'{lang}': {text[:50]}...",
                file=sys.stderr,
                flush=True,
            )
        prefix = "zh-cn" if lang == "zh" else lang
        text = f"[{prefix}]{self.preprocess(text, lang)}".replace(" ", "[SPACE]")
        ids = self._bpe.encode(text).ids
        if len(ids) >= self.max_tokens:
            raise MlxStreamError(
                f"XTTS reads at most {self.max_tokens - 1} text tokens at once and this sentence "
                f"is {len(ids)}: split it into shorter ones (under {CHAR_LIMITS[lang]} characters)"
            )
        return ids


def _missing(language: str, package: str, extra: str) -> MlxStreamError:
    return MlxStreamError(f"XTTS needs {package} for {language}: pip install 'mlx-stream[{extra}]'")


@cache
def _romaji() -> Callable[[str], str]:
    try:
        import cutlet

        return cutlet.Cutlet().romaji
    except (ImportError, RuntimeError):  # RuntimeError: fugashi without a dictionary
        raise _missing("Japanese", "cutlet", "ja") from None


@cache
def _pinyin() -> Callable[[str], str]:
    try:
        import pypinyin
    except ImportError:
        raise _missing("Chinese", "pypinyin", "zh") from None

    def pinyin(text: str) -> str:
        syllables = pypinyin.pinyin(
            text, style=pypinyin.Style.TONE3, heteronym=False, neutral_tone_with_five=True
        )
        return "".join(choices[0] for choices in syllables)

    return pinyin


@cache
def _hangul_romanize() -> Callable[[str], str]:
    try:
        from ko_speech_tools import hangul_romanize
    except ImportError:
        raise _missing("Korean", "ko-speech-tools", "ko") from None
    return hangul_romanize
