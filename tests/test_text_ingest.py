"""Input streams -> text deltas: Claude Code stream-json transcripts, plain text, bad input."""

import io
import json
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from mlx_stream.errors import MlxStreamError
from mlx_stream.text import IngestStats, TextFrontEnd, iter_sentences, read_deltas

FIXTURES = Path(__file__).parent / "fixtures" / "claude"


def spoken(source, **kwargs) -> tuple[list[str], IngestStats]:
    stats = IngestStats()
    front_end = TextFrontEnd(stats=stats)
    return list(iter_sentences(read_deltas(source, stats=stats, **kwargs), front_end)), stats


def fixture(name: str) -> io.BytesIO:
    return io.BytesIO((FIXTURES / name).read_bytes())


def test_streamed_answer_with_code_and_list():
    sentences, stats = spoken(fixture("streamed_answer.jsonl"))
    assert sentences == [
        "Here's how to read a JSON file in Python.",
        "The json module from the standard library does it in two lines:",
        "A few things to keep in mind:",
        'Encoding: pass encoding="utf-8" on Windows, e.g. open(path, encoding="utf-8").',
        "Errors: a malformed file raises json.JSONDecodeError.",
        "Large files: for files over 1 GB, look at ijson (see pypi.org).",
        "That's all you need for most cases!",
    ]
    assert stats.summary() == "skipped (not spoken): 1 code block"


def test_turn_with_tool_calls():
    sentences, stats = spoken(fixture("tool_turn.jsonl"))
    assert sentences == [
        "I'll check which version of Node.js is installed and look at your package.json.",
        "You're on Node.js v20.11.1, and package.json pins a code snippet, so that's fine.",
        "The build fails because format.ts imports date-fns/locale, which isn't installed.",
        "Run:",
        "Then try npm run build again.",
    ]
    assert (stats["tool call"], stats["tool result"], stats["code block"]) == (3, 3, 1)
    assert stats["code snippet"] == 1  # the JSON in backticks is not read symbol by symbol
    assert stats.summary() == (
        "skipped (not spoken): 3 tool calls, 3 tool results, 1 code block, 1 code snippet"
    )


def test_tool_cues_are_spoken_once_per_call_when_asked():
    sentences, _ = spoken(fixture("tool_turn.jsonl"), tool_cues=True)
    assert sentences[1:4] == ["Running a command.", "Reading a file.", "Searching the code."]
    sentences, _ = spoken(fixture("whole_messages.jsonl"), tool_cues=True)
    assert sentences == [
        "I'll look at the test that fails.",
        "Running a command.",
        "Asking a helper agent.",
        "Editing a file.",
        "The test test_parse_date expects ISO dates, but parse() in utils.py returns a datetime object.",
        "I changed it to return date.isoformat(), and all 42 tests pass now.",
    ]


def test_thinking_is_never_spoken():
    sentences, stats = spoken(fixture("thinking_turn.jsonl"))
    text = " ".join(sentences)
    assert "out loud" not in text and "namedtuple too" not in text
    assert sentences[0].startswith("Use a tuple.")
    assert stats["thinking block"] == 1  # streamed and repeated whole: counted once


def test_text_sent_as_deltas_and_as_final_message_is_spoken_once():
    sentences, _ = spoken(fixture("deltas_and_final.jsonl"))
    assert sentences == [
        "Sure. The capital of Australia is Canberra, not Sydney.",
        "It was chosen in 1908 as a compromise between Sydney and Melbourne.",
        "Parliament moved there in 1927.",
    ]


def test_whole_messages_without_partial_deltas():
    sentences, stats = spoken(fixture("whole_messages.jsonl"))
    assert sentences[0] == "I'll look at the test that fails."
    assert "Searching for callers of parse in the repository." not in sentences  # a subagent's
    assert (stats["tool call"], stats["tool result"], stats["subagent message"]) == (3, 3, 1)


def test_nothing_from_tools_system_or_result_is_spoken():
    events = [json.loads(line) for line in (FIXTURES / "tool_turn.jsonl").read_text().splitlines()]
    sentences, _ = spoken(fixture("tool_turn.jsonl"))
    text = " ".join(sentences)
    for event in events:
        if event["type"] == "user":
            for block in event["message"]["content"]:
                assert "weather-app" not in text and block["content"].split()[0] not in text.split()
    assert "weather-app" in (FIXTURES / "tool_turn.jsonl").read_text()  # it was there to leak
    assert "node --version" not in text and "claude-sonnet" not in text


def _stream_event(event: dict, message_id: str | None = None) -> str:
    return json.dumps({"type": "stream_event", "event": event, "parent_tool_use_id": None})


def test_final_message_adds_only_what_the_deltas_missed():
    lines = [
        _stream_event({"type": "message_start", "message": {"id": "m1", "content": []}}),
        _stream_event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        _stream_event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "The answer is"}}),
        json.dumps({"type": "assistant", "message": {"id": "m1", "content": [{"type": "text", "text": "The answer is forty-two."}]}}),
        json.dumps({"type": "assistant", "message": {"id": "m2", "content": [{"type": "text", "text": "A new message entirely."}]}}),
    ]  # fmt: skip
    sentences, _ = spoken([line + "\n" for line in lines])
    assert sentences == ["The answer is forty-two.", "A new message entirely."]


def test_final_message_with_another_id_is_still_not_spoken_twice():
    lines = [
        _stream_event({"type": "message_start", "message": {"id": "stream-id", "content": []}}),
        _stream_event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Only once, please."}}),
        _stream_event({"type": "content_block_stop", "index": 0}),
        json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": "Only once, please."}]}}),
    ]  # fmt: skip
    assert spoken([line + "\n" for line in lines])[0] == ["Only once, please."]


def test_a_byte_order_mark_does_not_hide_stream_json():
    event = {
        "type": "assistant",
        "message": {"content": [{"type": "text", "text": "After the BOM."}]},
    }
    assert spoken(b"\xef\xbb\xbf" + json.dumps(event).encode() + b"\n")[0] == ["After the BOM."]
    assert spoken("\ufeffPlain text with a BOM.", format="text")[0] == ["Plain text with a BOM."]


def test_events_with_wrong_types_inside_are_ignored():
    odd = [
        {"type": "stream_event", "event": [1]},
        {"type": "stream_event", "event": {"type": "message_start", "message": {"id": ["not", "hashable"]}}},
        {"type": "stream_event", "event": {"type": "content_block_start", "index": [0], "content_block": "text"}},
        {"type": "stream_event", "event": {"type": "content_block_delta", "index": {}, "delta": {"type": "text_delta", "text": 5}}},
        {"type": "assistant", "message": {"id": {}, "content": [{"type": "tool_use", "id": [1]}, {"type": "text", "text": None}]}},
        {"type": "assistant", "message": {"content": "a string, not blocks"}},
        {"type": "user", "message": None},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": "Survived all that."}]}},
    ]  # fmt: skip
    assert spoken("".join(json.dumps(e) + "\n" for e in odd))[0] == ["Survived all that."]


def test_invalid_json_lines_are_skipped_and_counted():
    good = json.dumps(
        {
            "type": "assistant",
            "message": {"content": [{"type": "text", "text": "Still spoken fine."}]},
        }
    )
    source = [
        json.dumps({"type": "system", "subtype": "init"}),
        "{not json",
        '{"type": "assistant", "message": {"content": [{"type": "te',
        "[1, 2, 3]",
        "42",
        "",
        good,
        "plain words in the middle",
    ]
    sentences, stats = spoken([line + "\n" for line in source], format="auto")
    assert sentences == ["Still spoken fine."]
    assert stats["invalid JSON line"] == 5
    assert stats.summary() == "skipped (not spoken): 5 invalid JSON lines"


def test_auto_tells_text_from_stream_json():
    assert spoken(b"Hello there, reader. This is plain text.\n")[0] == [
        "Hello there, reader.",
        "This is plain text.",
    ]
    assert spoken(b"\n\n  {braces} start this plain text.\nSecond line.")[0] == [
        "{braces} start this plain text.",
        "Second line.",
    ]
    event = {"type": "assistant", "message": {"content": [{"type": "text", "text": "From JSON."}]}}
    assert spoken(b"\n" + json.dumps(event).encode() + b"\n")[0] == ["From JSON."]
    assert spoken(json.dumps(event).encode(), format="text")[0][0].startswith(
        '{"type": "assistant"'
    )


def test_unknown_format_is_a_clear_error():
    with pytest.raises(
        MlxStreamError, match="unknown input format 'yaml': use one of auto, text, claude-json"
    ):
        read_deltas(b"x", format="yaml")


def test_nul_bytes_and_invalid_utf8_are_not_fatal():
    raw = b"Caf\xc3\xa9 is open\x00 today. Bad \xff\xfe bytes here.\n\x00"
    assert spoken(raw, format="text")[0] == ["Café is open today.", "Bad \ufffd\ufffd bytes here."]
    event = b'{"type":"assistant","message":{"content":[{"type":"text","text":"Ok \xff then\\u0000 fine."}]}}'
    assert spoken(event + b"\n", format="claude-json")[0] == ["Ok \ufffd then fine."]


def test_utf8_split_across_chunks_is_decoded_whole():
    text = "日本語のテキスト。Ünïcödé words."
    data = text.encode()
    chunks = [data[i : i + 1] for i in range(len(data))]  # every multi-byte character split
    assert "".join(read_deltas(chunks, format="text")).replace("\n", "") == text


def test_iterables_of_chunks_and_str_sources():
    assert spoken(["First line of a file\n", "second one.\n"], format="text")[0] == [
        "First line of a file second one."
    ]
    assert spoken([b"Chunks from a soc", b"ket are fine too."])[0] == [
        "Chunks from a socket are fine too."
    ]
    assert spoken("A whole string here. Two sentences.")[0] == [
        "A whole string here.",
        "Two sentences.",
    ]


def test_plain_text_is_read_live_from_a_pipe():
    read_fd, write_fd = os.pipe()
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("read_deltas waited for more input"))
    signal.alarm(10)
    try:
        with os.fdopen(read_fd, "rb") as reader:
            deltas = read_deltas(reader, format="auto")
            os.write(write_fd, b"Hello wor")
            assert next(deltas) == "Hello wor"  # the writer is still open: no waiting for EOF
            os.write(write_fd, b"ld.\nMore")
            assert next(deltas) == "ld.\nMore"
            os.close(write_fd)
            assert list(deltas) == []
    finally:
        signal.alarm(0)


def test_stream_json_is_read_live_from_a_pipe():
    read_fd, write_fd = os.pipe()
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("read_deltas waited for more input"))
    signal.alarm(10)
    try:
        with os.fdopen(read_fd, "rb") as reader:
            deltas = read_deltas(reader, format="claude-json")
            delta = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            }
            os.write(write_fd, (_stream_event(delta) + "\n").encode())
            assert next(deltas) == "Hi"
            os.close(write_fd)
    finally:
        signal.alarm(0)


PEAK_MEMORY_SCRIPT = """
import resource, sys
from mlx_stream.text import iter_sentences, read_deltas
sentence = b"The quick brown fox jumps over the lazy dog near the river bank. "
chunk = sentence * 1000
def line():  # one line of N bytes that never exists whole in memory
    for _ in range(int(sys.argv[1]) // len(chunk)):
        yield chunk
count = sum(1 for _ in iter_sentences(read_deltas(line(), format="auto")))
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _peak_memory(size: int) -> tuple[int, int]:
    run = subprocess.run([sys.executable, "-c", PEAK_MEMORY_SCRIPT, str(size)], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).parent.parent)  # fmt: skip
    count, peak = map(int, run.stdout.split())
    return count, peak


def test_a_10_mb_plain_line_streams_in_bounded_memory():
    small_count, small_peak = _peak_memory(1_000_000)
    count, peak = _peak_memory(10_000_000)
    assert (small_count, count) == (1_000_000 // 65_000 * 1000, 10_000_000 // 65_000 * 1000)
    # ten times the input, about the same peak: nothing grows with the line
    assert peak - small_peak < 3_000_000, (
        f"{(peak - small_peak) / 1e6:.1f} MB more for 9 MB more input"
    )


def test_a_10_mb_json_line_is_skipped_in_bounded_memory():
    huge = {
        "type": "user",
        "message": {"content": [{"type": "tool_result", "content": "x" * 10_000_000}]},
    }
    after = {
        "type": "assistant",
        "message": {"content": [{"type": "text", "text": "After the big one."}]},
    }
    data = (json.dumps(huge) + "\n" + json.dumps(after) + "\n").encode()
    stats = IngestStats()
    tracemalloc.start()
    try:
        deltas = list(
            read_deltas(
                io.BytesIO(data), format="claude-json", stats=stats, max_line_chars=1_000_000
            )
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "".join(deltas).strip() == "After the big one."
    assert stats.summary() == "skipped (not spoken): 1 oversized line"
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB"
    # under the default cap the same line is parsed and its tool result skipped like any other
    stats = IngestStats()
    assert "".join(read_deltas(io.BytesIO(data), stats=stats)).strip() == "After the big one."
    assert stats["tool result"] == 1
