"""NLLB-200 (the M2M100 architecture) in MLX: a pre-norm transformer encoder-decoder."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from .cache import LayerCache


@dataclass
class ModelArgs:
    vocab_size: int
    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    model_type: str = "m2m_100"
    activation_function: str = "relu"
    scale_embedding: bool = True
    max_position_embeddings: int = 1024
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    decoder_start_token_id: int = 2

    @classmethod
    def from_dict(cls, params: dict) -> ModelArgs:
        names = inspect.signature(cls).parameters
        return cls(**{k: v for k, v in params.items() if k in names})

    @classmethod
    def nllb_600m(cls) -> ModelArgs:
        """The shapes of facebook/nllb-200-distilled-600M."""
        return cls(
            vocab_size=256206,
            d_model=1024,
            encoder_layers=12,
            decoder_layers=12,
            encoder_attention_heads=16,
            decoder_attention_heads=16,
            encoder_ffn_dim=4096,
            decoder_ffn_dim=4096,
        )


ACTIVATIONS = {"relu": nn.relu, "gelu": nn.gelu}


def sinusoidal_positions(positions: mx.array, dims: int, padding_idx: int) -> mx.array:
    """fairseq's sinusoidal embedding of integer positions; the padding position embeds to zero."""
    half = dims // 2
    frequencies = mx.exp(mx.arange(half, dtype=mx.float32) * -(math.log(10000) / (half - 1)))
    angles = positions.astype(mx.float32)[..., None] * frequencies
    embedding = mx.concatenate([mx.sin(angles), mx.cos(angles)], axis=-1)
    if dims % 2:
        embedding = mx.pad(embedding, [(0, 0)] * (embedding.ndim - 1) + [(0, 1)])
    return mx.where((positions == padding_idx)[..., None], 0.0, embedding)


def causal_mask(length: int, offset: int) -> mx.array:
    rows = mx.arange(offset, offset + length)[:, None]
    return rows >= mx.arange(offset + length)[None]


class Attention(nn.Module):
    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dims // heads) ** -0.5
        self.q_proj = nn.Linear(dims, dims)
        self.k_proj = nn.Linear(dims, dims)
        self.v_proj = nn.Linear(dims, dims)
        self.out_proj = nn.Linear(dims, dims)

    def split_heads(self, x: mx.array) -> mx.array:
        batch, length, _ = x.shape
        return x.reshape(batch, length, self.heads, -1).transpose(0, 2, 1, 3)

    def keys_values(self, x: mx.array) -> tuple[mx.array, mx.array]:
        return self.split_heads(self.k_proj(x)), self.split_heads(self.v_proj(x))

    def __call__(self, x, keys, values, mask=None) -> mx.array:
        batch, length, _ = x.shape
        queries = self.split_heads(self.q_proj(x))
        out = mx.fast.scaled_dot_product_attention(
            queries, keys, values, scale=self.scale, mask=mask
        )
        return self.out_proj(out.transpose(0, 2, 1, 3).reshape(batch, length, -1))


class EncoderLayer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dims = args.d_model
        self.self_attn = Attention(dims, args.encoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, args.encoder_ffn_dim)
        self.fc2 = nn.Linear(args.encoder_ffn_dim, dims)
        self.activation = ACTIVATIONS[args.activation_function]
        self.final_layer_norm = nn.LayerNorm(dims)

    def __call__(self, x: mx.array, mask: mx.array | None) -> mx.array:
        h = self.self_attn_layer_norm(x)
        x = x + self.self_attn(h, *self.self_attn.keys_values(h), mask)
        return x + self.fc2(self.activation(self.fc1(self.final_layer_norm(x))))


class DecoderLayer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dims = args.d_model
        self.self_attn = Attention(dims, args.decoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(dims)
        self.encoder_attn = Attention(dims, args.decoder_attention_heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, args.decoder_ffn_dim)
        self.fc2 = nn.Linear(args.decoder_ffn_dim, dims)
        self.activation = ACTIVATIONS[args.activation_function]
        self.final_layer_norm = nn.LayerNorm(dims)

    def __call__(self, x, cache: LayerCache, self_mask, memory_mask) -> mx.array:
        h = self.self_attn_layer_norm(x)
        keys, values = cache.self_attn.update_and_fetch(*self.self_attn.keys_values(h))
        x = x + self.self_attn(h, keys, values, self_mask)
        h = self.encoder_attn_layer_norm(x)
        x = x + self.encoder_attn(h, cache.cross_keys, cache.cross_values, memory_mask)
        return x + self.fc2(self.activation(self.fc1(self.final_layer_norm(x))))


class Encoder(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.layers = [EncoderLayer(args) for _ in range(args.encoder_layers)]
        self.layer_norm = nn.LayerNorm(args.d_model)

    def __call__(self, x: mx.array, mask: mx.array | None) -> mx.array:
        for layer in self.layers:
            x = layer(x, mask)
        return self.layer_norm(x)


class Decoder(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.layers = [DecoderLayer(args) for _ in range(args.decoder_layers)]
        self.layer_norm = nn.LayerNorm(args.d_model)

    def __call__(self, x, cache: list[LayerCache], self_mask, memory_mask) -> mx.array:
        for layer, layer_cache in zip(self.layers, cache):
            x = layer(x, layer_cache, self_mask, memory_mask)
        return self.layer_norm(x)


class Model(nn.Module):
    """`encode` a batch of source ids once, then `decode` target ids step by step with a cache."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.shared = nn.Embedding(args.vocab_size, args.d_model)
        self.encoder = Encoder(args)
        self.decoder = Decoder(args)
        self.embed_scale = math.sqrt(args.d_model) if args.scale_embedding else 1.0

    def embed(self, ids: mx.array, positions: mx.array) -> mx.array:
        tokens = self.shared(ids) * self.embed_scale
        pad = self.args.pad_token_id
        return tokens + sinusoidal_positions(positions, self.args.d_model, pad).astype(tokens.dtype)

    def encode(self, input_ids: mx.array, attention_mask: mx.array | None = None) -> mx.array:
        """Encoder states (batch, source length, d_model).

        `attention_mask` is 1 for real tokens and 0 for padding; None means no padding.
        """
        pad = self.args.pad_token_id
        if attention_mask is None:
            positions = mx.arange(input_ids.shape[1])[None] + pad + 1
            return self.encoder(self.embed(input_ids, positions), None)
        keep = attention_mask.astype(mx.bool_)
        positions = mx.cumsum(keep.astype(mx.int32), axis=1) * keep + pad
        return self.encoder(self.embed(input_ids, positions), keep[:, None, None, :])

    def make_cache(self, memory: mx.array) -> list[LayerCache]:
        """Per decoder layer: the cross-attention keys/values of `memory`, computed once here."""
        return [
            LayerCache(*layer.encoder_attn.keys_values(memory)) for layer in self.decoder.layers
        ]

    def decode(
        self,
        decoder_ids: mx.array,
        cache: list[LayerCache],
        memory_mask: mx.array | None = None,
    ) -> mx.array:
        """Logits (batch, new tokens, vocab) for `decoder_ids`, which follow the tokens in `cache`."""
        offset = cache[0].self_attn.offset
        length = decoder_ids.shape[1]
        pad = self.args.pad_token_id
        positions = mx.where(decoder_ids == pad, pad, mx.arange(offset, offset + length) + pad + 1)
        self_mask = None if length == 1 else causal_mask(length, offset)
        if memory_mask is not None:
            memory_mask = memory_mask.astype(mx.bool_)[:, None, None, :]
        x = self.decoder(self.embed(decoder_ids, positions), cache, self_mask, memory_mask)
        return self.shared.as_linear(x)

    def __call__(
        self,
        input_ids: mx.array,
        decoder_input_ids: mx.array,
        attention_mask: mx.array | None = None,
    ) -> mx.array:
        """Teacher-forced logits for whole target sequences (no cache kept)."""
        memory = self.encode(input_ids, attention_mask)
        return self.decode(decoder_input_ids, self.make_cache(memory), attention_mask)

    @staticmethod
    def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """Map Hugging Face checkpoint names onto this model; the tied copies of the embedding go."""
        tied = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")
        sanitized = {}
        for name in ("model.shared.weight", *(f"model.{t}" for t in tied[:2]), tied[2]):
            if name in weights:  # some exports keep only one of the tied copies
                sanitized["shared.weight"] = weights[name]
                break
        for name, value in weights.items():
            name = name.removeprefix("model.")
            if name in tied or "embed_positions" in name:
                continue
            sanitized[name] = value
        return sanitized
