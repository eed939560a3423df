"""What several commands share: one-line usage errors, the language and NLLB options, loading."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from ..errors import MlxStreamError
from ..weights import default_weights_dir

DEFAULT_NLLB = "facebook/nllb-200-distilled-600M"
DEFAULT_XTTS = "coqui/XTTS-v2"

EXAMPLES = """\
examples:
  echo "Hello, how are you today?" | mlx-stream           speak it in Japanese
  mlx-stream "Good morning." --to French --output out.wav   to a file instead of the speakers
  claude -p "Explain DNS" --output-format stream-json --verbose --include-partial-messages | mlx-stream
  mlx-stream translate --to ja "Where is the station?"      print translations
  mlx-stream sentences notes.md                             show what would be spoken
  mlx-stream convert nllb --hf-path facebook/nllb-200-distilled-600M --mlx-path weights/nllb-600m-q4 -q --q-bits 4
  mlx-stream bench --quick                                   measure speed on this machine

Each spoken sentence prints a line on stderr:
  [3] translate 41 ms · first audio 118 ms · 2.4 s audio · RTF 0.31
translate: time to translate the sentence; first audio: from taking the sentence to its first audio
chunk; RTF: seconds of synthesis per second of audio (below 1 keeps up with playback).
"""


class UsageError(MlxStreamError):
    """A command line argparse rejects (exit status 2, as argparse's own)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is a one-line `UsageError` instead of usage and exit."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def add_languages(p: argparse.ArgumentParser, to_default: str = "jpn_Jpan") -> None:
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


def add_nllb(p: argparse.ArgumentParser) -> None:
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
        help="NLLB precision when converting on first use: 32 (float32), 16 (bfloat16), 8 or 4 "
        "bit. Default: float32 on the CPU, float16 on a GPU. On a CPU, 8 and 4 bit hold 3.5x and "
        "6x less memory (690 and 400 MB against 2.4 GB) but take about 4x as long a token: "
        "MLX's quantized matmul is a scalar loop there, float32 goes through an optimized BLAS",
    )
    p.add_argument("--beams", type=int, default=1, help="beam search width (default: 1, greedy)")


def load_translator(args: argparse.Namespace, show: bool = True):
    """The Translator `--nllb` and `--bits` ask for, converted on first use."""
    from ..translate import Translator

    dtype = {16: "bfloat16", 32: "float32"}.get(args.bits)
    bits = args.bits if args.bits in (4, 8) else None
    with loading(f"NLLB ({args.nllb})", show):
        return Translator.from_pretrained(
            args.nllb, dtype=dtype, quantize_bits=bits, weights_dir=default_weights_dir()
        )


@contextlib.contextmanager
def loading(what: str, show: bool):
    """One line when loading starts and one when it is done: model loads can take many seconds."""
    start = time.perf_counter()
    if show:
        print(f"loading {what}", file=sys.stderr, flush=True)
    yield
    if show:
        print(f"loaded in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader is gone, so the exit does not fail on flush."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
