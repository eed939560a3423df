"""Speech: MLX XTTS against coqui's `inference_stream` on one random XTTS v2 checkpoint.

A checkpoint with XTTS v2's real dimensions (config.json of coqui/XTTS-v2: GPT 30 layers x 1024,
16 heads, 6681 text and 1026 audio tokens, perceiver conditioning, HiFi-GAN 512 channels with a
512-dim speaker embedding) and random weights is built once with coqui's own classes and saved in
coqui's layout (config.json, model.pth, vocab.json, speakers_xtts.pth). Coqui loads that folder;
our converter turns it into fp32, bf16, fp16, 8-bit and 4-bit GPT folders (timed, peak memory,
the source's sha256 checked before and after). Each system runs in its own process on the same
text, the same built-in voice and exactly the same number of audio codes: random weights would
otherwise stop at a random step, so both cap the GPT at `codes` (coqui: `max_gen_mel_tokens`,
MLX: the GPT's `max_gen_audio_tokens`) and ban the stop code until then (coqui: transformers'
`min_new_tokens`; MLX: its score set to -inf before sampling).

    python -m mlx_stream.bench.speech [--quick] [--systems "coqui fp32,mlx fp32"]

prints the section's JSON. Coqui (and building the checkpoint, done with coqui's classes) needs the
`bench` extra; the MLX systems need nothing more once the checkpoint is cached.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .. import blas
from ..errors import MlxStreamError
from . import PACKAGE_PARENT, need, serve
from . import spawn as spawn_worker
from .translate import default_cache, publish, reset_peak_rss, rss_bytes, time_call

SPEAKER = "Ana Florence"
LANGUAGE = "en"
# ~200 characters: about 14 s of read speech, enough for 15 chunks of 20 codes.
TEXT = (
    "The committee met again on Thursday afternoon to discuss the new proposal, and after a long "
    "debate about costs, schedules and the risks involved, they agreed to fund a smaller pilot "
    "first, starting next spring."
)
AGREEMENT_TEXTS = (
    "Hello, how are you today?",
    "The weather is lovely this morning, so we will walk to the station.",
    "Please call me back when you have a moment.",
)
CHUNK_TOKENS = 20  # coqui's default stream_chunk_size (and MLX's steady chunk)
CHUNKS_COMPARED = 15
CHARS_PER_SECOND = 14.0  # typical read English with XTTS (the end-to-end section uses it)
TOKENS_PER_SECOND = 22050 / 1024  # one GPT audio code is 1024 samples at 22.05 kHz
SAMPLE_RATE = 24000

XTTS_V2 = {
    "gpt_layers": 30,
    "gpt_n_model_channels": 1024,
    "gpt_n_heads": 16,
    "decoder_input_dim": 1024,
}
# name: model dimensions and how much work each system does. `codes` sets the utterance's length.
SIZES = {
    "full": {
        "model": XTTS_V2,
        "decoder_channels": 512,
        "codes": 300,
        "warmup_codes": 24,
        "agreement_codes": 48,
        "agreement_texts": 3,
        "vocoder_latents": CHUNK_TOKENS,
        "vocoder_reps": 1,
        "kernel_profile": True,
    },
    "quick": {  # every code path, a 2-layer GPT and a 32-channel HiFi-GAN
        "model": {**XTTS_V2, "gpt_layers": 2},
        "decoder_channels": 32,
        "codes": 64,
        "warmup_codes": 24,
        "agreement_codes": 16,
        "agreement_texts": 2,
        "vocoder_latents": CHUNK_TOKENS,
        "vocoder_reps": 3,
        "kernel_profile": True,
    },
    "tiny": {  # the harness's own test
        "model": {
            "gpt_layers": 1,
            "gpt_n_model_channels": 64,
            "gpt_n_heads": 4,
            "decoder_input_dim": 64,
        },
        "decoder_channels": 16,
        "codes": 30,
        "warmup_codes": 12,
        "agreement_codes": 6,
        "agreement_texts": 2,
        "vocoder_latents": 8,
        "vocoder_reps": 1,
        "kernel_profile": True,
    },
}

# name: (runner, options). fp32 MLX runs first: its greedy codes are the others' reference.
SYSTEMS = {
    "mlx fp32": ("mlx", {"variant": "float32", "stream": True}),
    "coqui fp32": ("coqui", {}),
    "mlx bf16": ("mlx", {"variant": "bfloat16", "stream": True}),
    "mlx 4-bit GPT": ("mlx", {"variant": "q4", "stream": True}),
    "mlx fp16": ("mlx", {"variant": "float16", "stream": False}),
    "mlx 8-bit GPT": ("mlx", {"variant": "q8", "stream": False}),
}
VARIANTS = ("float32", "bfloat16", "float16", "q8", "q4")
SOURCE_FILES = ("config.json", "model.pth", "vocab.json", "speakers_xtts.pth")
# Text for a BPE vocabulary in XTTS's format (the model's text embedding is sized to it, nothing
# here reads its tokens back as words).
_VOCAB_TEXT = [
    "hello world, this is a small test of the speech model.",
    "the quick brown fox jumps over the lazy dog! is it? yes; no: maybe.",
    "bonjour le monde, hola mundo, hallo welt, ciao mondo.",
]


# ---------------------------------------------------------------- the checkpoint (coqui's classes)


@contextlib.contextmanager
def coqui_decoder_width(channels: int):
    """While active, coqui's Xtts builds its HiFi-GAN `channels` wide (coqui fixes 512)."""
    import TTS.tts.models.xtts as coqui_xtts

    original = coqui_xtts.HifiDecoder
    if channels != 512:
        coqui_xtts.HifiDecoder = functools.partial(
            original, upsample_initial_channel_decoder=channels
        )
    try:
        yield
    finally:
        coqui_xtts.HifiDecoder = original


def build_model(folder: Path, dims: dict = XTTS_V2, decoder_channels: int = 512):
    """coqui's Xtts with `dims` and random weights, in memory; writes vocab.json,
    speakers_xtts.pth (one built-in voice) and config.json into `folder`, not model.pth."""
    need("TTS", "building the random XTTS checkpoint (coqui's classes)")
    import torch
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.layers.xtts.xtts_manager import SpeakerManager
    from TTS.tts.models.xtts import Xtts

    languages = XttsConfig().languages
    write_vocab(folder / "vocab.json", languages, size=6681)
    args = XttsArgs(
        gpt_max_audio_tokens=605,
        gpt_max_text_tokens=402,
        gpt_max_prompt_tokens=70,
        gpt_num_audio_tokens=1026,
        gpt_start_audio_token=1024,
        gpt_stop_audio_token=1025,
        gpt_use_perceiver_resampler=True,
        d_vector_dim=512,
        **dims,
    )
    config = XttsConfig(
        model_args=args,
        languages=languages,
        temperature=0.75,
        repetition_penalty=5.0,
        gpt_cond_len=30,
        gpt_cond_chunk_len=4,
        max_ref_len=30,
    )
    torch.manual_seed(0)
    with coqui_decoder_width(decoder_channels):
        model = Xtts(config)  # no tokenizer yet: builds only the decoder, the GPT comes below
        model.tokenizer = VoiceBpeTokenizer(vocab_file=folder / "vocab.json")
        model.init_models()
    embedding = torch.randn(1, 512, 1)
    speaker = {
        "gpt_cond_latent": torch.randn(1, 32, dims["gpt_n_model_channels"]) * 0.1,
        "speaker_embedding": embedding / embedding.norm(dim=1, keepdim=True),
    }
    torch.save({SPEAKER: speaker}, folder / "speakers_xtts.pth")
    model.speaker_manager = SpeakerManager(folder / "speakers_xtts.pth")
    config.save_json(str(folder / "config.json"))
    return model


def full_size_model(folder: Path):
    """XTTS v2 at its real size with random weights, in memory (the end-to-end section's)."""
    model = build_model(folder)
    model.eval()
    return model


def write_vocab(path: Path, languages: list[str], size: int) -> None:
    """A BPE `vocab.json` in XTTS's format, padded with unused tokens to `size` ids."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{lang}]" for lang in languages]
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?;:'\"-")
    trainer = trainers.BpeTrainer(
        vocab_size=200, special_tokens=specials, initial_alphabet=alphabet
    )
    tokenizer.train_from_iterator(_VOCAB_TEXT, trainer)
    unused = range(size - len(tokenizer.get_vocab()))
    tokenizer.add_special_tokens([AddedToken(f"[unused{i}]", special=True) for i in unused])
    tokenizer.save(str(path))


def checkpoint_name(size: str) -> str:
    return "xtts-v2-random-coqui" if size == "full" else f"xtts-{size}-random-coqui"


def build_checkpoint(size: str, folder: Path) -> dict:
    """Save the random model in coqui's layout: `model.pth` holds `{"model": state_dict}`."""
    import torch

    spec = SIZES[size]
    start = time.perf_counter()
    model = build_model(folder, spec["model"], spec["decoder_channels"])
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    return {
        "parameters M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "build s": round(time.perf_counter() - start, 1),
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def source_digests(folder: Path) -> dict[str, str]:
    return {name: file_sha256(folder / name) for name in SOURCE_FILES}


# ---------------------------------------------------------------- coqui's system


class DecoderClock:
    """Wall time of every HiFi-GAN pass, through torch forward hooks."""

    def __init__(self, decoder):
        self.seconds: list[float] = []
        self._start = 0.0
        self._handles = [
            decoder.register_forward_pre_hook(self._before),
            decoder.register_forward_hook(self._after),
        ]

    def _before(self, module, inputs):
        self._start = time.perf_counter()

    def _after(self, module, inputs, output):
        self.seconds.append(time.perf_counter() - self._start)

    def remove(self):
        for handle in self._handles:
            handle.remove()


class CoquiCodes:
    """Counts and stamps the codes coqui's GPT hands to `inference_stream`, keeping their latents."""

    def __init__(self, gpt):
        self.gpt = gpt
        self.stamps: list[float] = []
        self.latents: list = []
        self._make = gpt.get_generator
        gpt.get_generator = self._generator

    def _generator(self, *args, **kwargs):
        for code, latent in self._make(*args, **kwargs):
            self.stamps.append(time.perf_counter())
            self.latents.append(latent)
            yield code, latent

    def reset(self) -> None:
        self.stamps, self.latents = [], []


def coqui_stream(model, voice, text: str, codes: int, record: CoquiCodes) -> dict:
    """One `inference_stream` call making exactly `codes` codes; when each chunk came."""
    config = model.config
    model.gpt.max_gen_mel_tokens = codes
    record.reset()
    clock = DecoderClock(model.hifigan_decoder)
    chunks, codes_at = [], []
    start = time.perf_counter()
    for chunk in model.inference_stream(
        text,
        LANGUAGE,
        *voice,
        stream_chunk_size=CHUNK_TOKENS,
        temperature=config.temperature,
        length_penalty=config.length_penalty,
        repetition_penalty=config.repetition_penalty,
        top_k=config.top_k,
        top_p=config.top_p,
        min_new_tokens=codes,  # the stop code is banned until `codes`, as in the MLX systems
    ):
        chunks.append((time.perf_counter(), int(chunk.numel())))
        codes_at.append(len(record.stamps))
    clock.remove()
    return {
        "start": start,
        "chunks": chunks,
        "codes_at": codes_at,
        "decoder_ms": [1000 * s for s in clock.seconds],
    }


def stream_summary(run: dict, stamps: list[float], sample_rate: int = SAMPLE_RATE) -> dict:
    """The measures both systems share, from chunk arrival times and code stamps."""
    arrivals = [t for t, n in run["chunks"] if n]
    samples = [n for _, n in run["chunks"] if n]
    first = next(i for i, (_, n) in enumerate(run["chunks"]) if n)
    walls = [1000 * (b - a) for a, b in zip([run["start"], *arrivals], arrivals)]
    intervals = [1000 * (b - a) for a, b in zip(stamps, stamps[1:])]
    audio_s = sum(samples) / sample_rate
    total_s = arrivals[-1] - run["start"]
    compared = walls[: min(CHUNKS_COMPARED, len(walls))]
    return {
        "codes": len(stamps),
        "samples": sum(samples),
        "audio_s": round(audio_s, 3),
        "ttfa_ms": round(walls[0], 1),
        "codes_before_first_audio": run["codes_at"][first],
        "chunk_ms": [round(w, 1) for w in walls],
        "chunk_samples": samples,
        "chunks": len(walls),
        "chunks_compared": len(compared),
        "last_first_ratio": round(compared[-1] / compared[0], 2),
        "stream_s": round(total_s, 2),
        "rtf": round(total_s / audio_s, 3),
        "prefill_ms": round(1000 * (stamps[0] - run["start"]), 1),
        # chunk boundaries (decoder passes) fall in a few intervals; the median is a GPT step
        "gpt_ms_per_code": round(statistics.median(intervals), 2),
    }


def coqui_step_linears(model) -> list:
    """The weight matmuls of one GPT step: each block's four projections and the audio head."""
    linears = []
    for block in model.gpt.gpt.h:
        linears += [block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj]
    return [*linears, model.gpt.mel_head]


def coqui_kernels(model, embedding, frames: int) -> dict:
    """Each conv of coqui's HiFi-GAN on a `frames`-frame window, timed by forward hooks."""
    import torch

    generator = model.hifigan_decoder.waveform_decoder
    times: dict = {}
    handles = []
    for name, module in generator.named_modules():
        if isinstance(module, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            handles.append(module.register_forward_pre_hook(_stamp_start))
            handles.append(module.register_forward_hook(functools.partial(_stamp_end, times, name)))
    x = torch.randn(1, model.args.decoder_input_dim, frames)
    g = embedding.reshape(1, -1, 1)
    with torch.inference_mode():
        generator(x, g=g)  # warm-up
        for key in list(times):
            times[key] = []
        start = time.perf_counter()
        generator(x, g=g)
        total = 1000 * (time.perf_counter() - start)
    for handle in handles:
        handle.remove()
    kinds: dict[str, dict] = {}
    for name, module in generator.named_modules():
        if name not in times or not times[name]:
            continue
        kind = torch_conv_kind(name, module)
        entry = kinds.setdefault(kind, {"ms": 0.0, "gmac": 0.0, "convs": 0})
        entry["ms"] += times[name][-1][0]
        entry["gmac"] += times[name][-1][1] / 1e9
        entry["convs"] += 1
    return {"frames": frames, "window_ms": round(total, 1), "kinds": _rounded(kinds)}


def _stamp_start(module, inputs):
    module._bench_start = time.perf_counter()


def _stamp_end(times, name, module, inputs, output):
    ms = 1000 * (time.perf_counter() - module._bench_start)
    k = module.kernel_size[0]
    if module.transposed:  # every input step meets the whole kernel
        macs = inputs[0].shape[-1] * module.in_channels * module.out_channels * k
    else:
        macs = output.shape[-1] * module.in_channels * module.out_channels * k
    times.setdefault(name, []).append((ms, macs))


def torch_conv_kind(name: str, module) -> str:
    if name.startswith(("cond_layer", "conds.")):  # MLX folds these into biases once per voice
        return "speaker conditioning (k=1)"
    if module.transposed:
        return "transposed conv"
    return "dilated conv (d=3,5)" if module.dilation[0] > 1 else "conv (d=1)"


def _rounded(kinds: dict) -> dict:
    for entry in kinds.values():
        entry["ms"] = round(entry["ms"], 1)
        entry["gmac"] = round(entry["gmac"], 3)
        entry["gmac_per_s"] = (
            round(entry["gmac"] / (entry["ms"] / 1000), 2) if entry["ms"] else None
        )
    return kinds


def run_coqui(settings: dict) -> dict:
    torch = need("torch", "the coqui system")
    need("TTS", "the coqui system")
    import tempfile

    from ..tts.xtts import XttsSynthesizer

    spec = SIZES[settings["size"]]
    if settings.get("torch_threads"):
        torch.set_num_threads(settings["torch_threads"])
    folder = Path(settings["checkpoint"])
    baseline = rss_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-coqui-") as cache:
        start = time.perf_counter()
        with coqui_decoder_width(spec["decoder_channels"]):
            synth = XttsSynthesizer.from_pretrained(folder, "cpu", SPEAKER, seed=0, cache_dir=cache)
        load_s = time.perf_counter() - start
    reset_peak_rss()
    model = synth.model
    speaker = model.speaker_manager.speakers[SPEAKER]
    voice = (speaker["gpt_cond_latent"], speaker["speaker_embedding"])
    record = CoquiCodes(model.gpt)
    torch.manual_seed(0)
    with torch.inference_mode():
        coqui_stream(model, voice, TEXT, spec["warmup_codes"], record)  # one-time costs
        run = coqui_stream(model, voice, TEXT, settings["codes"], record)
    result = stream_summary(run, record.stamps, synth.sample_rate)
    result["stream_decoder_ms"] = [round(ms, 1) for ms in run["decoder_ms"]]
    result["peak_memory_mb"] = round((rss_bytes("VmHWM") - baseline) / 2**20)
    result["memory_source"] = "process peak RSS growth"
    result["load_s"] = round(load_s, 2)
    result["text_tokens"] = len(model.tokenizer.encode(TEXT.strip().lower(), lang=LANGUAGE))

    linears = coqui_step_linears(model)
    inputs = [torch.randn(1, 1, linear_in(m)) for m in linears]

    def products():
        with torch.inference_mode():
            for x, m in zip(inputs, linears):
                m(x)

    result["matmul_floor_ms"] = round(time_call(products, reps=5), 2)
    result["weight_mb_per_code"] = round(
        sum(p.numel() * p.element_size() for m in linears for p in m.parameters()) / 2**20, 1
    )
    k = spec["vocoder_latents"]
    latents = torch.cat(record.latents[:k], dim=0)[None]
    embedding = voice[1]
    with torch.inference_mode():
        samples = model.hifigan_decoder(latents, g=embedding).shape[-1]
        ms = time_call(
            lambda: model.hifigan_decoder(latents, g=embedding), reps=spec["vocoder_reps"]
        )
    result["vocoder_latents"] = k
    result["vocoder_ms_per_audio_s"] = round(ms / (samples / synth.sample_rate), 1)
    if spec["kernel_profile"] and settings.get("window_frames"):
        result["kernels"] = coqui_kernels(model, embedding, settings["window_frames"])
    result["threads"] = torch.get_num_threads()
    result["dtype"] = "float32"
    return result


def linear_in(module) -> int:
    """Input features of a torch Linear or of HF's Conv1D (weight stored (in, out))."""
    import torch

    if isinstance(module, torch.nn.Linear):
        return module.in_features
    return module.weight.shape[0]


# ---------------------------------------------------------------- running the section


def worker(name: str, settings: dict) -> dict:
    """Measure one system (or build, or convert) in this process."""
    if name == "build":
        return build_checkpoint(settings["size"], Path(settings["folder"]))
    kind, options = SYSTEMS.get(name, ("mlx", {}))
    if kind == "coqui":
        return {"system": name, "framework": kind, **run_coqui(settings)}
    from . import xtts_mlx

    if name.startswith("convert "):
        return xtts_mlx.convert_variant(name.removeprefix("convert "), settings)
    result = xtts_mlx.run_mlx(options, settings)
    return {"system": name, "framework": kind, **options, **result, "blas": str(blas.in_use())}


def spawn(name: str, settings: dict, timeout: float) -> dict:
    """Run `worker(name)` in a fresh Python (coqui's without our BLAS)."""
    return spawn_worker("speech", name, settings, timeout, name.startswith(("mlx", "convert")))


def checkpoint(size: str, cache: Path, timeout: float) -> tuple[Path, dict]:
    """The cached random checkpoint, built (in a worker, with coqui's classes) if missing, and
    what building it took (kept beside it)."""
    record = cache / f"{checkpoint_name(size)}.json"

    def build(folder: Path) -> None:
        result = spawn("build", {"size": size, "folder": str(folder)}, timeout)
        if "error" in result:
            raise MlxStreamError(f"building the random XTTS checkpoint failed: {result['error']}")
        record.write_text(json.dumps(result))

    folder = publish(build, cache / checkpoint_name(size))
    return folder, json.loads(record.read_text()) if record.exists() else {}


def engine_source() -> dict | None:
    """The commit measured and the engine files that differed from it (the tree is shared)."""
    if not (PACKAGE_PARENT / ".git").exists():
        return None
    paths = ["mlx_stream/xtts", "mlx_stream/tts/mlx_xtts.py", "mlx_stream/weights.py"]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(PACKAGE_PARENT), *args], capture_output=True, text=True
        )
        return done.stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain", "--", *paths).splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "engine files changed": changed}


def run(
    quick: bool = False,
    size: str | None = None,
    systems: list[str] | None = None,
    cache: Path | None = None,
    timeout: float = 3600,
    torch_threads: int | None = None,
) -> dict:
    """Build (once), convert and measure; every system in its own process, fp32 MLX first.

    `torch_threads`: coqui's torch CPU threads (default: torch's own choice, all cores)."""
    size = size or ("quick" if quick else "full")
    spec = SIZES[size]
    cache = Path(cache or default_cache())
    systems = list(SYSTEMS) if systems is None else [s for s in SYSTEMS if s in systems]
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    source = engine_source()
    print(f"speech: checkpoint ({size})", file=sys.stderr, flush=True)
    folder, built = checkpoint(size, cache, timeout)
    before = source_digests(folder)
    settings = {
        "size": size,
        "checkpoint": str(folder),
        "cache": str(cache),
        "codes": spec["codes"],
        "source_sha256": before,
        "torch_threads": torch_threads,
    }
    variants = [v for v in VARIANTS if any(SYSTEMS[s][1].get("variant") == v for s in systems)]
    conversions = []
    for variant in variants:
        print(f"speech: convert {variant}", file=sys.stderr, flush=True)
        conversions.append({"variant": variant, **spawn(f"convert {variant}", settings, timeout)})
    after = source_digests(folder)
    results = []
    for name in systems:
        print(f"speech: {name}", file=sys.stderr, flush=True)
        result = {"system": name, **spawn(name, settings, timeout)}
        results.append(result)
        if name == "mlx fp32" and "error" not in result:
            settings["reference_codes"] = result["agreement"]["codes"]
            settings["window_frames"] = result.get("window_frames")
    return {
        "model": {
            "dimensions": spec["model"],
            "decoder_channels": spec["decoder_channels"],
            "checkpoint": str(folder),
            "model.pth MB": round((folder / "model.pth").stat().st_size / 2**20),
            **built,
        },
        "settings": {
            "size": size,
            "text": TEXT,
            "chars": len(TEXT),
            "codes": spec["codes"],
            "stream_chunk_size": CHUNK_TOKENS,
            "speaker": SPEAKER,
            "agreement_texts": list(AGREEMENT_TEXTS[: spec["agreement_texts"]]),
            "agreement_codes": spec["agreement_codes"],
            "same work": "both GPTs capped at `codes` codes with the stop code banned until then",
        },
        "load average at start": load,
        "load average at end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "source": source,
        "blas": str(blas.in_use()),
        "conversion": conversions,
        "source sha256 unchanged": before == after,
        "systems": results,
        "targets": targets(results),
    }


def targets(results: list[dict]) -> dict:
    """Issue 12's targets, from the numbers (recorded, never asserted)."""
    done = {r["system"]: r for r in results if "error" not in r}
    coqui, mlx = done.get("coqui fp32"), done.get("mlx fp32")
    found: dict = {}
    if mlx:
        found["mlx fp32 chunk last/first"] = mlx["last_first_ratio"]
        found["mlx fp32 chunk last/first <= 1.2"] = mlx["last_first_ratio"] <= 1.2
    if coqui:
        found["coqui chunk last/first"] = coqui["last_first_ratio"]
    if mlx and coqui:
        steps = coqui["codes_before_first_audio"] / mlx["codes_before_first_audio"]
        found["GPT steps to first audio, coqui / mlx"] = round(steps, 2)
        found["first audio in >= 2x fewer GPT steps"] = steps >= 2
        ratio = mlx["ttfa_ms"] / coqui["ttfa_ms"]
        found["time to first audio, mlx fp32 / coqui"] = round(ratio, 2)
        found["time to first audio <= half of coqui's"] = ratio <= 0.5
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 2-layer GPT, a narrow HiFi-GAN")
    parser.add_argument("--systems", help=f"comma-separated, from: {', '.join(SYSTEMS)}")
    parser.add_argument("--threads", type=int, help="coqui's torch CPU threads (default: all)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return serve(worker, args.worker, args.settings)
    systems = args.systems.split(",") if args.systems else None
    print(json.dumps(run(args.quick, systems=systems, torch_threads=args.threads), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
