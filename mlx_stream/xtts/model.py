"""XTTS v2 as one MLX module: the GPT, the HiFi-GAN decoder and the two voice encoders.

`Model.sanitize` is the only place that knows how coqui names its checkpoint as a whole; each
part's own `sanitize` knows that part's names.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ..errors import MlxStreamError
from .conditioning import ConditioningEncoder
from .config import ModelArgs
from .gpt import GPT
from .hifigan import HifiganGenerator
from .speaker import SpeakerEncoder

# Where each part's tensors live in coqui's state dict, and what the part's `sanitize` receives.
PARTS = {
    "conditioning": ("gpt.conditioning_encoder.", "gpt.conditioning_perceiver.", "mel_stats"),
    "gpt": ("gpt.",),
    "decoder": ("hifigan_decoder.waveform_decoder.",),
    "speaker_encoder": ("hifigan_decoder.speaker_encoder.",),
}
# Parts needed to speak with a known voice; the others only turn recordings into voices.
SPEECH_PARTS = ("gpt", "decoder")
CLONING_PARTS = ("conditioning", "speaker_encoder")
_TRAINING_ONLY = ("dvae.", "torch_mel_spectrogram_style_encoder.", "torch_mel_spectrogram_dvae.")
# coqui's inference model aliases modules of `gpt.*`; old checkpoints saved them twice.
_ALIASES = {
    "gpt.gpt_inference.transformer.": "gpt.gpt.",
    "gpt.gpt_inference.pos_embedding.": "gpt.mel_pos_embedding.",
    "gpt.gpt_inference.embeddings.": "gpt.mel_embedding.",
    "gpt.gpt_inference.final_norm.": "gpt.final_norm.",
    "gpt.gpt_inference.lm_head.0.": "gpt.final_norm.",
    "gpt.gpt_inference.lm_head.1.": "gpt.mel_head.",
    "gpt.gpt.wte.": "gpt.mel_embedding.",
}


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.gpt = GPT(args)
        self.decoder = HifiganGenerator(args, args.decoder_channels)
        self.conditioning = ConditioningEncoder(args)
        self.speaker_encoder = SpeakerEncoder(args)

    @staticmethod
    def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """coqui's state dict (any of its historical layouts) -> this module's names and layouts."""
        weights = canonical(weights)
        parts: dict[str, dict[str, mx.array]] = {name: {} for name in PARTS}
        for key, value in weights.items():
            part, local = _part_of(key)
            parts[part][local] = value
        classes = {
            "gpt": GPT,
            "decoder": HifiganGenerator,
            "conditioning": ConditioningEncoder,
            "speaker_encoder": SpeakerEncoder,
        }
        return {
            f"{part}.{key}": value
            for part, local in parts.items()
            for key, value in classes[part].sanitize(local).items()
        }


def canonical(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """Strip a fine-tune's `xtts.` prefix, drop training-only tensors, check and drop aliases."""
    weights = {k.removeprefix("xtts."): v for k, v in weights.items()}
    weights = {k: v for k, v in weights.items() if not k.startswith(_TRAINING_ONLY)}
    for key in [k for k in weights if k.startswith(tuple(_ALIASES))]:
        alias = next(a for a in _ALIASES if key.startswith(a))
        original = _ALIASES[alias] + key[len(alias) :]
        value = weights.pop(key)
        if original in weights and not mx.array_equal(weights[original], value).item():
            raise MlxStreamError(f"checkpoint key {key} differs from {original}, which it aliases")
        weights.setdefault(original, value)
    return weights


def _part_of(key: str) -> tuple[str, str]:
    if key == "mel_stats":
        return "conditioning", key
    for part, prefixes in PARTS.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                local = key[len(prefix) :] if part != "conditioning" else key.removeprefix("gpt.")
                return part, local
    raise MlxStreamError(f"unexpected tensor '{key}': this is not an XTTS v2 checkpoint")
