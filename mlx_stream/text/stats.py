"""What the text front end left out, and why: counted, then told on one line of stderr."""

from collections import Counter

# singular -> plural, in the order the summary tells them
_KINDS = {
    "stretch of binary data": "stretches of binary data",
    "invalid JSON line": "invalid JSON lines",
    "oversized line": "oversized lines",
    "thinking block": "thinking blocks",
    "tool call": "tool calls",
    "tool result": "tool results",
    "subagent message": "subagent messages",
    "code block": "code blocks",
    "code snippet": "code snippets",
    "overlong word": "overlong words",
}


class IngestStats:
    """Counts of skipped input. `add("tool call")`; `summary()` -> "skipped: 2 tool calls, ..."."""

    def __init__(self):
        self.counts: Counter[str] = Counter()

    def add(self, kind: str, n: int = 1) -> None:
        self.counts[kind] += n

    def __getitem__(self, kind: str) -> int:
        return self.counts[kind]

    def summary(self) -> str:
        """One line for stderr, or "" when nothing was skipped."""
        kinds = list(_KINDS) + sorted(k for k in self.counts if k not in _KINDS)
        parts = []
        for kind in kinds:
            n = self.counts[kind]
            if n:
                parts.append(f"{n} {kind if n == 1 else _KINDS.get(kind, kind + 's')}")
        return "skipped (not spoken): " + ", ".join(parts) if parts else ""
