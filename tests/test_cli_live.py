"""The speak command's helper threads: live input with idle release, and Ctrl-C while the driver is busy.

The Ctrl-C cases run a small script in a subprocess (the guard ends the process with exit 130) with
a real Pipeline over stand-in engines. The script installs its own SIGINT handler, so the outcome
does not depend on how the test runner was started (a background job starts with SIGINT ignored).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from mlx_stream.cli.live import InterruptGuard, LiveInput

from .conftest import ROOT


def test_idle_release_comes_only_after_some_text():
    go = threading.Event()

    def deltas():
        go.wait()  # a quiet input before any text: no release, however long it lasts
        yield "Hello"
        yield " there"

    live = LiveInput(deltas(), idle_seconds=0.01)
    items: list[str | None] = []
    reader = threading.Thread(target=lambda: items.extend(live))
    reader.start()
    reader.join(0.2)
    assert items == [] and reader.is_alive()
    go.set()
    reader.join(10)
    assert not reader.is_alive()
    assert items[0] == "Hello" and [i for i in items if i is not None] == ["Hello", " there"]


def test_quiet_input_after_text_releases_once():
    more = threading.Event()

    def deltas():
        yield "The pending sentence"
        more.wait()
        yield "."

    iterator = iter(LiveInput(deltas(), idle_seconds=0.01))
    assert next(iterator) == "The pending sentence"
    assert next(iterator) is None  # the driver may now speak the unfinished text
    more.set()
    assert next(iterator) == "."
    with pytest.raises(StopIteration):
        next(iterator)


def test_a_reader_error_is_raised_in_the_driver():
    def deltas():
        yield "Some text"
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    iterator = iter(LiveInput(deltas(), idle_seconds=60))
    assert next(iterator) == "Some text"
    with pytest.raises(UnicodeDecodeError):
        next(iterator)


def test_unread_returns_what_was_received_but_not_taken():
    live = LiveInput(iter(["one. ", "two. ", "three"]), idle_seconds=60)
    iterator = iter(live)
    assert next(iterator) == "one. "
    live.reader.join(10)
    assert live.unread() == ["two. ", "three"]
    assert live.unread() == []


def test_the_reader_keeps_a_bounded_amount_of_text_ahead_of_the_driver():
    produced = []

    def deltas():
        for i in range(100):  # a megabyte piped in at once
            produced.append(i)
            yield "x" * 10_000

    live = LiveInput(deltas(), idle_seconds=60)
    for _ in range(100):  # until the reader waits for room (at most 10 s)
        seen = len(produced)
        live.reader.join(0.1)
        if len(produced) == seen and seen:
            break
    # the deltas queued, and one taken from the source and waiting for room
    assert len(produced) == LiveInput.max_chars // 10_000 + 2 and live.reader.is_alive()
    assert sum(len(delta) for delta in live) == 1_000_000, "and all of it comes through"


def test_guard_restores_the_wakeup_fd_and_is_inert_off_the_main_thread():
    live = LiveInput(iter([]), idle_seconds=60)
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    guard = InterruptGuard(pipeline=None, live=live, on_exit=lambda: None)
    with guard:
        inside = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(inside)
        assert inside not in (before, -1)
    guard.watcher.join(10)
    assert not guard.watcher.is_alive(), "the watcher ends with the guard"
    assert signal.set_wakeup_fd(before) == before

    watched = []

    def elsewhere():  # signals reach only the main thread: nothing to watch here
        with InterruptGuard(pipeline=None, live=live, on_exit=lambda: None) as off:
            watched.append(hasattr(off, "watcher"))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(10)
    assert watched == [False]


SCRIPT = """
import signal, sys, threading
from mlx_stream.audio import MemorySink
from mlx_stream.cli.live import InterruptGuard, LiveInput
from mlx_stream.pipeline import Pipeline
from tests.standins import ToneSynthesizer

queued = threading.Event()

class Stuck(ToneSynthesizer):
    '''The second sentence never finishes, like a model call that does not return.'''

    def stream(self, text, language):
        if "two" in text:
            queued.wait()
            print("stuck", flush=True)
            threading.Event().wait()
        yield from super().stream(text, language)

def deltas():
    yield "Sentence one is here. Sentence two is here. "
    yield "Sentence three is not finished"
    queued.set()  # the reader has queued the delta before this resumes
    threading.Event().wait()  # the input stays open

if sys.argv[1] == "handler-never-runs":
    signal.signal(signal.SIGINT, lambda *_: None)  # as when the driver sits in C code
else:
    signal.signal(signal.SIGINT, signal.default_int_handler)
sink = MemorySink(24000)
pipeline = Pipeline(None, Stuck(seconds=0.01), sink, src="eng_Latn", tgt="eng_Latn")
live = LiveInput(deltas(), idle_seconds=60)
with InterruptGuard(pipeline, live, on_exit=lambda: print(pipeline.report.summary())):
    pipeline.run(live)
print("not reached")
"""


@pytest.mark.parametrize("how", ["handler-never-runs", "keyboard-interrupt", "sigterm"])
def test_ctrl_c_and_sigterm_account_for_every_sentence_and_exit_130_or_143(how):
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout.readline() == "stuck\n", proc.stderr.read()
        proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == (143 if how == "sigterm" else 130), err
    assert "Traceback" not in err and "not reached" not in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("3 sentences: 1 spoken"), out
    assert summary.endswith(", 2 skipped (2 interrupted); interrupted"), out
