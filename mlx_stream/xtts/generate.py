"""Generating audio codes and their latents, one step at a time, as coqui's XTTS does.

The prefix (voice, text, start-audio code) goes in once; then each step embeds the code just
chosen at its audio position and runs one row through the KV cache. Every step yields the code
and the latent that predicted it, the step that predicts the stop code included: n codes and a
stop give n + 1 latents, exactly `Xtts.inference`'s `gpt_latents` and `inference_stream`'s.

A step writes its row into the cache at an array offset and masks the rows past it, so its
shapes change only when the cache grows (every `cache.STEP` rows). With a `Sampler`, the whole
step (the GPT row, the logits pipeline, the draw and the key's advance) is one `mx.compile`d
graph, traced once per cache length and reused by every step of that length, in every
utterance. Any other chooser (a Python callable) runs the same step eagerly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import astuple
from functools import partial

import mlx.core as mx

from .cache import PaddedKVCache, padded
from .gpt import GPT
from .sampling import FAKE_PREFIX_ID, Sampler, SamplingSettings, pick, random_uniforms

# (fp32 logits (batch, vocab), ids seen so far (batch, vocab) bool) -> codes (batch,)
Chooser = Callable[[mx.array, mx.array], mx.array]
# what a step carries to the next: code (batch,), latent (batch, 1, dims), seen, keys, values
State = tuple[mx.array, mx.array, mx.array, list[mx.array], list[mx.array]]


def first_seen(model: GPT, batch: int = 1) -> mx.array:
    """The ids transformers' repetition penalty sees before the first code: coqui's fake
    prefix id and the start-audio code."""
    vocab = mx.arange(model.args.gpt_num_audio_tokens)
    seen = (vocab == FAKE_PREFIX_ID) | (vocab == model.args.gpt_start_audio_token)
    return mx.broadcast_to(seen, (batch, vocab.size))


def mark_seen(seen: mx.array, codes: mx.array) -> mx.array:
    return seen | (mx.arange(seen.shape[-1]) == codes[:, None])


def step_row(
    model: GPT,
    code: mx.array,
    index: mx.array,
    offset: mx.array,
    keys: list[mx.array],
    values: list[mx.array],
) -> tuple[mx.array, list[mx.array], list[mx.array]]:
    """Run the row of `code` (batch,), code number `index`, through the caches' arrays.

    The row goes to cache position `offset` (`index` and `offset` are int32 scalars) and sees
    the positions up to it. Returns (latent (batch, 1, dims), the keys and values with the row
    written).
    """
    caches = [PaddedKVCache(k, v, offset) for k, v in zip(keys, values)]
    mask = (mx.arange(keys[0].shape[2]) <= offset)[None, None, None]
    latent = model(model.embed_codes(code[:, None], index), caches, mask)
    return latent, [c.keys for c in caches], [c.values for c in caches]


def sample_row(
    model: GPT,
    code: mx.array,
    index: mx.array,
    offset: mx.array,
    keys: list[mx.array],
    values: list[mx.array],
    seen: mx.array,
    noise: mx.array,
    settings: tuple,
) -> tuple[mx.array, ...]:
    """`step_row`, then the next code as `Sampler` chooses it, all in arrays (so it compiles).

    `noise` is the sampler's key (uint32, advanced here as `Sampler.uniforms` does) or this
    step's uniforms (float32); `settings` are `SamplingSettings`' fields. Returns (code, latent,
    seen, keys, values, noise after the step).
    """
    latent, keys, values = step_row(model, code, index, offset, keys, values)
    settings = SamplingSettings(*settings)
    uniforms = noise
    if settings.draw and noise.dtype == mx.uint32:
        noise, uniforms = random_uniforms(noise, code.shape[0])
    code = pick(model.logits(latent[:, 0]).astype(mx.float32), seen, settings, uniforms)
    return code, latent, mark_seen(seen, code), keys, values, noise


def compiled_step(model: GPT) -> Callable[..., tuple[mx.array, ...]]:
    """`sample_row` for `model` under `mx.compile`, made once and kept on the model.

    The parameters are inputs, so weights changed in place are used (and a quantized model is
    traced anew); each cache length, dtype and set of settings (constants) has its own trace,
    kept for the next utterance.
    """
    step = model.__dict__.get("_compiled_step")
    if step is None:
        step = mx.compile(partial(sample_row, model), inputs=model.state)
        model.__dict__["_compiled_step"] = step
    return step


def generate_step(
    model: GPT,
    cond_latent: mx.array,
    text_ids: mx.array,
    choose: Chooser | None = None,
    max_codes: int | None = None,
    voice: list[tuple[mx.array, mx.array]] | None = None,
) -> Iterator[tuple[int, mx.array]]:
    """Yield (code, latent (1, 1, dims)) per step for one utterance, the stop code included.

    Stops after the stop code or after `max_codes` codes (at most, and by default, the model's
    limit, as coqui does; no stop code then, and as many latents as codes). `cond_latent` is (1, 32, dims),
    `text_ids` (1, length); `voice`, when given, is `model.voice_rows(cond_latent)`, and the
    prefill starts after those rows. Each step is launched (`mx.async_eval`) before the previous one is
    handed out, but only once the code it feeds back is known not to be the stop code: no step
    is computed that cannot be used.
    """
    args = model.args
    choose = choose or Sampler()
    limit = args.max_gen_audio_tokens
    max_codes = limit if max_codes is None else min(max_codes, limit)
    if max_codes <= 0:
        return
    prefix = model.embed_prefix(cond_latent, text_ids)
    rows = prefix.shape[1]
    cache = model.make_cache()
    if voice is not None:
        done = voice[0][0].shape[2]
        cache = [PaddedKVCache(keys, values, done) for keys, values in voice]
        prefix = prefix[:, done:]
    latent = model(prefix, cache)[:, -1:, :]
    seen = first_seen(model)
    code = choose(model.logits(latent[:, 0]).astype(mx.float32), seen)
    state = (code, latent, mark_seen(seen, code), *_arrays(cache))
    del cache
    mx.async_eval(state)
    step, pure = _stepper(model, choose, rows)
    for index in range(max_codes):
        code, latent = state[:2]
        more = index + 1 < max_codes
        # a pure step is built before the code it feeds back is known, and dropped (never
        # computed) if that code is the stop code; any other waits for the code
        ahead = step(index, state) if more and pure else None
        value = code.item()
        if value == args.gpt_stop_audio_token:
            yield value, latent
            return
        if more:
            state, key = ahead or step(index, state)  # the last reference to the old caches
            if key is not None:
                choose.key = key
            mx.async_eval(state, key)
        yield value, latent


def _arrays(cache: list[PaddedKVCache]) -> tuple[list[mx.array], list[mx.array]]:
    return [c.keys for c in cache], [c.values for c in cache]


def _stepper(
    model: GPT, choose: Chooser, rows: int
) -> tuple[Callable[[int, State], tuple[State, mx.array | None]], bool]:
    """The step that feeds code number `index` back, and whether building it has no side effect.

    A `Sampler` gets the compiled step, any other chooser the same step eagerly. A step whose
    uniforms come from the sampler's key (or that draws none) calls no Python callback: it also
    returns the key after it, for the caller to keep once the step is launched.
    """
    compiled = compiled_step(model) if isinstance(choose, Sampler) else None
    pure = compiled is not None and (choose.injected is None or not choose.settings.draw)
    settings = astuple(choose.settings) if compiled is not None else ()

    def step(index: int, state: State) -> tuple[State, mx.array | None]:
        code, _, seen, keys, values = state
        keys = [padded(k, rows + index + 1) for k in keys]
        values = [padded(v, rows + index + 1) for v in values]
        # arrays: as ints they would be constants of the trace, one trace per step
        where = mx.array(index, mx.int32), mx.array(rows + index, mx.int32)
        if compiled is None:
            latent, keys, values = step_row(model, code, *where, keys, values)
            code = choose(model.logits(latent[:, 0]).astype(mx.float32), seen)
            return (code, latent, mark_seen(seen, code), keys, values), None
        noise = choose.key if pure else choose.uniforms(code.shape[0])
        *state, noise = compiled(code, *where, keys, values, seen, noise, settings)
        return tuple(state), noise if pure else None

    return step, pure


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
