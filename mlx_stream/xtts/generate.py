"""Generating audio codes and their latents, one step at a time, as coqui's XTTS does.

The prefix (voice, text, start-audio code) goes in once; then each step embeds the code just
chosen at its audio position and runs one row through the KV cache. Every step yields the code
and the latent that predicted it, the step that predicts the stop code included: n codes and a
stop give n + 1 latents, exactly `Xtts.inference`'s `gpt_latents` and `inference_stream`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import mlx.core as mx

from .gpt import GPT
from .sampling import FAKE_PREFIX_ID, Sampler

# (fp32 logits (batch, vocab), ids seen so far (batch, vocab) bool) -> codes (batch,)
Chooser = Callable[[mx.array, mx.array], mx.array]


def first_seen(model: GPT, batch: int = 1) -> mx.array:
    """The ids transformers' repetition penalty sees before the first code: coqui's fake
    prefix id and the start-audio code."""
    vocab = mx.arange(model.args.gpt_num_audio_tokens)
    seen = (vocab == FAKE_PREFIX_ID) | (vocab == model.args.gpt_start_audio_token)
    return mx.broadcast_to(seen, (batch, vocab.size))


def decode_step(
    model: GPT, cache: list, embeddings: mx.array, seen: mx.array, choose: Chooser
) -> tuple[mx.array, mx.array, mx.array]:
    """Run `embeddings` through the GPT; choose a code from the last row's logits.

    Returns (code (batch,), latent of the last row (batch, 1, dims), seen with the code added).
    """
    latent = model(embeddings, cache)[:, -1:, :]
    code = choose(model.logits(latent[:, 0]).astype(mx.float32), seen)
    seen = seen | (mx.arange(seen.shape[-1]) == code[:, None])
    return code, latent, seen


def generate_step(
    model: GPT,
    cond_latent: mx.array,
    text_ids: mx.array,
    choose: Chooser | None = None,
    max_codes: int | None = None,
) -> Iterator[tuple[int, mx.array]]:
    """Yield (code, latent (1, 1, dims)) per step for one utterance, the stop code included.

    Stops after the stop code or after `max_codes` codes (at most, and by default, the model's
    limit, as coqui does; no stop code then, and as many latents as codes). `cond_latent` is (1, 32, dims),
    `text_ids` (1, length). Each step is launched (`mx.async_eval`) before the previous one is
    handed out.
    """
    args = model.args
    choose = choose or Sampler()
    limit = args.max_gen_audio_tokens
    max_codes = limit if max_codes is None else min(max_codes, limit)
    if max_codes <= 0:
        return
    cache = model.make_cache()
    state = decode_step(
        model, cache, model.embed_prefix(cond_latent, text_ids), first_seen(model), choose
    )
    mx.async_eval(state)
    for index in range(max_codes):
        code, latent, seen = state
        last = index + 1 == max_codes
        if not last:
            state = decode_step(model, cache, model.embed_codes(code[:, None], index), seen, choose)
            mx.async_eval(state)
        value = code.item()
        yield value, latent
        if value == args.gpt_stop_audio_token:
            return


def generate(
    model: GPT,
    cond_latent: mx.array,
    text_ids: mx.array,
    choose: Chooser | None = None,
    max_codes: int | None = None,
) -> tuple[list[int], mx.array]:
    """All codes (without the stop code) and all latents (1, steps, dims), like `Xtts.inference`."""
    codes, latents = [], []
    dims = model.args.gpt_n_model_channels
    for code, latent in generate_step(model, cond_latent, text_ids, choose, max_codes):
        latents.append(latent)
        if code != model.args.gpt_stop_audio_token:
            codes.append(code)
    return codes, mx.concatenate(latents, axis=1) if latents else mx.zeros((1, 0, dims))
