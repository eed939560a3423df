"""Soak: 10,000 sentences through the real pipeline and espeak-ng, memory sampled as it runs.

Text streams in as a language model writes it (small deltas), goes through the text front end,
is spoken by espeak-ng (no translation: English to English) and reaches a sink that keeps a
real-time player's clock (`e2e.RealTimeClockSink`), so underruns are counted without a sound card
and hours of audio take minutes. The resident memory is sampled every `every` sentences; after
the warm-up it should stay flat, but for the report's per-sentence records, which are estimated
and reported apart. Opt-in (`mlx-stream bench --only soak`), never part of `--quick`.

    python -m mlx_stream.bench.soak [--sentences N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import fields

from ..errors import MlxStreamError

SENTENCES = 10_000
SUBJECTS = ["The build", "Our team", "The new release", "This function", "The server", "A user"]
VERBS = ["passed", "fixed", "reported", "changed", "measured", "restarted", "reviewed"]
OBJECTS = ["the failing test", "two open issues", "the cache", "the login page", "the backups"]
ENDINGS = [".", ".", ".", "!", "?"]


def sentences(n: int, seed: int = 0) -> Iterator[str]:
    rng = random.Random(seed)
    for i in range(n):
        yield (
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
            f"{rng.randint(2, 900)} times on day {i}{rng.choice(ENDINGS)}"
        )


def deltas(n: int, seed: int = 0, size: int = 24) -> Iterator[str]:
    """The text of `n` sentences in pieces of about `size` characters, as a model streams it."""
    rng = random.Random(seed + 1)
    for sentence in sentences(n, seed):
        text = sentence + " "
        while text:
            cut = rng.randint(1, size)
            yield text[:cut]
            text = text[cut:]


def rss_mb() -> float:
    """Resident memory now (Linux), else the peak so far (what getrusage knows elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def record_bytes(sentence) -> int:
    """Rough size of one per-sentence record the report keeps (object, fields, strings)."""
    size = sys.getsizeof(sentence) + sys.getsizeof(vars(sentence))
    return size + sum(sys.getsizeof(getattr(sentence, f.name)) for f in fields(sentence))


def run(quick: bool = False, n: int | None = None, every: int | None = None) -> dict:
    from ..pipeline import Pipeline
    from ..text import IngestStats, TextFrontEnd
    from ..tts.system import EspeakSynthesizer
    from .e2e import RealTimeClockSink

    n = n or (1_000 if quick else SENTENCES)
    every = every or max(n // 50, 1)
    warm_up = n // 10
    try:
        synthesizer = EspeakSynthesizer()
    except MlxStreamError as e:
        raise MlxStreamError(f"the soak speaks with espeak-ng: {e}") from None
    sink = RealTimeClockSink(synthesizer.sample_rate)
    samples: list[dict] = []
    start = time.perf_counter()

    def sample(sentence) -> None:
        if sentence.index % every == 0:
            samples.append(
                {
                    "sentences": sentence.index,
                    "seconds": round(time.perf_counter() - start, 1),
                    "rss MB": round(rss_mb(), 1),
                    "underruns": sink.underruns,
                }
            )

    stats = IngestStats()
    pipeline = Pipeline(
        None,
        synthesizer,
        sink,
        src="eng_Latn",
        tgt="eng_Latn",
        front_end=TextFrontEnd(stats=stats),
        on_sentence=sample,
    )
    before = rss_mb()
    report = pipeline.run(deltas(n))
    seconds = time.perf_counter() - start
    after_warm_up = [s["rss MB"] for s in samples if s["sentences"] >= warm_up]
    at_warm_up = after_warm_up[0]
    records_mb = sum(map(record_bytes, report.sentences)) / 1e6
    return {
        "sentences": len(report.sentences),
        "spoken": len(report.spoken),
        "skipped": len(report.skipped),
        "wall seconds": round(seconds, 1),
        "sentences per second": round(len(report.sentences) / seconds, 1),
        "audio hours": round(sum(s.audio_seconds for s in report.spoken) / 3600, 2),
        "underruns": sink.underruns,
        "underrun seconds": round(sink.underrun_seconds, 2),
        "rss MB before": round(before, 1),
        f"rss MB after warm-up ({warm_up} sentences)": at_warm_up,
        "rss MB peak after warm-up": max(after_warm_up),
        "rss MB at end": after_warm_up[-1],
        "rss growth after warm-up MB": round(max(after_warm_up) - at_warm_up, 1),
        "report records MB (estimate)": round(records_mb, 1),
        "input skipped": stats.summary() or "nothing",
        "samples": samples,
        "rss MB": [s["rss MB"] for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sentences", type=int, default=SENTENCES)
    args = p.parse_args(argv)
    result = run(n=args.sentences)
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
