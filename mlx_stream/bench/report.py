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
        "same run) / the measured step. Peak MB: `mx.get_peak_memory` for MLX, growth of the "
        "process's peak RSS over its size before loading for the others.",
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
            else:
                plots += plot_series(name, section, out)
    except MlxStreamError as e:  # no matplotlib: the tables are the report
        results["plots_missing"] = str(e)
    results["plots"] = plots
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    text = markdown(results)
    (out / "report.md").write_text(text)
    return text
