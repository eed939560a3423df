"""`mlx-stream [speak]`: translate text as it streams in and speak it (the default command)."""

from __future__ import annotations

import argparse
import sys

from ..errors import MlxStreamError
from ..text import FORMAT_HELP, FORMATS
from .common import (
    DEFAULT_XTTS,
    EXAMPLES,
    Parser,
    add_languages,
    add_nllb,
    load_translator,
    loading,
    silence_stdout,
)
from .live import InterruptGuard, LiveInput


def build_parser(prog: str = "mlx-stream speak") -> argparse.ArgumentParser:
    p = Parser(
        prog=prog,
        description="Translate text and speak it, sentence by sentence, as it streams in.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", nargs="*", help="text to speak (default: read standard input)")
    add_languages(p)
    add_nllb(p)
    p.add_argument("--format", choices=FORMATS, default="auto", help=FORMAT_HELP)
    p.add_argument(
        "--tts",
        choices=("auto", "xtts", "say", "espeak"),
        default="auto",
        help="speech engine; auto picks XTTS when --voice asks for it or it can keep up, "
        "else the system voice",
    )
    p.add_argument(
        "--voice",
        metavar="NAME|WAV",
        help="XTTS speaker name or reference recording(s), or a system voice name",
    )
    p.add_argument(
        "--xtts",
        default=DEFAULT_XTTS,
        metavar="PATH_OR_HUB_ID",
        help="converted MLX folder, coqui XTTS v2 folder or hub id; hub checkpoints are "
        f"converted once into the weights folder (default: {DEFAULT_XTTS})",
    )
    p.add_argument(
        "--xtts-engine",
        choices=("auto", "mlx", "coqui"),
        default="auto",
        help="which XTTS runs: mlx, or coqui-tts on torch (auto: mlx, except for a local coqui "
        "folder when coqui-tts is installed)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto, cpu (MLX and coqui on the CPU), or coqui's torch device: mps, cuda",
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE.wav|-",
        help="write a WAV file, or raw 16-bit PCM to stdout with '-', instead of playing",
    )
    p.add_argument("--audio-device", metavar="NAME|INDEX", help="sound card to play on")
    p.add_argument("--list-devices", action="store_true", help="list sound cards and exit")
    p.add_argument("--volume", type=float, default=1.0, help="playback volume, 0 to 4 (default: 1)")
    p.add_argument(
        "--prebuffer",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="queue this much audio before playback starts; raise it if playback stutters "
        "because speech is made slower than real time (default: 0)",
    )
    p.add_argument("--seed", type=int, help="XTTS random seed: the same text gives the same audio")
    p.add_argument(
        "--rate", type=int, help="speaking rate of the system voice, in words per minute"
    )
    p.add_argument(
        "--idle-ms",
        type=int,
        default=700,
        help="speak unfinished text after this long without input (default: 700)",
    )
    p.add_argument(
        "--tool-cues", action="store_true", help="say a short cue when Claude runs a tool"
    )
    p.add_argument("--show", action="store_true", help="print each sentence and its translation")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-sentence latency lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..nllb.languages import resolve_language

    if args.list_devices:
        from ..audio import list_output_devices

        print("\n".join(list_output_devices()))
        return 0
    src, tgt = resolve_language(args.src), resolve_language(args.tgt)
    output = _open_output(args)  # before minutes of model loading, not after
    try:
        translator, synthesizer = _load_models(args, src, tgt)
        sink = output or _open_player(args, synthesizer.sample_rate)
    except BaseException:  # an error, Ctrl-C or SIGTERM while loading: leave no output behind
        _discard(output)
        raise
    sink.sample_rate = synthesizer.sample_rate
    from ..pipeline import Pipeline
    from ..text import IngestStats, TextFrontEnd, read_deltas

    stats = IngestStats()
    pipeline = Pipeline(
        translator,
        synthesizer,
        sink,
        src=src,
        tgt=tgt,
        front_end=TextFrontEnd(stats=stats, markdown=args.format != "plain"),
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
    live = LiveInput(deltas, args.idle_ms / 1000)
    if not _speak(pipeline, live, args, stats):
        return 0
    from ..tts.choice import record_rtf

    rtfs = [s.rtf for s in pipeline.report.spoken if s.rtf is not None]
    record_rtf(getattr(synthesizer, "speed_key", None), rtfs)
    return 0


def _speak(pipeline, live: LiveInput, args, stats) -> bool:
    """Run the pipeline to the end and print its summary; False if standard output's reader left.

    A sink that fails ends the run: what was not spoken is accounted for, the summary printed,
    and the error raised (a file being written is removed). Ctrl-C and SIGTERM end in the guard.
    """
    from ..audio import OutputClosed, SinkError

    sink = pipeline.sink
    try:
        with InterruptGuard(pipeline, live, on_exit=lambda: _print_summary(pipeline.report, stats)):
            pipeline.run(live)
        _check_input(args, pipeline.report, stats)
        sink.close()
    except SinkError as e:
        pipeline.fail(e, live.unread())
        sink.close()
        _print_summary(pipeline.report, stats)
        if isinstance(e, OutputClosed):
            silence_stdout()
            return False
        raise
    except MlxStreamError:
        _discard(sink)
        _print_summary(pipeline.report, stats)
        raise
    _print_summary(pipeline.report, stats)
    return True


def _load_models(args, src: str, tgt: str):
    if args.device == "cpu":
        import mlx.core as mx

        mx.set_default_device(mx.cpu)
    translator = None if src == tgt else load_translator(args, show=not args.quiet)
    from ..tts import load_synthesizer

    options = {} if args.seed is None else {"seed": args.seed}
    with loading("speech", show=not args.quiet):
        synthesizer = load_synthesizer(
            args.tts,
            voice=args.voice,
            xtts=args.xtts,
            xtts_engine=args.xtts_engine,
            device=args.device,
            rate=args.rate,
            language=tgt,
            **options,
        )
    return translator, synthesizer


def _open_output(args):
    """The file or standard output sink, opened now so that an unwritable path fails before any
    model loads; None for the sound card, which is only checked now (it needs the sample rate)."""
    from ..audio import RawSink, WavSink, check_output_device

    if args.output == "-":
        return RawSink(0)
    if args.output:
        return WavSink(args.output)
    check_output_device(args.audio_device)
    return None


def _open_player(args, sample_rate: int):
    from ..audio import Player

    return Player(
        sample_rate, device=args.audio_device, volume=args.volume, prebuffer_seconds=args.prebuffer
    )


def _discard(sink) -> None:
    """Close a sink without completing it: a WAV being written is removed."""
    if sink is not None:
        getattr(sink, "discard", sink.close)()


def _check_input(args, report, stats) -> None:
    """Input that was all skipped because --format claude-json did not fit is an error."""
    invalid = stats["invalid JSON line"]
    if args.format == "claude-json" and invalid and not report.sentences:
        lines = f"{invalid} line{'' if invalid == 1 else 's'}"
        raise MlxStreamError(
            f"the input is not Claude Code stream-json ({lines} not JSON): "
            "use --format auto or text"
        )


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
