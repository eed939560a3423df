"""Binary data is not read aloud, real text in any script always is, and nothing crashes."""

import io
import random
import subprocess
import sys
from pathlib import Path

import pytest

from mlx_stream.text import IngestStats, TextFrontEnd, iter_sentences, read_deltas

ROOT = Path(__file__).parent.parent


def spoken(source, format="auto", chunk: int = 0) -> tuple[list[str], IngestStats]:
    stats = IngestStats()
    if chunk and isinstance(source, bytes):
        source = [source[i : i + chunk] for i in range(0, len(source), chunk)]
    front_end = TextFrontEnd(stats=stats, markdown=format != "plain")
    return list(iter_sentences(read_deltas(source, format, stats=stats), front_end)), stats


@pytest.mark.parametrize("size", [16, 64, 1000, 20_000, 200_000])
@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_are_not_read_aloud(size, seed):
    data = random.Random(seed * 1000 + size).randbytes(size)
    for format in ("auto", "markdown", "plain"):
        sentences, stats = spoken(data, format, chunk=4096)
        assert sentences == []
        assert stats["stretch of binary data"] >= 1
        assert "binary data" in stats.summary()


def test_binary_between_text_is_dropped_and_the_text_kept():
    # (read in small pieces, the characters of binary data that come before its first bad byte
    # in the same piece cannot be told from text: pipes and files deliver kilobytes at a time)
    junk = random.Random(7).randbytes(3000)
    data = b"Before the binary part.\n" + junk + b"\nAfter the binary part, all fine.\n"
    for chunk in (1000, 4096, 65536):
        sentences, stats = spoken(data, chunk=chunk)
        assert sentences == ["Before the binary part.", "After the binary part, all fine."]
        assert stats.summary() == "skipped (not spoken): 1 stretch of binary data"


def test_a_few_stray_bytes_in_text_are_kept():
    data = (
        b"Caf\xe9 prices went up again this year. The \x00menu changed, and the owner says "
        b"\xff\xfe it will stay that way.\n\x01Short line.\nAnother line of words.\n"
    )
    sentences, stats = spoken(data, "markdown")
    words = " ".join(sentences).split()
    assert "prices" in words and "owner" in words and "Short" in words and "stay" in words
    assert stats["stretch of binary data"] == 0


SCRIPTS = [
    "The quick brown fox jumps over the lazy dog. Then it sleeps.",
    "Съешь же ещё этих мягких французских булок. Да выпей чаю.",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Τι κάνεις;",
    "نص حكيم له سر قاطع وذو شأن عظيم. هل فهمت؟",
    "עטלף אבק נס דרך מזגן שהתפוצץ כי חם. זה נכון.",
    "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले। यह ठीक है।",
    "আমি বাংলায় গান গাই। তুমি কেমন আছ?",
    "யாமறிந்த மொழிகளிலே தமிழ்மொழி போல் இனிதாவது எங்கும் காணோம்.",
    "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
    "ພາສາລາວແມ່ນພາສາທີ່ສວຍງາມ",
    "ខ្ញុំចូលចិត្តភាសាខ្មែរ។ វាស្អាតណាស់។",
    "မြန်မာဘာသာစကားကို ကျွန်တော် ချစ်တယ်။",
    "ვეპხის ტყაოსანი შოთა რუსთაველი. კარგია.",
    "Բարեւ ձեզ։ Ինչպե՞ս եք։",
    "ሰላም ለዓለም። እንዴት ነህ፧",
    "我能吞下玻璃而不伤身体。你好吗？",
    "いろはにほへと ちりぬるを。今日はいい天気ですね！",
    "다람쥐 헌 쳇바퀴에 타고파. 안녕하세요?",
    "བོད་ཀྱི་སྐད་ཡིག་ནི་ཧ་ཅང་ཡག་པོ་རེད།",
    "ශ්‍රී ලංකාව ලස්සන රටකි.",
    "ᱥᱟᱱᱛᱟᱲᱤ ᱯᱟᱹᱨᱥᱤ᱾",
    "Smileys 🙂 and maths ∑ ∫ √ ≤ ≥ are fine too, as is naïve café façade.",
]


@pytest.mark.parametrize("text", SCRIPTS)
def test_real_text_in_every_script_passes_whole(text):
    for chunk in (1, 5, 4096):
        sentences, stats = spoken(text.encode(), "plain", chunk=chunk)
        assert stats.counts == {}
        said = "".join("".join(sentences).split())
        assert said == "".join(text.replace("🙂", "").split())


def test_text_in_other_encodings_and_with_terminal_codes():
    text = "Hello there, world. This is UTF-16 text."
    for data in (text.encode("utf-16"), text.encode("utf-16-le"), text.encode("utf-16-be")):
        assert spoken(data)[0] == ["Hello there, world.", "This is UTF-16 text."]
    mojibake = "CafÃ© prices: itâ€™s a â€œbargainâ€\x9d. Done.".encode()
    assert spoken(mojibake)[0] == ["Café prices: it’s a “bargain”.", "Done."]
    colours = b"\x1b[1;31mError:\x1b[0m the build \x1b]0;title\x07failed. Fix it.\n"
    assert spoken(colours, chunk=3)[0] == ["Error: the build failed.", "Fix it."]


PEAK_MEMORY_SCRIPT = """
import random, resource, sys
from mlx_stream.text import IngestStats, iter_sentences, read_deltas
stats = IngestStats()
def line():  # random bytes without a line break, made as they are read
    rng = random.Random(0)
    for _ in range(int(sys.argv[1]) // 65536):
        yield rng.randbytes(65536).replace(b"\\n", b" ")
count = sum(1 for _ in iter_sentences(read_deltas(line(), "auto", stats=stats)))
print(count, stats["stretch of binary data"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def test_ten_megabytes_of_binary_on_one_line_in_bounded_memory():
    def run(size: int) -> tuple[int, int, int]:
        out = subprocess.run([sys.executable, "-c", PEAK_MEMORY_SCRIPT, str(size)],
                             capture_output=True, text=True, check=True, cwd=ROOT)  # fmt: skip
        count, stretches, peak = map(int, out.stdout.split())
        return count, stretches, peak

    small, big = run(1_000_000), run(10_000_000)
    assert small[:2] == big[:2] == (0, 1)  # nothing said, one stretch of binary data
    assert big[2] - small[2] < 3_000_000, f"{(big[2] - small[2]) / 1e6:.1f} MB more"


def test_print_sentences_reports_binary_data(capsys):
    from mlx_stream.text import print_sentences

    out, err = io.StringIO(), io.StringIO()
    data = b"Readable words first.\n" + random.Random(3).randbytes(5000)
    assert print_sentences(io.BytesIO(data), out=out, err=err) == 0
    assert out.getvalue() == "Readable words first.\n"
    assert err.getvalue() == "skipped (not spoken): 1 stretch of binary data\n"
