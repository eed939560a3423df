"""XTTS v2 settings: the architecture (`ModelArgs`) and coqui's inference knobs (`InferenceArgs`).

Both are read from coqui's `config.json` as it ships: `ModelArgs` from its `"model_args"`,
`InferenceArgs` from the top level, exactly the fields coqui's `Xtts.synthesize` reads.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass


class _FromDict:
    @classmethod
    def from_dict(cls, params: dict):
        names = inspect.signature(cls).parameters
        return cls(**{k: v for k, v in params.items() if k in names and v is not None})


@dataclass
class ModelArgs(_FromDict):
    """Shapes of the XTTS v2 networks (defaults: the released `coqui/XTTS-v2`)."""

    gpt_layers: int = 30
    gpt_n_model_channels: int = 1024
    gpt_n_heads: int = 16
    gpt_max_audio_tokens: int = 605
    gpt_max_text_tokens: int = 402
    gpt_number_text_tokens: int = 6681
    gpt_start_text_token: int = 261  # from vocab.json's [START] at conversion, as coqui does
    gpt_stop_text_token: int = 0  # [STOP]
    gpt_num_audio_tokens: int = 1026
    gpt_start_audio_token: int = 1024
    gpt_stop_audio_token: int = 1025
    gpt_use_perceiver_resampler: bool = True
    input_sample_rate: int = 22050
    output_sample_rate: int = 24000
    output_hop_length: int = 256
    decoder_input_dim: int = 1024
    d_vector_dim: int = 512
    cond_d_vector_in_each_upsampling_layer: bool = True
    # Not in coqui's config (its HifiDecoder fixes 512): read off the checkpoint at conversion.
    decoder_channels: int = 512

    @property
    def max_gen_audio_tokens(self) -> int:
        """Codes the GPT may generate before it is stopped (602 for the real model)."""
        return self.gpt_max_audio_tokens - 3

    @property
    def audio_positions(self) -> int:
        """Rows of `mel_pos_embedding` (608 for the real model)."""
        return self.gpt_max_audio_tokens + 3

    @property
    def text_positions(self) -> int:
        """Rows of `text_pos_embedding` (404 for the real model)."""
        return self.gpt_max_text_tokens + 2


@dataclass
class InferenceArgs(_FromDict):
    """Sampling and voice-cloning settings (defaults: the released `config.json`)."""

    temperature: float = 0.75
    length_penalty: float = 1.0
    repetition_penalty: float = 5.0
    top_k: int = 50
    top_p: float = 0.85
    gpt_cond_len: int = 30
    gpt_cond_chunk_len: int = 4
    max_ref_len: int = 30
    sound_norm_refs: bool = False
