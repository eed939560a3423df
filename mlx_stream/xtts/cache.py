"""The GPT's KV cache in arrays whose shape changes only every `STEP` rows, so that a compiled
decode step is traced once per `STEP` positions (and reused by every utterance after)."""

from __future__ import annotations

import mlx.core as mx

STEP = 128


def padded(array: mx.array, rows: int) -> mx.array:
    """`array` (batch, heads, length, head_dim) grown with zero rows to hold `rows` rows, its
    length a multiple of `STEP`."""
    have = array.shape[2]
    if rows <= have:
        return array
    batch, heads, _, head_dim = array.shape
    extra = mx.zeros((batch, heads, -(-rows // STEP) * STEP - have, head_dim), array.dtype)
    return mx.concatenate([array, extra], axis=2)


class PaddedKVCache:
    """One layer's keys and values, filled up to `offset`, in arrays padded to a multiple of
    `STEP` rows.

    The prefill writes at an int offset and reads back the rows filled. A decode step writes one
    row at an int32 array offset and reads every row, masking those past the offset: its shapes
    do not depend on the position.
    """

    def __init__(
        self,
        keys: mx.array | None = None,
        values: mx.array | None = None,
        offset: int | mx.array = 0,
    ):
        self.keys, self.values, self.offset = keys, values, offset

    def update_and_fetch(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        """Write `keys`/`values` (batch, heads, new, head_dim) at `offset` and advance it."""
        start, new = self.offset, keys.shape[2]
        self.offset = start + new
        if isinstance(start, int):
            if self.keys is None:  # empty, of the batch, heads, head_dim and dtype to come
                self.keys, self.values = keys[..., :0, :], values[..., :0, :]
            self.keys = padded(self.keys, self.offset)
            self.values = padded(self.values, self.offset)
            self.keys[..., start : self.offset, :] = keys
            self.values[..., start : self.offset, :] = values
            return self.keys[..., : self.offset, :], self.values[..., : self.offset, :]
        self.keys = mx.slice_update(self.keys, keys, start, axes=(2,))
        self.values = mx.slice_update(self.values, values, start, axes=(2,))
        return self.keys, self.values
