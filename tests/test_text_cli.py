"""`mlx-stream sentences`' work: print_sentences, and `python -m mlx_stream.text` as a real program."""

import io
import subprocess
import sys
from pathlib import Path

from mlx_stream.text import print_sentences

ROOT = Path(__file__).parent.parent
TOOL_TURN = ROOT / "tests" / "fixtures" / "claude" / "tool_turn.jsonl"


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlx_stream.text", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=60)  # fmt: skip


def test_print_sentences_one_a_line_then_what_was_skipped():
    out, err = io.StringIO(), io.StringIO()
    code = print_sentences(io.BytesIO(TOOL_TURN.read_bytes()), out=out, err=err)
    assert code == 0
    assert out.getvalue().splitlines()[0] == (
        "I'll check which version of Node.js is installed and look at your package.json."
    )
    assert len(out.getvalue().splitlines()) == 5
    assert err.getvalue() == (
        "skipped (not spoken): 3 tool calls, 3 tool results, 1 code block, 1 code snippet\n"
    )


def test_print_sentences_reports_invalid_json_lines():
    lines = b'{"type": "system", "subtype": "init"}\nnot json\n{"broken": \n\x00\xff\n'
    out, err = io.StringIO(), io.StringIO()
    assert print_sentences(io.BytesIO(lines), format="claude-json", out=out, err=err) == 0
    assert out.getvalue() == ""
    assert err.getvalue() == "skipped (not spoken): 3 invalid JSON lines\n"


def test_print_sentences_says_nothing_on_stderr_when_nothing_was_skipped():
    out, err = io.StringIO(), io.StringIO()
    print_sentences(io.BytesIO(b"# Title\n\nPlain *text* here. And more of it."), out=out, err=err)
    assert out.getvalue() == "Title\nPlain text here.\nAnd more of it.\n"
    assert err.getvalue() == ""


def test_module_reads_a_file_and_standard_input():
    result = run(str(TOOL_TURN), "--tool-cues")
    assert result.returncode == 0
    assert result.stdout.decode().splitlines()[1:4] == [
        "Running a command.",
        "Reading a file.",
        "Searching the code.",
    ]
    assert b"3 tool calls" in result.stderr
    result = run("--format", "text", stdin=b"Hello from a pipe, friend. Bye \xff now!\n")
    assert result.returncode == 0
    assert result.stdout.decode() == "Hello from a pipe, friend.\nBye \ufffd now!\n"


def test_module_errors_are_one_line():
    result = run("/no/such/file.jsonl")
    assert result.returncode == 1
    assert (
        result.stderr.decode()
        == "mlx-stream: error: cannot read '/no/such/file.jsonl': No such file or directory\n"
    )
    result = run("--format", "yaml")
    assert result.returncode == 2 and b"invalid choice: 'yaml'" in result.stderr


def test_the_cli_subcommand_uses_the_same_front_end():
    result = subprocess.run([sys.executable, "-m", "mlx_stream", "sentences", str(TOOL_TURN)],
                            capture_output=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert result.returncode == 0
    assert result.stdout == run(str(TOOL_TURN)).stdout
