"""Where the audio goes: the sound card (`Player`), a WAV file, raw PCM on stdout, or nowhere.

Every sink takes float32 mono chunks at the sample rate it was opened with: `write(chunk)`, then
`drain()` (wait until everything written has been heard or stored) and `close()`. A sink that can
take no more (a sound card that stopped, a full disk, a reader gone) raises `SinkError`, at once
and again on every later call: the run cannot go on.
"""

from __future__ import annotations

import collections
import contextlib
import os
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import MlxStreamError


class SinkError(MlxStreamError):
    """The sink can take no more audio. `reason` is the short form for the per-sentence report;
    `delivered` is how many samples reached their destination (None: all that were written)."""

    def __init__(self, message: str, reason: str, delivered: int | None = None):
        super().__init__(message)
        self.reason, self.delivered = reason, delivered


class OutputClosed(SinkError):
    """The reader of standard output went away (`| head -c 100`): not an error of ours."""


class Sink:
    """The sink protocol, doing nothing: also the base of the real sinks."""

    sample_rate: int = 0
    underruns: int = 0

    def write(self, chunk: np.ndarray) -> None:
        pass

    def end_sentence(self) -> bool:
        """The audio of one sentence is complete (the player stops counting silence as an
        underrun). False when the sink was aborted before: the sentence did not get out whole."""
        return True

    def drain(self) -> None:
        pass

    def abort(self) -> None:
        """Stop now, dropping whatever has not been heard yet."""
        self.close()

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullSink(Sink):
    def __init__(self, sample_rate: int = 24000):
        self.sample_rate = sample_rate


class WavSink(Sink):
    """A float32 WAV file, samples stored exactly as synthesized.

    The file is opened at once, so an unwritable path fails before any model loads; `sample_rate`
    may be set until the first write. It is written as a hidden temporary next to `path` and
    renamed to `path` by `close()`: a run that fails leaves no file there that looks complete,
    and an existing file stays as it was. A device or a pipe (`/dev/stdout`) is written directly;
    where it cannot seek, the WAV sizes are left open, as streaming tools do.
    """

    def __init__(self, path: str | Path, sample_rate: int = 0):
        self.path, self.sample_rate = Path(path), sample_rate
        self.frames = 0
        self._sentences_end = 0  # frames of the sentences completed so far
        self._failed: SinkError | None = None
        self._lock = threading.Lock()
        direct = self.path.exists() and not self.path.is_file()  # a device, a pipe, a folder
        self._target = self.path if direct else Path(os.path.realpath(self.path))
        self._temp = (
            None
            if direct
            else self._target.with_name(f".{self._target.name}.{os.getpid()}.partial")
        )
        try:
            if self._target.is_file() and not os.access(self._target, os.W_OK):
                raise PermissionError(13, "Permission denied")
            if self._temp is None:
                self._file = open(self._target, "wb")  # noqa: SIM115
            else:
                fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
                self._file = os.fdopen(fd, "wb")
            self._seekable = self._file.seekable()
            self._header_written = self._seekable
            if self._seekable:  # a full disk or /dev/full shows now, before the models load
                self._file.write(_wav_header(self.sample_rate, 0))
                self._file.flush()
        except OSError as e:
            self._discard()
            raise MlxStreamError(
                f"cannot write '{path}' ({e.strerror or e}): choose a writable file path"
            ) from None

    def write(self, chunk: np.ndarray) -> None:
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._file.closed:  # closed by an interrupt: nothing more is kept
                return
            if not self.sample_rate:
                raise MlxStreamError("WavSink: set sample_rate before the first write")
            chunk = np.asarray(chunk, dtype="<f4").reshape(-1)
            with self._failing():
                if not self._header_written:
                    self._file.write(_wav_header(self.sample_rate, None))
                    self._header_written = True
                self._file.write(chunk.tobytes())
            self.frames += len(chunk)

    def end_sentence(self) -> bool:
        with self._lock:
            if self._file.closed:
                return False
            self._sentences_end = self.frames
            return True

    def drain(self) -> None:
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if not self._file.closed:
                with self._failing():
                    self._file.flush()

    def close(self) -> None:
        """Complete the file: its final header, then its name."""
        with self._lock:
            if self._failed is not None or self._file.closed:
                return
            with self._failing():
                if not self._header_written:
                    self._file.write(_wav_header(self.sample_rate, None))
                if self._seekable:
                    self._file.flush()
                    self._file.seek(0)
                    self._file.write(_wav_header(self.sample_rate, self.frames))
                self._file.close()
                if self._temp is not None:
                    os.replace(self._temp, self._target)
                    self._temp = None

    def abort(self) -> None:
        """Stop (an interrupt): the file keeps the sentences completed (a device or a pipe
        keeps what was written), and is completed."""
        with contextlib.suppress(SinkError):
            with self._lock:
                if self._temp is not None and self._failed is None and not self._file.closed:
                    with self._failing():
                        self._file.truncate(
                            self._file.tell() - 4 * (self.frames - self._sentences_end)
                        )
                        self._file.seek(0, os.SEEK_END)
                    self.frames = self._sentences_end
            self.close()

    def discard(self) -> None:
        """Give up: close the file and remove it, leaving `path` as it was."""
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None and not file.closed:
            with contextlib.suppress(OSError):
                file.close()  # may fail again flushing what a full disk refused
        if self._temp is not None:
            with contextlib.suppress(OSError):
                self._temp.unlink()
            self._temp = None

    @contextlib.contextmanager
    def _failing(self):
        """Turn an OS error into a SinkError, removing the unfinished file."""
        try:
            yield
        except OSError as e:
            kept = self._temp is None  # a device keeps what reached it; a temporary is removed
            self._discard()
            self._failed = SinkError(
                f"cannot write '{self.path}' ({e.strerror or e})"
                + ("" if kept else ": nothing was saved")
                + "; free some space or choose another path with --output",
                reason="the output could not be written",
                delivered=None if kept else 0,
            )
            raise self._failed from None


def _wav_header(rate: int, frames: int | None) -> bytes:
    """RIFF/WAVE, IEEE float 32-bit mono, with a fact chunk; `frames=None` leaves the sizes open."""
    data = 0xFFFFFFFF if frames is None else min(frames * 4, 0xFFFFFFFF - 50)
    count = 0xFFFFFFFF if frames is None else min(frames, 0xFFFFFFFF)
    riff = 0xFFFFFFFF if frames is None else 50 + data
    return struct.pack(
        "<4sI4s4sIHHIIHHH4sII4sI",
        b"RIFF", riff, b"WAVE",
        b"fmt ", 18, 3, 1, rate, rate * 4, 4, 32, 0,  # IEEE float, mono, 32 bits, no extension
        b"fact", 4, count,
        b"data", data,
    )  # fmt: skip


class RawSink(Sink):
    """Signed 16-bit little-endian mono PCM, for piping into another program (`--output -`)."""

    def __init__(self, sample_rate: int, stream: BinaryIO | None = None):
        self.sample_rate = sample_rate
        self._out = stream if stream is not None else sys.stdout.buffer
        self.delivered = 0
        self._failed: SinkError | None = None

    def write(self, chunk: np.ndarray) -> None:
        with self._failing():
            self._out.write(to_int16(chunk).tobytes())
            self._out.flush()
        self.delivered += len(chunk)

    def drain(self) -> None:
        with self._failing():
            self._out.flush()

    @contextlib.contextmanager
    def _failing(self):
        if self._failed is not None:
            raise self._failed
        try:
            yield
        except BrokenPipeError:
            self._failed = OutputClosed(
                "standard output was closed by its reader",
                reason="output closed",
                delivered=self.delivered,
            )
            raise self._failed from None
        except OSError as e:
            self._failed = SinkError(
                f"cannot write to standard output ({e.strerror or e})",
                reason="the output could not be written",
                delivered=self.delivered,
            )
            raise self._failed from None


class MemorySink(Sink):
    """Keeps every chunk (the notebook's `Pipeline.speak`)."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.chunks: list[np.ndarray] = []

    def write(self, chunk: np.ndarray) -> None:
        self.chunks.append(np.asarray(chunk, dtype=np.float32))

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)


def to_int16(chunk: np.ndarray) -> np.ndarray:
    return (np.clip(chunk, -1.0, 1.0) * 32767.0).round().astype("<i2")


class Player(Sink):
    """Plays through the sound card with `sounddevice`.

    The device's callback thread drains a bounded buffer (`buffer_seconds` of audio); `write` blocks
    while it is full, which is what keeps the driver, and memory, in step with playback. Playback
    starts at the first chunk, or once `prebuffer_seconds` are queued (or the input ends): a
    prebuffer trades a later start for no stutter where synthesis is slower than real time.
    Sentences follow each other without a gap. An underrun is silence inserted in the middle of a
    sentence because synthesis fell behind, or a device that ran dry.

    While playing, the device must keep asking for audio: a stream that stopped, or no callback
    for `stall_seconds` (the sound server killed or frozen), raises `SinkError` instead of waiting
    forever. Right after a start the device may first fill a buffer of its own (PulseAudio keeps
    up to 2 s), so the first `startup_seconds` allow a longer silence.
    """

    stall_seconds = 1.5
    startup_seconds = 4.0

    def __init__(
        self,
        sample_rate: int,
        device: int | str | None = None,
        volume: float = 1.0,
        buffer_seconds: float = 4.0,
        prebuffer_seconds: float = 0.0,
        blocksize: int = 0,
    ):
        sd = _sounddevice()
        if not 0.0 <= volume <= 4.0:
            raise MlxStreamError(
                f"volume {volume} is out of range: use a value from 0 to 4 (1 = as made)"
            )
        self.sample_rate, self.volume = sample_rate, volume
        self.prebuffer = int(prebuffer_seconds * sample_rate)
        self.capacity = max(int(buffer_seconds * sample_rate), self.prebuffer, 1)
        self.underruns = 0
        self.played = 0  # samples handed to the device
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._queued = 0
        self._in_sentence = self._starved = self._aborted = False
        self._failed: SinkError | None = None
        self._called_at = self._started_at = time.monotonic()
        self._cond = threading.Condition()
        try:
            device = _pick_device(sd, device)
            self._stream = sd.OutputStream(
                samplerate=sample_rate,
                channels=1,
                dtype="float32",
                device=device,
                blocksize=blocksize,
                callback=self._callback,
            )
        except MlxStreamError:
            raise
        except Exception as e:
            raise MlxStreamError(
                f"cannot open the audio output ({_first_line(e)}): "
                "pick another with --audio-device, or write to a file with --output out.wav"
            ) from None
        self._started = False

    def _callback(self, outdata, frames, time_info, status) -> None:
        out = outdata[:, 0]
        filled = 0
        with self._cond:
            self._called_at = time.monotonic()
            while filled < frames and self._chunks:
                chunk = self._chunks[0]
                n = min(frames - filled, len(chunk))
                out[filled : filled + n] = chunk[:n]
                filled += n
                if n == len(chunk):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[n:]
            self._queued -= filled
            self.played += filled
            if filled < frames:
                out[filled:] = 0.0
                if self._in_sentence and not self._starved:
                    self.underruns += 1  # one per gap, however many blocks it lasts
                self._starved = True
            else:
                self._starved = False
            if status.output_underflow:
                self.underruns += 1  # the device ran dry before this callback (e.g. a starved CPU)
            self._cond.notify_all()

    def write(self, chunk: np.ndarray) -> None:
        if self._aborted:
            return
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if self.volume != 1.0:
            chunk = chunk * np.float32(self.volume)
        while len(chunk):
            with self._cond:
                self._check_alive()
                while self._queued >= self.capacity and not self._aborted:
                    self._cond.wait(0.1)
                    self._check_alive()
                if self._aborted:
                    return
                n = min(len(chunk), self.capacity - self._queued)
                self._chunks.append(chunk[:n].copy())
                self._queued += n
                self._in_sentence = True
                self._starved = False
            chunk = chunk[n:]
            if self._queued >= self.prebuffer:
                self._start()

    def _start(self) -> None:
        if self._started or not self._queued or self._aborted:
            return
        with self._cond:
            self._called_at = self._started_at = time.monotonic()
        try:
            self._stream.start()
        except Exception as e:
            self._fail(f"cannot start the audio output ({_first_line(e)})")
        self._started = True

    def _check_alive(self) -> None:
        """Raise SinkError if the device stopped asking for audio (called with the lock held)."""
        if self._failed is not None:
            raise self._failed
        if not self._started or self._aborted:
            return
        if not self._stream.active:
            self._fail("the audio output stopped (the sound server or device went away)")
        now = time.monotonic()
        starting = now - self._started_at < self.startup_seconds
        limit = self.startup_seconds if starting else self.stall_seconds
        if now - self._called_at > limit:
            self._fail(
                f"the audio output took no audio for {now - self._called_at:.1f} s "
                "(the sound server or device is not responding)"
            )

    def _fail(self, what: str) -> None:
        self._failed = SinkError(
            f"{what}: check the sound settings, or write to a file with --output out.wav",
            reason="the audio output stopped",
            delivered=self.played,
        )
        raise self._failed

    def end_sentence(self) -> bool:
        with self._cond:
            self._in_sentence = False
        return True

    def drain(self) -> None:
        """Block until everything written has been played."""
        self._start()
        with self._cond:
            self._in_sentence = False
            while self._queued > 0 and self._started and not self._aborted:
                self._check_alive()
                self._cond.wait(0.1)
            self._check_alive()
        if self._started and not self._aborted:
            time.sleep(self._stream.latency)  # what the device holds beyond our buffer
            if not _bounded(self._stream.stop, self.stall_seconds):
                self._fail("the audio output did not stop (the sound server is not responding)")
            self._started = False

    def abort(self) -> None:
        if self._stream.closed:
            return
        with self._cond:
            self._aborted = True
            self._chunks.clear()
            self._queued = 0
            self._in_sentence = False
            self._cond.notify_all()
        if _bounded(self._stream.abort, self.stall_seconds):
            self._started = False
            self.close()

    def close(self) -> None:
        if self._stream.closed:
            return
        if self._failed is not None:  # PortAudio may block on a dead device: barely wait for it
            self._aborted = True
            if not _bounded(self._stream.abort, 0.25):
                return
        _bounded(self._stream.close, self.stall_seconds)


def _bounded(call: Callable[[], object], seconds: float) -> bool:
    """Run a PortAudio call that a dead sound server can block forever; False if it did not
    return within `seconds` (it is left running on a daemon thread)."""
    done = threading.Event()

    def run():
        with contextlib.suppress(Exception):
            call()
        done.set()

    threading.Thread(target=run, daemon=True, name="mlx-stream-audio").start()
    return done.wait(seconds)


def _sounddevice():
    try:
        import sounddevice as sd
    except OSError:
        raise MlxStreamError(
            "no audio output: the PortAudio library is missing (Debian/Ubuntu: apt install libportaudio2); "
            "or write to a file with --output out.wav"
        ) from None
    return sd


def _pick_device(sd, device: int | str | None):
    outputs = [d for d in sd.query_devices() if d["max_output_channels"] > 0]
    if not outputs:
        raise MlxStreamError("no audio output device found: write to a file with --output out.wav")
    if device is None:
        try:
            sd.query_devices(kind="output")
        except Exception:
            raise MlxStreamError(
                "no default audio output device: pick one with --audio-device (see --list-devices), "
                "or write to a file with --output out.wav"
            ) from None
        return None
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    try:
        return sd.query_devices(device, kind="output")["index"]
    except Exception:
        names = ", ".join(f"{d['index']}: {d['name']}" for d in outputs)
        raise MlxStreamError(f"no audio output device '{device}': choose one of {names}") from None


def check_output_device(device: int | str | None = None) -> None:
    """Raise a clear error now if there is no sound card to play on."""
    _pick_device(_sounddevice(), device)


def list_output_devices() -> list[str]:
    sd = _sounddevice()
    default = sd.default.device[1]
    return [
        f"{'*' if d['index'] == default else ' '} {d['index']}: {d['name']} "
        f"({d['default_samplerate']:.0f} Hz)"
        for d in sd.query_devices()
        if d["max_output_channels"] > 0
    ]


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
