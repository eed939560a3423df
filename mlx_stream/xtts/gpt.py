"""The XTTS v2 GPT in MLX: a GPT-2 over prefix embeddings (voice, text) that predicts audio codes.

GPT-2's own token and position embeddings are unused: every input row is built here from XTTS's
text/audio embeddings and its learned text/audio positions, and the 32 voice rows get no position.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ..errors import MlxStreamError
from .cache import PaddedKVCache
from .config import ModelArgs

VOICE_ROWS = 32  # rows of `gpt_cond_latent` (the perceiver's latents)
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


class Attention(nn.Module):
    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dims // heads) ** -0.5
        self.c_attn = nn.Linear(dims, 3 * dims)
        self.c_proj = nn.Linear(dims, dims)

    def __call__(
        self, x: mx.array, cache: PaddedKVCache | None, mask: mx.array | None = None
    ) -> mx.array:
        batch, length, _ = x.shape
        queries, keys, values = (
            part.reshape(batch, length, self.heads, -1).transpose(0, 2, 1, 3)
            for part in mx.split(self.c_attn(x), 3, axis=-1)
        )
        if cache is not None:
            keys, values = cache.update_and_fetch(keys, values)
        if mask is None and length > 1:
            # aligns the last query with the last key, so it also holds after a cached prefix
            mask = "causal"
        out = mx.fast.scaled_dot_product_attention(
            queries, keys, values, scale=self.scale, mask=mask
        )
        return self.c_proj(out.transpose(0, 2, 1, 3).reshape(batch, length, -1))


def gelu_new(x: mx.array) -> mx.array:
    """GPT-2's tanh GELU, 0.5 x (1 + tanh(z)), as the equal x sigmoid(2z): MLX's CPU backend
    computes both functions one element at a time, and this form takes 40% less of the prefill."""
    return x * mx.sigmoid(1.5957691216057308 * (x + 0.044715 * x * x * x))


class MLP(nn.Module):
    def __init__(self, dims: int):
        super().__init__()
        self.c_fc = nn.Linear(dims, 4 * dims)
        self.c_proj = nn.Linear(4 * dims, dims)

    def __call__(self, x: mx.array) -> mx.array:
        return self.c_proj(gelu_new(self.c_fc(x)))


class Block(nn.Module):
    """GPT-2's pre-LN block."""

    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dims, eps=1e-5)
        self.attn = Attention(dims, heads)
        self.ln_2 = nn.LayerNorm(dims, eps=1e-5)
        self.mlp = MLP(dims)

    def __call__(
        self, x: mx.array, cache: PaddedKVCache | None, mask: mx.array | None = None
    ) -> mx.array:
        x = x + self.attn(self.ln_1(x), cache, mask)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        dims = args.gpt_n_model_channels
        self.text_embedding = nn.Embedding(args.gpt_number_text_tokens, dims)
        self.text_pos_embedding = nn.Embedding(args.text_positions, dims)
        self.mel_embedding = nn.Embedding(args.gpt_num_audio_tokens, dims)
        self.mel_pos_embedding = nn.Embedding(args.audio_positions, dims)
        self.h = [Block(dims, args.gpt_n_heads) for _ in range(args.gpt_layers)]
        self.ln_f = nn.LayerNorm(dims, eps=1e-5)
        self.final_norm = nn.LayerNorm(dims, eps=1e-5)
        self.mel_head = nn.Linear(dims, args.gpt_num_audio_tokens)

    def make_cache(self) -> list[PaddedKVCache]:
        return [PaddedKVCache() for _ in self.h]

    def embed_prefix(self, cond_latent: mx.array, text_ids: mx.array) -> mx.array:
        """The rows before the first code: voice, `[START] text [STOP]`, then the start-audio code.

        `cond_latent` is (batch, 32, dims), `text_ids` (batch, length) without [START]/[STOP].
        """
        args = self.args
        batch, length = text_ids.shape
        if length >= args.gpt_max_text_tokens:  # coqui's limit, one below what the table holds
            raise MlxStreamError(
                f"the text is {length} tokens and XTTS reads at most "
                f"{args.gpt_max_text_tokens - 1}: split it into shorter sentences"
            )
        start = mx.full((batch, 1), args.gpt_start_text_token, dtype=text_ids.dtype)
        stop = mx.full((batch, 1), args.gpt_stop_text_token, dtype=text_ids.dtype)
        text = mx.concatenate([start, text_ids, stop], axis=1)
        text = self.text_embedding(text) + self.text_pos_embedding(mx.arange(length + 2))
        start_audio = mx.full((batch, 1), args.gpt_start_audio_token, dtype=mx.int32)
        audio = self.mel_embedding(start_audio) + self.mel_pos_embedding(mx.arange(1))
        return mx.concatenate([cond_latent.astype(text.dtype), text, audio], axis=1)

    def voice_rows(self, cond_latent: mx.array) -> list[tuple[mx.array, mx.array]]:
        """Each layer's keys and values for the voice rows, computed now.

        The voice rows come first and carry no position, so what they leave in the cache does
        not depend on the text: a voice computes it once, and each utterance's prefill starts
        after it (`generate_step(..., voice=...)`).
        """
        cache = self.make_cache()
        self(cond_latent.astype(self.text_embedding.weight.dtype), cache)
        rows = [(c.keys[..., : c.offset, :], c.values[..., : c.offset, :]) for c in cache]
        mx.eval(rows)
        return rows

    def embed_codes(self, codes: mx.array, first: int | mx.array = 0) -> mx.array:
        """Rows for `codes` (batch, length), the first of which is code number `first` (from 0).

        Code k sits at audio position k + 1: position 0 is the start-audio code.
        """
        positions = mx.arange(codes.shape[1]) + first + 1
        return self.mel_embedding(codes) + self.mel_pos_embedding(positions)

    def __call__(
        self,
        embeddings: mx.array,
        cache: list[PaddedKVCache] | None = None,
        mask: mx.array | None = None,
    ) -> mx.array:
        """The latents `final_norm(ln_f(h))` of each input row: what the HiFi-GAN decodes.

        `mask` (bool, broadcast to (batch, heads, rows, keys)) says which keys each row sees;
        by default the rows see the cache and each other causally.
        """
        h = embeddings
        for block, layer_cache in zip(self.h, cache or [None] * len(self.h)):
            h = block(h, layer_cache, mask)
        return self.final_norm(self.ln_f(h))

    def logits(self, latents: mx.array) -> mx.array:
        """Scores of the next audio code (the last one is the stop code)."""
        return self.mel_head(latents)

    @staticmethod
    def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """coqui's `gpt.*` tensors (that prefix removed) -> this module's names and layouts.

        HF `Conv1D` stores (in, out) and becomes `nn.Linear` (out, in). The text head (training
        only), GPT-2's unused `wte` (an alias of `mel_embedding`), coqui's `gpt_inference.*` aliases
        and the causal-mask buffers are dropped.
        """
        sanitized = {}
        for key, value in weights.items():
            parts = key.split(".")
            if key.startswith(("text_head.", "gpt_inference.", "gpt.wte.")) or parts[-2:] in (
                ["attn", "bias"],
                ["attn", "masked_bias"],
            ):
                continue
            key = key.removeprefix("gpt.").replace("pos_embedding.emb.", "pos_embedding.")
            if key.startswith("h.") and key.endswith(_CONV1D):
                value = value.T
            sanitized[key] = value
        return sanitized
