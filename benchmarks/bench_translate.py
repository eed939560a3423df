"""Translation speed: MLX NLLB against its peers on the same random full-size NLLB-600M weights.

Every system gets the same source token ids and the same forced target-language token and generates
exactly `new_tokens` tokens (EOS is suppressed until then), so the work is identical and the
comparison is fair without a tokenizer. Each system runs in its own process, so peak memory is its
own and a 2.4 GB model is never held twice.

    python -m benchmarks.bench_translate [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).parent / "out" / "cache"

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
SOURCE_LANGUAGE_ID = 256047  # eng_Latn in NLLB's vocabulary
TARGET_LANGUAGE_ID = 256079  # jpn_Jpan

QUICK = {"source_tokens": 16, "new_tokens": 12, "reps": 1, "sweep_tokens": 32}
FULL = {"source_tokens": 24, "new_tokens": 32, "reps": 2, "sweep_tokens": 256}

# name: (runner, options). Peers first, then ours.
SYSTEMS = {
    "transformers fp32 beam3": ("torch", {"dtype": "float32", "beams": 3}),
    "transformers bf16 greedy": ("torch", {"dtype": "bfloat16", "beams": 1}),
    "transformers fp32 greedy": ("torch", {"dtype": "float32", "beams": 1}),
    "ctranslate2 int8 greedy": ("ct2", {"compute_type": "int8", "beams": 1}),
    "mlx fp32 beam3": ("mlx", {"variant": "float32", "beams": 3}),
    "mlx fp32 greedy": ("mlx", {"variant": "float32", "beams": 1}),
    "mlx bf16 greedy": ("mlx", {"variant": "bfloat16", "beams": 1}),
    "mlx 8-bit greedy": ("mlx", {"variant": "q8", "beams": 1}),
    "mlx 4-bit greedy": ("mlx", {"variant": "q4", "beams": 1}),
}
# Systems whose cost per step is also traced out to `sweep_tokens` positions.
SWEEP = [
    "transformers fp32 greedy",
    "ctranslate2 int8 greedy",
    "mlx fp32 greedy",
    "mlx 4-bit greedy",
]


def source_ids(length: int, seed: int = 0) -> list[int]:
    """`[eng_Latn, random ids..., </s>]`, the shape NllbTokenizer gives a sentence."""
    import random

    rng = random.Random(seed)
    return [SOURCE_LANGUAGE_ID] + [rng.randrange(4, 256000) for _ in range(length - 2)] + [2]


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


def reference_model(cache: Path = CACHE) -> Path:
    """The random full-size NLLB-600M as a transformers folder, made once (about 25 s, 2.4 GB)."""

    def build(folder: Path) -> None:
        import torch
        from transformers import M2M100Config, M2M100ForConditionalGeneration

        from tests.fixtures.tokenizer import make_hf_tokenizer

        torch.manual_seed(0)
        model = M2M100ForConditionalGeneration(M2M100Config(**NLLB_600M))
        model.save_pretrained(folder, safe_serialization=True)
        # Our converter wants tokenizer files; a tiny one does, no system here reads text.
        make_hf_tokenizer(folder)

    return publish(build, cache / "nllb-600m-random-hf")


# ---------------------------------------------------------------- measuring inside a worker


def rss_bytes(field: str = "VmRSS") -> int:
    """Resident memory of this process from /proc (Linux); ru_maxrss elsewhere."""
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
    """Bytes of weights one decoder step must read: every decoder matrix except the
    cross-attention keys/values (computed once per sentence) plus the whole output projection."""
    total = 0
    for name, size in named_sizes.items():
        if "encoder_attn.k_proj" in name or "encoder_attn.v_proj" in name:
            continue
        if name.startswith("decoder.") or name.startswith("shared.") or name == "lm_head.weight":
            total += size
    return total


def measure(generate, source: list[int], settings: dict) -> dict:
    """Warm up, then time `reps` sentences.

    `generate(ids, n, on_token)` returns the n new ids, the forced language token first, and calls
    `on_token()` as each of the other n - 1 is ready.
    """
    n = settings["new_tokens"]
    generate(source, 4, lambda: None)
    latencies, traces = [], []
    for _ in range(settings["reps"]):
        stamps: list[float] = []
        start = time.perf_counter()
        tokens = generate(source, n, lambda stamps=stamps: stamps.append(time.perf_counter()))
        latencies.append((time.perf_counter() - start) * 1000)
        traces.append(step_times(stamps, start))
        if len(tokens) != n or len(stamps) != n - 1:
            raise RuntimeError(
                f"generated {len(tokens)} tokens ({len(stamps)} timed), expected {n}"
            )
    best = min(range(len(latencies)), key=latencies.__getitem__)
    result = {
        "latency_ms": statistics.median(latencies),
        "latencies_ms": latencies,
        "ms_per_token": statistics.median(latencies) / n,
        **traces[best],
    }
    result["steady_step_ms"] = statistics.median(result["step_ms"]) if result["step_ms"] else None
    if settings.get("sweep"):
        stamps = []
        start = time.perf_counter()
        generate(source, settings["sweep_tokens"], lambda: stamps.append(time.perf_counter()))
        result["sweep_step_ms"] = step_times(stamps, start)["step_ms"]
    return result


def time_matmuls(run, reps: int = 3) -> float:
    """Median ms of `run()`, after one warm-up call."""
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# ---------------------------------------------------------------- the systems


def run_torch(model_dir: Path, options: dict, settings: dict) -> dict:
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList, M2M100ForConditionalGeneration

    dtype = getattr(torch, options["dtype"])
    baseline = rss_bytes()
    model = M2M100ForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).eval()
    reset_peak_rss()

    class Clock(LogitsProcessor):
        def __init__(self, on_token):
            self.on_token = on_token

        def __call__(self, input_ids, scores):
            if input_ids.shape[1] > 1:  # the first step only yields the forced language token
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
                forced_bos_token_id=TARGET_LANGUAGE_ID,
                min_new_tokens=n,
                max_new_tokens=n,
                logits_processor=LogitsProcessorList([Clock(on_token)]),
            )
        return out[0, 1:].tolist()

    result = measure(generate, source_ids(settings["source_tokens"]), settings)
    result["peak_memory_bytes"] = rss_bytes("VmHWM") - baseline
    result["memory_source"] = "process RSS growth"
    sizes = {name: p.numel() * p.element_size() for name, p in model.model.named_parameters()}
    sizes["lm_head.weight"] = sizes.pop("shared.weight")
    result["weight_bytes_per_token"] = decode_weight_bytes(sizes)

    weights = [linear.weight for linear in essential_linears(model.model.decoder)]
    weights.append(model.lm_head.weight)
    inputs = [torch.randn(options["beams"], w.shape[1], dtype=dtype) for w in weights]

    def products():
        with torch.inference_mode():
            for x, weight in zip(inputs, weights):
                torch.matmul(x, weight.T)

    result["matmul_ms"] = time_matmuls(products)
    return result


def essential_linears(decoder) -> list:
    """The linear layers of a decoder step, all but the cross-attention keys/values (made once)."""
    linears = []
    for layer in decoder.layers:
        attention, cross = layer.self_attn, layer.encoder_attn
        linears += [attention.q_proj, attention.k_proj, attention.v_proj, attention.out_proj]
        linears += [cross.q_proj, cross.out_proj, layer.fc1, layer.fc2]
    return linears


def ct2_model(model_dir: Path, cache: Path = CACHE) -> Path:
    """Convert with CTranslate2's own converter; the vocabulary is made-up names for the ids."""
    import ctranslate2.converters as converters

    class IdVocabulary:
        """Just what the M2M100 loader reads from a tokenizer: token names in id order."""

        bos_token, eos_token, unk_token, unk_token_id = "<s>", "</s>", "<unk>", 3
        special_tokens_map: dict = {}

        def __init__(self, size: int):
            self.names = ["<s>", "<pad>", "</s>", "<unk>"] + [f"t{i}" for i in range(4, size)]

        def get_vocab(self) -> dict[str, int]:
            return {name: i for i, name in enumerate(self.names)}

        def convert_ids_to_tokens(self, index: int) -> str:
            return self.names[index]

    class Converter(converters.TransformersConverter):
        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return IdVocabulary(NLLB_600M["vocab_size"])

    def build(folder: Path) -> None:
        Converter(str(model_dir)).convert(str(folder), quantization="int8", force=True)

    return publish(build, cache / "nllb-600m-random-ct2-int8")


def run_ct2(model_dir: Path, options: dict, settings: dict) -> dict:
    import ctranslate2

    folder = ct2_model(model_dir)
    baseline = rss_bytes()
    threads = os.cpu_count() or 1
    translator = ctranslate2.Translator(
        str(folder), device="cpu", compute_type=options["compute_type"], intra_threads=threads
    )
    reset_peak_rss()

    def name(i: int) -> str:
        return ["<s>", "<pad>", "</s>", "<unk>"][i] if i < 4 else f"t{i}"

    def generate(source, n, on_token):
        # The forced language token is the prefix; it counts as the first of the n tokens.
        result = translator.translate_batch(
            [[name(i) for i in source]],
            target_prefix=[[name(TARGET_LANGUAGE_ID)]],
            beam_size=options["beams"],
            min_decoding_length=n,
            max_decoding_length=n,
            callback=lambda step: step.step > 0 and on_token(),
        )
        return result[0].hypotheses[0]

    result = measure(generate, source_ids(settings["source_tokens"]), settings)
    result["peak_memory_bytes"] = rss_bytes("VmHWM") - baseline
    result["memory_source"] = "process RSS growth"
    # int8 weights with one float32 scale per output row; norms and biases are negligible.
    rows = 12 * (6 * 1024 + 4096 + 1024) + NLLB_600M["vocab_size"]
    params = 12 * (6 * 1024 * 1024 + 2 * 1024 * 4096) + NLLB_600M["vocab_size"] * 1024
    result["weight_bytes_per_token"] = params + 4 * rows
    result["threads"] = threads
    return result


def quantization_base() -> str:
    """The dtype quantized models keep their scales and activations in.

    float16 on a GPU as usual; float32 on the CPU, where MLX's half-precision quantized matmul
    is many times slower than its float32 one."""
    import mlx.core as mx

    return "float32" if mx.default_device() == mx.cpu else "float16"


def mlx_model(model_dir: Path, variant: str, cache: Path = CACHE) -> Path:
    """The reference model converted by our own converter: float32, bfloat16, q8 or q4."""
    from mlx_stream.nllb import weights

    bits = {"q8": 8, "q4": 4}.get(variant)
    dtype = quantization_base() if bits else variant
    name = f"nllb-600m-random-mlx-{variant}" + (f"-{dtype}" if bits else "")

    def build(folder: Path) -> None:
        weights.convert(model_dir, folder, dtype=dtype, q_bits=bits, force=True)

    return publish(build, cache / name)


def run_mlx(model_dir: Path, options: dict, settings: dict) -> dict:
    import mlx.core as mx

    from mlx_stream.nllb import weights
    from mlx_stream.nllb.generate import beam_search, generate_step

    folder = mlx_model(model_dir, options["variant"])
    mx.reset_peak_memory()
    model, _ = weights.load(folder)
    eos = model.args.eos_token_id

    def no_eos(history, scores):
        return mx.where(mx.arange(scores.shape[-1]) == eos, -mx.inf, scores)

    def generate(source, n, on_token):
        memory = model.encode(mx.array([source]))
        if options["beams"] > 1:

            def clock(history, scores):  # called as each step after the forced one is built
                if history.shape[1] > 2:
                    on_token()
                return no_eos(history, scores)

            tokens = beam_search(
                model, memory, TARGET_LANGUAGE_ID, n, options["beams"], processors=[clock]
            )
            on_token()
            return tokens
        tokens = []
        for token in generate_step(model, memory, None, TARGET_LANGUAGE_ID, n):
            tokens.append(token.item())
            if len(tokens) > 1:
                on_token()
        return tokens

    result = measure(generate, source_ids(settings["source_tokens"]), settings)
    result["peak_memory_bytes"] = mx.get_peak_memory()
    result["memory_source"] = "mx.get_peak_memory"
    result["device"] = str(mx.default_device())
    sizes = {name: p.nbytes for name, p in tree_items(model.parameters())}
    result["weight_bytes_per_token"] = decode_weight_bytes(sizes)
    linears = essential_linears(model.decoder) + [model.shared.as_linear]
    dtype = model.decoder.layer_norm.weight.dtype
    inputs = [mx.random.normal((options["beams"], input_width(f))).astype(dtype) for f in linears]
    mx.eval(inputs)

    def products():
        mx.eval([linear(x) for x, linear in zip(inputs, linears)])

    result["matmul_ms"] = time_matmuls(products)
    return result


def input_width(linear) -> int:
    """Input features of an MLX (quantized) linear layer or embedding-as-linear."""
    module = getattr(linear, "__self__", linear)
    if hasattr(module, "scales"):
        return module.scales.shape[1] * module.group_size
    return module.weight.shape[1]


def tree_items(tree, prefix: str = ""):
    from mlx.utils import tree_flatten

    return tree_flatten(tree, prefix=prefix)


WORKERS = {"torch": run_torch, "ct2": run_ct2, "mlx": run_mlx}


def worker(name: str, settings: dict) -> dict:
    """Measure one system in this process."""
    kind, options = SYSTEMS[name]
    settings = {**settings, "sweep": settings.get("sweep") and name in SWEEP}
    result = WORKERS[kind](reference_model(), options, settings)
    if result.get("matmul_ms") and result.get("steady_step_ms"):
        result["step_efficiency"] = result["matmul_ms"] / result["steady_step_ms"]
    return {"system": name, "framework": kind, **options, **result}


def run(quick: bool = False, systems: list[str] | None = None, timeout: float = 600) -> dict:
    """Every system in its own process, one after the other; a system that fails is reported."""
    settings = {**(QUICK if quick else FULL), "sweep": True}
    reference_model()
    results = []
    for name in systems or list(SYSTEMS):
        print(f"translate: {name} ...", file=sys.stderr, flush=True)
        command = [
            sys.executable,
            "-m",
            "benchmarks.bench_translate",
            "--worker",
            name,
            "--settings",
            json.dumps(settings),
        ]
        root = Path(__file__).resolve().parent.parent
        try:
            done = subprocess.run(
                command, cwd=root, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            results.append({"system": name, "error": f"timed out after {timeout:.0f} s"})
            continue
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            error = (done.stderr.strip().splitlines() or ["no output"])[-1]
            results.append({"system": name, "error": error})
        else:
            results.append(json.loads(lines[-1].removeprefix("RESULT ")))
    return {"settings": settings, "model": NLLB_600M, "systems": results, "versions": versions()}


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
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, json.loads(args.settings))))
        return 0
    print(json.dumps(run(args.quick), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
