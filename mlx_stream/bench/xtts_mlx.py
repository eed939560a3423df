"""The MLX half of the speech section: converting the random checkpoint, and measuring
`MlxXttsSynthesizer` (stream, GPT step against its matmul floor, vocoder, code agreement, and
the HiFi-GAN's convolution kernels) inside one worker process per variant.

The synthesizer runs unchanged; the bench only wraps three of its seams to make and observe the
same work as coqui: `_sampler` (the stop code banned), `_generate` (each code's time and latent)
and `ExactStream` (what each decoder push computed).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import mlx.core as mx

from ..errors import MlxStreamError
from .speech import AGREEMENT_TEXTS, LANGUAGE, SIZES, SPEAKER, TEXT, stream_summary
from .translate import input_width, quantization_base, reset_peak_rss, rss_bytes

BITS = {"q8": 8, "q4": 4}


def mlx_folder(settings: dict, variant: str) -> Path:
    """Where the checkpoint's `variant` conversion lives in the bench cache."""
    source = Path(settings["checkpoint"]).name.removesuffix("-coqui")
    return Path(settings["cache"]) / f"{source}-mlx-{variant}"


def convert_variant(variant: str, settings: dict) -> dict:
    """Convert the coqui checkpoint with our converter (torch-free), timed, with its peak RSS."""
    from ..xtts import weights

    bits = BITS.get(variant)
    dtype = quantization_base() if bits else variant
    target = mlx_folder(settings, variant)
    baseline = rss_bytes()
    reset_peak_rss()
    start = time.perf_counter()
    summary = weights.convert(settings["checkpoint"], target, dtype=dtype, q_bits=bits, force=True)
    seconds = time.perf_counter() - start
    peak = rss_bytes("VmHWM")
    config = json.loads((target / "config.json").read_text())
    recorded = config[weights.toolkit.MARKER]["sources"]
    expected = settings["source_sha256"]
    return {
        "dtype": dtype,
        "bits": bits,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak / 2**20),
        "rss_growth_mb": round((peak - baseline) / 2**20),
        "source_mb": round(summary.bytes_before / 2**20),
        "written_mb": round(summary.bytes_after / 2**20),
        "parameters_m": round(summary.parameters / 1e6, 1),
        "recorded_sha256_match": all(
            recorded.get(name) == digest for name, digest in expected.items()
        ),
    }


# ---------------------------------------------------------------- observing the synthesizer


def ban_stop(logits: mx.array, stop: int) -> mx.array:
    return mx.where(mx.arange(logits.shape[-1]) == stop, -mx.inf, logits)


class Probe:
    """Wraps one `MlxXttsSynthesizer` so that it makes exactly `codes` codes and says when."""

    def __init__(self, synth):
        from ..tts import mlx_xtts
        from ..xtts.stream import ExactStream

        self.synth = synth
        self.stamps: list[float] = []
        self.latents: list[mx.array] = []
        self.pushes: list[dict] = []
        stop = synth.args.gpt_stop_audio_token
        make_sampler, generate = synth._sampler, synth._generate
        probe = self

        def sampler():
            inner = make_sampler()
            return lambda logits, seen: inner(ban_stop(logits, stop), seen)

        def counted(piece, tag, choose):
            for code, latent in generate(piece, tag, choose):
                probe.stamps.append(time.perf_counter())
                probe.latents.append(latent)
                yield code, latent

        class RecordingStream(ExactStream):
            def push(self, latents):
                return self._timed(lambda: super(RecordingStream, self).push(latents), latents)

            def finish(self):
                return self._timed(lambda: super(RecordingStream, self).finish(), None)

            def _timed(self, call, latents):
                start = time.perf_counter()
                audio = call()
                mx.eval(audio)  # the decode runs here, not in the synthesizer's copy to numpy
                probe.pushes.append(
                    {
                        "latents": 0 if latents is None else int(latents.shape[1]),
                        "frames": getattr(self, "frames_computed", None),
                        "window": getattr(self, "window", None),
                        "samples": int(audio.size),
                        "ms": round(1000 * (time.perf_counter() - start), 1),
                    }
                )
                return audio

        synth._sampler, synth._generate = sampler, counted
        mlx_xtts.ExactStream = RecordingStream

    def stream(self, text: str, codes: int) -> dict:
        # generate_step stops after `max_gen_audio_tokens` (= gpt_max_audio_tokens - 3) codes,
        # as coqui's stops after `max_gen_mel_tokens`
        self.synth.model.gpt.args.gpt_max_audio_tokens = codes + 3
        self.stamps, self.latents, self.pushes = [], [], []
        chunks, codes_at = [], []
        start = time.perf_counter()
        for chunk in self.synth.stream(text, LANGUAGE):
            chunks.append((time.perf_counter(), len(chunk)))
            codes_at.append(len(self.stamps))
        return {"start": start, "chunks": chunks, "codes_at": codes_at}


def timed(run, reps: int, warmup: bool) -> float:
    """Median ms of `run()` over `reps` calls, after one unmeasured call if `warmup`."""
    if warmup:
        run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def step_linears(gpt) -> list:
    """The weight matmuls of one GPT step: each block's four projections and the audio head."""
    linears = []
    for block in gpt.h:
        linears += [block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj]
    return [*linears, gpt.mel_head]


def matmul_floor(gpt) -> dict:
    """The step's weight matmuls alone, one row, the model's dtype, this process."""
    from mlx.utils import tree_flatten

    linears = step_linears(gpt)
    dtype = gpt.ln_f.weight.dtype
    inputs = [mx.random.normal((1, 1, input_width(m))).astype(dtype) for m in linears]
    mx.eval(inputs)
    ms = timed(lambda: mx.eval([m(x) for x, m in zip(inputs, linears)]), reps=5, warmup=True)
    nbytes = sum(p.nbytes for m in linears for _, p in tree_flatten(m.parameters()))
    return {"matmul_floor_ms": round(ms, 2), "weight_mb_per_code": round(nbytes / 2**20, 1)}


def vocoder(synth, latents: list[mx.array], reps: int, warmup: bool) -> dict:
    """HiFi-GAN alone, one pass over the first latents this system made."""
    decoder, embedding = synth.model.decoder, synth.voice[1]
    batch = mx.concatenate(latents, axis=1)
    mx.eval(batch)
    samples = decoder.decode(batch, embedding).shape[-1]
    ms = timed(lambda: mx.eval(decoder.decode(batch, embedding)), reps, warmup)
    return {
        "vocoder_latents": len(latents),
        "vocoder_ms_per_audio_s": round(ms / (samples / synth.sample_rate), 1),
    }


# ---------------------------------------------------------------- code agreement


def greedy_settings(synth):
    """Top-k 1: coqui's sampling pipeline with only the best (penalised) code left to draw."""
    return dataclasses.replace(synth.sampling, top_k=1)


def greedy_codes(synth, ids: mx.array, n: int) -> tuple[list[int], list[float]]:
    """`n` greedy codes (stop banned) by the engine's own step loop; and each step's ms."""
    from ..xtts.generate import generate_step
    from ..xtts.sampling import Sampler

    sampler = Sampler(greedy_settings(synth), seed=0)
    stop = synth.args.gpt_stop_audio_token
    codes, stamps = [], [time.perf_counter()]
    choose = lambda logits, seen: sampler(ban_stop(logits, stop), seen)  # noqa: E731
    for code, _ in generate_step(synth.model.gpt, synth.voice[0], ids, choose, max_codes=n):
        codes.append(code)
        stamps.append(time.perf_counter())
    return codes, [1000 * (b - a) for a, b in zip(stamps[1:], stamps[2:])]


def forced_codes(synth, ids: mx.array, reference: list[int]) -> list[int]:
    """The greedy choice at each position given the reference's codes before it (one pass)."""
    from ..xtts.generate import first_seen
    from ..xtts.sampling import process

    gpt = synth.model.gpt
    prefix = gpt.embed_prefix(synth.voice[0], ids)
    rows = prefix
    if len(reference) > 1:
        rows = mx.concatenate([prefix, gpt.embed_codes(mx.array([reference[:-1]]), 0)], axis=1)
    latents = gpt(rows)[0, prefix.shape[1] - 1 :]
    logits = gpt.logits(latents).astype(mx.float32)
    vocab = logits.shape[-1]
    codes = mx.array(reference)
    hits = (mx.arange(vocab)[None] == codes[:, None]).astype(mx.int32)
    before = (mx.cumsum(hits, axis=0) - hits) > 0  # codes seen before each position
    seen = first_seen(gpt, len(reference)) | before
    scores = process(
        ban_stop(logits, synth.args.gpt_stop_audio_token), seen, greedy_settings(synth)
    )
    return mx.argmax(scores, axis=-1).tolist()


def agreement(synth, spec: dict, references: list[list[int]] | None) -> dict:
    """Greedy codes on a few sentences; against fp32's (`references`) when given, else itself."""
    texts = AGREEMENT_TEXTS[: spec["agreement_texts"]]
    rows, all_codes, step_ms = [], [], []
    for i, text in enumerate(texts):
        ids = mx.array([synth.tokenizer.encode(text, LANGUAGE)])
        codes, steps = greedy_codes(synth, ids, spec["agreement_codes"])
        reference = references[i] if references else codes
        forced = forced_codes(synth, ids, reference)
        equal = [a == b for a, b in zip(codes, reference)]
        rows.append(
            {
                "text": text,
                "codes": len(codes),
                "free_equal": sum(equal),
                "first_difference": equal.index(False) if False in equal else None,
                "forced_equal": sum(a == b for a, b in zip(forced, reference)),
            }
        )
        all_codes.append(codes)
        step_ms += steps
    total = sum(r["codes"] for r in rows)
    return {
        "against": "mlx fp32" if references else "itself",
        "texts": rows,
        "free_equal_share": round(sum(r["free_equal"] for r in rows) / total, 3),
        "forced_equal_share": round(sum(r["forced_equal"] for r in rows) / total, 3),
        "codes": all_codes,
        "greedy_gpt_ms_per_code": round(statistics.median(step_ms), 2) if step_ms else None,
    }


# ---------------------------------------------------------------- the HiFi-GAN's kernels


def conv_kind(conv) -> str:
    return "dilated conv (d=3,5)" if conv.dilation > 1 else "conv (d=1)"


def decoder_convs(decoder, frames: int) -> list[tuple[str, tuple, object]]:
    """(kind, input shape, layer) of every conv a `frames`-frame window runs, in order."""
    convs = [("conv (d=1)", (1, frames, decoder.conv_pre.weight.shape[-1]), decoder.conv_pre)]
    length, channels = frames, decoder.conv_pre.weight.shape[0]
    for up in decoder.ups:
        convs.append(("transposed conv", (1, length, channels), up))
        length, channels = length * up.stride, up.weight.shape[0]
        for block in decoder.resblocks:
            if block.convs1[0].weight.shape[0] == channels:
                for conv in [*block.convs1, *block.convs2]:
                    convs.append((conv_kind(conv), (1, length, channels), conv))
    convs.append(("conv (d=1)", (1, length, channels), decoder.conv_post))
    return convs


def native(layer, x: mx.array) -> mx.array:
    if hasattr(layer, "output_padding"):
        return mx.conv_transpose1d(x, layer.weight, stride=layer.stride, padding=layer.padding)
    return mx.conv1d(x, layer.weight, padding=layer.padding, dilation=layer.dilation)


def dilated_as_phases(x: mx.array, weight: mx.array, dilation: int, padding: int) -> mx.array:
    """A dilated conv as an undilated one over `dilation` interleaved phases (the batch axis),
    which MLX runs as one im2col GEMM instead of its scalar loop."""
    length, channels = x.shape[1], x.shape[2]
    padded = length + 2 * padding
    whole = -(-padded // dilation) * dilation
    x = mx.pad(x, [(0, 0), (padding, padding + whole - padded), (0, 0)])
    phases = x.reshape(whole // dilation, dilation, channels).transpose(1, 0, 2)
    y = mx.conv1d(phases, weight)  # y[r, u] is output r + dilation * u
    return y.transpose(1, 0, 2).reshape(1, -1, weight.shape[0])[:, :length]


def transposed_as_matmul(x: mx.array, weight: mx.array, stride: int, padding: int) -> mx.array:
    """A transposed conv whose kernel is twice its stride, as one GEMM and an overlap-add."""
    out, kernel, channels = weight.shape
    length = x.shape[1]
    y = (x[0] @ weight.transpose(2, 1, 0).reshape(channels, kernel * out)).reshape(
        length, 2, stride, out
    )
    blocks = mx.pad(y[:, 0], [(0, 1), (0, 0), (0, 0)]) + mx.pad(y[:, 1], [(1, 0), (0, 0), (0, 0)])
    return blocks.reshape(1, -1, out)[:, padding : padding + length * stride]


def tried(kind: str, layer, x: mx.array) -> mx.array | None:
    if kind == "dilated conv (d=3,5)":
        return dilated_as_phases(x, layer.weight, layer.dilation, layer.padding)
    if kind == "transposed conv" and layer.weight.shape[1] == 2 * layer.stride:
        return transposed_as_matmul(x, layer.weight, layer.stride, layer.padding)
    return None


TRIED = {
    "dilated conv (d=3,5)": "undilated conv over the d interleaved phases (im2col GEMM)",
    "transposed conv": "one GEMM and an overlap-add (kernel = 2 x stride)",
}


def kernel_profile(decoder, frames: int, reps: int, warmup: bool) -> dict:
    """Each conv of one decoder window timed alone (MLX's kernel for it), and the same math
    in the forms `TRIED`, checked against the native result."""
    kinds: dict[str, dict] = {}
    alternatives: dict[str, dict] = {}
    for kind, shape, layer in decoder_convs(decoder, frames):
        x = mx.random.normal(shape).astype(layer.weight.dtype)
        mx.eval(x)
        ms = timed(lambda: mx.eval(native(layer, x)), reps, warmup)  # noqa: B023
        entry = kinds.setdefault(kind, {"ms": 0.0, "gmac": 0.0, "convs": 0})
        entry["ms"] += ms
        entry["gmac"] += macs(layer, shape) / 1e9
        entry["convs"] += 1
        if tried(kind, layer, x) is None:
            continue
        other = timed(lambda: mx.eval(tried(kind, layer, x)), reps, warmup)  # noqa: B023
        expected, got = native(layer, x), tried(kind, layer, x)
        difference = mx.max(mx.abs(expected - got)).item() / max(
            mx.max(mx.abs(expected)).item(), 1e-30
        )
        alt = alternatives.setdefault(
            kind, {"as": TRIED[kind], "ms": 0.0, "native_ms": 0.0, "max_relative_difference": 0.0}
        )
        alt["ms"] += other
        alt["native_ms"] += ms
        alt["max_relative_difference"] = max(alt["max_relative_difference"], difference)
    for entry in kinds.values():
        entry["ms"] = round(entry["ms"], 1)
        entry["gmac"] = round(entry["gmac"], 3)
        entry["gmac_per_s"] = (
            round(entry["gmac"] / (entry["ms"] / 1000), 2) if entry["ms"] else None
        )
    for alt in alternatives.values():
        alt["ms"], alt["native_ms"] = round(alt["ms"], 1), round(alt["native_ms"], 1)
        alt["speedup"] = round(alt["native_ms"] / alt["ms"], 1) if alt["ms"] else None
        alt["max_relative_difference"] = float(f"{alt['max_relative_difference']:.2g}")
    total = sum(e["ms"] for e in kinds.values())
    saved = sum(a["native_ms"] - a["ms"] for a in alternatives.values())
    return {
        "frames": frames,
        "dtype": str(decoder.conv_pre.weight.dtype).removeprefix("mlx.core."),
        "kinds": kinds,
        "tried": alternatives,
        "sum_ms": round(total, 1),
        "sum_ms_with_tried": round(total - saved, 1),
    }


def macs(layer, shape: tuple) -> int:
    """Multiply-adds of a conv over an input of `shape`: each input step meets the whole kernel
    (stride-1 convs keep the length, transposed ones spread every input step)."""
    out, kernel, channels = layer.weight.shape
    return shape[1] * channels * out * kernel


# ---------------------------------------------------------------- one variant


def run_mlx(options: dict, settings: dict) -> dict:
    from ..tts.mlx_xtts import MlxXttsSynthesizer
    from ..xtts import weights

    spec = SIZES[settings["size"]]
    variant = options["variant"]
    folder = mlx_folder(settings, variant)
    if not weights.is_converted(folder):
        raise MlxStreamError(f"{folder} was not converted: its conversion failed (see above)")
    full = settings["size"] == "full"
    mx.reset_peak_memory()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-mlx-xtts-") as cache:
        synth = MlxXttsSynthesizer.from_pretrained(folder, SPEAKER, seed=0, cache_dir=cache)
    result = {
        "load_s": round(time.perf_counter() - start, 2),
        "device": str(mx.default_device()),
        "dtype": str(synth.model.gpt.ln_f.weight.dtype).removeprefix("mlx.core."),
        "text_tokens": len(synth.tokenizer.encode(TEXT, LANGUAGE)),
    }
    probe = Probe(synth)
    if options["stream"]:
        probe.stream(TEXT, spec["warmup_codes"])  # one-time costs
        run = probe.stream(TEXT, settings["codes"])
        result.update(stream_summary(run, probe.stamps, synth.sample_rate))
        result["peak_memory_mb"] = round(mx.get_peak_memory() / 2**20)
        result["memory_source"] = "mx.get_peak_memory"
        result["decoder_pushes"] = probe.pushes
        result["window_frames"] = probe.pushes[0]["window"] if probe.pushes else None
        latents = probe.latents[: spec["vocoder_latents"]]
        result.update(vocoder(synth, latents, spec["vocoder_reps"], warmup=not full))
    result.update(matmul_floor(synth.model.gpt))
    if "gpt_ms_per_code" in result:
        result["step_efficiency"] = round(result["matmul_floor_ms"] / result["gpt_ms_per_code"], 3)
    result["agreement"] = agreement(synth, spec, settings.get("reference_codes"))
    if spec["kernel_profile"] and variant == "float32" and result.get("window_frames"):
        result["kernels"] = kernel_profile(
            synth.model.decoder, result["window_frames"], reps=1 if full else 3, warmup=not full
        )
    return result
