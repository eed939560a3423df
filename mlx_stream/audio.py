"""Where the audio goes: the sound card (`Player`), a WAV file, raw PCM on stdout, or nowhere.

Every sink takes float32 mono chunks at the sample rate it was opened with: `write(chunk)`, then
`drain()` (wait until everything written has been heard or stored) and `close()`.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import MlxStreamError


class Sink:
    """The sink protocol, doing nothing: also the base of the real sinks."""

    sample_rate: int = 0
    underruns: int = 0

    def write(self, chunk: np.ndarray) -> None:
        pass

    def end_sentence(self) -> None:
        """The audio of one sentence is complete (the player stops counting silence as an underrun)."""

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
    """A float32 WAV file, samples stored exactly as synthesized."""

    def __init__(self, path: str | Path, sample_rate: int):
        import soundfile as sf

        self.path, self.sample_rate = Path(path), sample_rate
        try:
            self._file = sf.SoundFile(
                self.path, "w", samplerate=sample_rate, channels=1, subtype="FLOAT", format="WAV"
            )
        except Exception as e:
            raise MlxStreamError(
                f"cannot write '{path}' ({_first_line(e)}): choose a writable path"
            ) from None

    def write(self, chunk: np.ndarray) -> None:
        self._file.write(np.asarray(chunk, dtype=np.float32))

    def drain(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class RawSink(Sink):
    """Signed 16-bit little-endian mono PCM, for piping into another program (`--output -`)."""

    def __init__(self, sample_rate: int, stream: BinaryIO | None = None):
        self.sample_rate = sample_rate
        self._out = stream if stream is not None else sys.stdout.buffer
        self.broken = False

    def write(self, chunk: np.ndarray) -> None:
        if self.broken:
            return
        try:
            self._out.write(to_int16(chunk).tobytes())
            self._out.flush()
        except BrokenPipeError:
            self.broken = True  # the reader went away: keep going quietly, the report still counts

    def drain(self) -> None:
        if not self.broken:
            try:
                self._out.flush()
            except BrokenPipeError:
                self.broken = True


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
    """

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
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._queued = 0
        self._in_sentence = self._starved = self._aborted = False
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
                while self._queued >= self.capacity:
                    self._cond.wait(0.1)
                n = min(len(chunk), self.capacity - self._queued)
                self._chunks.append(chunk[:n].copy())
                self._queued += n
                self._in_sentence = True
                self._starved = False
            chunk = chunk[n:]
            if self._queued >= self.prebuffer:
                self._start()

    def _start(self) -> None:
        if not self._started and self._queued:
            self._stream.start()
            self._started = True

    def end_sentence(self) -> None:
        with self._cond:
            self._in_sentence = False

    def drain(self) -> None:
        """Block until everything written has been played."""
        self._start()
        with self._cond:
            self._in_sentence = False
            while self._queued > 0 and self._started:
                self._cond.wait(0.1)
        if self._started:
            time.sleep(self._stream.latency)  # what the device holds beyond our buffer
            self._stream.stop()
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
        self._stream.abort()
        self._started = False
        self.close()

    def close(self) -> None:
        if not self._stream.closed:
            self._stream.close()


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
