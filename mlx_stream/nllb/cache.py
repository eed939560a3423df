"""Decoder caches: a growing self-attention KV cache and the cross-attention K/V computed once."""

from __future__ import annotations

from dataclasses import dataclass, field

import mlx.core as mx


# Not mlx-lm's KVCache: importing any mlx_lm module imports transformers, and mlx-lm needs transformers>=5.
class KVCache:
    """Keys and values of the tokens decoded so far, stored in blocks of `step` positions."""

    step = 256

    def __init__(self):
        self.keys: mx.array | None = None
        self.values: mx.array | None = None
        self.offset = 0

    def update_and_fetch(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        """Append `keys`/`values` of shape (batch, heads, new, head_dim); return all so far."""
        previous = self.offset
        new = keys.shape[2]
        if self.keys is None or previous + new > self.keys.shape[2]:
            batch, heads, _, head_dim = keys.shape
            blocks = (self.step + new - 1) // self.step
            grown_k = mx.zeros((batch, heads, blocks * self.step, head_dim), keys.dtype)
            grown_v = mx.zeros((batch, heads, blocks * self.step, head_dim), values.dtype)
            if self.keys is None:
                self.keys, self.values = grown_k, grown_v
            else:
                self.keys = mx.concatenate([self.keys[..., :previous, :], grown_k], axis=2)
                self.values = mx.concatenate([self.values[..., :previous, :], grown_v], axis=2)
        self.offset += new
        self.keys[..., previous : self.offset, :] = keys
        self.values[..., previous : self.offset, :] = values
        return self.keys[..., : self.offset, :], self.values[..., : self.offset, :]

    def reorder(self, indices: mx.array) -> None:
        """Keep the rows `indices` (beam search moves hypotheses between rows)."""
        self.keys = self.keys[indices]
        self.values = self.values[indices]

    @property
    def state(self) -> list[mx.array]:
        return [a for a in (self.keys, self.values) if a is not None]


@dataclass
class LayerCache:
    """What one decoder layer remembers: its own past and the encoder's keys/values."""

    cross_keys: mx.array
    cross_values: mx.array
    self_attn: KVCache = field(default_factory=KVCache)

    def reorder(self, indices: mx.array) -> None:
        self.self_attn.reorder(indices)
        self.cross_keys = self.cross_keys[indices]
        self.cross_values = self.cross_values[indices]

    @property
    def state(self) -> list[mx.array]:
        return [self.cross_keys, self.cross_values, *self.self_attn.state]
