"""NLLB's tokenizer: sentencepiece pieces shifted by fairseq's offset, plus special and language tokens.

Ids follow the checkpoint: `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, then sentencepiece id + 1, then the
added tokens (the 202 language codes and `<mask>`) at the ids the checkpoint's files give them.
Encoding and decoding reproduce transformers' slow `NllbTokenizer` without importing transformers.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm

from ..errors import MlxStreamError
from .languages import LANGUAGES, resolve_language

SPM_FILE = "sentencepiece.bpe.model"
FILES = (SPM_FILE, "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")

# fairseq's dictionary starts with these four; sentencepiece's own <unk> <s> </s> (ids 0-2) land on 1-3
# after the offset and are shadowed by them.
_FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
_FAIRSEQ_OFFSET = 1


@dataclass(frozen=True)
class AddedToken:
    content: str
    id: int
    special: bool = True
    lstrip: bool = False
    rstrip: bool = False


class Tokenizer:
    """Text to NLLB ids and back. Build it with `Tokenizer.from_folder(checkpoint_or_converted_folder)`."""

    def __init__(
        self,
        spm_model: spm.SentencePieceProcessor,
        added_tokens: list[AddedToken],
        clean_up_tokenization_spaces: bool = False,
        legacy_layout: bool = False,
        special_names: dict[str, str] | None = None,
        folder: Path | None = None,
    ):
        self._spm = spm_model
        self._spm_size = spm_model.get_piece_size()
        self._by_id = {t.id: t for t in added_tokens}
        self._by_content = {t.content: t for t in added_tokens}
        self._clean_up = clean_up_tokenization_spaces
        self._legacy_layout = legacy_layout
        self.folder = folder
        names = {
            "bos": "<s>",
            "pad": "<pad>",
            "eos": "</s>",
            "unk": "<unk>",
            **(special_names or {}),
        }
        self.bos_id, self.pad_id, self.eos_id, self.unk_id = (
            self._added_id(names[key]) for key in ("bos", "pad", "eos", "unk")
        )
        self.vocab_size = max(self._spm_size + _FAIRSEQ_OFFSET, max(self._by_id) + 1)
        self._lang_ids = {
            t.content: t.id
            for t in sorted(added_tokens, key=lambda t: t.id)
            if _is_language_code(t.content)
        }
        self.language_codes = tuple(self._lang_ids)
        # Longest first so that, as in transformers' trie, the longest token wins at a position.
        contents = sorted(self._by_content, key=len, reverse=True)
        self._added_pattern = re.compile("(" + "|".join(map(re.escape, contents)) + ")")
        # Every NLLB added token has "_" or "<": text without both cannot hold one, so skip the regex.
        self._markers = "_<" if all("_" in c or "<" in c for c in contents) else None

    @classmethod
    def from_folder(cls, path: str | Path) -> Tokenizer:
        folder = Path(path)
        spm_file = folder / SPM_FILE
        if not spm_file.is_file():
            raise MlxStreamError(
                f"no {SPM_FILE} in '{folder}': pass a folder with the NLLB checkpoint's tokenizer files"
            )
        processor = spm.SentencePieceProcessor()
        try:
            processor.Load(str(spm_file))
        except (OSError, RuntimeError):
            raise MlxStreamError(
                f"'{spm_file}' is not a sentencepiece model: download or convert the checkpoint again"
            ) from None
        config = _read_json(folder / "tokenizer_config.json")
        specials_map = _read_json(folder / "special_tokens_map.json")
        try:
            added = _added_tokens_from_config(config)
            if added is None:
                added = _added_tokens_from_tokenizer_json(folder / "tokenizer.json")
            if added is None:
                codes = config.get("additional_special_tokens") or specials_map.get(
                    "additional_special_tokens"
                )
                added = _fairseq_added_tokens(processor.get_piece_size(), codes or LANGUAGES)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise MlxStreamError(
                f"the added tokens in '{folder}' are malformed: download or convert the checkpoint again"
            ) from None
        names = {}
        for key in ("bos", "pad", "eos", "unk"):
            name = config.get(f"{key}_token") or specials_map.get(f"{key}_token")
            if name:
                names[key] = _content(name)
        return cls(
            processor,
            added,
            clean_up_tokenization_spaces=bool(config.get("clean_up_tokenization_spaces", False)),
            legacy_layout=bool(config.get("legacy_behaviour", False)),
            special_names=names,
            folder=folder,
        )

    def lang_id(self, code: str) -> int:
        """The id of a language token; accepts NLLB codes and the aliases `resolve_language` knows."""
        token_id = self._lang_ids.get(code)
        if token_id is None:
            token_id = self._lang_ids.get(resolve_language(code))
        if token_id is None:
            raise MlxStreamError(
                f"language '{code}' has no token in this tokenizer: use one of its "
                f"{len(self.language_codes)} language codes, e.g. {', '.join(self.language_codes[:3])}"
            )
        return token_id

    def encode(self, text: str, src_lang: str) -> list[int]:
        """`[src_lang] tokens </s>` (or `tokens </s> [src_lang]` for a checkpoint saved in legacy mode)."""
        lang = self.lang_id(src_lang)
        ids = self._text_ids(text)
        if self._legacy_layout:
            return [*ids, self.eos_id, lang]
        return [lang, *ids, self.eos_id]

    def encode_batch(self, texts: list[str], src_lang: str) -> list[list[int]]:
        return [self.encode(text, src_lang) for text in texts]

    def decode(self, ids) -> str:
        """Text of `ids` without special tokens, as transformers' `decode(ids, skip_special_tokens=True)`.

        Ids outside the vocabulary (the model's embedding is padded past it) are dropped.
        """
        texts, pieces = [], []
        for i in map(int, ids):
            token = self._by_id.get(i)
            if token is None:
                if _FAIRSEQ_OFFSET <= i < self._spm_size + _FAIRSEQ_OFFSET:
                    pieces.append(i - _FAIRSEQ_OFFSET)
            elif not token.special:
                # transformers keeps a non-special added token apart, spaces around it
                if pieces and (piece_text := self._pieces_to_text(pieces)):
                    texts.append(piece_text)
                pieces = []
                texts.append(token.content)
        if pieces:
            texts.append(self._pieces_to_text(pieces))
        text = " ".join(texts)
        return _clean_up_tokenization(text) if self._clean_up else text

    def save(self, folder: str | Path) -> None:
        """Copy the tokenizer files this tokenizer was read from into `folder`."""
        if self.folder is None:
            raise MlxStreamError(
                "this tokenizer was not read from a folder: use Tokenizer.from_folder"
            )
        for name in FILES:
            if (self.folder / name).is_file():
                shutil.copyfile(self.folder / name, Path(folder) / name)

    def _added_id(self, content: str) -> int:
        token = self._by_content.get(content)
        if token is None:
            raise MlxStreamError(
                f"the tokenizer files define no '{content}' token: use the NLLB checkpoint's tokenizer files"
            )
        return token.id

    def _text_ids(self, text: str) -> list[int]:
        if self._markers is not None and not any(m in text for m in self._markers):
            return self._spm_ids(text)
        # Added tokens written in the text are tokens, as in transformers: split around them, and let
        # those with lstrip/rstrip eat the whitespace beside them.
        parts = self._added_pattern.split(text)
        for i in range(1, len(parts), 2):
            token = self._by_content[parts[i]]
            if token.lstrip:
                parts[i - 1] = parts[i - 1].rstrip()
            if token.rstrip:
                parts[i + 1] = parts[i + 1].lstrip()
        ids = []
        for i, part in enumerate(parts):
            if i % 2:
                ids.append(self._by_content[part].id)
            elif part:
                ids.extend(self._spm_ids(part))
        return ids

    def _spm_ids(self, text: str) -> list[int]:
        unk = self.unk_id
        return [i + _FAIRSEQ_OFFSET if i else unk for i in self._spm.encode(text)]

    def _pieces_to_text(self, spm_ids: list[int]) -> str:
        return "".join(self._spm.id_to_piece(spm_ids)).replace("\u2581", " ").strip()


def _is_language_code(content: str) -> bool:
    return re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", content) is not None


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise MlxStreamError(
            f"'{path}' is not valid JSON: download or convert the checkpoint again"
        ) from None


def _content(token) -> str:
    return token["content"] if isinstance(token, dict) else str(token)


def _added_tokens_from_config(config: dict) -> list[AddedToken] | None:
    decoder = config.get("added_tokens_decoder")
    if not decoder:
        return None
    return [_added_token(int(i), entry) for i, entry in decoder.items()]


def _added_tokens_from_tokenizer_json(path: Path) -> list[AddedToken] | None:
    if not path.is_file():
        return None
    entries = _read_json(path).get("added_tokens")
    return [_added_token(int(e["id"]), e) for e in entries] if entries else None


def _added_token(token_id: int, entry: dict) -> AddedToken:
    return AddedToken(
        content=entry["content"],
        id=token_id,
        special=bool(entry.get("special", True)),
        lstrip=bool(entry.get("lstrip", False)),
        rstrip=bool(entry.get("rstrip", False)),
    )


def _fairseq_added_tokens(spm_size: int, codes) -> list[AddedToken]:
    """fairseq's layout, for tokenizer files that do not list their ids: codes, then <mask>."""
    first = spm_size + _FAIRSEQ_OFFSET
    tokens = [AddedToken(content, i) for i, content in enumerate(_FAIRSEQ_SPECIALS)]
    tokens += [AddedToken(_content(code), first + i) for i, code in enumerate(codes)]
    tokens.append(AddedToken("<mask>", first + len(codes), lstrip=True))
    return tokens


def _clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization`, applied when the checkpoint asks for it."""
    for before, after in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(before, after)
    return text
