"""Decoding for NLLB: greedy (a step generator) and beam search, both as transformers 4.57 does them.

The decoder starts from `</s>` followed by the forced target-language token; both go in with the
first step, so the step whose only possible outcome is the language token is never computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import mlx.core as mx
import numpy as np

from .model import Model

# (tokens so far (batch, length), scores (batch, vocab)) -> scores
LogitsProcessor = Callable[[mx.array, mx.array], mx.array]

_NEG = np.float32(-1.0e9)  # transformers' "finished / impossible" offset in beam search
_PROMPT_LENGTH = 1  # the decoder start token


def default_max_new_tokens(source_length: int) -> int:
    """Room for a translation about twice as long as its source (in tokens), language token included."""
    return 2 * source_length + 16


def penalize_repetition(penalty: float) -> LogitsProcessor:
    """CTRL's penalty on every token already in the output (the decoder start token too)."""

    def process(tokens: mx.array, scores: mx.array) -> mx.array:
        seen = mx.take_along_axis(scores, tokens, axis=-1)
        seen = mx.where(seen < 0, seen * penalty, seen / penalty)
        return mx.put_along_axis(scores, tokens, seen, axis=-1)

    return process


def no_repeat_ngram(size: int) -> LogitsProcessor:
    """Ban each token that would repeat an n-gram of `size` tokens already in the output."""

    def process(tokens: mx.array, scores: mx.array) -> mx.array:
        length = tokens.shape[1]
        if length + 1 < size:
            return scores
        history = np.array(tokens)  # a host sync, paid only when this option is on
        banned = np.zeros(scores.shape, dtype=bool)
        for row, ids in enumerate(history.tolist()):
            prefix = tuple(ids[length + 1 - size :])
            for start in range(length - size + 1):
                if tuple(ids[start : start + size - 1]) == prefix:
                    banned[row, ids[start + size - 1]] = True
        return mx.where(mx.array(banned), -mx.inf, scores)

    return process


def make_processors(
    repetition_penalty: float | None = None, no_repeat_ngram_size: int = 0
) -> list[LogitsProcessor]:
    """The optional controls, in the order transformers applies them."""
    processors = []
    if repetition_penalty is not None and repetition_penalty != 1.0:
        processors.append(penalize_repetition(repetition_penalty))
    if no_repeat_ngram_size:
        processors.append(no_repeat_ngram(no_repeat_ngram_size))
    return processors


def pad_sources(sources: list[list[int]], pad_id: int) -> tuple[mx.array, mx.array | None]:
    """Right-padded ids and their mask (None when all sources have the same length)."""
    width = max(len(s) for s in sources)
    ids = np.full((len(sources), width), pad_id, dtype=np.int32)
    mask = np.zeros((len(sources), width), dtype=bool)
    for row, source in enumerate(sources):
        ids[row, : len(source)] = source
        mask[row, : len(source)] = True
    return mx.array(ids), None if mask.all() else mx.array(mask)


def generate_step(
    model: Model,
    memory: mx.array,
    memory_mask: mx.array | None,
    target_lang_id: int,
    max_new_tokens: int,
    processors: list[LogitsProcessor] | None = None,
) -> Iterator[mx.array]:
    """Greedy decoding: yield the next token of every row, (batch,) int32, one step at a time.

    The first token yielded is the forced language token. A row that has produced `</s>` yields
    the padding id from then on. The caller stops when it has what it needs; each step is
    launched (`mx.async_eval`) before the previous one is handed out.
    """
    args = model.args
    batch = memory.shape[0]
    processors = processors or []
    cache = model.make_cache(memory)
    prefix = mx.array([[args.decoder_start_token_id, target_lang_id]] * batch, dtype=mx.int32)
    history = prefix
    finished = mx.zeros((batch,), dtype=mx.bool_)

    def step(inputs: mx.array) -> mx.array:
        nonlocal history, finished
        logits = model.decode(inputs, cache, memory_mask)[:, -1, :].astype(mx.float32)
        for process in processors:
            logits = process(history, logits)
        token = mx.where(finished, args.pad_token_id, mx.argmax(logits, axis=-1).astype(mx.int32))
        finished = finished | (token == args.eos_token_id)
        if processors:
            history = mx.concatenate([history, token[:, None]], axis=1)
        return token

    yield prefix[:, 1]
    if max_new_tokens <= 1:
        return
    token = step(prefix)
    mx.async_eval(token)
    for produced in range(2, max_new_tokens + 1):
        if produced < max_new_tokens:
            following = step(token[:, None])
            mx.async_eval(following)
        yield token
        if produced < max_new_tokens:
            token = following


def greedy(
    model: Model,
    memory: mx.array,
    memory_mask: mx.array | None,
    target_lang_id: int,
    max_new_tokens: int,
    processors: list[LogitsProcessor] | None = None,
) -> list[list[int]]:
    """Greedy translations of a batch: per row the tokens after the decoder start, up to `</s>`."""
    eos = model.args.eos_token_id
    rows: list[list[int]] = [[] for _ in range(memory.shape[0])]
    done = [False] * len(rows)
    steps = generate_step(model, memory, memory_mask, target_lang_id, max_new_tokens, processors)
    for tokens in steps:
        for row, token in enumerate(tokens.tolist()):
            if done[row]:
                continue
            if token == eos:
                done[row] = True
            else:
                rows[row].append(token)
        if all(done):
            break
    return rows


class BeamState:
    """transformers' bookkeeping for one source: running hypotheses and the best finished ones."""

    def __init__(self, prefix, num_beams, max_length, length_penalty, early_stopping, eos_id):
        self.num_beams, self.max_length, self.eos_id = num_beams, max_length, eos_id
        self.length_penalty, self.early_stopping = length_penalty, early_stopping
        # after the forced language step every beam holds the prefix, and only the first counts
        self.running = [list(prefix) for _ in range(num_beams)]
        self.running_scores = np.full(num_beams, _NEG, dtype=np.float32)
        self.running_scores[0] = 0.0
        self.finished: list[list[int]] = [[] for _ in range(num_beams)]
        self.finished_scores = np.full(num_beams, _NEG, dtype=np.float32)
        self.is_finished = np.zeros(num_beams, dtype=bool)
        self.can_improve = True
        self.length = len(prefix)

    def advance(self, values: np.ndarray, beam_of: np.ndarray, token_of: np.ndarray):
        """Take the 2 * num_beams best (score, beam, token) candidates, best first.

        Returns the beam each new running hypothesis came from, or None when the search is over.
        """
        sequences = [self.running[b] + [int(t)] for b, t in zip(beam_of, token_of)]
        hits = (token_of == self.eos_id) | (self.length + 1 >= self.max_length)

        # the best `num_beams` candidates that did not stop carry on
        running_values = values + hits.astype(np.float32) * _NEG
        chosen = np.argsort(-running_values, kind="stable")[: self.num_beams]
        self.running = [sequences[i] for i in chosen]
        self.running_scores = running_values[chosen]

        # those among the top `num_beams` that stopped compete for the finished slots
        just_finished = hits & (np.arange(len(values)) < self.num_beams)
        generated = self.length + 1 - _PROMPT_LENGTH
        scores = values / np.float32(generated**self.length_penalty)
        if self.early_stopping is True and self.is_finished.all():
            scores = scores + _NEG
        if not self.can_improve:
            scores = scores + _NEG
        scores = scores + (~just_finished).astype(np.float32) * _NEG
        merged_scores = np.concatenate([self.finished_scores, scores])
        best = np.argsort(-merged_scores, kind="stable")[: self.num_beams]
        merged, merged_finished = (
            self.finished + sequences,
            np.append(self.is_finished, just_finished),
        )
        self.finished = [merged[i] for i in best]
        self.finished_scores = merged_scores[best]
        self.is_finished = merged_finished[best]
        self.length += 1

        self.can_improve = self.can_improve and self._may_improve()
        all_done = self.is_finished.all() and self.early_stopping is True
        return None if not self.can_improve or all_done or hits.all() else beam_of[chosen]

    def _may_improve(self) -> bool:
        """Whether the best running hypothesis could still beat the worst finished one."""
        if self.early_stopping == "never" and self.length_penalty > 0.0:
            best_length = self.max_length - _PROMPT_LENGTH
        else:
            best_length = self.length - _PROMPT_LENGTH
        best_possible = self.running_scores[0] / np.float32(best_length**self.length_penalty)
        worst = np.where(self.is_finished, self.finished_scores.min(), _NEG)
        return bool((best_possible > worst).any())

    def best(self) -> list[int]:
        tokens = self.finished[0][_PROMPT_LENGTH:]
        return tokens[: tokens.index(self.eos_id)] if self.eos_id in tokens else tokens


def beam_search(
    model: Model,
    memory: mx.array,
    target_lang_id: int,
    max_new_tokens: int,
    num_beams: int,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    processors: list[LogitsProcessor] | None = None,
) -> list[int]:
    """Beam search for ONE source (`memory` of shape (1, length, d_model)), as transformers 4.57.

    Same scores, the same 2 * num_beams candidates per step, the same length penalty
    (sum of log-probs / generated length ** length_penalty, `</s>` counted) and the same stopping
    heuristic, so the best hypothesis matches `generate(num_beams=...)` token for token.
    """
    args = model.args
    prefix = [args.decoder_start_token_id, target_lang_id]
    if max_new_tokens <= 1:
        return prefix[1:]
    beams = BeamState(
        prefix,
        num_beams,
        _PROMPT_LENGTH + max_new_tokens,
        length_penalty,
        early_stopping,
        args.eos_token_id,
    )
    cache = model.make_cache(mx.repeat(memory, num_beams, axis=0))
    inputs = mx.array(beams.running, dtype=mx.int32)
    keep = 2 * num_beams
    while True:
        logits = model.decode(inputs, cache)[:, -1, :].astype(mx.float32)
        log_probs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        history = mx.array(beams.running, dtype=mx.int32)
        for process in processors or []:
            log_probs = process(history, log_probs)
        totals = (log_probs + mx.array(beams.running_scores)[:, None]).reshape(-1)
        candidates = mx.argpartition(-totals, keep - 1)[:keep]
        values, candidates = np.array(totals[candidates]), np.array(candidates)
        order = np.argsort(-values, kind="stable")
        values, candidates = values[order], candidates[order]
        vocab = logits.shape[-1]
        origins = beams.advance(values, candidates // vocab, candidates % vocab)
        if origins is None:
            return beams.best()
        for layer in cache:
            layer.reorder(mx.array(origins))
        inputs = mx.array([[seq[-1]] for seq in beams.running], dtype=mx.int32)


def translate_ids(
    model: Model,
    sources: list[list[int]],
    target_lang_id: int,
    beams: int = 1,
    max_new_tokens: int | None = None,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    repetition_penalty: float | None = None,
    no_repeat_ngram_size: int = 0,
) -> list[list[int]]:
    """Token ids of each translation: the language token, then the text, without `</s>`."""
    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens(max(len(s) for s in sources))
    processors = make_processors(repetition_penalty, no_repeat_ngram_size)
    ids, mask = pad_sources(sources, model.args.pad_token_id)
    memory = model.encode(ids, mask)
    if beams <= 1:
        return greedy(model, memory, mask, target_lang_id, max_new_tokens, processors)
    return [
        beam_search(
            model,
            memory[row : row + 1, : len(source)],
            target_lang_id,
            max_new_tokens,
            beams,
            length_penalty,
            early_stopping,
            processors,
        )
        for row, source in enumerate(sources)
    ]
