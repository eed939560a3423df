"""Speech from the system's own voices: macOS `say` and espeak-ng, run as programs.

Both start speaking within milliseconds and need no weights; XTTS sounds far better.
Rates are in words per minute for both programs.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import MlxStreamError
from ..nllb.languages import iso639_1, resolve_language
from ..resample import resample


def _resolve_language(language: str) -> tuple[str, str | None]:
    """(NLLB code, ISO 639-1 code or None) for any name `mlx_stream.nllb.languages` accepts."""
    code = resolve_language(language)
    return code, iso639_1(code)


def decode_audio(data: bytes, sample_rate: int) -> np.ndarray:
    """Any sound file soundfile reads (WAV, AIFF, AIFC; int or float) -> float32 mono at `sample_rate`."""
    if not data:
        return np.zeros(0, dtype=np.float32)
    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def _require(program: str, missing: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise MlxStreamError(missing)
    return found


def _checked_rate(rate: int | None) -> int | None:
    if rate is not None and not (isinstance(rate, (int, float)) and rate > 0):
        raise MlxStreamError(
            f"speech rate must be a positive number of words per minute, got {rate!r}"
        )
    return None if rate is None else int(rate)


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


# --- espeak-ng -----------------------------------------------------------------------------------

# espeak-ng names some languages by ISO 639-3 where NLLB's ISO 639-1 would miss. Its plain `cmn`
# (1.51, Debian 12/13) turns hanzi into pinyin and then reads the tone digits in English.
_ESPEAK_LANGUAGE = {"zho_Hans": "cmn-latn-pinyin", "zho_Hant": "cmn-latn-pinyin", "yue_Hant": "yue"}
# Its voices for these read only the Latin script, and spell NLLB's Arabic script letter by letter.
_ESPEAK_OTHER_SCRIPT = {"azb_Arab", "ckb_Arab"}


@cache
def _japanese_tagger():
    try:
        import fugashi

        return fugashi.Tagger()
    except (ImportError, RuntimeError):  # RuntimeError: fugashi without a dictionary
        raise MlxStreamError(
            "espeak-ng reads kanji as 'Chinese letter': pip install 'mlx-stream[ja]' "
            "(fugashi, unidic-lite) so it is given their readings"
        ) from None


def japanese_reading(text: str) -> str:
    """Japanese as espeak-ng can say it: each word as its spoken katakana (今日は -> キョーワ).

    Words without a reading (digits, Latin letters, punctuation) stay as written.
    """
    spoken = []
    for word in _japanese_tagger()(text):
        reading = word.feature.pron
        spoken.append(word.white_space + (reading if reading and reading != "*" else word.surface))
    return "".join(spoken)


@dataclass(frozen=True)
class EspeakVoice:
    language: str
    name: str
    file: str
    other_languages: tuple[str, ...]


def parse_espeak_voices(listing: str) -> list[EspeakVoice]:
    """Rows of `espeak-ng --voices[=lang]`: Pty Language Age/Gender VoiceName File (Other Languages)."""
    voices = []
    for line in listing.splitlines()[1:]:
        fields = line.split(None, 5)
        if len(fields) < 5:
            continue
        others = tuple(re.findall(r"\((\S+) \d+\)", fields[5] if len(fields) > 5 else ""))
        voices.append(EspeakVoice(fields[1], fields[3], fields[4], others))
    return voices


class EspeakSynthesizer:
    """espeak-ng voices, 22.05 kHz. Japanese is given its readings first (`japanese_reading`).

    `stream()` yields each text as one chunk: espeak-ng makes a long sentence in tens of
    milliseconds, so splitting it would not bring the first sound any earlier.
    """

    sample_rate: int = 22050

    def __init__(
        self, voice: str | None = None, rate: int | None = None, program: str = "espeak-ng"
    ):
        self.program = _require(
            program,
            f"{program} not found: install espeak-ng (apt install espeak-ng, brew install "
            f"espeak-ng) or use --tts xtts",
        )
        self.rate = _checked_rate(rate)
        self.voice = voice
        self._voice_for_language: dict[str, str] = {}
        if voice is not None:
            self._check_voice(voice)

    def command(self, voice: str) -> list[str]:
        """The argv that speaks stdin (UTF-8) as a WAV on stdout."""
        argv = [self.program, "-v", voice, "-b", "1", "--stdout"]
        if self.rate is not None:
            argv += ["-s", str(self.rate)]
        return argv

    def _check_voice(self, voice: str) -> None:
        # espeak-ng itself accepts any `<language>-<anything>+<anything>`, so check the listings.
        base, _, variant = voice.lower().partition("+")
        known = self.voice_names()
        variants = {name.lower() for v in self._listing("variant") for name in (v.name, v.file[3:])}
        run = subprocess.run([self.program, "-v", voice, "-q", "a"], capture_output=True)
        if base not in known or (variant and variant not in variants) or run.returncode != 0:
            why = " (it needs MBROLA, which is not installed)" if b"MBROLA" in run.stderr else ""
            raise MlxStreamError(
                f"espeak-ng has no voice '{voice}'{why}: list the voices with `espeak-ng --voices`"
            )

    def voice_names(self) -> set[str]:
        """Every name `--voice` may give for an installed voice, lower-cased."""
        return {
            name.lower()
            for v in self._listing()
            for name in (v.language, *v.other_languages, v.name, v.file, v.file.split("/")[-1])
        }

    def _listing(self, language: str = "") -> list[EspeakVoice]:
        argv = [self.program, f"--voices={language}" if language else "--voices"]
        return parse_espeak_voices(subprocess.run(argv, capture_output=True, text=True).stdout)

    def voice_for(self, language: str) -> str:
        """The espeak-ng voice (its file name, e.g. `gmw/en`) that `language` is spoken with."""
        if resolve_language(language) == "jpn_Jpan":
            _japanese_tagger()  # fail now, not at the first sentence, when kanji cannot be read
        if self.voice is not None:
            return self.voice
        if language not in self._voice_for_language:
            self._voice_for_language[language] = self._find_voice(language)
        return self._voice_for_language[language]

    def _find_voice(self, language: str) -> str:
        code, iso = _resolve_language(language)
        candidates = [_ESPEAK_LANGUAGE.get(code), iso, code.split("_")[0]]
        if code in _ESPEAK_OTHER_SCRIPT:
            candidates = []
        for candidate in dict.fromkeys(c for c in candidates if c):
            for voice in self._listing(candidate):
                spoken = voice.language == candidate or voice.language.startswith(candidate + "-")
                if (spoken or candidate in voice.other_languages) and not voice.file.startswith(
                    "mb/"
                ):
                    return voice.file
        raise MlxStreamError(
            f"espeak-ng has no voice for {code}: list the voices with `espeak-ng --voices`, "
            f"pick one with --voice, or use --tts xtts"
        )

    def synthesize(self, text: str, language: str) -> np.ndarray:
        voice = self.voice_for(language)
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        if resolve_language(language) == "jpn_Jpan":
            text = japanese_reading(text)
        run = subprocess.run(self.command(voice), input=text.encode(), capture_output=True)
        if run.returncode != 0:
            raise MlxStreamError(f"espeak-ng failed with voice '{voice}': {_last_line(run.stderr)}")
        return decode_audio(run.stdout, self.sample_rate)

    def stream(self, text: str, language: str) -> Iterator[np.ndarray]:
        audio = self.synthesize(text, language)
        if audio.size:
            yield audio


# --- macOS say -----------------------------------------------------------------------------------

# The voices every macOS install has had for years; others are picked by their locale.
_SAY_DEFAULT_VOICE = {
    "ja": "Kyoko", "en": "Samantha", "fr": "Thomas", "de": "Anna", "es": "Monica",
    "it": "Alice", "pt": "Luciana", "zh_CN": "Tingting", "zh_TW": "Meijia", "zh_HK": "Sinji",
    "ko": "Yuna", "ru": "Milena", "nl": "Xander", "sv": "Alva", "pl": "Zosia", "tr": "Yelda",
}  # fmt: skip
# Chinese voices differ by region, not by language code.
_SAY_LOCALE = {"zho_Hans": "zh_CN", "zho_Hant": "zh_TW", "yue_Hant": "zh_HK"}
_SAY_VOICE_LINE = re.compile(r"^(?P<name>\S.*?)\s+(?P<locale>[a-z]{2,3}(?:[_-][A-Za-z0-9]+)*)\s+#")


@dataclass(frozen=True)
class SayVoice:
    name: str
    locale: str  # ja_JP, en_US, en-scotland, ...


def parse_say_voices(listing: str) -> list[SayVoice]:
    """Rows of `say -v '?'`: `Kyoko   ja_JP    # ...`; names may hold spaces and brackets."""
    voices = []
    for line in listing.splitlines():
        match = _SAY_VOICE_LINE.match(line)
        if match:
            voices.append(SayVoice(match["name"], match["locale"]))
    return voices


def say_command(
    voice: str,
    output: str | Path,
    rate: int | None = None,
    sample_rate: int = 22050,
    program: str = "say",
) -> list[str]:
    """The argv that makes `say` read stdin and write it as an AIFF file at `sample_rate`.

    AIFF holds big-endian integer PCM only, hence BEI16.
    """
    argv = [program, "-v", voice]
    if rate is not None:
        argv += ["-r", str(int(rate))]
    return argv + ["-o", str(output), f"--data-format=BEI16@{sample_rate}", "-f", "-"]


class SaySynthesizer:
    """macOS `say` voices (Kyoko for Japanese, Samantha for English, ...), 22.05 kHz.

    `stream()` yields each text as one chunk, once `say` has written it.
    """

    sample_rate: int = 22050

    def __init__(self, voice: str | None = None, rate: int | None = None, program: str = "say"):
        self.program = _require(program, "say is only on macOS: use --tts espeak or --tts xtts")
        self.rate = _checked_rate(rate)
        self._installed: list[SayVoice] | None = None
        self.voice = None if voice is None else self._installed_name(voice)

    def _installed_name(self, voice: str) -> str:
        for installed in self.voices():
            if installed.name.lower() == voice.lower():
                return installed.name
        raise MlxStreamError(f"say has no voice '{voice}': list the voices with say -v '?'")

    def voice_names(self) -> set[str]:
        """The installed voices' names, lower-cased."""
        return {v.name.lower() for v in self.voices()}

    def voices(self) -> list[SayVoice]:
        """The voices installed on this Mac."""
        if self._installed is None:
            run = subprocess.run([self.program, "-v", "?"], capture_output=True, text=True)
            self._installed = parse_say_voices(run.stdout)
        return self._installed

    def voice_for(self, language: str) -> str:
        """`--voice` if given, else the usual voice for `language` in its best installed quality,
        else the first voice of that language."""
        if self.voice is not None:
            return self.voice
        code, iso = _resolve_language(language)
        wanted = _SAY_LOCALE.get(code, iso or code.split("_")[0])  # a language, or zh_CN, ...
        matching = [v for v in self.voices() if wanted in (v.locale, re.split("[_-]", v.locale)[0])]
        preferred = _SAY_DEFAULT_VOICE.get(wanted)
        names = {v.name for v in matching}
        for name in (f"{preferred} (Premium)", f"{preferred} (Enhanced)", preferred):
            if name in names:
                return name
        if matching:
            return matching[0].name
        raise MlxStreamError(
            f"say has no voice for {code}: add one in System Settings > Accessibility > "
            f"Spoken Content, or use --tts xtts"
        )

    def synthesize(self, text: str, language: str) -> np.ndarray:
        voice = self.voice_for(language)
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        with tempfile.TemporaryDirectory(prefix="mlx-stream-say-") as folder:
            output = Path(folder) / "speech.aiff"
            argv = say_command(voice, output, self.rate, self.sample_rate, self.program)
            run = subprocess.run(argv, input=text.encode(), capture_output=True)
            if run.returncode != 0 or not output.exists():
                raise MlxStreamError(f"say failed with voice '{voice}': {_last_line(run.stderr)}")
            return decode_audio(output.read_bytes(), self.sample_rate)

    def stream(self, text: str, language: str) -> Iterator[np.ndarray]:
        audio = self.synthesize(text, language)
        if audio.size:
            yield audio
