"""The `mlx-stream` command: speak (the default), translate, sentences, convert, bench."""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from .errors import MlxStreamError

DEFAULT_NLLB = "facebook/nllb-200-distilled-600M"
DEFAULT_XTTS = "coqui/XTTS-v2"
COMMANDS = ("speak", "translate", "sentences", "convert", "bench")

EXAMPLES = """\
examples:
  echo "Hello, how are you today?" | mlx-stream           speak it in Japanese
  mlx-stream "Good morning." --to French --output out.wav   to a file instead of the speakers
  claude -p "Explain DNS" --output-format stream-json --verbose --include-partial-messages | mlx-stream
  mlx-stream translate --to ja "Where is the station?"      print translations
  mlx-stream sentences notes.md                             show what would be spoken
  mlx-stream convert --hf-path facebook/nllb-200-distilled-600M --mlx-path weights/nllb-600m-q4 -q --q-bits 4
  mlx-stream bench --quick                                   measure speed on this machine

Each spoken sentence prints a line on stderr:
  [3] translate 41 ms · first audio 118 ms · 2.4 s audio · RTF 0.31
translate: time to translate the sentence; first audio: from taking the sentence to its first audio
chunk; RTF: seconds of synthesis per second of audio (below 1 keeps up with playback).
"""


def default_weights_dir() -> Path:
    """`weights/` of a source checkout, else a per-user cache."""
    if env := os.environ.get("MLX_STREAM_WEIGHTS"):
        return Path(env)
    checkout = Path(__file__).resolve().parents[1] / "weights"
    if (checkout / "README.md").exists():
        return checkout
    return Path.home() / ".cache" / "mlx-stream" / "weights"


def _languages(p: argparse.ArgumentParser, to_default: str = "jpn_Jpan") -> None:
    p.add_argument(
        "--from",
        dest="src",
        default="eng_Latn",
        metavar="LANG",
        help="source language: NLLB code, ISO code or English name (default: eng_Latn)",
    )
    p.add_argument(
        "--to",
        dest="tgt",
        default=to_default,
        metavar="LANG",
        help=f"target language (default: {to_default})",
    )


def _nllb(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nllb",
        default=DEFAULT_NLLB,
        metavar="PATH_OR_HUB_ID",
        help="converted MLX folder, Hugging Face folder or hub id; hub models are converted "
        f"once into the weights folder (default: {DEFAULT_NLLB})",
    )
    p.add_argument(
        "--bits",
        type=int,
        choices=(4, 8, 16, 32),
        default=8,
        help="precision when converting on first use: 8 or 4 bit, or 16/32 float (default: 8)",
    )
    p.add_argument("--beams", type=int, default=1, help="beam search width (default: 1, greedy)")


class UsageError(MlxStreamError):
    """A command line argparse rejects (exit status 2, as argparse's own)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="mlx-stream",
        description="Speak English text aloud in another language, live: NLLB-200 in MLX, then speech.\n"
        "Commands: speak (the default), translate, sentences, convert, bench. "
        "See `mlx-stream COMMAND --help`.",
        epilog=EXAMPLES,
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    speak = sub.add_parser(
        "speak",
        help="translate text and speak it (the default)",
        epilog=EXAMPLES,
        formatter_class=fmt,
    )
    speak.add_argument("text", nargs="*", help="text to speak (default: read standard input)")
    _languages(speak)
    _nllb(speak)
    speak.add_argument(
        "--format",
        choices=("auto", "text", "claude-json"),
        default="auto",
        help="input format; auto tells Claude Code stream-json from text (default: auto)",
    )
    speak.add_argument(
        "--tts",
        choices=("auto", "xtts", "say", "espeak"),
        default="auto",
        help="speech engine; auto picks XTTS when it can keep up, else the system voice",
    )
    speak.add_argument(
        "--voice",
        metavar="NAME|WAV",
        help="XTTS speaker name or reference recording(s), or a system voice name",
    )
    speak.add_argument(
        "--xtts",
        default=DEFAULT_XTTS,
        metavar="PATH_OR_HUB_ID",
        help=f"XTTS v2 folder or hub id (default: {DEFAULT_XTTS})",
    )
    speak.add_argument(
        "--device", default="auto", help="torch device for XTTS: auto, mps, cuda, cpu"
    )
    speak.add_argument(
        "--output",
        "-o",
        metavar="FILE.wav|-",
        help="write a WAV file, or raw 16-bit PCM to stdout with '-', instead of playing",
    )
    speak.add_argument("--audio-device", metavar="NAME|INDEX", help="sound card to play on")
    speak.add_argument("--list-devices", action="store_true", help="list sound cards and exit")
    speak.add_argument(
        "--volume", type=float, default=1.0, help="playback volume, 0 to 4 (default: 1)"
    )
    speak.add_argument(
        "--prebuffer",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="queue this much audio before playback starts; raise it if playback stutters "
        "because speech is made slower than real time (default: 0)",
    )
    speak.add_argument(
        "--seed", type=int, help="XTTS random seed: the same text gives the same audio"
    )
    speak.add_argument(
        "--rate", type=int, help="speaking rate of the system voice, in words per minute"
    )
    speak.add_argument(
        "--idle-ms",
        type=int,
        default=700,
        help="speak unfinished text after this long without input (default: 700)",
    )
    speak.add_argument(
        "--tool-cues", action="store_true", help="say a short cue when Claude runs a tool"
    )
    speak.add_argument(
        "--show", action="store_true", help="print each sentence and its translation"
    )
    speak.add_argument("--quiet", "-q", action="store_true", help="no per-sentence latency lines")

    tr = sub.add_parser(
        "translate",
        help="print translations, one per line",
        formatter_class=fmt,
        epilog='example: echo "Hello" | mlx-stream translate --to jpn_Jpan',
    )
    tr.add_argument(
        "text", nargs="*", help="text to translate (default: each line of standard input)"
    )
    _languages(tr)
    _nllb(tr)
    tr.add_argument("--max-new-tokens", type=int, help="cap on generated tokens per sentence")

    sen = sub.add_parser("sentences", help="print each sentence that would be spoken")
    sen.add_argument("file", nargs="?", help="input file (default: standard input)")
    sen.add_argument("--format", choices=("auto", "text", "claude-json"), default="auto")
    sen.add_argument("--tool-cues", action="store_true")

    sub.add_parser("convert", help="convert a Hugging Face NLLB checkpoint to MLX", add_help=False)
    sub.add_parser("bench", help="measure translation, speech and end-to-end speed", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "speak")
    try:
        if argv[0] == "convert":
            from convert.nllb import main as convert_main

            return convert_main(argv[1:], prog="mlx-stream convert")
        if argv[0] == "bench":
            return _bench(argv[1:])
        args = build_parser().parse_args(argv)
        return {"speak": speak, "translate": translate, "sentences": sentences}[args.command](args)
    except MlxStreamError as e:
        print(f"mlx-stream: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0


def translate(args) -> int:
    translator = _load_translator(args, show=sys.stderr.isatty())
    lines = [" ".join(args.text)] if args.text else (line.rstrip("\n") for line in sys.stdin)
    for line in lines:
        out = (
            translator.translate(
                line,
                src=args.src,
                tgt=args.tgt,
                beams=args.beams,
                max_new_tokens=args.max_new_tokens,
            )
            if line.strip()
            else ""
        )
        print(out, flush=True)
    return 0


def sentences(args) -> int:
    from .text import print_sentences

    source = open(args.file, "rb") if args.file else sys.stdin.buffer  # noqa: SIM115
    try:
        return print_sentences(
            source, format=args.format, out=sys.stdout, err=sys.stderr, tool_cues=args.tool_cues
        )
    finally:
        if args.file:
            source.close()


def speak(args) -> int:
    from .nllb.languages import resolve_language

    if args.list_devices:
        from .audio import list_output_devices

        print("\n".join(list_output_devices()))
        return 0
    src, tgt = resolve_language(args.src), resolve_language(args.tgt)
    if args.output and args.output != "-":
        _check_writable(Path(args.output))
    elif not args.output:
        from .audio import check_output_device

        check_output_device(args.audio_device)  # before minutes of model loading, not after
    translator = None if src == tgt else _load_translator(args, show=not args.quiet)
    from .tts import load_synthesizer

    options = {} if args.seed is None else {"seed": args.seed}
    with _loading("speech", show=not args.quiet):
        synthesizer = load_synthesizer(
            args.tts,
            voice=args.voice,
            xtts=args.xtts,
            device=args.device,
            rate=args.rate,
            language=tgt,
            **options,
        )
    sink = _open_sink(args, synthesizer.sample_rate)
    from .pipeline import Pipeline
    from .text import IngestStats, TextFrontEnd, read_deltas

    stats = IngestStats()
    pipeline = Pipeline(
        translator,
        synthesizer,
        sink,
        src=src,
        tgt=tgt,
        front_end=TextFrontEnd(stats=stats),
        beams=args.beams,
        on_sentence=lambda s: _print_sentence(s, args),
    )
    if args.text:
        deltas = iter([" ".join(args.text)])
    else:
        if sys.stdin.isatty():
            print("Type text to speak; Ctrl-D to finish.", file=sys.stderr)
        deltas = read_deltas(
            sys.stdin.buffer, format=args.format, tool_cues=args.tool_cues, stats=stats
        )
    live = _LiveInput(deltas, args.idle_ms / 1000)
    with _InterruptGuard(pipeline, stats, live):
        pipeline.run(live)
    sink.close()
    _print_summary(pipeline.report, stats)
    return 0


def _load_translator(args, show: bool = True):
    from .translate import Translator

    dtype = {16: "bfloat16", 32: "float32"}.get(args.bits)
    bits = args.bits if args.bits in (4, 8) else None
    with _loading(f"NLLB ({args.nllb})", show):
        return Translator.from_pretrained(
            args.nllb, dtype=dtype, quantize_bits=bits, weights_dir=default_weights_dir()
        )


@contextlib.contextmanager
def _loading(what: str, show: bool):
    """One line when loading starts and one when it is done: model loads can take many seconds."""
    start = time.perf_counter()
    if show:
        print(f"loading {what}", file=sys.stderr, flush=True)
    yield
    if show:
        print(f"loaded in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def _open_sink(args, sample_rate: int):
    from .audio import Player, RawSink, WavSink

    if args.output == "-":
        return RawSink(sample_rate)
    if args.output:
        return WavSink(args.output, sample_rate)
    return Player(
        sample_rate, device=args.audio_device, volume=args.volume, prebuffer_seconds=args.prebuffer
    )


def _check_writable(path: Path) -> None:
    if (
        path.is_dir()
        or not path.parent.exists()
        or not os.access(path.parent, os.W_OK)
        or (path.exists() and not os.access(path, os.W_OK))
    ):
        raise MlxStreamError(f"cannot write '{path}': choose a writable file path for --output")


def _print_sentence(s, args) -> None:
    if args.show:
        print(f"[{s.index}] {s.source}", file=sys.stderr)
        if s.translation and s.translation != s.source:
            print(f"[{s.index}] → {s.translation}", file=sys.stderr)
    if not args.quiet or s.skipped:
        print(s.latency_line(), file=sys.stderr, flush=True)


def _print_summary(report, stats) -> None:
    print(report.summary(), file=sys.stderr)
    if line := stats.summary():
        print(line, file=sys.stderr)


class _LiveInput:
    """The deltas, with None whenever none came for `idle_seconds` after some text.

    Reading happens on a helper thread so that a quiet input (Claude thinking, a slow pipe) still
    lets the pending sentence out; the driver itself stays on the caller's thread.
    """

    _END = object()

    def __init__(self, deltas, idle_seconds: float):
        self.idle_seconds = idle_seconds
        self._queue: queue.Queue = queue.Queue(maxsize=1024)
        self._deltas = deltas
        threading.Thread(target=self._read, daemon=True, name="mlx-stream-input").start()

    def _read(self) -> None:
        try:
            for delta in self._deltas:
                self._queue.put(delta)
        except BaseException as e:  # handed to the driver thread, raised there
            self._queue.put(e)
        self._queue.put(self._END)

    def __iter__(self):
        waiting = False
        while True:
            try:
                item = self._queue.get(timeout=self.idle_seconds if waiting else None)
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
                item = self._queue.get_nowait()
            except queue.Empty:
                return items
            if isinstance(item, str):
                items.append(item)


class _InterruptGuard:
    """Ctrl-C silences the audio at once, even while the driver is busy inside a model call.

    Python runs signal handlers only between bytecodes, which may be seconds away during
    synthesis; the wakeup fd is written by the C-level handler immediately, so a watcher thread
    can abort playback, print the summary and exit with 130 if the driver does not stop in time.
    """

    grace_seconds = 0.5

    def __init__(self, pipeline, stats, live: _LiveInput):
        self.pipeline, self.stats, self.live = pipeline, stats, live

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        self._r, self._w = socket.socketpair()
        self._w.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._w.fileno(), warn_on_full_buffer=False)
        self._done = threading.Event()
        threading.Thread(target=self._watch, daemon=True, name="mlx-stream-interrupt").start()
        return self

    def _watch(self) -> None:
        while not self._done.is_set():
            data = self._r.recv(64)
            if not data or signal.SIGINT not in data:
                continue
            self.pipeline.sink.abort()
            if self._done.wait(self.grace_seconds):
                return
            self.pipeline.interrupt(self.live.unread())
            _print_summary(self.pipeline.report, self.stats)
            _exit_now(130)

    def __exit__(self, exc_type, exc, tb):
        if not hasattr(self, "_done"):
            return False
        self._done.set()
        signal.set_wakeup_fd(self._old_fd)
        self._w.close()
        if exc_type is KeyboardInterrupt:
            self.pipeline.interrupt(self.live.unread())
            _print_summary(self.pipeline.report, self.stats)
            _exit_now(130)
        return False


def _exit_now(code: int) -> None:
    """Exit without the interpreter's teardown (torch, PortAudio), which can take seconds."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _bench(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "run.py").exists():
        raise MlxStreamError(
            "benchmarks run from a source checkout: clone the repository and run it there"
        )
    # first on the path: site-packages may hold another `benchmarks` (pysbd ships one)
    sys.path.insert(0, str(root))
    from benchmarks.run import main as bench_main

    return bench_main(argv)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def run() -> None:
    """The console entry point: `main()`, then exit without the interpreter's teardown.

    With torch and MLX both loaded, their C++ destructors can abort the process at exit
    ("terminate called without an active exception") after all the work is done; files and
    streams are closed by then, so skip that teardown.
    """
    _exit_now(main())


if __name__ == "__main__":
    run()
