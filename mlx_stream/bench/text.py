"""Text front end throughput: input stream -> clean sentences, in MB of input per second.

Four inputs, each as the pipeline sees it: plain prose read from a byte stream; a markdown
answer fed in 4-character deltas (as a model streams it); the READMEs of the installed packages
(real-world markdown: HTML, nested lists, long code blocks), in 4-character deltas too; a Claude
Code stream-json transcript (thinking, partial text deltas, a tool call and its result, the final
message) read line by line.
pysbd, the segmenter coqui-tts uses, gives a peer figure on the plain prose (segmenting only, no
cleaning; it comes with the `bench` extra). A fast model writes about 1 KB of text a second.
Each input is timed RUNS times (once with --quick) and the best run is reported, with the
median: a run slower than the best measures the machine's other work too (as timeit reasons).

    python -m mlx_stream.bench.text [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import statistics
import sys
import time
import uuid

from ..text import TextFrontEnd, iter_sentences, read_deltas
from . import EXTRA

MODEL_BYTES_PER_SECOND = 1000  # ~250 tokens/s of English, faster than any model streams today
RUNS = 3

PROSE = (
    "When the configuration file is missing, the loader falls back to its defaults. These are "
    "fine for a laptop, e.g. for trying things out, but far too small for a server. Dr. Lee "
    "measured 3.5 times more requests per second with the tuned settings in v2.1.0! Is that "
    "worth it? For most teams... yes. "
)
MARKDOWN = (
    "## Fixing the build\n\nThe error comes from `src/utils/format.ts`, which imports "
    "**date-fns** without declaring it. See https://github.com/date-fns/date-fns for details.\n\n"
    "```bash\nnpm install date-fns\nnpm run build\n```\n\n"
    "1. Install the package.\n2. Run the build again.\n- It should pass on Node.js v20.\n\n"
    "| Step | Time |\n|---|---|\n| install | 3 s |\n\n> Note: _this_ is cached afterwards.\n\n"
)


def transcript(answer: str, delta_chars: int = 4) -> bytes:
    """One Claude Code turn as `claude -p --output-format stream-json --verbose
    --include-partial-messages` writes it: thinking, the answer in small text deltas, a tool call
    and its result, then the whole message again; only the answer is to be spoken."""
    session = str(uuid.UUID(int=1))
    lines = [{"type": "system", "subtype": "init", "session_id": session, "model": "claude"}]

    def event(body: dict) -> None:
        lines.append(
            {"type": "stream_event", "event": body, "session_id": session,
             "parent_tool_use_id": None, "uuid": str(uuid.UUID(int=len(lines)))}
        )  # fmt: skip

    def block(index: int, start: dict, kind: str, field: str, text: str) -> None:
        event({"type": "content_block_start", "index": index, "content_block": start})
        for i in range(0, len(text), delta_chars):
            delta = {"type": kind, field: text[i : i + delta_chars]}
            event({"type": "content_block_delta", "index": index, "delta": delta})
        event({"type": "content_block_stop", "index": index})

    thinking = "The user wants the build fixed; first I read the error, then I check the lock file."
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}
    event({"type": "message_start", "message": {"id": "msg_1", "role": "assistant", "content": []}})
    block(0, {"type": "thinking", "thinking": ""}, "thinking_delta", "thinking", thinking)
    block(1, {"type": "text", "text": ""}, "text_delta", "text", answer)
    block(2, tool, "input_json_delta", "partial_json", '{"command": "npm run build"}')
    event({"type": "message_delta", "delta": {"stop_reason": "tool_use"}})
    event({"type": "message_stop"})
    content = [
        {"type": "thinking", "thinking": thinking},
        {"type": "text", "text": answer},
        {**tool, "input": {"command": "npm run build"}},
    ]
    lines.append({"type": "assistant", "message": {"id": "msg_1", "role": "assistant",
                  "content": content}, "session_id": session})  # fmt: skip
    result = {"tool_use_id": "toolu_1", "type": "tool_result", "content": "build passed in 3 s"}
    lines.append({"type": "user", "message": {"role": "user", "content": [result]}})
    lines.append({"type": "result", "subtype": "success", "result": answer, "session_id": session})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def readmes(min_chars: int = 1000) -> list[tuple[str, str]]:
    """(package, long description) for every installed package whose description is markdown
    (READMEs, changelogs), in the order of the packages' names."""
    found = {}
    for dist in importlib.metadata.distributions():
        meta = dist.metadata
        if "markdown" not in (meta.get("Description-Content-Type") or "").lower():
            continue
        body = meta.get_payload() or meta.get("Description") or ""
        name = meta.get("Name") or "?"
        if len(body) >= min_chars:
            found.setdefault(name.lower(), (name, body))
    return [found[key] for key in sorted(found)]


def repeat(unit: str | bytes, size: int):
    return unit * max(1, size // len(unit))


def measure(name: str, size_bytes: int, work, runs: int) -> dict:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sentences = work()
        times.append(time.perf_counter() - start)
    seconds = min(times)
    return {
        "input": name,
        "MB": round(size_bytes / 1e6, 2),
        "seconds": round(seconds, 3),
        "MB/s": float(f"{size_bytes / seconds / 1e6:.3g}"),
        "MB/s median": float(f"{size_bytes / statistics.median(times) / 1e6:.3g}"),
        "runs": runs,
        "sentences": sentences,
        "x fastest model": round(size_bytes / seconds / MODEL_BYTES_PER_SECOND),
    }


def run(quick: bool = False, runs: int | None = None) -> dict:
    runs = runs or (1 if quick else RUNS)
    size = 500_000 if quick else 5_000_000
    prose = repeat(PROSE, size).encode()
    markdown = repeat(MARKDOWN, size // 5)
    jsonl = repeat(transcript(MARKDOWN), size)

    def count(deltas) -> int:
        return sum(1 for _ in iter_sentences(deltas))

    def in_deltas(text: str) -> int:
        front_end = TextFrontEnd()
        done = 0
        for i in range(0, len(text), 4):
            done += len(front_end.feed(text[i : i + 4]))
        return done + len(front_end.flush())

    documents = [body for _, body in readmes()]
    if quick:
        documents = documents[:10]

    rows = [
        measure(
            "plain prose, byte stream",
            len(prose),
            lambda: count(read_deltas(io.BytesIO(prose))),
            runs,
        ),
        measure(
            "markdown, 4-char deltas", len(markdown.encode()), lambda: in_deltas(markdown), runs
        ),
        measure(
            "Claude stream-json", len(jsonl), lambda: count(read_deltas(io.BytesIO(jsonl))), runs
        ),
    ]
    if documents:
        rows.insert(
            2,
            measure(
                f"{len(documents)} READMEs of installed packages, 4-char deltas",
                sum(len(d.encode()) for d in documents),
                lambda: sum(in_deltas(d) for d in documents),
                runs,
            ),
        )
    try:
        import pysbd

        segmenter = pysbd.Segmenter(language="en", clean=False)
        peer = prose[:50_000].decode()  # pysbd slows down on long texts: 50 kB is enough
        rows.append(
            measure(
                "pysbd on the plain prose (peer)",
                len(peer.encode()),
                lambda: len(segmenter.segment(peer)),
                runs,
            )
        )
    except ImportError:
        peer = f"pysbd not installed: {EXTRA}"
    else:
        peer = "pysbd"
    for row in rows:
        spread = f"best of {runs}, median {row['MB/s median']}" if runs > 1 else "one run"
        print(
            f"text front end: {row['input']}: {row['MB/s']} MB/s ({spread}; "
            f"{row['x fastest model']}x a fast model)"
        )
    return {
        "quick": quick,
        "runs": runs,
        "model bytes per second": MODEL_BYTES_PER_SECOND,
        "peer": peer,
        "inputs": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--runs", type=int, help=f"time each input this many times (default {RUNS}, 1 with --quick)"
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    results = run(args.quick, args.runs)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
