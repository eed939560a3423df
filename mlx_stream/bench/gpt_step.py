"""XTTS GPT decode step: ms per code at three positions, compiled and eager, and its matmul floor.

The GPT has XTTS v2's real shapes (`ModelArgs()`: 30 layers x 1024, 16 heads, 6681 text and 1026
audio tokens) and random weights, in float32, bfloat16 and 4-bit (the blocks' linears quantized
with group 64 over float32, as `mlx-stream convert xtts --q-bits 4` does on a CPU). A step costs
what its rows and cache length cost, whatever the numbers in them, so the cache is filled with
random rows up to each position instead of being generated into (600 codes take minutes here).
Steps run as `generate_step` runs them: each launched with `mx.async_eval` once the previous code
is read. "compiled" is the `Sampler` path (one `mx.compile`d graph per step), "eager" the same
sampler behind a plain function (the path any Python chooser takes). The floor is the blocks'
four linears and the output head alone, at the same shapes and dtype: what a step cannot go below.

    python -m mlx_stream.bench.gpt_step [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import mlx.core as mx
import mlx.nn as nn

from ..xtts.config import ModelArgs
from ..xtts.generate import _stepper, first_seen, mark_seen
from ..xtts.gpt import GPT
from ..xtts.sampling import Sampler

PREFIX_TEXT = 60  # text tokens: the prefix is 32 voice rows + [START] 60 [STOP] + start-audio
POSITIONS = (50, 300, 600)  # code numbers (the real model stops at 602)
DTYPES = ("float32", "bfloat16", "q4")


def build(kind: str) -> GPT:
    """A full-size GPT with random weights, evaluated, in `kind` (float32, bfloat16 or q4)."""
    mx.random.seed(0)
    model = GPT(ModelArgs())
    if kind == "bfloat16":
        model.set_dtype(mx.bfloat16)
    elif kind == "q4":
        nn.quantize(
            model,
            group_size=64,
            bits=4,
            class_predicate=lambda path, m: path.startswith("h.") and isinstance(m, nn.Linear),
        )
    mx.eval(model.parameters())
    return model


def prefix(model: GPT) -> mx.array:
    args = model.args
    voice = mx.random.normal((1, 32, args.gpt_n_model_channels))
    text = mx.random.randint(0, args.gpt_number_text_tokens - 2, (1, PREFIX_TEXT))
    return model.embed_prefix(voice, text)


def state_at(model: GPT, rows: int, index: int) -> tuple:
    """The state `generate_step` carries after code number `index` of a prefix of `rows` rows:
    the cache holds rows + index random rows."""
    cache = model.make_cache()
    dtype = model.mel_embedding.weight.dtype
    heads = model.args.gpt_n_heads
    shape = (1, heads, rows + index, model.args.gpt_n_model_channels // heads)
    for layer in cache:
        layer.update_and_fetch(
            mx.random.normal(shape).astype(dtype), mx.random.normal(shape).astype(dtype)
        )
    code = mx.array([7], dtype=mx.int32)
    latent = mx.zeros((1, 1, model.args.gpt_n_model_channels), dtype)
    state = (
        code,
        latent,
        mark_seen(first_seen(model), code),
        [c.keys for c in cache],
        [c.values for c in cache],
    )
    mx.eval(state)
    return state


def clock() -> tuple[float, float]:
    """(wall, CPU) seconds: CPU time, all threads, is the work done, which a busy machine's
    other jobs inflate less than the wall time."""
    return time.perf_counter(), time.process_time()


def step_ms(model: GPT, choose, rows: int, index: int, steps: int) -> tuple[float, float, float]:
    """(wall ms of the first step, mean wall and CPU ms of the `steps` after it) from code
    number `index`.

    Means over several steps, not each step's own time: on a CPU `mx.async_eval` returns only
    when little of the step is left, so single intervals between reads are skewed, their sum not.
    The first step traces the compiled step when its cache length is new to this process.
    """
    state = state_at(model, rows, index)
    step, _ = _stepper(model, choose, rows)
    marks = []
    for i in range(index, index + steps + 1):
        state[0].item()
        marks.append(clock())
        state, key = step(i, state)
        if key is not None:
            choose.key = key
        mx.async_eval(state, key)
    state[0].item()
    marks.append(clock())
    (wall0, _), (wall1, cpu1), (wall, cpu) = marks[0], marks[1], marks[-1]
    return 1e3 * (wall1 - wall0), 1e3 * (wall - wall1) / steps, 1e3 * (cpu - cpu1) / steps


def prefill_ms(model: GPT, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU ms of the prefix through the GPT into a fresh cache and the first code."""
    walls, cpus = [], []
    sampler = Sampler(seed=0)
    for _ in range(repeats):
        rows = prefix(model)
        mx.eval(rows)
        wall, cpu = clock()
        latent = model(rows, model.make_cache())[:, -1:, :]
        code = sampler(model.logits(latent[:, 0]).astype(mx.float32), first_seen(model))
        mx.eval(code, latent)
        walls.append(1e3 * (time.perf_counter() - wall))
        cpus.append(1e3 * (time.process_time() - cpu))
    return walls, cpus


def floor_ms(model: GPT, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU ms of the 120 block linears and the output head on one row each, alone."""
    dims = model.args.gpt_n_model_channels
    dtype = model.mel_embedding.weight.dtype
    narrow = [mx.random.normal((1, 1, dims)).astype(dtype) for _ in range(3)]
    wide = mx.random.normal((1, 1, 4 * dims)).astype(dtype)
    mx.eval(narrow, wide)

    def linears():
        out = [model.mel_head(narrow[0])]
        for block in model.h:
            out += [block.attn.c_attn(narrow[0]), block.attn.c_proj(narrow[1])]
            out += [block.mlp.c_fc(narrow[2]), block.mlp.c_proj(wide)]
        return out

    mx.eval(linears())
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = clock()
        mx.eval(linears())
        walls.append(1e3 * (time.perf_counter() - wall))
        cpus.append(1e3 * (time.process_time() - cpu))
    return walls, cpus


def summary(walls: list[float], cpus: list[float]) -> dict:
    return {
        "median ms": round(statistics.median(walls), 1),
        "min ms": round(min(walls), 1),
        "max ms": round(max(walls), 1),
        "CPU ms": round(statistics.median(cpus), 1),
        "n": len(walls),
    }


def blas() -> str:
    try:
        from .. import blas
    except ImportError:
        return "reference (netlib): no mlx_stream.blas"
    return str(blas.in_use())


def run(quick: bool = False) -> dict:
    kinds = ("float32",) if quick else DTYPES
    positions = (50, 600) if quick else POSITIONS
    steps, rounds = (3, 1) if quick else (4, 3)
    results = {
        "mlx": mx.__version__,
        "device": str(mx.default_device()),
        "blas": blas(),
        "load average at start": round(os.getloadavg()[0], 2),
        "steps": [],
        "prefill": [],
        "floor": [],
    }
    for kind in kinds:
        model = build(kind)
        rows = prefix(model).shape[1]
        paths = {
            "compiled": Sampler(seed=0),
            "eager": (lambda s: lambda logits, seen: s(logits, seen))(Sampler(seed=0)),
        }
        walls = {(p, i): [] for p in paths for i in positions}
        cpus = {(p, i): [] for p in paths for i in positions}
        first = {}
        for _ in range(rounds):  # rounds interleave, so a busy minute hits every cell alike
            for index in positions:
                for path, choose in paths.items():
                    ms, wall, cpu = step_ms(model, choose, rows, index, steps)
                    first.setdefault((path, index), round(ms, 1))
                    walls[path, index].append(wall)
                    cpus[path, index].append(cpu)
        for (path, index), found in walls.items():
            row = {"dtype": kind, "path": path, "code": index}
            row |= summary(found, cpus[path, index])
            results["steps"].append({**row, "first step ms": first[path, index]})
        found = floor_ms(model, 3 if quick else 7)
        results["floor"].append({"dtype": kind, **summary(*found)})
        found = prefill_ms(model, 1 if quick or kind != "float32" else 3)
        results["prefill"].append({"dtype": kind, "rows": rows, **summary(*found)})
        del model
    results["load average at end"] = round(os.getloadavg()[0], 2)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="float32 only, fewer steps")
    print(json.dumps(run(parser.parse_args(argv).quick), indent=1))


if __name__ == "__main__":
    main()
