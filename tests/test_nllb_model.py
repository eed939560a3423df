"""The MLX NLLB model against transformers' M2M100ForConditionalGeneration, in float32."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import torch
from mlx.utils import tree_flatten
from transformers import M2M100Config, M2M100ForConditionalGeneration

from mlx_stream.nllb.cache import KVCache
from mlx_stream.nllb.generate import generate_step
from mlx_stream.nllb.model import Model, ModelArgs

from .fixtures.nllb import CONFIGS, make_hf_model, pad_batch, random_sources, to_mlx

TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def pair(request):
    hf = make_hf_model(request.param)
    return hf, to_mlx(hf)


def test_encoder_states_match_transformers_for_a_padded_batch(pair):
    hf, model = pair
    ids, mask = pad_batch(random_sources(np.random.default_rng(0), 6, lengths=(1, 20)))
    with torch.no_grad():
        expected = hf.model.encoder(
            input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)
        ).last_hidden_state.numpy()
    states = np.array(model.encode(mx.array(ids), mx.array(mask)))
    real = mask.astype(bool)  # padded positions are garbage in both and never attended to
    assert np.abs(states - expected)[real].max() < TOLERANCE


def test_unpadded_encoding_needs_no_mask(pair):
    hf, model = pair
    ids, _ = pad_batch(random_sources(np.random.default_rng(1), 1))
    with torch.no_grad():
        expected = hf.model.encoder(input_ids=torch.tensor(ids)).last_hidden_state.numpy()
    assert np.abs(np.array(model.encode(mx.array(ids))) - expected).max() < TOLERANCE


def test_decoder_logits_match_transformers(pair):
    hf, model = pair
    rng = np.random.default_rng(2)
    ids, mask = pad_batch(random_sources(rng, 5, lengths=(2, 15)))
    targets = np.concatenate([np.full((5, 1), 2), rng.integers(3, 320, size=(5, 9))], axis=1)
    with torch.no_grad():
        expected = hf(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(mask),
            decoder_input_ids=torch.tensor(targets),
        ).logits.numpy()
    logits = np.array(model(mx.array(ids), mx.array(targets), mx.array(mask)))
    assert logits.shape == expected.shape
    assert np.abs(logits - expected).max() < TOLERANCE
    assert (logits.argmax(-1) == expected.argmax(-1)).all()


def test_cached_decoding_equals_full_recomputation(pair):
    _, model = pair
    rng = np.random.default_rng(3)
    ids, mask = pad_batch(random_sources(rng, 3, lengths=(2, 10)))
    targets = np.concatenate([np.full((3, 1), 2), rng.integers(3, 320, size=(3, 12))], axis=1)
    ids, mask, targets = mx.array(ids), mx.array(mask), mx.array(targets)
    full = model(ids, targets, mask)

    cache = model.make_cache(model.encode(ids, mask))
    steps = [model.decode(targets[:, :2], cache, mask)]  # a prefix, as generation starts
    for i in range(2, targets.shape[1]):
        steps.append(model.decode(targets[:, i : i + 1], cache, mask))
        assert cache[0].self_attn.offset == i + 1
    assert np.abs(np.array(mx.concatenate(steps, axis=1)) - np.array(full)).max() < 1e-5


def test_generation_feeds_one_new_token_per_step(pair):
    _, model = pair
    seen = []

    class Recording(Model):  # the real model, recording what the decoder is given
        def decode(self, decoder_ids, cache, memory_mask=None):
            seen.append((decoder_ids.shape[1], cache[0].self_attn.offset))
            return super().decode(decoder_ids, cache, memory_mask)

    recording = Recording(model.args)
    recording.update(model.parameters())
    ids, _ = pad_batch(random_sources(np.random.default_rng(4), 1))
    memory = recording.encode(mx.array(ids))
    tokens = [t.item() for t in generate_step(recording, memory, None, 305, max_new_tokens=12)]
    assert len(tokens) == 12 and tokens[0] == 305
    assert seen[0] == (2, 0)  # decoder start and language token together
    assert seen[1:] == [(1, offset) for offset in range(2, 2 + len(seen) - 1)]


def test_kv_cache_grows_in_blocks_and_keeps_everything():
    cache = KVCache()
    keys = mx.random.normal((2, 3, 300, 4))
    values = mx.random.normal((2, 3, 300, 4))
    cache.update_and_fetch(keys[:, :, :5], values[:, :, :5])
    assert cache.keys.shape[2] == KVCache.step
    for i in range(5, 300):
        k, v = cache.update_and_fetch(keys[:, :, i : i + 1], values[:, :, i : i + 1])
    assert cache.keys.shape[2] == 2 * KVCache.step and cache.offset == 300
    assert mx.array_equal(k, keys) and mx.array_equal(v, values)


def test_full_size_shapes_match_nllb_600m():
    args = ModelArgs.nllb_600m()
    model = Model(args)  # lazy initialisers: nothing is computed here
    ours = {k: v.shape for k, v in tree_flatten(model.parameters())}
    config = M2M100Config(**{k: v for k, v in vars(args).items() if k != "model_type"})
    with torch.device("meta"):
        reference = M2M100ForConditionalGeneration(config)
    expected = {k: tuple(v.shape) for k, v in Model.sanitize(reference.state_dict()).items()}
    assert {k: tuple(v) for k, v in ours.items()} == expected
    assert sum(int(np.prod(s)) for s in ours.values()) == 615_073_792
