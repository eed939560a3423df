"""Greedy and beam search against transformers' `generate`, token for token."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import torch

from mlx_stream.nllb.generate import default_max_new_tokens, generate_step, translate_ids

from .fixtures.nllb import CONFIGS, LANG_IDS, make_hf_model, pad_batch, random_sources, to_mlx


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def pair(request):
    hf = make_hf_model(request.param)
    return hf, to_mlx(hf)


def hf_generate(hf, sources, target, max_new_tokens, **options) -> list[list[int]]:
    """transformers' output with NLLB's settings, cut like ours: after `</s>` start, before `</s>`."""
    ids, mask = pad_batch(sources)
    with torch.no_grad():
        out = hf.generate(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(mask),
            forced_bos_token_id=target,
            decoder_start_token_id=2,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            **options,
        )
    rows = []
    for row in out.tolist():
        row = row[1:]
        rows.append(row[: row.index(2)] if 2 in row else row)
    return rows


def test_greedy_batches_equal_transformers(pair):
    hf, model = pair
    rng = np.random.default_rng(10)
    sources = random_sources(rng, 20, lengths=(1, 16))
    targets = rng.choice(LANG_IDS, size=2).tolist()
    for target, batch in zip(targets, (sources[:12], sources[12:])):
        expected = hf_generate(hf, batch, target, 16)
        assert translate_ids(model, batch, target, max_new_tokens=16) == expected
    lengths = {len(r) for r in expected}
    assert len(lengths) > 1, "the random model should stop at different lengths"


def test_single_sentences_equal_transformers(pair):
    hf, model = pair
    for source in random_sources(np.random.default_rng(11), 3):
        assert translate_ids(model, [source], 301, max_new_tokens=12) == hf_generate(
            hf, [source], 301, 12
        )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"length_penalty": 0.6},
        {"length_penalty": 1.5, "early_stopping": True},
        {"early_stopping": "never"},
    ],
    ids=["default", "short", "long-early", "never"],
)
def test_beam_search_equals_transformers(pair, options):
    hf, model = pair
    sources = random_sources(np.random.default_rng(12), 3, lengths=(1, 14))
    expected = [hf_generate(hf, [s], 303, 14, num_beams=3, **options)[0] for s in sources]
    assert translate_ids(model, sources, 303, beams=3, max_new_tokens=14, **options) == expected


def test_beam_search_on_a_padded_batch_equals_transformers(pair):
    hf, model = pair
    sources = random_sources(np.random.default_rng(16), 4, lengths=(1, 14))
    expected = hf_generate(hf, sources, 306, 12, num_beams=3)
    assert translate_ids(model, sources, 306, beams=3, max_new_tokens=12) == expected


@pytest.mark.parametrize("beams", [1, 3])
def test_repetition_controls_equal_transformers(pair, beams):
    hf, model = pair
    sources = random_sources(np.random.default_rng(13), 2)
    for options in [
        {"repetition_penalty": 1.3},
        {"no_repeat_ngram_size": 2},
    ]:
        expected = [hf_generate(hf, [s], 304, 14, num_beams=beams, **options)[0] for s in sources]
        got = translate_ids(model, sources, 304, beams=beams, max_new_tokens=14, **options)
        assert got == expected
        if "no_repeat_ngram_size" in options:
            for row in got:
                pairs = list(zip([2, *row], row))
                assert len(pairs) == len(set(pairs))


def test_one_new_token_is_only_the_language(pair):
    _, model = pair
    sources = random_sources(np.random.default_rng(14), 2)
    assert translate_ids(model, sources, 302, max_new_tokens=1) == [[302], [302]]
    assert translate_ids(model, sources, 302, beams=3, max_new_tokens=1) == [[302], [302]]


def test_finished_rows_yield_padding(pair):
    _, model = pair
    sources = random_sources(np.random.default_rng(15), 12)
    ids, mask = pad_batch(sources)
    memory = model.encode(mx.array(ids), mx.array(mask.astype(bool)))
    steps = [t.tolist() for t in generate_step(model, memory, mx.array(mask), 305, 16)]
    for column in zip(*steps):
        if 2 in column:
            assert set(column[column.index(2) + 1 :]) <= {1}


def test_default_length_grows_with_the_source():
    assert default_max_new_tokens(5) < default_max_new_tokens(50)
    assert default_max_new_tokens(1) >= 16
