"""The MLX GPT, sampler and generation loop against coqui's XTTS on tiny random checkpoints.

The reference is coqui's own `Xtts`, loaded by its own `load_checkpoint`, in two shapes (the shared
2-layer/64-dim fixture and a 3-layer/96-dim/6-head one built here). Our GPT gets coqui's
`state_dict()` through `GPT.sanitize`. Codes must be coqui's codes and latents coqui's latents:
teacher-forced, greedy (`do_sample=True, top_k=1`) and sampled with uniforms shared through a
patched `torch.multinomial`.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from mlx_stream.errors import MlxStreamError
from mlx_stream.xtts import cache as kv_cache
from mlx_stream.xtts import generate as generation
from mlx_stream.xtts.cache import PaddedKVCache
from mlx_stream.xtts.config import InferenceArgs, ModelArgs
from mlx_stream.xtts.generate import (
    compiled_step,
    first_seen,
    generate,
    generate_step,
    mark_seen,
    sample_row,
)
from mlx_stream.xtts.gpt import GPT
from mlx_stream.xtts.sampling import (
    Sampler,
    SamplingSettings,
    draw,
    penalize_repetition,
    process,
    random_uniforms,
    top_k_filter,
    top_p_filter,
)
from tests.fixtures.xtts import SPEAKERS, load_coqui, tiny_xtts_config, write_vocab

SPEAKER = SPEAKERS[1]
TEXTS = ["hello world, this is a small test.", "The quick brown fox jumps over the lazy dog!"]
# the real config.json's sampling settings
REAL = dict(temperature=0.75, top_k=50, top_p=0.85, repetition_penalty=5.0)
GREEDY = {**REAL, "top_k": 1}
LATENT_ATOL = 1e-4
BOUNDARY = 1e-5  # a shared uniform this close to a CDF step is redrawn on both sides


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build_wide_xtts(folder: Path) -> Path:
    """A second shape: 3 layers, 96 dims, 6 heads of 16, a shorter code limit (19 codes), and
    GPT-2 blocks with large random weights."""
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    folder.mkdir(parents=True, exist_ok=True)
    write_vocab(folder / "vocab.json")
    tokenizer = VoiceBpeTokenizer(vocab_file=folder / "vocab.json")
    config = tiny_xtts_config(
        tokenizer.get_number_tokens(),
        gpt_layers=3,
        gpt_n_model_channels=96,
        gpt_n_heads=6,
        decoder_input_dim=96,
        gpt_max_audio_tokens=22,
    )
    config.save_json(folder / "config.json")
    torch.manual_seed(7)
    model = Xtts(config)
    model.tokenizer = tokenizer
    model.init_models()
    # GPT-2's init (std 0.02) leaves the blocks nearly linear: at 1e-4 even the exact GELU would
    # pass for the tanh form. Larger weights make every nonlinearity and norm count.
    with torch.no_grad():
        for name, param in model.gpt.gpt.named_parameters():
            if ".ln_" in name or name.startswith("ln_"):
                param.normal_(1.0 if name.endswith("weight") else 0.0, 0.2)
            else:
                param.normal_(0.0, 0.1 if name.endswith("bias") else 0.15)
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    speakers = {
        name: {
            "gpt_cond_latent": torch.randn(1, 32, 96),
            "speaker_embedding": torch.nn.functional.normalize(torch.randn(1, 512, 1), dim=1),
        }
        for name in SPEAKERS
    }
    torch.save(speakers, folder / "speakers_xtts.pth")
    return folder


@dataclass
class Reference:
    coqui: object
    args: ModelArgs
    cond_latent: torch.Tensor
    speaker_embedding: torch.Tensor

    def mlx_gpt(self) -> GPT:
        """Our GPT from coqui's current weights, the `gpt.` part minus the conditioning modules."""
        weights = {
            key.removeprefix("gpt."): mx.array(value.numpy())
            for key, value in self.coqui.state_dict().items()
            if key.startswith("gpt.")
            and not key.startswith(("gpt.conditioning_encoder.", "gpt.conditioning_perceiver."))
        }
        gpt = GPT(self.args)
        gpt.load_weights(list(GPT.sanitize(weights).items()), strict=True)
        return gpt

    def text_ids(self, text: str) -> mx.array:
        return mx.array(self.coqui.tokenizer.encode(text.strip().lower(), lang="en"))[None]

    def mlx_voice(self) -> mx.array:
        return mx.array(self.cond_latent.numpy())


@pytest.fixture(scope="module", params=["2x64", "3x96"])
def ref(request, tiny_xtts_dir, tmp_path_factory) -> Reference:
    folder = tiny_xtts_dir
    if request.param == "3x96":
        folder = build_wide_xtts(tmp_path_factory.mktemp("wide-xtts"))
    coqui = load_coqui(folder)
    vocab = coqui.tokenizer.tokenizer
    args = replace(
        ModelArgs.from_dict(coqui.config.model_args.to_dict()),
        gpt_start_text_token=vocab.token_to_id("[START]"),
        gpt_stop_text_token=vocab.token_to_id("[STOP]"),
    )
    speaker = coqui.speaker_manager.speakers[SPEAKER]
    return Reference(coqui, args, speaker["gpt_cond_latent"], speaker["speaker_embedding"])


class CoquiRun:
    """Records what coqui's generation did: codes, penalised scores, the stream's latents."""

    def __init__(self, ref: Reference, monkeypatch):
        self.ref = ref
        self.codes: list[int] = []
        self.penalised: list[np.ndarray] = []
        self.stream_latents: list[np.ndarray] = []
        gpt = ref.coqui.gpt
        generate_codes, get_generator = gpt.generate, gpt.get_generator
        penalise = RepetitionPenaltyLogitsProcessor.__call__

        def record_penalty(processor, input_ids, scores):
            out = penalise(processor, input_ids, scores)
            self.penalised.append(out[0].numpy().copy())
            return out

        def record_codes(*args, **kwargs):
            codes = generate_codes(*args, **kwargs)
            self.codes = codes[0].tolist()
            return codes

        def record_stream(*args, **kwargs):
            for code, latent in get_generator(*args, **kwargs):
                self.codes.append(int(code))
                self.stream_latents.append(latent[0].numpy().copy())
                yield code, latent

        monkeypatch.setattr(RepetitionPenaltyLogitsProcessor, "__call__", record_penalty)
        monkeypatch.setattr(gpt, "generate", record_codes)
        monkeypatch.setattr(gpt, "get_generator", record_stream)

    def inference(self, text: str, **settings) -> np.ndarray:
        """Run `Xtts.inference`; return its `gpt_latents` (1, n, dims)."""
        ref = self.ref
        out = ref.coqui.inference(text, "en", ref.cond_latent, ref.speaker_embedding, **settings)
        return out["gpt_latents"]

    def stream(self, text: str, **settings) -> np.ndarray:
        """Run `Xtts.inference_stream` to the end (one chunk); return the latents it decoded."""
        ref = self.ref
        chunks = ref.coqui.inference_stream(
            text, "en", ref.cond_latent, ref.speaker_embedding, stream_chunk_size=0, **settings
        )
        assert len(list(chunks)) == 1
        return np.stack(self.stream_latents)[None]


def strip_stop(codes: list[int], args: ModelArgs) -> list[int]:
    return [c for c in codes if c != args.gpt_stop_audio_token]


def assert_meaningful(penalised: list[np.ndarray]) -> None:
    """Each step's winner must beat the runner-up by more than float noise."""
    for step, scores in enumerate(penalised):
        top2 = np.sort(scores)[-2:]
        assert top2[1] - top2[0] > 1e-3, f"step {step}: top-1/top-2 gap {top2[1] - top2[0]}"


def max_diff(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


# --- the GPT itself ----------------------------------------------------------------------------


def test_sanitize_drops_aliases_and_transposes(ref):
    state = ref.coqui.state_dict()
    assert "gpt.gpt.wte.weight" in state and any(k.startswith("gpt.gpt_inference.") for k in state)
    weights = {
        k.removeprefix("gpt."): mx.array(v.numpy())
        for k, v in state.items()
        if k.startswith("gpt.")
        and not k.startswith(("gpt.conditioning_encoder.", "gpt.conditioning_perceiver."))
    }
    weights["gpt.h.0.attn.bias"] = mx.ones((1, 1, 4, 4))  # older HF checkpoints keep the mask
    weights["gpt.h.0.attn.masked_bias"] = mx.array(-1e4)
    sanitized = GPT.sanitize(weights)
    assert not [k for k in sanitized if "wte" in k or "inference" in k or "text_head" in k]
    assert np.array_equal(
        np.array(sanitized["h.0.mlp.c_fc.weight"]),
        state["gpt.gpt.h.0.mlp.c_fc.weight"].numpy().T,
    )
    ref.mlx_gpt()  # strict load: every parameter present, shapes right, nothing left over


def test_teacher_forcing(ref, monkeypatch):
    """coqui samples freely; fed the same codes, every step's penalised scores and latent agree."""
    run = CoquiRun(ref, monkeypatch)
    torch.manual_seed(0)
    coqui_latents = run.inference(TEXTS[0], **REAL)
    args = ref.args
    assert len(run.penalised) == len(run.codes) > 10

    gpt = ref.mlx_gpt()
    penalty_only = SamplingSettings(repetition_penalty=REAL["repetition_penalty"], warp=False)
    scores = []

    def forced(logits, seen):
        scores.append(process(logits, seen, penalty_only))
        step = len(scores) - 1
        code = run.codes[step] if step < len(run.codes) else args.gpt_stop_audio_token
        return mx.array([code], dtype=mx.int32)

    voice, text = ref.mlx_voice(), ref.text_ids(TEXTS[0])
    codes, latents = generate(gpt, voice, text, forced)
    assert codes == strip_stop(run.codes, args)
    steps = len(run.codes)
    assert max_diff(mx.concatenate(scores[:steps]), np.stack(run.penalised)) < 1e-4
    assert max_diff(latents, coqui_latents) < LATENT_ATOL

    # the same latents from one uncached pass over prefix and codes
    prefix = gpt.embed_prefix(voice, text)
    rows = mx.concatenate([prefix, gpt.embed_codes(mx.array([codes]))], axis=1)
    uncached = gpt(rows)[:, prefix.shape[1] - 1 :][:, : coqui_latents.shape[1]]
    assert max_diff(uncached, coqui_latents) < LATENT_ATOL


def test_quantized_projections(ref):
    """Every projection is an `nn.Linear`, so `nn.quantize` reaches all of them (8-bit here)."""
    gpt, voice, text = ref.mlx_gpt(), ref.mlx_voice(), ref.text_ids(TEXTS[0])
    rows = gpt.embed_prefix(voice, text)
    full = gpt(rows)
    nn.quantize(gpt, group_size=32, bits=8, class_predicate=lambda _, m: isinstance(m, nn.Linear))
    quantized = [m for _, m in gpt.named_modules() if isinstance(m, nn.QuantizedLinear)]
    assert len(quantized) == 4 * ref.args.gpt_layers + 1
    assert isinstance(gpt.mel_embedding, nn.Embedding) and isinstance(gpt.ln_f, nn.LayerNorm)
    assert 0 < max_diff(gpt(rows), full) < 0.05 * np.abs(np.array(full)).max()


def test_text_too_long_is_refused_like_coqui(ref):
    gpt = ref.mlx_gpt()
    limit = ref.args.gpt_max_text_tokens
    gpt.embed_prefix(ref.mlx_voice(), mx.zeros((1, limit - 1), dtype=mx.int32))
    with pytest.raises(MlxStreamError, match="split it into shorter sentences"):
        gpt.embed_prefix(ref.mlx_voice(), mx.zeros((1, limit), dtype=mx.int32))


# --- greedy: codes equal, latents equal --------------------------------------------------------


def check_greedy(ref: Reference, text: str, monkeypatch) -> list[int]:
    gpt = ref.mlx_gpt()
    codes, latents = generate(
        gpt, ref.mlx_voice(), ref.text_ids(text), Sampler(SamplingSettings(**GREEDY))
    )
    for path in ("inference", "stream"):
        run = CoquiRun(ref, monkeypatch)
        torch.manual_seed(123)
        coqui_latents = getattr(run, path)(text, **GREEDY)
        assert_meaningful(run.penalised)
        assert codes == strip_stop(run.codes, ref.args), path
        assert max_diff(latents, coqui_latents) < LATENT_ATOL, path
        monkeypatch.undo()
    return codes


@pytest.mark.parametrize("text", TEXTS)
def test_greedy_matches_inference_and_stream(ref, text, monkeypatch):
    codes = check_greedy(ref, text, monkeypatch)
    assert len(codes) == ref.args.max_gen_audio_tokens  # random weights never stop: the cap


def test_greedy_stops_like_coqui(ref, monkeypatch):
    """Raise the stop code's bias so that greedy decoding stops midway, with a clear margin."""
    args = ref.args
    run = CoquiRun(ref, monkeypatch)
    run.inference(TEXTS[0], **GREEDY)
    monkeypatch.undo()
    stop = args.gpt_stop_audio_token
    # how far the stop code is below the winner at each step; the stop code is never penalised
    short = [np.delete(s, stop).max() - s[stop] for s in run.penalised]
    step = min(range(4, len(short) - 2), key=lambda t: short[t] - min(short[:t]))
    assert short[step] < min(short[:step]) - 0.02
    raise_by = short[step] + 0.5 * (min(short[:step]) - short[step])

    bias = ref.coqui.gpt.mel_head.bias
    original = bias.detach().clone()
    try:
        with torch.no_grad():
            bias[stop] += raise_by
        codes = check_greedy(ref, TEXTS[0], monkeypatch)
    finally:
        with torch.no_grad():
            bias.copy_(original)
    assert len(codes) == step


def test_not_sampling_is_argmax_like_inference(ref, monkeypatch):
    """`do_sample=False`: coqui's `inference` takes the argmax of the penalised scores."""
    run = CoquiRun(ref, monkeypatch)
    coqui_latents = run.inference(TEXTS[1], **REAL, do_sample=False)
    settings = SamplingSettings.like_coqui(InferenceArgs(**REAL), do_sample=False)
    assert not settings.draw
    codes, latents = generate(
        ref.mlx_gpt(), ref.mlx_voice(), ref.text_ids(TEXTS[1]), Sampler(settings)
    )
    assert codes == strip_stop(run.codes, ref.args)
    assert max_diff(latents, coqui_latents) < LATENT_ATOL


# --- sampling with shared uniforms --------------------------------------------------------------


class SharedUniforms:
    """A seeded stream of uniforms for coqui's `torch.multinomial` (inverse CDF), replayed to ours.

    A uniform that lands within BOUNDARY of a CDF step could fall either side in the other
    framework's float rounding; coqui's side redraws it and counts it, and ours gets the one used.
    """

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.used: list[float] = []
        self.redrawn = 0

    def multinomial(self, probs: torch.Tensor, num_samples: int, *args, **kwargs) -> torch.Tensor:
        assert probs.shape[0] == 1 and num_samples == 1
        probs = probs[0].numpy().astype(np.float32)
        cdf = np.cumsum(probs, dtype=np.float32)
        while True:
            u = np.float32(self.rng.random())
            target = u * cdf[-1]
            if np.abs(cdf[probs > 0] - target).min() >= BOUNDARY:
                break
            self.redrawn += 1
        self.used.append(float(u))
        token = min(int((cdf <= target).sum()), int(np.flatnonzero(probs > 0)[-1]))
        return torch.tensor([[token]])

    def replay(self):
        used = iter(self.used)
        return lambda n: mx.array([next(used) for _ in range(n)], dtype=mx.float32)


@pytest.mark.parametrize(
    ("path", "do_sample"), [("inference", True), ("stream", True), ("stream", False)]
)
def test_sampling_with_shared_uniforms(ref, path, do_sample, monkeypatch):
    """Sampled codes equal coqui's; the stream with `do_sample=False` draws unwarped, like coqui."""
    shared = SharedUniforms(seed=11)
    run = CoquiRun(ref, monkeypatch)
    monkeypatch.setattr(torch, "multinomial", shared.multinomial)
    coqui_latents = getattr(run, path)(TEXTS[1], **REAL, do_sample=do_sample)
    monkeypatch.undo()
    assert len(shared.used) == len(run.codes) > 10
    assert shared.redrawn <= 2  # about 1e-3 per draw; more means the CDFs disagree

    settings = SamplingSettings.like_coqui(
        InferenceArgs(**REAL), do_sample=do_sample, stream=path == "stream"
    )
    sampler = Sampler(settings, uniforms=shared.replay())
    codes, latents = generate(ref.mlx_gpt(), ref.mlx_voice(), ref.text_ids(TEXTS[1]), sampler)
    assert codes == strip_stop(run.codes, ref.args)
    assert len(set(codes)) > len(codes) // 2  # really sampled, not stuck on one code
    assert max_diff(latents, coqui_latents) < LATENT_ATOL


def test_seeded_sampler_repeats_itself(ref):
    gpt, voice, text = ref.mlx_gpt(), ref.mlx_voice(), ref.text_ids(TEXTS[0])
    settings = SamplingSettings(**REAL)
    first = generate(gpt, voice, text, Sampler(settings, seed=5), max_codes=8)[0]
    assert generate(gpt, voice, text, Sampler(settings, seed=5), max_codes=8)[0] == first
    assert generate(gpt, voice, text, Sampler(settings, seed=6), max_codes=8)[0] != first


def test_generate_step_yields_latent_per_code(ref):
    gpt = ref.mlx_gpt()
    steps = list(generate_step(gpt, ref.mlx_voice(), ref.text_ids(TEXTS[0]), max_codes=3))
    assert len(steps) == 3
    assert all(latent.shape == (1, 1, ref.args.gpt_n_model_channels) for _, latent in steps)
    assert list(generate_step(gpt, ref.mlx_voice(), ref.text_ids(TEXTS[0]), max_codes=0)) == []
    beyond = generate_step(gpt, ref.mlx_voice(), ref.text_ids(TEXTS[0]), max_codes=10_000)
    assert len(list(beyond)) == ref.args.max_gen_audio_tokens  # never past the position table


@pytest.mark.parametrize("settings", [GREEDY, REAL], ids=["greedy", "sampled"])
def test_voice_rows_computed_once_serve_every_utterance(ref, settings):
    """A prefill that starts after the voice's cached rows: the same codes and latents as the
    whole prefix, for two texts in a row, and the voice's own arrays left as they were."""
    gpt, voice = ref.mlx_gpt(), ref.mlx_voice()
    rows = gpt.voice_rows(voice)
    assert len(rows) == ref.args.gpt_layers and rows[0][0].shape[2] == voice.shape[1]
    kept = [(np.array(k), np.array(v)) for k, v in rows]
    settings = SamplingSettings(**settings)
    for text in TEXTS:
        ids = ref.text_ids(text)
        whole = list(generate_step(gpt, voice, ids, Sampler(settings, seed=3), max_codes=24))
        cached = generate_step(gpt, voice, ids, Sampler(settings, seed=3), 24, voice=rows)
        cached = list(cached)
        assert [c for c, _ in cached] == [c for c, _ in whole] and len(whole) > 3
        for (_, a), (_, b) in zip(cached, whole):
            assert max_diff(a, b) < 1e-5
    assert all(
        np.array_equal(np.array(k), k0) and np.array_equal(np.array(v), v0)
        for (k, v), (k0, v0) in zip(rows, kept)
    )


# --- the compiled step ------------------------------------------------------------------------


def eager(sampler: Sampler):
    """The same sampler behind a plain function: `generate_step` runs its steps eagerly."""
    return lambda logits, seen: sampler(logits, seen)


def capacities(rows: int, steps: int, step: int) -> list[int]:
    """The cache lengths steps 0..steps-1 after a prefix of `rows` rows run at."""
    return sorted({-(-(rows + index + 1) // step) * step for index in range(steps)})


@pytest.mark.parametrize("settings", [GREEDY, REAL], ids=["greedy", "sampled"])
def test_compiled_generation_equals_eager(ref, settings, monkeypatch):
    """Every step to the last, with the cache grown every 16 rows: the same codes, the same
    sampler key after, the latents equal within float rounding."""
    monkeypatch.setattr(kv_cache, "STEP", 16)
    gpt, voice, text = ref.mlx_gpt(), ref.mlx_voice(), ref.text_ids(TEXTS[0])
    settings = SamplingSettings(**settings)
    compiled, reference = Sampler(settings, seed=5), Sampler(settings, seed=5)
    codes, latents = generate(gpt, voice, text, compiled)
    assert "_compiled_step" in gpt.__dict__  # the compiled path ran
    eager_codes, eager_latents = generate(gpt, voice, text, eager(reference))
    assert codes == eager_codes and len(codes) > 10
    assert len(capacities(gpt.embed_prefix(voice, text).shape[1], len(codes), 16)) >= 2
    assert len(set(codes)) > len(codes) // 2
    assert np.array_equal(np.array(compiled.key), np.array(reference.key))
    assert max_diff(latents, eager_latents) < 1e-5


@pytest.mark.parametrize("settings", [GREEDY, REAL], ids=["greedy", "sampled"])
def test_compiled_step_equals_eager_step(ref, settings):
    """One step at the first, a middle and the last row of a 64-row cache whose rows past the
    offset hold noise: compiled and eager agree, and the noise is never seen (the latent is that
    of a cache holding only the rows before the offset)."""
    gpt, args = ref.mlx_gpt(), ref.args
    heads, dims = args.gpt_n_heads, args.gpt_n_model_channels
    rng = np.random.default_rng(0)

    def noise():
        return mx.array(rng.normal(size=(1, heads, 64, dims // heads)), mx.float32)

    keys = [noise() for _ in range(args.gpt_layers)]
    values = [noise() for _ in range(args.gpt_layers)]
    seen = mark_seen(first_seen(gpt), mx.array([5], mx.int32))
    settings = astuple(SamplingSettings(**settings))
    code = mx.array([77], mx.int32)
    for offset in (40, 52, 63):
        index = offset - 40
        where = (mx.array(index, mx.int32), mx.array(offset, mx.int32))
        inputs = (code, *where, keys, values, seen, mx.random.key(offset), settings)
        ours = compiled_step(gpt)(*inputs)
        theirs = sample_row(gpt, *inputs)
        assert ours[0].item() == theirs[0].item()
        assert max_diff(ours[1], theirs[1]) < 1e-6
        for mine, other in zip(ours[2:3] + ours[5:], theirs[2:3] + theirs[5:]):  # seen, key
            assert np.array_equal(np.array(mine), np.array(other))
        for before, mine, other in zip(keys + values, ours[3] + ours[4], theirs[3] + theirs[4]):
            assert max_diff(mine, other) < 1e-6
            rest = np.delete(np.array(mine), offset, axis=2)  # only the row at the offset changed
            assert np.array_equal(rest, np.delete(np.array(before), offset, axis=2))
        trimmed = [
            PaddedKVCache(k[..., :offset, :], v[..., :offset, :], offset)
            for k, v in zip(keys, values)
        ]
        exact = gpt(gpt.embed_codes(code[:, None], index), trimmed)
        assert max_diff(ours[1], exact) < 1e-5


def test_one_trace_serves_every_step(ref, monkeypatch):
    """Traces counted by a side effect that runs only while tracing: one per cache length, and
    none for the next utterance, whatever its text length."""
    traces = []

    def counting(model, code, index, offset, keys, *rest):
        traces.append(keys[0].shape[2])
        return sample_row(model, code, index, offset, keys, *rest)

    monkeypatch.setattr(generation, "sample_row", counting)
    gpt, voice = ref.mlx_gpt(), ref.mlx_voice()
    sampler = Sampler(SamplingSettings(**GREEDY))
    steps = ref.args.max_gen_audio_tokens  # random weights never stop greedy decoding
    assert len(generate(gpt, voice, ref.text_ids(TEXTS[0]), sampler)[0]) == steps
    assert traces == [128]
    assert len(generate(gpt, voice, ref.text_ids(TEXTS[1]), sampler)[0]) == steps
    assert traces == [128]

    monkeypatch.setattr(kv_cache, "STEP", 16)
    traces.clear()
    text = ref.text_ids(TEXTS[1])
    generate(gpt, voice, text, sampler)
    expected = capacities(gpt.embed_prefix(voice, text).shape[1], steps - 1, 16)
    assert traces == expected and len(expected) >= 2
    generate(gpt, voice, text, sampler)
    assert traces == expected


def stopping_gpt(ref: Reference) -> tuple[GPT, int]:
    """Our GPT with the stop code's bias raised so that greedy decoding stops midway (at the
    returned code number), with a clear margin."""
    gpt, stop = ref.mlx_gpt(), ref.args.gpt_stop_audio_token
    penalty_only = SamplingSettings(repetition_penalty=REAL["repetition_penalty"], warp=False)
    scores = []

    def recording(logits, seen):
        scores.append(np.array(process(logits, seen, penalty_only))[0])
        return mx.array([int(np.argmax(np.delete(scores[-1], stop)))], mx.int32)

    generate(gpt, ref.mlx_voice(), ref.text_ids(TEXTS[0]), recording)
    short = [np.delete(s, stop).max() - s[stop] for s in scores]
    at = min(range(4, len(short) - 2), key=lambda t: short[t] - min(short[:t]))
    assert short[at] < min(short[:at]) - 0.02
    bias = np.array(gpt.mel_head.bias)
    bias[stop] += short[at] + 0.5 * (min(short[:at]) - short[at])
    gpt.mel_head.bias = mx.array(bias)
    return gpt, at


def test_the_stop_code_launches_no_step(ref, monkeypatch):
    """The step after the stop code is never launched: compiled, counted as launches and as the
    sampler key's draws; eager, counted as GPT calls."""
    gpt, at = stopping_gpt(ref)
    voice, text, stop = ref.mlx_voice(), ref.text_ids(TEXTS[0]), ref.args.gpt_stop_audio_token
    launches = []
    async_eval = mx.async_eval

    def counting_launches(*arrays):
        launches.append(len(arrays))
        return async_eval(*arrays)

    monkeypatch.setattr(mx, "async_eval", counting_launches)
    sampler = Sampler(SamplingSettings(**GREEDY), seed=2)
    codes = [code for code, _ in generate_step(gpt, voice, text, sampler)]
    assert len(codes) == at + 1 and codes[-1] == stop and stop not in codes[:-1]
    assert len(launches) == 1 + at  # the prefix, then one step per code after the first
    key = mx.random.key(2)
    for _ in codes:  # one draw per code: the step after the stop never drew
        key, _ = random_uniforms(key, 1)
    assert np.array_equal(np.array(sampler.key), np.array(key))
    monkeypatch.undo()

    calls = []
    call = GPT.__call__

    def counting_calls(self, *args, **kwargs):
        calls.append(args[0].shape[1])
        return call(self, *args, **kwargs)

    monkeypatch.setattr(GPT, "__call__", counting_calls)
    eager_codes = [c for c, _ in generate_step(gpt, voice, text, eager(Sampler(sampler.settings)))]
    assert eager_codes == codes
    assert len(calls) == 1 + at and calls[1:] == [1] * at


def test_injected_uniforms_are_drawn_once_per_code(ref):
    """Through the compiled step too: one uniform per code handed out, none for argmax."""
    gpt, voice, text = ref.mlx_gpt(), ref.mlx_voice(), ref.text_ids(TEXTS[1])
    drawn = []

    def uniforms(n: int) -> mx.array:
        drawn.append(n)
        return mx.array([0.5] * n, mx.float32)

    codes = list(
        generate_step(gpt, voice, text, Sampler(SamplingSettings(**REAL), uniforms=uniforms))
    )
    assert drawn == [1] * len(codes)
    argmax = SamplingSettings(warp=False, draw=False)
    sampler = Sampler(argmax, uniforms=lambda n: pytest.fail("argmax drew a uniform"))
    assert len(list(generate_step(gpt, voice, text, sampler, max_codes=6))) == 6


def test_the_compiled_step_follows_the_model(ref):
    """Weights changed in place after a trace (quantized here) are the ones the step uses."""
    gpt, voice, text = ref.mlx_gpt(), ref.mlx_voice(), ref.text_ids(TEXTS[1])
    settings = SamplingSettings(**GREEDY)
    _, before = generate(gpt, voice, text, Sampler(settings))
    nn.quantize(gpt, group_size=32, bits=4, class_predicate=lambda _, m: isinstance(m, nn.Linear))
    codes, latents = generate(gpt, voice, text, Sampler(settings))
    eager_codes, eager_latents = generate(gpt, voice, text, eager(Sampler(settings)))
    assert codes == eager_codes and max_diff(latents, eager_latents) < 1e-5
    assert max_diff(latents, before) > 1e-3


def test_unseeded_samplers_follow_mx_random_seed():
    mx.random.seed(4)
    first = Sampler().uniforms(3)
    mx.random.seed(4)
    assert np.array_equal(np.array(Sampler().uniforms(3)), np.array(first))
    assert not np.array_equal(np.array(Sampler().uniforms(3)), np.array(first))


# --- each processor against transformers' own -----------------------------------------------------


def random_scores(seed: int, rows: int = 4, vocab: int = 1026, ties: bool = False) -> np.ndarray:
    scores = np.random.default_rng(seed).normal(0, 3, (rows, vocab)).astype(np.float32)
    return np.round(scores, 1) if ties else scores


def hf(processor, scores: np.ndarray, input_ids=None) -> np.ndarray:
    ids = torch.zeros((scores.shape[0], 1), dtype=torch.long) if input_ids is None else input_ids
    return processor(ids, torch.from_numpy(scores.copy())).numpy()


@pytest.mark.parametrize("penalty", [0.5, 5.0, 10.0])
def test_repetition_penalty(penalty):
    scores = random_scores(0)
    rng = np.random.default_rng(1)
    # coqui's input ids: fake prefix ids (1), start-audio (1024), then codes with repeats
    input_ids = np.concatenate(
        [np.ones((4, 40)), np.full((4, 1), 1024), rng.integers(0, 1026, (4, 30))], axis=1
    ).astype(np.int64)
    seen = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(seen, input_ids, True, axis=1)
    expected = hf(RepetitionPenaltyLogitsProcessor(penalty), scores, torch.from_numpy(input_ids))
    ours = penalize_repetition(mx.array(scores), mx.array(seen), penalty)
    assert np.array_equal(np.array(ours), expected)


def test_first_seen_is_coquis_prefix(ref):
    seen = np.array(first_seen(ref.mlx_gpt()))[0]
    assert np.flatnonzero(seen).tolist() == [1, ref.args.gpt_start_audio_token]


@pytest.mark.parametrize("k", [1, 5, 50, 5000])
@pytest.mark.parametrize("ties", [False, True])
def test_top_k_keeps_ties(k, ties):
    scores = random_scores(2, ties=ties)
    expected = hf(TopKLogitsWarper(k), scores)
    ours = np.array(top_k_filter(mx.array(scores), k))
    assert np.array_equal(ours, expected)
    if ties and k == 5:
        assert (np.isfinite(ours).sum(axis=1) > 5).any()  # the tie case was exercised


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 0.85, 0.999, 1.0])
@pytest.mark.parametrize(
    "case", ["random", "ties", "one-dominant", "flat", "after-top-k", "exact-quarters"]
)
def test_top_p_like_transformers(p, case):
    scores = random_scores(3, ties=case == "ties")
    if case == "one-dominant":
        scores[:, 7] = 40.0  # the others get about 1e-17 each (not denormal: MLX flushes those)
    elif case == "flat":
        scores[:] = 0.5
    elif case == "after-top-k":
        scores = hf(TopKLogitsWarper(50), scores)
    elif case == "exact-quarters":  # cumulative 0.25, 0.5, 0.75, 1: cuts land exactly on them
        scores[:] = -np.inf
        scores[:, [3, 9, 27, 81]] = 1.0
    expected = hf(TopPLogitsWarper(p), scores)
    ours = np.array(top_p_filter(mx.array(scores), p))
    assert (np.isfinite(ours).sum(axis=1) >= 1).all()
    if case not in ("ties", "flat", "exact-quarters"):
        assert np.array_equal(ours, expected)
    else:
        # torch's sort is unstable: which of the tokens tied exactly at the cut survive is its
        # choice; the scores kept (as a multiset) must still be the same
        assert np.array_equal(np.sort(ours, axis=1), np.sort(expected, axis=1))


@pytest.mark.parametrize("temperature", [0.3, 0.75, 1.7])
def test_whole_pipeline_like_transformers(temperature):
    """Penalty, temperature, top-k, top-p in `_get_logits_processor`'s order."""
    scores = random_scores(4)
    ids = torch.from_numpy(np.random.default_rng(5).integers(0, 1026, (4, 60)))
    seen = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(seen, ids.numpy(), True, axis=1)
    expected = scores
    for processor in (
        RepetitionPenaltyLogitsProcessor(5.0),
        TemperatureLogitsWarper(temperature),
        TopKLogitsWarper(50),
        TopPLogitsWarper(0.85),
    ):
        expected = hf(processor, expected, ids)
    settings = SamplingSettings(temperature=temperature)
    ours = np.array(process(mx.array(scores), mx.array(seen), settings))
    assert np.array_equal(np.isfinite(ours), np.isfinite(expected))
    finite = np.isfinite(expected)
    assert np.abs(ours[finite] - expected[finite]).max() < 1e-6


def test_draw_is_the_inverse_cdf():
    probs = np.random.default_rng(6).dirichlet(np.full(1026, 0.05), size=8).astype(np.float32)
    probs[:, -3:] = 0.0  # impossible codes at the end are never drawn, even for u close to 1
    uniforms = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999, 1 - 2**-24], dtype=np.float32)
    cdf = np.cumsum(probs, axis=1, dtype=np.float32)
    expected = [
        min(np.searchsorted(c, u * c[-1], side="right"), np.flatnonzero(p)[-1])
        for c, u, p in zip(cdf, uniforms, probs)
    ]
    tokens = np.array(draw(mx.array(probs), mx.array(uniforms))).tolist()
    assert tokens == expected
    assert all(probs[row, token] > 0 for row, token in enumerate(tokens))


def test_random_draws_follow_the_distribution():
    """The default uniforms (mx.random) give each code its probability (40k draws, 5 sigma)."""
    probs = np.array([0.5, 0.2, 0.15, 0.1, 0.05, 0.0], dtype=np.float32)
    n = 40_000
    sampler = Sampler(SamplingSettings(), seed=0)
    tokens = np.array(draw(mx.broadcast_to(mx.array(probs), (n, 6)), sampler.uniforms(n)))
    counts = np.bincount(tokens, minlength=6) / n
    assert counts[5] == 0
    assert (np.abs(counts - probs) < 5 * np.sqrt(probs * (1 - probs) / n) + 1e-9).all()


def test_settings_like_coqui():
    args = InferenceArgs()
    assert SamplingSettings.like_coqui(args).warp and SamplingSettings.like_coqui(args).draw
    greedy = SamplingSettings.like_coqui(args, do_sample=False)
    assert (greedy.warp, greedy.draw) == (False, False)
    stream = SamplingSettings.like_coqui(args, do_sample=False, stream=True)
    assert (stream.warp, stream.draw) == (False, True)


@pytest.mark.parametrize(
    "bad", [{"temperature": 0.0}, {"top_k": -1}, {"top_p": 1.5}, {"repetition_penalty": 0.0}]
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(MlxStreamError):
        SamplingSettings(**bad)
    if "temperature" in bad:
        SamplingSettings(**bad, warp=False)  # greedy decoding has no temperature to check


def test_gelu_is_gpt2s():
    """The sigmoid form of GPT-2's GELU against transformers' `gelu_new`, tails included."""
    from transformers.activations import NewGELUActivation

    from mlx_stream.xtts.gpt import gelu_new

    x = np.concatenate([np.linspace(-12, 12, 20001), [-1e6, -50.0, 50.0, 1e6]]).astype(np.float32)
    expected = NewGELUActivation()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.array(gelu_new(mx.array(x))), expected, rtol=1e-6, atol=1e-6)
