"""Choosing the next audio code the way coqui does it: transformers 4.57's logits pipeline.

Order, as `GenerationMixin._get_logits_processor` builds it: repetition penalty, then (when
sampling) temperature, top-k and top-p, then softmax and a draw. Draws are inverse-CDF lookups of
uniforms, so a test can feed coqui and this module the same uniforms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mlx.core as mx

from ..errors import MlxStreamError
from .config import InferenceArgs

# n -> n uniforms in [0, 1), float32
Uniforms = Callable[[int], mx.array]

# coqui hands `generate` one fake input id per prefix row (all 1) and then the start-audio code;
# transformers penalises every input id, so codes 1 and 1024 are penalised from the first step.
FAKE_PREFIX_ID = 1


@dataclass(frozen=True)
class SamplingSettings:
    """What decides the next code.

    coqui has two generation paths that differ only when `do_sample=False`:
    `Xtts.inference` (HF `generate`) is then greedy, the argmax of the penalised scores, while
    `Xtts.inference_stream` (`sample_stream`) skips temperature, top-k and top-p but still draws
    from the softmax of the penalised scores. Hence two switches: `warp` (temperature, top-k,
    top-p) and `draw` (sample, or take the argmax); `like_coqui` sets them as each path does.
    """

    temperature: float = 0.75
    top_k: int = 50
    top_p: float = 0.85
    repetition_penalty: float = 5.0
    warp: bool = True
    draw: bool = True

    def __post_init__(self):
        if self.repetition_penalty <= 0:
            raise MlxStreamError("repetition_penalty must be above 0 (1.0 turns it off)")
        if self.warp and self.temperature <= 0:
            raise MlxStreamError(
                "temperature must be above 0: for greedy decoding turn sampling off"
            )
        if self.top_k < 0:
            raise MlxStreamError("top_k must be 0 (off) or a positive number of codes")
        if not 0.0 <= self.top_p <= 1.0:
            raise MlxStreamError("top_p must be between 0 and 1 (1.0 turns it off)")

    @classmethod
    def like_coqui(
        cls, args: InferenceArgs, do_sample: bool = True, stream: bool = False
    ) -> SamplingSettings:
        """The settings coqui's `inference` (or, with `stream`, `inference_stream`) would use."""
        return cls(
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            repetition_penalty=args.repetition_penalty,
            warp=do_sample,
            draw=do_sample or stream,
        )


def penalize_repetition(scores: mx.array, seen: mx.array, penalty: float) -> mx.array:
    """CTRL's penalty, once per distinct token already in the input: s<0 ? s*p : s/p."""
    return mx.where(seen, mx.where(scores < 0, scores * penalty, scores / penalty), scores)


def top_k_filter(scores: mx.array, k: int) -> mx.array:
    """Keep the scores at least as high as the k-th highest (ties with it are all kept)."""
    k = min(k, scores.shape[-1])
    kth = mx.min(mx.topk(scores, k, axis=-1), axis=-1, keepdims=True)
    return mx.where(scores < kth, -mx.inf, scores)


def top_p_filter(scores: mx.array, p: float) -> mx.array:
    """Nucleus filter as transformers does it: drop the lowest tokens whose cumulative
    probability (ascending) is <= 1 - p, always keeping the most probable one.

    Of tokens tied exactly at the cut, the lower ids go first; torch's unstable sort picks its own.
    """
    order = mx.argsort(scores, axis=-1)
    ascending = mx.take_along_axis(scores, order, axis=-1)
    cumulative = mx.cumsum(mx.softmax(ascending, axis=-1), axis=-1)
    drop = cumulative <= 1 - p
    drop[..., -1] = False
    drop = mx.put_along_axis(mx.zeros_like(drop), order, drop, axis=-1)
    return mx.where(drop, -mx.inf, scores)


def process(scores: mx.array, seen: mx.array, settings: SamplingSettings) -> mx.array:
    """The whole pipeline before the softmax; `seen` (batch, vocab) marks the input ids."""
    scores = scores.astype(mx.float32)
    if settings.repetition_penalty != 1.0:
        scores = penalize_repetition(scores, seen, settings.repetition_penalty)
    if settings.warp:
        if settings.temperature != 1.0:
            scores = scores / settings.temperature
        if settings.top_k:
            scores = top_k_filter(scores, settings.top_k)
        if settings.top_p < 1.0:
            scores = top_p_filter(scores, settings.top_p)
    return scores


def draw(probs: mx.array, uniforms: mx.array) -> mx.array:
    """Inverse CDF: the first token whose cumulative probability exceeds u * total, per row."""
    cdf = mx.cumsum(probs, axis=-1)
    target = uniforms[:, None] * cdf[:, -1:]
    tokens = mx.sum(cdf <= target, axis=-1)
    # u * total can round up to total; never hand out a token of probability zero
    last_possible = probs.shape[-1] - 1 - mx.argmax(probs[:, ::-1] > 0, axis=-1)
    return mx.minimum(tokens, last_possible).astype(mx.int32)


def pick(
    logits: mx.array, seen: mx.array, settings: SamplingSettings, uniforms: mx.array | None
) -> mx.array:
    """(batch, vocab) fp32 logits -> (batch,) int32 codes: a draw with one uniform per row, or
    the argmax when `settings.draw` is off (`uniforms` unused)."""
    scores = process(logits, seen, settings)
    if not settings.draw:
        return mx.argmax(scores, axis=-1).astype(mx.int32)
    return draw(mx.softmax(scores, axis=-1), uniforms)


def random_uniforms(key: mx.array, n: int) -> tuple[mx.array, mx.array]:
    """(the next key, n uniforms): one step of `mx.random`'s own key sequence, as an array
    function, so that a compiled step can carry the key as state."""
    key, subkey = mx.random.split(key)
    return key, mx.random.uniform(shape=(n,), key=subkey)


class Sampler:
    """Picks one code per row from fp32 logits and the ids seen so far.

    Uniforms come from `uniforms` when given (tests pass coqui's), else from `key`: the key of
    `seed`, or one drawn from `mx.random`'s global state when no seed is given.
    """

    def __init__(
        self,
        settings: SamplingSettings | None = None,
        seed: int | None = None,
        uniforms: Uniforms | None = None,
    ):
        self.settings = settings or SamplingSettings()
        self.injected = uniforms
        if seed is None:  # a key from the global generator: `mx.random.seed` still repeats it
            self.key = mx.random.randint(0, 2**24, shape=(2,), dtype=mx.uint32)
        else:
            self.key = mx.random.key(seed)

    def uniforms(self, n: int) -> mx.array:
        if self.injected is not None:
            return self.injected(n)
        self.key, uniforms = random_uniforms(self.key, n)
        return uniforms

    def __call__(self, logits: mx.array, seen: mx.array) -> mx.array:
        """(batch, vocab) logits -> (batch,) int32 codes."""
        draws = self.uniforms(logits.shape[0]) if self.settings.draw else None
        return pick(logits, seen, self.settings, draws)
