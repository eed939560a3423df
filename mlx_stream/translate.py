"""Translator: NLLB-200 in MLX behind one call, `translate(text, src=..., tgt=...)`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlx.core as mx

from .errors import MlxStreamError
from .nllb import weights
from .nllb.generate import translate_ids
from .nllb.model import Model
from .nllb.tokenizer import Tokenizer


class Translator:
    def __init__(self, model: Model, tokenizer: Tokenizer, config: dict, path: Path | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.path = path

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike,
        dtype: str | None = None,
        quantize_bits: int | None = None,
        weights_dir: str | os.PathLike = "weights",
    ) -> Translator:
        """Load a converted folder, or convert a Hugging Face folder or hub id once and load that.

        A Hugging Face checkpoint is converted into `weights_dir/<name>-q<bits>` (or
        `<name>-<dtype>`) on first use and that folder is reused afterwards. `dtype` (default:
        `weights.default_dtype()`) and `quantize_bits` only apply when converting; a converted folder
        loads as it was saved.
        """
        path = Path(path_or_repo).expanduser()
        if not weights.is_converted(path):
            dtype = dtype or weights.default_dtype()
            kind = f"q{quantize_bits}" if quantize_bits else dtype
            target = Path(weights_dir) / f"{path.name or str(path_or_repo)}-{kind}"
            if not weights.is_converted(target):
                summary = weights.convert(
                    path_or_repo, target, dtype=dtype, q_bits=quantize_bits, force=target.exists()
                )
                print(f"converted {summary}", file=sys.stderr, flush=True)
            path = target
        model, config = weights.load(path)
        return cls(model, Tokenizer.from_folder(path), config, path)

    def translate(
        self,
        text: str | list[str],
        src: str = "eng_Latn",
        tgt: str = "jpn_Jpan",
        beams: int = 1,
        max_new_tokens: int | None = None,
        length_penalty: float = 1.0,
        early_stopping: bool | str = False,
        repetition_penalty: float | None = None,
        no_repeat_ngram_size: int = 0,
    ) -> str | list[str]:
        """Translate one text or a list of texts from `src` to `tgt`.

        Languages are NLLB codes (`jpn_Jpan`), ISO codes (`ja`, `jpn`) or English names.
        `beams` > 1 is beam search; `length_penalty` and `early_stopping` act on it as in
        transformers. `max_new_tokens` counts the language token; by default it grows with the
        input. Empty texts translate to empty strings.
        """
        from .nllb.languages import resolve_language

        if beams < 1:
            raise MlxStreamError(f"beams must be at least 1, not {beams}")
        if max_new_tokens is not None and max_new_tokens < 1:
            raise MlxStreamError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
        texts = [text] if isinstance(text, str) else list(text)
        source_id = resolve_language(src)
        target_id = self.tokenizer.lang_id(resolve_language(tgt))
        self.tokenizer.lang_id(source_id)  # fails early for a code this tokenizer lacks
        todo = [i for i, t in enumerate(texts) if t.strip()]
        outputs = [""] * len(texts)
        if todo:
            sources = [self.tokenizer.encode(texts[i], source_id) for i in todo]
            generated = translate_ids(
                self.model,
                sources,
                target_id,
                beams,
                max_new_tokens,
                length_penalty,
                early_stopping,
                repetition_penalty,
                no_repeat_ngram_size,
            )
            for i, ids in zip(todo, generated):
                outputs[i] = self.tokenizer.decode(ids)
        return outputs[0] if isinstance(text, str) else outputs

    def __repr__(self) -> str:
        args = self.model.args
        quantization = self.config.get("quantization")
        precision = (
            f"{quantization['bits']}-bit"
            if quantization
            else self.config.get(weights.MARKER, {}).get(
                "dtype", str(self.model.shared.weight.dtype)
            )
        )
        return (
            f"Translator({str(self.path)!r}, {args.encoder_layers}+{args.decoder_layers} layers, "
            f"d_model {args.d_model}, vocab {args.vocab_size}, {precision}, device {mx.default_device()})"
        )
