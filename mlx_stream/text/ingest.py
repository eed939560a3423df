"""Input streams -> text deltas: text (markdown or plain), or Claude Code stream-json.

Reading is live: text is yielded chunk by chunk as it arrives on a pipe, stream-json line by
line. Bytes are decoded incrementally (UTF-8, or UTF-16 when the input says so; invalid bytes
become U+FFFD); binary data in text input is dropped and counted (guard.py), and no line is ever
held whole unless it is a JSON event (capped at `max_line_chars`).
"""

import codecs
import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import IO

from ..errors import MlxStreamError
from .guard import TextGuard
from .stats import IngestStats

FORMATS = ("auto", "text", "claude-json", "markdown", "plain")
FORMAT_HELP = (
    "input format: auto (Claude Code stream-json if it looks like it, else markdown), markdown "
    "(CommonMark; text is the same), plain (not markdown: every character is text), claude-json "
    "(default: auto)"
)
CHUNK = 1 << 16
MAX_JSON_LINE_CHARS = 1 << 25

TOOL_CUES = {
    "Bash": "Running a command.",
    "BashOutput": "Checking a command's output.",
    "Read": "Reading a file.",
    "Write": "Writing a file.",
    "Edit": "Editing a file.",
    "MultiEdit": "Editing a file.",
    "NotebookEdit": "Editing a notebook.",
    "Grep": "Searching the code.",
    "Glob": "Looking for files.",
    "WebFetch": "Fetching a web page.",
    "WebSearch": "Searching the web.",
    "Task": "Asking a helper agent.",
    "Agent": "Asking a helper agent.",
    "TodoWrite": "Updating the to-do list.",
}
DEFAULT_TOOL_CUE = "Using a tool."
_THINKING = ("thinking", "redacted_thinking")
_TOOL_USE = ("tool_use", "server_tool_use", "mcp_tool_use")
_TOOL_RESULT = ("tool_result", "web_search_tool_result", "mcp_tool_result")


def read_deltas(
    source: IO[bytes] | Iterable[bytes | str] | str | bytes,
    format: str = "auto",
    tool_cues: bool = False,
    stats: IngestStats | None = None,
    max_line_chars: int = MAX_JSON_LINE_CHARS,
) -> Iterator[str]:
    """Yield the text to speak from `source` as it arrives.

    `source` is a binary stream (e.g. `sys.stdin.buffer`; read with `read1`, so a pipe is read
    live), an iterable of chunks (bytes or str, e.g. lines with their newlines), or a whole
    str/bytes. `format` is one of FORMATS: "markdown", "plain" and "text" all read text (the
    front end decides how to clean it), "claude-json" reads stream-json, and "auto" decides by
    the first non-blank line. Skipped input (binary data, events not to be spoken) is counted in
    `stats`; a JSON line longer than `max_line_chars` is skipped.
    """
    if format not in FORMATS:
        raise MlxStreamError(f"unknown input format '{format}': use one of {', '.join(FORMATS)}")
    stats = stats if stats is not None else IngestStats()
    return _read_deltas(source, format, tool_cues, stats, max_line_chars)


def _read_deltas(source, format: str, tool_cues: bool, stats: IngestStats, max_line_chars: int):
    chunks = _decoded(_raw_chunks(source))
    if format in ("text", "markdown", "plain"):
        yield from _guarded(chunks, stats)
        return
    if format == "claude-json":
        yield from _claude_deltas(_lines(chunks, max_line_chars, stats), tool_cues, stats)
        return
    # auto: text unless the first non-blank line is a JSON object with a "type"
    head = ""
    for chunk in chunks:
        head += chunk
        if head.strip():
            break
    first = head.lstrip()
    if not first.startswith("{"):
        yield from _guarded(_prepend(head, chunks), stats)
        return
    lines = _lines(_prepend(head, chunks), max_line_chars, stats)
    for line in lines:
        if not line.strip():
            continue
        event = _event(line)
        if isinstance(event, dict) and "type" in event:
            yield from _claude_deltas(_prepend(line, lines), tool_cues, stats)
        else:
            yield from _guarded((text + "\n" for text in _prepend(line, lines)), stats)
        return


def _prepend(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _raw_chunks(source) -> Iterator[bytes | str]:
    if isinstance(source, (str, bytes, bytearray)):
        for i in range(0, len(source), CHUNK):
            yield source[i : i + CHUNK]
        return
    stream = getattr(source, "buffer", source)
    read = getattr(stream, "read1", None) or getattr(stream, "read", None)
    if read is not None:
        while chunk := read(CHUNK):
            yield chunk
        return
    yield from source


def _guarded(chunks: Iterable[str], stats: IngestStats) -> Iterator[str]:
    guard = TextGuard(stats)
    for chunk in chunks:
        if text := guard.feed(chunk):
            yield text
    if text := guard.flush():
        yield text


def _decoded(chunks: Iterator[bytes | str]) -> Iterator[str]:
    decoder = None
    first = True
    for chunk in chunks:
        if isinstance(chunk, str):
            text = (decoder.decode(b"", final=True) if decoder else "") + _valid_str(chunk)
        else:
            decoder = decoder or codecs.getincrementaldecoder(_encoding(chunk))(errors="replace")
            text = decoder.decode(chunk)
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        if text:
            yield text
    if decoder and (tail := decoder.decode(b"", final=True)):
        yield tail


def _encoding(head: bytes) -> str:
    """UTF-8, unless the first bytes show UTF-16: a byte order mark, or every other byte NUL."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if len(head) >= 16 and not head.startswith(b"\xef\xbb\xbf"):
        even, odd = head[0:64:2].count(0), head[1:64:2].count(0)
        pairs = min(len(head), 64) // 2
        if odd >= pairs * 3 // 4 and even == 0:
            return "utf-16-le"
        if even >= pairs * 3 // 4 and odd == 0:
            return "utf-16-be"
    return "utf-8"


def _valid_str(text: str) -> str:
    """Lone surrogates (from surrogateescape, or a bad iterable) cannot be printed: replace them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _lines(chunks: Iterator[str], max_chars: int, stats: IngestStats) -> Iterator[str]:
    """Complete lines, without their newline; a line longer than `max_chars` is skipped unread."""
    parts: list[str] = []
    size = 0
    skipping = False
    for chunk in chunks:
        start = 0
        while (end := chunk.find("\n", start)) >= 0:
            if not skipping and size + end - start <= max_chars:
                parts.append(chunk[start:end])
                yield "".join(parts)
            elif not skipping:
                stats.add("oversized line")
            parts, size, skipping = [], 0, False
            start = end + 1
        if not skipping and start < len(chunk):
            parts.append(chunk[start:])
            size += len(chunk) - start
            if size > max_chars:
                stats.add("oversized line")
                parts, size, skipping = [], 0, True
    if parts and not skipping:
        yield "".join(parts)


def _event(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def _claude_deltas(lines: Iterator[str], tool_cues: bool, stats: IngestStats) -> Iterator[str]:
    reader = ClaudeStreamReader(tool_cues=tool_cues, stats=stats)
    for line in lines:
        if not line.strip():
            continue
        event = _event(line)
        if not isinstance(event, dict):
            stats.add("invalid JSON line")
            continue
        yield from reader.read(event)


class ClaudeStreamReader:
    """Claude Code stream-json events -> the assistant's text, each piece spoken once.

    With `--include-partial-messages` the text comes twice: as `stream_event` deltas, then inside the
    whole `assistant` message. What was streamed is remembered per message id and block, so the
    whole message only adds what the deltas did not carry.
    """

    def __init__(self, tool_cues: bool = False, stats: IngestStats | None = None):
        self.tool_cues = tool_cues
        self.stats = stats if stats is not None else IngestStats()
        self.message_id: str | None = None
        self.block_types: dict[int, str] = {}
        self.streamed: OrderedDict[str | None, dict[int, str]] = OrderedDict()
        self.seen_tools: set[str] = set()
        self.thinking: dict[str | None, list[int]] = {}

    def read(self, event: dict) -> Iterator[str]:
        kind = event.get("type")
        if event.get("parent_tool_use_id"):  # a subagent's own conversation, not for the user
            if kind == "assistant":
                self.stats.add("subagent message")
            return
        if kind == "stream_event":
            yield from self._stream_event(_dict(event.get("event")))
        elif kind == "assistant":
            yield from self._assistant(_dict(event.get("message")))
        elif kind == "user":
            for block in _blocks(_dict(event.get("message"))):
                if block.get("type") in _TOOL_RESULT:
                    self.stats.add("tool result")
        # system, result and anything unknown carry nothing to speak

    def _stream_event(self, ev: dict) -> Iterator[str]:
        kind = ev.get("type")
        index = ev.get("index") if isinstance(ev.get("index"), int) else 0
        if kind == "message_start":
            self.message_id = _str(_dict(ev.get("message")).get("id"))
            self.block_types = {}
        elif kind == "content_block_start":
            block = _dict(ev.get("content_block"))
            self.block_types[index] = _str(block.get("type")) or "text"
            if block.get("type") == "text" and _str(block.get("text")):
                yield self._streamed_text(index, block["text"])
            elif block.get("type") in _THINKING:
                self._thinking(self.message_id, streamed=True)
            elif block.get("type") in _TOOL_USE:
                yield from self._tool(block)
        elif kind == "content_block_delta":
            delta = _dict(ev.get("delta"))
            is_text = self.block_types.get(index, "text") == "text"
            if is_text and delta.get("type") == "text_delta" and _str(delta.get("text")):
                yield self._streamed_text(index, delta["text"])
        elif kind == "content_block_stop" and self.block_types.get(index) == "text":
            yield "\n\n"

    def _streamed_text(self, index: int, text: str) -> str:
        blocks = self.streamed.setdefault(self.message_id, {})
        blocks[index] = blocks.get(index, "") + text
        self.streamed.move_to_end(self.message_id)
        while len(self.streamed) > 16:
            self.streamed.popitem(last=False)
        return text

    def _assistant(self, message: dict) -> Iterator[str]:
        message_id = _str(message.get("id"))
        if message_id in self.streamed:
            streamed = self.streamed[message_id]
        else:  # no id, or not the one the deltas had: compare with the latest streamed message
            streamed = next(reversed(self.streamed.values()), {})
        for block in _blocks(message):
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                text = block["text"]
                done = max(
                    (s for s in streamed.values() if text.startswith(s)), key=len, default=""
                )
                if text[len(done) :]:
                    yield text[len(done) :] + "\n\n"
            elif kind in _THINKING:
                self._thinking(message_id, streamed=False)
            elif kind in _TOOL_USE:
                yield from self._tool(block)

    def _thinking(self, message_id, streamed: bool) -> None:
        # a thinking block comes streamed, whole, or both: count it once
        counts = self.thinking.setdefault(message_id, [0, 0])
        counts[0 if streamed else 1] += 1
        if counts[0 if streamed else 1] > counts[1 if streamed else 0]:
            self.stats.add("thinking block")

    def _tool(self, block: dict) -> Iterator[str]:
        tool_id = _str(block.get("id")) or f"#{len(self.seen_tools)}"
        if tool_id in self.seen_tools:
            return
        self.seen_tools.add(tool_id)
        self.stats.add("tool call")
        if self.tool_cues:
            yield f"\n\n{TOOL_CUES.get(block.get('name'), DEFAULT_TOOL_CUE)}\n\n"


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def _blocks(message: dict) -> list[dict]:
    content = message.get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
