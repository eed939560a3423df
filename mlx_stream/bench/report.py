"""Turn the results of a benchmark run into report.md, results.json and PNG plots."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from ..errors import MlxStreamError
from . import need

# The original system's two settings: the ratios in the report are against these.
BASELINES = ("transformers fp32 beam3", "transformers bf16 greedy")
SWEEP_POSITIONS = (8, 16, 32, 64, 128, 256)


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def speedup(baseline: dict | None, system: dict) -> str:
    """How many times faster `system` is than `baseline` per sentence; < 1 means slower."""
    if not baseline or "latency_ms" not in baseline or "latency_ms" not in system:
        return "–"
    return f"{baseline['latency_ms'] / system['latency_ms']:.2f}×"


def translation_rows(translate: dict) -> tuple[list[str], list[list]]:
    systems = {s["system"]: s for s in translate["systems"]}
    n = translate["settings"]["new_tokens"]
    header = [
        "system",
        f"sentence ms ({n} tok)",
        "ms/token",
        "first token ms",
        "step ms",
        *[f"vs {name}" for name in BASELINES],
        "matmuls ms",
        "step efficiency",
        "weight-read floor ms",
        "peak MB",
        "weight MB/token",
    ]
    rows = []
    for s in translate["systems"]:
        if "error" in s:
            rows.append([s["system"], f"failed: {s['error']}"] + [None] * (len(header) - 2))
            continue
        efficiency = s.get("step_efficiency")
        rows.append(
            [
                s["system"],
                s["latency_ms"],
                s["ms_per_token"],
                s["first_token_ms"],
                s["steady_step_ms"],
                *[speedup(systems.get(name), s) for name in BASELINES],
                s.get("matmul_ms"),
                f"{100 * efficiency:.0f}%" if efficiency else None,
                s.get("weight_read_floor_ms"),
                s["peak_memory_bytes"] / 2**20,
                s["weight_bytes_per_token"] / 2**20,
            ]
        )
    return header, rows


def at_position(steps: list[float], position: int) -> float | None:
    """Median step cost over the five output positions up to `position` (1-based).

    `steps[0]` is position 3: position 1 is the forced language token and the time to position 2
    is the time to first token."""
    if len(steps) < position - 2:
        return None
    return statistics.median(steps[max(0, position - 7) : position - 2])


def sweep_rows(translate: dict) -> tuple[list[str], list[list]]:
    swept = [s for s in translate["systems"] if s.get("sweep_step_ms")]
    header = ["system", *[f"@{p}" for p in SWEEP_POSITIONS], "last / first"]
    rows = []
    for s in swept:
        costs = [at_position(s["sweep_step_ms"], p) for p in SWEEP_POSITIONS]
        present = [c for c in costs if c is not None]
        growth = f"{present[-1] / present[0]:.2f}" if len(present) > 1 else None
        rows.append([s["system"], *costs, growth])
    return header, rows


def headline(translate: dict) -> list[str]:
    """The ratios a skeptical reader wants first, including where MLX is behind."""
    done = {s["system"]: s for s in translate["systems"] if "error" not in s}
    ours = [s for s in done.values() if s.get("framework") == "mlx"]
    if not ours:
        return []
    best = min(ours, key=lambda s: s["latency_ms"])
    lines = []
    for name in (*BASELINES, "ctranslate2 int8 greedy"):
        if name in done:
            ratio = done[name]["latency_ms"] / best["latency_ms"]
            word = "faster" if ratio >= 1 else "slower"
            times = ratio if ratio >= 1 else 1 / ratio
            lines.append(f"- fastest MLX ({best['system']}) is {times:.2f}× {word} than {name}")
    same = done.get("mlx fp32 greedy"), done.get("transformers fp32 greedy")
    if all(same):
        ratio = same[1]["latency_ms"] / same[0]["latency_ms"]
        lines.append(
            f"- same algorithm and dtype: mlx fp32 greedy / transformers fp32 greedy = {ratio:.2f}× "
            "(above 1× MLX is faster)"
        )
        mlx, torch = same
        lines.append(
            f"- mlx fp32 greedy against transformers fp32 greedy: "
            f"{mlx['steady_step_ms'] / torch['steady_step_ms']:.2f}× its step time, "
            f"{mlx['first_token_ms'] / torch['first_token_ms']:.2f}× its first-token time"
        )
    return lines


def translation_markdown(translate: dict) -> str:
    settings = translate["settings"]
    parts = [
        "## Translation (random full-size NLLB-600M)",
        "\n".join(headline(translate)),
        f"Source {settings['source_tokens']} tokens, exactly {settings['new_tokens']} new tokens "
        f"(language token included), median of {settings['reps']} after a warm-up; the systems "
        "traced along the output are read off that long run at the same token. "
        "`vs X`: X's sentence time / this one's (above 1× is faster than X). "
        "Step efficiency: the decode step's weight matrix products alone (same shapes and dtype, "
        "same run) / the measured step. Weight-read floor: the weight bytes a step reads / "
        f"{fmt(translate.get('read_GB_per_s'))} GB/s, the fastest this machine read a 1 GiB "
        "matrix through a matrix-vector product (numpy's BLAS or MLX's). "
        f"MLX's BLAS: {translate.get('blas', 'not recorded')}. "
        "Peak MB: `mx.get_peak_memory` for MLX, growth of the process's peak RSS over its size "
        "before loading for the others.",
        table(*translation_rows(translate)),
    ]
    if any(s.get("sweep_step_ms") for s in translate["systems"]):
        parts += [
            f"### ms per step against output position (to {settings['sweep_tokens']})",
            table(*sweep_rows(translate)),
        ]
    return "\n\n".join(parts)


def generic_markdown(name: str, section: dict) -> str:
    """Sections owned by other benchmarks: scalars as a table, lists of records as tables."""
    parts = [f"## {name.capitalize()}"]
    if "error" in section:
        return "\n\n".join(parts + [f"Failed: {section['error']}"])
    if "missing" in section:
        return "\n\n".join(parts + [f"Not run: {section['missing']}"])
    scalars = [
        [key, value] for key, value in section.items() if isinstance(value, int | float | str)
    ]
    if scalars:
        parts.append(table(["measure", "value"], scalars))
    for key, value in section.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for row in value for k in row))
            columns = [c for c in columns if not isinstance(value[0].get(c), list | dict)]
            parts += [
                f"### {key}",
                table(columns, [[row.get(c) for c in columns] for row in value]),
            ]
        elif isinstance(value, dict):
            flat = [[k, v] for k, v in value.items() if isinstance(v, int | float | str)]
            if flat:
                parts += [f"### {key}", table(["measure", "value"], flat)]
    return "\n\n".join(parts)


def markdown(results: dict) -> str:
    machine = results.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items() if v)
    seconds = [
        f"{name} {section['section_seconds']:.0f} s"
        for name, section in results.get("sections", {}).items()
        if "section_seconds" in section
    ]
    parts = [
        "# mlx-stream benchmark report",
        f"Command: `{results.get('command', '')}`  \nStarted: {results.get('started', '')}  \n"
        f"Versions: {versions or '–'}  \nSections: {', '.join(seconds) or '–'}",
        table(["machine", ""], [[k, v] for k, v in machine.items()]),
    ]
    for name, section in results.get("sections", {}).items():
        if name == "translate" and "systems" in section:
            parts.append(translation_markdown(section))
        elif name == "speech" and "systems" in section:
            parts.append(speech_markdown(section))
        else:
            parts.append(generic_markdown(name, section))
    plots = results.get("plots", [])
    if plots:
        parts.append("## Plots\n\n" + "\n\n".join(f"![{p}]({p})" for p in plots))
    elif results.get("plots_missing"):
        parts.append(f"## Plots\n\nNone: {results['plots_missing']}")
    return "\n\n".join(parts) + "\n"


def pyplot():
    matplotlib = need("matplotlib", "plotting")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_translation(translate: dict, out: Path) -> list[str]:
    plt = pyplot()

    done = [s for s in translate["systems"] if "error" not in s]
    written = []
    if done:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(done) + 1.5))
        names = [s["system"] for s in done]
        ax.barh(names, [s["ms_per_token"] for s in done], color="tab:blue")
        ax.invert_yaxis()
        ax.set_xlabel("ms per token (whole sentence / tokens)")
        ax.set_title("NLLB-600M translation, per token")
        fig.tight_layout()
        fig.savefig(out / "translate_ms_per_token.png", dpi=120)
        plt.close(fig)
        written.append("translate_ms_per_token.png")
    swept = [s for s in done if s.get("sweep_step_ms")]
    if swept:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for s in swept:
            steps = s["sweep_step_ms"]
            ax.plot(range(3, len(steps) + 3), steps, label=s["system"], linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("output position (tokens)")
        ax.set_ylabel("ms for this step")
        ax.set_title("Decode step cost along the output")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "translate_step_vs_position.png", dpi=120)
        plt.close(fig)
        written.append("translate_step_vs_position.png")
    return written


def plot_series(name: str, section: dict, out: Path) -> list[str]:
    """Every list of numbers in another section (per-chunk costs, say) as a line plot."""
    plt = pyplot()

    series = {}

    def collect(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                collect(f"{prefix}{key} ", inner)
        elif (
            isinstance(value, list)
            and len(value) >= 3
            and all(isinstance(v, int | float) for v in value)
        ):
            series[prefix.strip()] = value

    collect("", section)
    if not series:
        return []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in series.items():
        ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
    ax.set_xlabel("index")
    ax.set_title(name)
    ax.legend(fontsize=8)
    fig.tight_layout()
    filename = f"{name}_series.png"
    fig.savefig(out / filename, dpi=120)
    plt.close(fig)
    return [filename]


def write(results: dict, out: Path) -> str:
    """Write results.json, the plots and report.md into `out`; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    plots = []
    try:
        for name, section in results.get("sections", {}).items():
            if "error" in section:
                continue
            if name == "translate" and "systems" in section:
                plots += plot_translation(section, out)
            elif name == "speech" and "systems" in section:
                plots += plot_speech(section, out)
            else:
                plots += plot_series(name, section, out)
    except MlxStreamError as e:  # no matplotlib: the tables are the report
        results["plots_missing"] = str(e)
    results["plots"] = plots
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    text = markdown(results)
    (out / "report.md").write_text(text)
    return text


# ---------------------------------------------------------------- speech: MLX XTTS against coqui


def speech_markdown(speech: dict) -> str:
    settings, model = speech["settings"], speech["model"]
    dims = model["dimensions"]
    done = [s for s in speech["systems"] if "error" not in s]
    source = speech.get("source") or {}
    changed = ", ".join(source.get("engine files changed") or []) or "none"
    parts = [
        "## Speech: MLX XTTS against coqui's inference_stream",
        f"Random XTTS v2 checkpoint in coqui's layout ({dims['gpt_layers']} GPT layers x "
        f"{dims['gpt_n_model_channels']}, HiFi-GAN {model['decoder_channels']} channels, "
        f"{fmt(model.get('parameters M'))} M parameters, model.pth {model['model.pth MB']} MB). "
        f"One process per system; the same text ({settings['chars']} characters), the built-in "
        f"voice '{settings['speaker']}' and exactly {settings['codes']} audio codes each "
        f"({settings['same work']}). coqui: `inference_stream`, stream_chunk_size "
        f"{settings['stream_chunk_size']}; MLX: `MlxXttsSynthesizer.stream` at its defaults. "
        f"BLAS under MLX: {speech.get('blas')}. Load average {fmt(speech.get('load average at start'))}"
        f" at the start, {fmt(speech.get('load average at end'))} at the end. Commit "
        f"{source.get('commit', '–')}, engine files changed from it: {changed}.",
        "\n".join(f"- {k}: {v}" for k, v in speech.get("targets", {}).items()),
        "TTFA: from the call to the first chunk. Chunk ms: wall time from the previous chunk "
        "(chunk 1 is the TTFA). Prefill: from the call to the first code (voice and text rows "
        "through the GPT at once). GPT ms/code: median time between codes (a greedy run for the "
        "variants not streamed). Matmul floor: the step's weight matrix products alone (same "
        "shapes and dtype, same process); step efficiency = floor / step. Vocoder: HiFi-GAN alone, "
        "one pass over the first latents the system made. Peak MB: `mx.get_peak_memory` for MLX, "
        "the process's peak RSS growth for coqui.",
        table(*speech_rows(done)),
    ]
    streamed = [s for s in done if s.get("chunk_ms")]
    if streamed:
        longest = max(len(s["chunk_ms"]) for s in streamed)
        rows = [[i + 1, *[at(s["chunk_ms"], i) for s in streamed]] for i in range(longest)]
        parts += [
            "### Wall ms of each chunk",
            table(["chunk", *[s["system"] for s in streamed]], rows),
        ]
    for s in streamed:
        if s.get("decoder_pushes"):
            rows = [
                [i + 1, p["latents"], p["frames"], p["samples"] / 256, p["ms"]]
                for i, p in enumerate(s["decoder_pushes"])
            ]
            header = ["push", "latents in", "frames decoded", "frames handed out", "ms"]
            parts += [f"### {s['system']}: what each decoder push computed", table(header, rows)]
            break
    parts.append(conversion_markdown(speech))
    agreement = agreement_markdown(done)
    if agreement:
        parts.append(agreement)
    kernels = kernels_markdown(done)
    if kernels:
        parts.append(kernels)
    failed = [s for s in speech["systems"] if "error" in s]
    if failed:
        parts.append("\n".join(f"- {s['system']}: failed: {s['error']}" for s in failed))
    return "\n\n".join(parts)


def at(values: list, index: int):
    return values[index] if index < len(values) else None


def speech_rows(done: list[dict]) -> tuple[list[str], list[list]]:
    header = [
        "system",
        "TTFA ms",
        "GPT steps to 1st audio",
        "prefill ms",
        "chunk 1 ms",
        "last chunk ms",
        "last / first",
        "RTF",
        "GPT ms/code",
        "matmul floor ms",
        "step efficiency",
        "vocoder ms / audio s",
        "peak MB",
    ]
    rows = []
    for s in done:
        chunks = s.get("chunk_ms") or []
        compared = chunks[: s.get("chunks_compared", 0)]
        step = s.get("gpt_ms_per_code") or (s.get("agreement") or {}).get("greedy_gpt_ms_per_code")
        efficiency = s.get("matmul_floor_ms") / step if step and s.get("matmul_floor_ms") else None
        rows.append(
            [
                s["system"],
                s.get("ttfa_ms"),
                s.get("codes_before_first_audio"),
                s.get("prefill_ms"),
                compared[0] if compared else None,
                f"{compared[-1]:,.1f} (#{len(compared)})" if compared else None,
                fmt(s.get("last_first_ratio"), 2),
                fmt(s.get("rtf"), 2),
                step,
                s.get("matmul_floor_ms"),
                f"{100 * efficiency:.0f}%" if efficiency else None,
                s.get("vocoder_ms_per_audio_s"),
                s.get("peak_memory_mb"),
            ]
        )
    return header, rows


def conversion_markdown(speech: dict) -> str:
    header = ["variant", "dtype", "bits", "s", "peak RSS MB", "RSS growth MB", "written MB"]
    header.append("sha256 in config = source")
    rows = []
    for c in speech.get("conversion", []):
        if "error" in c:
            rows.append([c["variant"], f"failed: {c['error']}"] + [None] * (len(header) - 2))
            continue
        rows.append(
            [
                c["variant"],
                c["dtype"],
                c["bits"],
                c["seconds"],
                c["peak_rss_mb"],
                c["rss_growth_mb"],
                c["written_mb"],
                "yes" if c["recorded_sha256_match"] else "NO",
            ]
        )
    unchanged = "yes" if speech.get("source sha256 unchanged") else "NO"
    return "\n\n".join(
        [
            "### Converting the checkpoint (our converter, no torch)",
            f"Source files' sha256 the same before and after every conversion: {unchanged}.",
            table(header, rows),
        ]
    )


def agreement_markdown(done: list[dict]) -> str:
    with_codes = [s for s in done if s.get("agreement")]
    if not with_codes:
        return ""
    header = ["system", "against", "teacher-forced equal", "free-running equal"]
    header += ["first difference per sentence", "GPT ms/code (greedy)"]
    rows = []
    for s in with_codes:
        a = s["agreement"]
        firsts = ", ".join(
            "none" if t["first_difference"] is None else str(t["first_difference"])
            for t in a["texts"]
        )
        rows.append(
            [
                s["system"],
                a["against"],
                f"{100 * a['forced_equal_share']:.1f}%",
                f"{100 * a['free_equal_share']:.1f}%",
                firsts,
                a["greedy_gpt_ms_per_code"],
            ]
        )
    texts = with_codes[0]["agreement"]["texts"]
    return "\n\n".join(
        [
            "### Greedy code agreement with MLX fp32 (top_k=1, stop code banned)",
            f"{len(texts)} sentences x {texts[0]['codes']} codes. Teacher-forced: the variant's "
            "choice at each position given fp32's codes before it (one pass). Free-running: "
            "each generates on its own; after the first difference the inputs differ too. "
            "Random weights leave the best codes close together, so these shares are a lower "
            "bound for a trained checkpoint.",
            table(header, rows),
        ]
    )


def kernels_markdown(done: list[dict]) -> str:
    ours = next((s for s in done if s.get("framework") == "mlx" and s.get("kernels")), None)
    peer = next((s for s in done if s.get("framework") == "coqui" and s.get("kernels")), None)
    if not ours:
        return ""
    mlx, torch = ours["kernels"], (peer or {}).get("kernels")
    header = ["kernel", "convs", "GMAC", "MLX ms", "MLX GMAC/s", "torch ms", "torch GMAC/s"]
    header.append("MLX / torch")
    rows = []
    for kind, entry in mlx["kinds"].items():
        peer = (torch or {}).get("kinds", {}).get(kind, {})
        ratio = f"{entry['ms'] / peer['ms']:.1f}×" if peer.get("ms") else None
        rows.append(
            [kind, entry["convs"], f"{entry['gmac']:.3g}", entry["ms"], fmt(entry["gmac_per_s"], 2)]
            + [peer.get("ms"), fmt(peer.get("gmac_per_s"), 2), ratio]
        )
    tried = [
        [
            kind,
            t["as"],
            t["native_ms"],
            t["ms"],
            f"{t['speedup']}×",
            f"{t['max_relative_difference']:.1e}",
        ]
        for kind, t in mlx.get("tried", {}).items()
    ]
    window = f"torch runs the whole window in {torch['window_ms']:,.1f} ms. " if torch else ""
    pushes = ours.get("decoder_pushes") or []
    steady = [p["ms"] for p in pushes if p["frames"] == mlx["frames"] and p["latents"]]
    if steady:
        window = (
            f"a steady push of MLX's stream takes {statistics.median(steady):,.1f} ms; {window}"
        )
    parts = [
        f"### HiFi-GAN kernels on one {mlx['frames']}-frame window (MLX's steady window)",
        f"Each conv timed alone at its shape ({mlx['dtype']}). MLX's kernels sum to "
        f"{mlx['sum_ms']:,.1f} ms; {window}With the forms tried below in place of MLX's own "
        f"kernels, MLX's sum would be {mlx['sum_ms_with_tried']:,.1f} ms.",
        table(header, rows),
    ]
    if tried:
        header = [
            "kernel",
            "tried as",
            "MLX kernel ms",
            "tried ms",
            "speedup",
            "max relative difference",
        ]
        parts.append(table(header, tried))
    return "\n\n".join(parts)


def plot_speech(speech: dict, out: Path) -> list[str]:
    plt = pyplot()

    done = [s for s in speech["systems"] if "error" not in s and s.get("chunk_ms")]
    written = []
    if done:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for s in done:
            chunks = s["chunk_ms"]
            ax.plot(
                range(1, len(chunks) + 1), [c / 1000 for c in chunks], marker=".", label=s["system"]
            )
        ax.set_xlabel("chunk")
        ax.set_ylabel("seconds since the previous chunk")
        ax.set_title(f"XTTS streaming, {speech['settings']['codes']} codes: time per chunk")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "speech_chunk_times.png", dpi=120)
        plt.close(fig)
        written.append("speech_chunk_times.png")

        fig, ax = plt.subplots(figsize=(8, 0.5 * len(done) + 1.5))
        ax.barh([s["system"] for s in done], [s["ttfa_ms"] / 1000 for s in done], color="tab:blue")
        for i, s in enumerate(done):
            ax.annotate(
                f" {s['codes_before_first_audio']} codes",
                (s["ttfa_ms"] / 1000, i),
                va="center",
                fontsize=8,
            )
        ax.invert_yaxis()
        ax.set_xlabel("seconds from the call to the first audio")
        ax.set_title("XTTS time to first audio (and GPT codes made before it)")
        fig.tight_layout()
        fig.savefig(out / "speech_ttfa.png", dpi=120)
        plt.close(fig)
        written.append("speech_ttfa.png")
    mlx = next(
        (s for s in speech["systems"] if s.get("framework") == "mlx" and s.get("kernels")), None
    )
    torch = next(
        (s for s in speech["systems"] if s.get("framework") == "coqui" and s.get("kernels")), None
    )
    if mlx:
        kinds = list(mlx["kernels"]["kinds"])
        fig, ax = plt.subplots(figsize=(8, 4))
        width = 0.4
        positions = range(len(kinds))
        ax.bar(
            [p - width / 2 for p in positions],
            [mlx["kernels"]["kinds"][k]["ms"] for k in kinds],
            width,
            label="MLX",
        )
        if torch:
            peer = torch["kernels"]["kinds"]
            ax.bar(
                [p + width / 2 for p in positions],
                [peer.get(k, {}).get("ms", 0) for k in kinds],
                width,
                label="torch (coqui)",
            )
        ax.set_xticks(list(positions), kinds, fontsize=8)
        ax.set_ylabel(f"ms in one {mlx['kernels']['frames']}-frame window")
        ax.set_title("HiFi-GAN convolutions by kernel")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "speech_kernels.png", dpi=120)
        plt.close(fig)
        written.append("speech_kernels.png")
    return written
