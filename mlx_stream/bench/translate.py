"""Translation speed: MLX NLLB against its peers on the same random full-size NLLB-600M weights.

Every system gets the same source token ids and the same forced target-language token and makes
exactly `new_tokens` tokens (`</s>` is banned until then, as transformers' `min_new_tokens` does),
so the work is identical and no tokenizer is involved. Each system runs in its own process, so
its peak memory is its own and a 2.4 GB model is never held twice. The MLX systems need nothing
but mlx-stream; the peers need the `bench` extra.

    python -m mlx_stream.bench.translate [--quick] [--systems a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

from .. import blas
from . import default_folder, need, serve, spawn

# facebook/nllb-200-distilled-600M's config.json, less the generation defaults.
NLLB_600M = {
    "vocab_size": 256206,
    "d_model": 1024,
    "encoder_layers": 12,
    "decoder_layers": 12,
    "encoder_attention_heads": 16,
    "decoder_attention_heads": 16,
    "encoder_ffn_dim": 4096,
    "decoder_ffn_dim": 4096,
    "activation_function": "relu",
    "scale_embedding": True,
    "max_position_embeddings": 1024,
    "decoder_start_token_id": 2,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
}
# Where eng_Latn (256047) and jpn_Jpan (256079) sit in NLLB's vocabulary, counted from its end.
SOURCE_LANGUAGE_FROM_END = 159
TARGET_LANGUAGE_FROM_END = 127
LANGUAGE_TOKENS = 206  # the 202 language codes and <mask> close the vocabulary

QUICK = {"source_tokens": 16, "new_tokens": 8, "reps": 1, "sweep_tokens": 24}
FULL = {"source_tokens": 24, "new_tokens": 32, "reps": 1, "sweep_tokens": 256}

# name: (runner, options). The original system's settings first, then ours.
SYSTEMS = {
    "transformers fp32 beam3": ("torch", {"dtype": "float32", "beams": 3}),
    "transformers bf16 greedy": ("torch", {"dtype": "bfloat16", "beams": 1}),
    "transformers fp32 greedy": ("torch", {"dtype": "float32", "beams": 1}),
    "ctranslate2 int8 greedy": ("ct2", {"compute_type": "int8", "beams": 1}),
    "mlx fp32 beam3": ("mlx", {"variant": "float32", "beams": 3}),
    "mlx fp32 greedy": ("mlx", {"variant": "float32", "beams": 1}),
    "mlx fp32 greedy, reference BLAS": ("mlx", {"variant": "float32", "beams": 1, "blas": "off"}),
    "mlx bf16 greedy": ("mlx", {"variant": "bfloat16", "beams": 1}),
    "mlx 8-bit greedy": ("mlx", {"variant": "q8", "beams": 1}),
    "mlx 4-bit greedy": ("mlx", {"variant": "q4", "beams": 1}),
}
QUICK_SKIPS = (
    "transformers fp32 greedy",
    "mlx fp32 beam3",
    "mlx fp32 greedy, reference BLAS",
    "mlx bf16 greedy",
    "mlx 8-bit greedy",
)
# Systems whose cost per step is also traced out to `sweep_tokens` positions.
SWEEP = ("transformers fp32 greedy", "ctranslate2 int8 greedy", "mlx fp32 greedy")


def language_ids(config: dict) -> tuple[int, int]:
    vocab = config["vocab_size"]
    return vocab - SOURCE_LANGUAGE_FROM_END, vocab - TARGET_LANGUAGE_FROM_END


def source_ids(config: dict, length: int, seed: int = 0) -> list[int]:
    """`[eng_Latn, random ids..., </s>]`, the shape NllbTokenizer gives a sentence."""
    rng = random.Random(seed)
    top = config["vocab_size"] - LANGUAGE_TOKENS
    body = [rng.randrange(4, top) for _ in range(length - 2)]
    return [language_ids(config)[0], *body, config["eos_token_id"]]


def publish(build, folder: Path) -> Path:
    """Build into a temporary sibling and rename it into place, so a crash leaves nothing half-made."""
    if folder.exists():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    build(partial)
    partial.rename(folder)
    return folder


def model_name(config: dict) -> str:
    return "nllb-600m" if config == NLLB_600M else f"nllb-d{config['d_model']}"


def default_cache() -> Path:
    return default_folder() / "cache"


def reference_model(config: dict = NLLB_600M, cache: Path | None = None) -> Path:
    """The random model as a Hugging Face folder, made once with MLX (NLLB-600M: 2.4 GB).

    Initialised as transformers initialises M2M100 (normal(0, 0.02) matrices and embeddings, zero
    biases, unit layer norms) and saved in its layout, so every system reads the same file and
    the MLX systems need neither torch nor transformers.
    """

    def build(folder: Path) -> None:
        import mlx.core as mx
        from mlx.utils import tree_flatten

        from ..nllb.model import Model, ModelArgs

        mx.random.seed(0)
        weights = {}
        for name, value in tree_flatten(Model(ModelArgs.from_dict(config)).parameters()):
            if name.endswith(".bias"):
                value = mx.zeros_like(value)
            elif "layer_norm" in name:
                value = mx.ones_like(value)
            else:
                value = 0.02 * mx.random.normal(value.shape)
            weights[f"model.{name}"] = value
        weights["model.shared.weight"][config["pad_token_id"]] = 0.0
        mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "pt"})
        hf_config = {"model_type": "m2m_100", "architectures": ["M2M100ForConditionalGeneration"]}
        (folder / "config.json").write_text(json.dumps({**hf_config, **config}, indent=2))
        write_tokenizer(folder)

    return publish(build, Path(cache or default_cache()) / f"{model_name(config)}-random-hf")


def write_tokenizer(folder: Path) -> None:
    """A tiny sentencepiece model in NLLB's layout (<unk> 0, <s> 1, </s> 2): our converter copies
    the tokenizer along, and no system here reads text."""
    import io

    import sentencepiece as spm

    text = "Every system gets the same source ids and makes the same number of tokens."
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([text, text.lower(), text.upper()] * 10),
        model_writer=model,
        vocab_size=60,
        model_type="bpe",
        hard_vocab_limit=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    (folder / "sentencepiece.bpe.model").write_bytes(model.getvalue())


# ---------------------------------------------------------------- measuring inside a worker


def rss_bytes(field: str = "VmRSS") -> int:
    """Resident memory of this process from /proc (Linux); the lifetime peak elsewhere."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> None:
    clear_refs = Path("/proc/self/clear_refs")
    if clear_refs.exists():
        clear_refs.write_text("5")  # resets VmHWM to the current RSS


def step_times(stamps: list[float], start: float) -> dict:
    """Per-position costs from the time each free (not forced) token was ready."""
    steps = [(b - a) * 1000 for a, b in zip([start, *stamps], stamps)]
    return {"first_token_ms": steps[0], "step_ms": steps[1:]}


def decode_weight_bytes(named_sizes: dict[str, int]) -> int:
    """Bytes of weights one decoder step reads: every decoder matrix but the cross-attention
    keys/values (computed once per sentence), and the whole tied output projection."""
    total = 0
    for name, size in named_sizes.items():
        if "encoder_attn.k_proj" in name or "encoder_attn.v_proj" in name:
            continue
        if name.startswith(("decoder.", "shared.")) and "embed_positions" not in name:
            total += size
    return total


def measure(generate, source: list[int], settings: dict) -> dict:
    """Warm up, then time `reps` sentences, or one long run whose first n tokens are the sentence.

    `generate(ids, n, on_token)` returns the n new ids, the forced language token first, and calls
    `on_token()` as each of the other n - 1 is ready.
    """
    n = settings["new_tokens"]
    generate(source[:3] + source[-1:], 3, lambda: None)
    if settings.get("sweep"):
        # The first n tokens of the long run are the sentence: decoding does not look ahead.
        length = settings["sweep_tokens"]
        reps, runs = 1, [length]
    else:
        reps, runs = settings["reps"], [n] * settings["reps"]
    latencies, traces = [], []
    for length in runs:
        stamps: list[float] = []
        start = time.perf_counter()
        tokens = generate(source, length, lambda stamps=stamps: stamps.append(time.perf_counter()))
        latencies.append((time.perf_counter() - start) * 1000)
        if len(tokens) != length or len(stamps) != length - 1:
            raise RuntimeError(f"made {len(tokens)} tokens ({len(stamps)} timed), not {length}")
        traces.append(step_times(stamps, start))
    result = {}
    if settings.get("sweep"):
        result["sweep_step_ms"] = traces[0]["step_ms"]
        latencies = [traces[0]["first_token_ms"] + sum(traces[0]["step_ms"][: n - 2])]
        traces[0]["step_ms"] = traces[0]["step_ms"][: n - 2]
        tokens = tokens[:n]
    fastest = min(range(reps), key=latencies.__getitem__)
    result.update(
        latency_ms=statistics.median(latencies),
        latencies_ms=latencies,
        ms_per_token=statistics.median(latencies) / n,
        tokens=[int(t) for t in tokens],
        **traces[fastest],
    )
    result["steady_step_ms"] = statistics.median(result["step_ms"]) if result["step_ms"] else None
    return result


def time_call(run, reps: int = 3) -> float:
    """Median ms of `run()`, after one warm-up call."""
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def essential_linears(decoder) -> list:
    """The linear layers of a decoder step: all but the cross-attention keys/values (made once)."""
    linears = []
    for layer in decoder.layers:
        attention, cross = layer.self_attn, layer.encoder_attn
        linears += [attention.q_proj, attention.k_proj, attention.v_proj, attention.out_proj]
        linears += [cross.q_proj, cross.out_proj, layer.fc1, layer.fc2]
    return linears


# ---------------------------------------------------------------- the systems


def run_torch(model_dir: Path, options: dict, settings: dict) -> dict:
    torch = need("torch", "the transformers systems")
    need("transformers", "the transformers systems")
    from transformers import LogitsProcessor, LogitsProcessorList, M2M100ForConditionalGeneration

    config = settings["config"]
    target = language_ids(config)[1]
    dtype = getattr(torch, options["dtype"])
    baseline = rss_bytes()
    model = M2M100ForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).eval()
    reset_peak_rss()

    class Clock(LogitsProcessor):
        def __init__(self, on_token):
            self.on_token = on_token

        def __call__(self, input_ids, scores):
            if input_ids.shape[1] > 1:  # the first step only makes the forced language token
                self.on_token()
            return scores

    def generate(source, n, on_token):
        ids = torch.tensor([source])
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                num_beams=options["beams"],
                do_sample=False,
                forced_bos_token_id=target,
                min_new_tokens=n,
                max_new_tokens=n,
                logits_processor=LogitsProcessorList([Clock(on_token)]),
            )
        return out[0, 1:].tolist()

    result = measure(generate, source_ids(config, settings["source_tokens"]), settings)
    result["peak_memory_bytes"] = rss_bytes("VmHWM") - baseline
    result["memory_source"] = "process RSS growth"
    sizes = {name: p.numel() * p.element_size() for name, p in model.model.named_parameters()}
    result["weight_bytes_per_token"] = decode_weight_bytes(sizes)

    weights = [linear.weight for linear in essential_linears(model.model.decoder)]
    weights.append(model.lm_head.weight)
    inputs = [torch.randn(options["beams"], w.shape[1], dtype=dtype) for w in weights]

    def products():
        with torch.inference_mode():
            for x, weight in zip(inputs, weights):
                torch.matmul(x, weight.T)

    result["matmul_ms"] = time_call(products, reps=5)
    result["threads"] = torch.get_num_threads()
    return result


def ct2_model(model_dir: Path, config: dict, cache: Path) -> Path:
    """Convert with CTranslate2's own converter, the vocabulary being made-up names for the ids."""
    converters = need("ctranslate2.converters", "the CTranslate2 system")
    need("transformers", "CTranslate2's converter")

    class IdVocabulary:
        """What the M2M100 loader reads from a tokenizer: token names in id order."""

        bos_token, eos_token, unk_token, unk_token_id = "<s>", "</s>", "<unk>", 3
        special_tokens_map: dict = {}

        def get_vocab(self) -> dict[str, int]:
            return {ct2_token(i): i for i in range(config["vocab_size"])}

        def convert_ids_to_tokens(self, index: int) -> str:
            return ct2_token(index)

    class Converter(converters.TransformersConverter):
        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return IdVocabulary()

    def build(folder: Path) -> None:
        Converter(str(model_dir)).convert(str(folder), quantization="int8", force=True)

    return publish(build, Path(cache) / f"{model_name(config)}-random-ct2-int8")


def ct2_token(i: int) -> str:
    return ("<s>", "<pad>", "</s>", "<unk>")[i] if i < 4 else f"t{i}"


def run_ct2(model_dir: Path, options: dict, settings: dict) -> dict:
    ctranslate2 = need("ctranslate2", "the CTranslate2 system")

    config = settings["config"]
    folder = ct2_model(model_dir, config, settings["cache"])
    baseline = rss_bytes()
    threads = os.cpu_count() or 1
    translator = ctranslate2.Translator(
        str(folder), device="cpu", compute_type=options["compute_type"], intra_threads=threads
    )
    reset_peak_rss()
    prefix = [[ct2_token(language_ids(config)[1])]]

    def generate(source, n, on_token):
        # The forced language token is the prefix; it counts as the first of the n tokens and
        # the callback reports it as step 0.
        result = translator.translate_batch(
            [[ct2_token(i) for i in source]],
            target_prefix=prefix,
            beam_size=options["beams"],
            min_decoding_length=n,
            max_decoding_length=n,
            callback=lambda step: step.step > 0 and on_token(),
        )
        return [int(t[1:]) if t.startswith("t") else 0 for t in result[0].hypotheses[0]]

    result = measure(generate, source_ids(config, settings["source_tokens"]), settings)
    result["peak_memory_bytes"] = rss_bytes("VmHWM") - baseline
    result["memory_source"] = "process RSS growth"
    # int8 matrices with one float32 scale per output row (an estimate: norms and biases left out)
    d, ffn, vocab = config["d_model"], config["decoder_ffn_dim"], config["vocab_size"]
    rows = config["decoder_layers"] * (6 * d + ffn + d) + vocab
    params = config["decoder_layers"] * (6 * d * d + 2 * d * ffn) + vocab * d
    result["weight_bytes_per_token"] = params + 4 * rows
    result["threads"] = threads
    return result


def quantization_base() -> str:
    """The dtype quantized models keep their scales and activations in: float16 on a GPU as
    usual; float32 on the CPU, where MLX's half-precision quantized matmul is many times slower."""
    import mlx.core as mx

    return "float32" if mx.default_device() == mx.cpu else "float16"


def mlx_model(
    model_dir: Path, variant: str, config: dict = NLLB_600M, cache: Path | None = None
) -> Path:
    """The reference model converted by our own converter: float32, bfloat16, q8 or q4."""
    from ..nllb import weights

    bits = {"q8": 8, "q4": 4}.get(variant)
    dtype = quantization_base() if bits else variant
    suffix = f"{variant}-{dtype}" if bits else variant

    def build(folder: Path) -> None:
        weights.convert(model_dir, folder, dtype=dtype, q_bits=bits, force=True)

    return publish(
        build, Path(cache or default_cache()) / f"{model_name(config)}-random-mlx-{suffix}"
    )


def run_mlx(model_dir: Path, options: dict, settings: dict) -> dict:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from ..nllb import weights
    from ..nllb.generate import beam_search, generate_step

    config = settings["config"]
    target = language_ids(config)[1]
    folder = mlx_model(model_dir, options["variant"], config, settings["cache"])
    mx.reset_peak_memory()
    model, _ = weights.load(folder)
    eos = model.args.eos_token_id

    def generate(source, n, on_token):
        memory = model.encode(mx.array([source]))
        made = 1  # the forced language token

        def no_eos(history, scores):  # also the clock: called as each step's graph is built
            nonlocal made
            if options["beams"] > 1 and made > 1:
                on_token()
            made += 1
            return mx.where(mx.arange(scores.shape[-1]) == eos, -mx.inf, scores)

        if options["beams"] > 1:
            tokens = beam_search(model, memory, target, n, options["beams"], processors=[no_eos])
            on_token()  # the last step ends with the search
            return tokens
        tokens = []
        for token in generate_step(model, memory, None, target, n, processors=[no_eos]):
            tokens.append(token.item())
            if len(tokens) > 1:
                on_token()
        return tokens

    result = measure(generate, source_ids(config, settings["source_tokens"]), settings)
    result["peak_memory_bytes"] = mx.get_peak_memory()
    result["memory_source"] = "mx.get_peak_memory"
    result["device"] = str(mx.default_device())
    result["blas"] = str(blas.in_use())
    result["dtype"] = str(model.decoder.layer_norm.weight.dtype).removeprefix("mlx.core.")
    sizes = {name: p.nbytes for name, p in tree_flatten(model.parameters())}
    result["weight_bytes_per_token"] = decode_weight_bytes(sizes)

    linears = essential_linears(model.decoder) + [model.shared.as_linear]
    dtype = model.decoder.layer_norm.weight.dtype
    inputs = [mx.random.normal((options["beams"], input_width(f))).astype(dtype) for f in linears]
    mx.eval(inputs)

    def products():
        mx.eval([linear(x) for x, linear in zip(inputs, linears)])

    result["matmul_ms"] = time_call(products, reps=5)
    return result


def input_width(linear) -> int:
    """Input features of an MLX (quantized) linear layer or of an embedding used as one."""
    module = getattr(linear, "__self__", linear)
    if hasattr(module, "scales"):
        return module.scales.shape[-1] * module.group_size
    return module.weight.shape[-1]


RUNNERS = {"torch": run_torch, "ct2": run_ct2, "mlx": run_mlx}


def worker(name: str, settings: dict) -> dict:
    """Measure one system in this process."""
    kind, options = SYSTEMS[name]
    settings = {**settings, "sweep": settings.get("sweep") and name in SWEEP}
    model_dir = reference_model(settings["config"], settings["cache"])
    result = RUNNERS[kind](model_dir, options, settings)
    if result.get("matmul_ms") and result.get("steady_step_ms"):
        result["step_efficiency"] = result["matmul_ms"] / result["steady_step_ms"]
    return {"system": name, "framework": kind, **options, **result}


def run(
    quick: bool = False,
    systems: list[str] | None = None,
    config: dict = NLLB_600M,
    cache: Path | None = None,
    timeout: float = 600,
) -> dict:
    """Every system in its own process, one after the other; a system that fails is reported."""
    cache = Path(cache or default_cache())
    settings = {**(QUICK if quick else FULL), "sweep": True, "config": config, "cache": str(cache)}
    if systems is None:
        systems = [s for s in SYSTEMS if not (quick and s in QUICK_SKIPS)]
    reference_model(config, cache)
    results = []
    for name in systems:
        print(f"translate: {name}", file=sys.stderr, flush=True)
        kind, options = SYSTEMS[name]
        own_blas = kind == "mlx" and options.get("blas") != "off"
        results.append({"system": name, **spawn("translate", name, settings, timeout, own_blas)})
    floor_bandwidth = read_bandwidth()
    for result in results:
        if result.get("weight_bytes_per_token"):
            result["weight_read_floor_ms"] = (
                1000 * result["weight_bytes_per_token"] / floor_bandwidth
            )
    settings = {k: v for k, v in settings.items() if k not in ("config", "sweep")}
    return {
        "settings": settings,
        "model": config,
        "systems": results,
        "versions": versions(),
        "blas": str(blas.in_use()),
        "read_GB_per_s": floor_bandwidth / 1e9,
    }


def read_bandwidth(size: int = 2**30, reps: int = 7) -> float:
    """Bytes a second this machine streams from memory, at best: a 1 GiB float32 matrix read once
    by a matrix-vector product, in numpy's BLAS and in MLX's, the fastest of `reps` runs of each.
    A decode step cannot read its weights faster, so `weight bytes / this` is its floor."""
    import mlx.core as mx
    import numpy as np

    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((size // 4096, 1024), dtype=np.float32)
    vector = rng.standard_normal(1024, dtype=np.float32)
    on_mlx, row = mx.array(matrix), mx.array(vector[None])
    mx.eval(on_mlx, row)
    runs = {"numpy": lambda: matrix @ vector, "mlx": lambda: mx.eval(row @ on_mlx.T)}
    fastest = float("inf")
    for run in runs.values():
        run()
        for _ in range(reps):
            start = time.perf_counter()
            run()
            fastest = min(fastest, time.perf_counter() - start)
    return size / fastest


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("mlx", "torch", "transformers", "ctranslate2", "coqui-tts", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--systems", help="comma-separated system names (default: all)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return serve(worker, args.worker, args.settings)
    systems = args.systems.split(",") if args.systems else None
    print(json.dumps(run(args.quick, systems), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
