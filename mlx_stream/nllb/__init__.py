"""NLLB-200 in MLX: `model` (the network), `generate` (greedy, beam search), `weights`
(convert and load), `tokenizer` and `languages`. Most users want `mlx_stream.Translator`."""

from .model import Model, ModelArgs

__all__ = ["Model", "ModelArgs"]
