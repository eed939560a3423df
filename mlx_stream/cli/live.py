"""Live input, Ctrl-C and SIGTERM for `mlx-stream speak`: the two helper threads beside the driver.

`LiveInput` reads the text on a thread so that a quiet input still lets the pending sentence
out; `InterruptGuard` makes Ctrl-C (or SIGTERM) silence the audio at once, even while the driver
is inside a model call. Both work with any `Pipeline`; neither knows about models or audio formats.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C raises KeyboardInterrupt so that it ends a run the same way:
    audio stopped, every sentence accounted for, files completed or removed; exit 143."""

    exit_code = 128 + signal.SIGTERM


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 143 for SIGTERM: 128 + the signal, as a shell reports it."""
    return getattr(interrupt, "exit_code", 128 + signal.SIGINT)


def _terminated(signum, frame):
    raise Terminated


def raise_on_sigterm() -> None:
    """Make SIGTERM raise `Terminated` in the main thread (its default ends the process at once,
    leaving temporary files and no summary); elsewhere, where handlers cannot be set, nothing."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)


class LiveInput:
    """The deltas, with None whenever none came for `idle_seconds` after some text.

    Reading happens on a helper thread so that a quiet input (Claude thinking, a slow pipe) still
    lets the pending sentence out; the driver itself stays on the caller's thread. The reader
    keeps at most `max_chars` of text ahead of the driver, then waits: memory stays bounded
    however much is piped in, and an interrupt has little unread text to account for.
    """

    _END = object()
    max_chars = 1 << 17

    def __init__(self, deltas: Iterable[str], idle_seconds: float):
        self.idle_seconds = idle_seconds
        self._queue: queue.Queue = queue.Queue()
        self._held = 0  # characters in the queue
        self._room = threading.Condition()
        self._deltas = deltas
        self.reader = threading.Thread(target=self._read, daemon=True, name="mlx-stream-input")
        self.reader.start()

    def _read(self) -> None:
        try:
            for delta in self._deltas:
                with self._room:
                    while self._held >= self.max_chars:
                        self._room.wait()
                    self._held += len(delta)
                self._queue.put(delta)
        except BaseException as e:  # handed to the driver thread, raised there
            self._queue.put(e)
        self._queue.put(self._END)

    def _take(self, item):
        if isinstance(item, str):
            with self._room:
                self._held -= len(item)
                self._room.notify()
        return item

    def __iter__(self) -> Iterator[str | None]:
        waiting = False
        while True:
            try:
                item = self._take(self._queue.get(timeout=self.idle_seconds if waiting else None))
            except queue.Empty:
                waiting = False
                yield None
                continue
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            waiting = True
            yield item

    def unread(self) -> list[str]:
        """What was received but not yet handed to the driver (so an interrupt can account for it)."""
        items = []
        while True:
            try:
                item = self._take(self._queue.get_nowait())
            except queue.Empty:
                return items
            if isinstance(item, str):
                items.append(item)


class InterruptGuard:
    """Ctrl-C silences the audio at once, even while the driver is busy inside a model call.

    Python runs signal handlers only between bytecodes, which may be seconds away during
    synthesis; the wakeup fd is written by the C-level handler immediately, so a watcher thread
    can abort playback, account for every sentence (`pipeline.interrupt`), call `on_exit` (which
    prints the summary) and exit with 130 if the driver does not stop within `grace_seconds`.
    A KeyboardInterrupt that does reach the driver ends the same way. SIGTERM does the same and
    exits with 143 (the guard has it raise `Terminated`). Off the main thread, where signals never
    arrive, the guard does nothing.
    """

    grace_seconds = 0.5

    def __init__(self, pipeline, live: LiveInput, on_exit: Callable[[], None]):
        self.pipeline, self.live, self.on_exit = pipeline, live, on_exit

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._r, self._w = socket.socketpair()
        self._w.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._w.fileno(), warn_on_full_buffer=False)
        self._old_sigterm = signal.signal(signal.SIGTERM, _terminated)
        self._done = threading.Event()
        self.watcher = threading.Thread(
            target=self._watch, daemon=True, name="mlx-stream-interrupt"
        )
        self.watcher.start()
        return self

    def _watch(self) -> None:
        with self._r:
            while not self._done.is_set():
                data = self._r.recv(64)
                signals = [s for s in (signal.SIGTERM, signal.SIGINT) if data and s in data]
                if not signals:
                    continue
                self.pipeline.sink.abort()
                if self._done.wait(self.grace_seconds):
                    return
                self._stop(128 + signals[0])

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not hasattr(self, "_done"):
            return False
        self._done.set()
        signal.set_wakeup_fd(self._old_fd)
        signal.signal(signal.SIGTERM, self._old_sigterm)
        self._w.close()
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._stop(exit_code(exc))
        return False

    def _stop(self, code: int) -> None:
        self.pipeline.interrupt(self.live.unread())
        self.on_exit()
        exit_now(code)


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown (torch, PortAudio), which can take seconds."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
