"""The MLX-side tokenizer against transformers' NllbTokenizer (slow) and NllbTokenizerFast."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import NllbTokenizer, NllbTokenizerFast

from mlx_stream.errors import MlxStreamError
from mlx_stream.nllb.languages import LANGUAGES
from mlx_stream.nllb.tokenizer import FILES, Tokenizer
from tests.fixtures.tokenizer import make_hf_tokenizer

CORPUS = [
    "",
    " ",
    "\t\n ",
    "Hello, how are you today?",
    "The weather's nice; isn't it? I'm sure we'll go.",
    "Hello . world , ok ? ' yes ' !",
    "  leading and trailing  ",
    "tabs\tbetween\twords",
    "many     spaces   inside",
    "line\nbreaks\r\nand\n\nblank lines\n",
    "Café, naïve, résumé, Zürich, São Paulo, Kraków.",
    "Ünïcödé Ωmega ß ÆØÅ ﬁ ligature",
    "Tôi đang học tiếng Việt ở Hà Nội.",
    "今日はとても良い天気ですね。",
    "日本語のテキスト、漢字と仮名とカタカナ。",
    "我们明天去北京看长城。繁體中文也可以嗎？",
    "안녕하세요, 만나서 반갑습니다. 새로운 문장",
    "Привет, как дела? Всё хорошо.",
    "مرحبا، كيف حالك اليوم؟",
    "नमस्ते, आप कैसे हैं? संस्कृतम्",
    "Emoji 😀 🎉 👍 and unseen ones 🦜🦜 🫠 ❤️‍🔥",
    "ＦＵＬＬ　ｗｉｄｔｈ　１２３",
    "Numbers 1234567890, 3.14159 and 2026-11-25 10:55.",
    "\u200b zero width \u00a0 no-break \u3000 ideographic space",
    "a<mask>b and a <mask> b",
    "eng_Latn written in the text, and jpn_Jpan too",
    "x </s> y <s> z <pad> <unk>",
    "<mask><mask>  eng_Latn<s>zho_Hans中文",
]
SOURCES = ["eng_Latn", "jpn_Jpan", "fra_Latn", "zho_Hans", "ace_Arab", "zul_Latn"]


@pytest.fixture(scope="module")
def folders(hf_tokenizer_dir, tmp_path_factory):
    """The checkpoint-like folder, plus variants that exercise the other ways ids get assigned."""
    root = tmp_path_factory.mktemp("tokenizer-variants")
    mask_first = root / "mask-first"  # what a fresh NllbTokenizer(vocab_file) assigns, cleanup off
    make_hf_tokenizer(mask_first, mask_first=True, clean_up_tokenization_spaces=False)
    legacy = root / "legacy"  # `tokens </s> [src_lang]`
    shutil.copytree(hf_tokenizer_dir, legacy)
    _edit_config(legacy, legacy_behaviour=True)
    return {"checkpoint": hf_tokenizer_dir, "mask-first": mask_first, "legacy": legacy}


def _edit_config(folder, drop=(), **changes):
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    for key in drop:
        config.pop(key)
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("variant", ["checkpoint", "mask-first", "legacy"])
def test_ids_and_text_equal_transformers(folders, variant):
    folder = folders[variant]
    tokenizer = Tokenizer.from_folder(folder)
    slow = NllbTokenizer.from_pretrained(folder)
    fast = NllbTokenizerFast.from_pretrained(folder)
    assert tokenizer.vocab_size == len(slow) == len(fast)
    for src in SOURCES:
        slow.src_lang = src
        fast.src_lang = src
        for text in CORPUS:
            ids = tokenizer.encode(text, src)
            assert ids == slow(text).input_ids, (src, text)
            assert ids == fast(text).input_ids, (src, text)
            decoded = tokenizer.decode(ids)
            assert decoded == slow.decode(ids, skip_special_tokens=True), text
            # The fast decoder keeps whitespace left at the ends when end tokens are skipped (<unk>).
            assert decoded == fast.decode(ids, skip_special_tokens=True).strip(), text


def test_layout_and_special_ids(hf_tokenizer_dir, folders):
    slow = NllbTokenizer.from_pretrained(hf_tokenizer_dir)
    tokenizer = Tokenizer.from_folder(hf_tokenizer_dir)
    assert (tokenizer.bos_id, tokenizer.pad_id, tokenizer.eos_id, tokenizer.unk_id) == (0, 1, 2, 3)
    assert tokenizer.pad_id == slow.pad_token_id and tokenizer.eos_id == slow.eos_token_id
    ids = tokenizer.encode("Hello", "jpn_Jpan")
    assert ids[0] == slow.convert_tokens_to_ids("jpn_Jpan") and ids[-1] == tokenizer.eos_id
    legacy = Tokenizer.from_folder(folders["legacy"]).encode("Hello", "jpn_Jpan")
    assert legacy == [*ids[1:], ids[0]]
    # As in the real checkpoint: the codes right after the sentencepiece ids, <mask> last.
    spm_size = len(slow.sp_model)
    assert tokenizer.lang_id("ace_Arab") == spm_size + 1
    assert tokenizer.lang_id("eng_Latn") == spm_size + 1 + 46
    assert slow.convert_tokens_to_ids("<mask>") == tokenizer.vocab_size - 1
    assert tokenizer.language_codes == LANGUAGES


def test_language_ids_follow_the_files(hf_tokenizer_dir, folders):
    """Ids come from tokenizer_config.json, else tokenizer.json, else fairseq's formula."""
    mask_first = folders["mask-first"]
    fast = NllbTokenizerFast.from_pretrained(mask_first)
    _edit_config(mask_first, drop=["added_tokens_decoder"])
    from_json = Tokenizer.from_folder(mask_first)
    for code in ("ace_Arab", "eng_Latn", "zul_Latn"):
        assert from_json.lang_id(code) == fast.convert_tokens_to_ids(code)
        fast.src_lang = code
        assert from_json.encode("Hi <mask>", code) == fast("Hi <mask>").input_ids

    bare = mask_first.parent / "spm-only"
    bare.mkdir()
    shutil.copyfile(hf_tokenizer_dir / "sentencepiece.bpe.model", bare / "sentencepiece.bpe.model")
    reference = NllbTokenizer.from_pretrained(hf_tokenizer_dir)  # the real checkpoint's order
    formula = Tokenizer.from_folder(bare)
    assert formula.vocab_size == len(reference)
    assert [formula.lang_id(c) for c in LANGUAGES] == reference.convert_tokens_to_ids(
        list(LANGUAGES)
    )
    reference.src_lang = "deu_Latn"
    for text in CORPUS:
        assert formula.encode(text, "deu_Latn") == reference(text).input_ids


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.lists(
        st.sampled_from(
            list("abcdeéèñüß xyzHW,.!?'\t\n　😀🦜今日は天気中文한국어ру")
            + ["<mask>", "</s>", "<s>", "<unk>", "eng_Latn", "jpn_Jpan", "  ", "\u2581"]
        ),
        max_size=30,
    ).map("".join),
    src=st.sampled_from(SOURCES),
)
def test_random_text_equals_transformers(hf_tokenizer_dir, text, src):
    tokenizer, slow = _pair(hf_tokenizer_dir)
    slow.src_lang = src
    ids = tokenizer.encode(text, src)
    assert ids == slow(text).input_ids
    assert tokenizer.decode(ids) == slow.decode(ids, skip_special_tokens=True)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_decoding_any_ids_equals_transformers(hf_tokenizer_dir, data):
    """What a model generates: any ids, specials and language codes anywhere, dropped on decoding."""
    tokenizer, slow = _pair(hf_tokenizer_dir)
    ids = data.draw(st.lists(st.integers(0, tokenizer.vocab_size - 1), max_size=40))
    assert tokenizer.decode(ids) == slow.decode(ids, skip_special_tokens=True)


_PAIRS: dict = {}


def _pair(folder):
    if folder not in _PAIRS:
        _PAIRS[folder] = Tokenizer.from_folder(folder), NllbTokenizer.from_pretrained(folder)
    return _PAIRS[folder]


def test_decode_drops_ids_past_the_vocabulary(hf_tokenizer_dir):
    """The real model's embedding has 2 rows more than the tokenizer; they decode to nothing."""
    tokenizer = Tokenizer.from_folder(hf_tokenizer_dir)
    ids = tokenizer.encode("Hello, how are you today?", "eng_Latn")
    padded = [ids[0], tokenizer.vocab_size, *ids[1:3], tokenizer.vocab_size + 1, *ids[3:]]
    assert tokenizer.decode(padded) == tokenizer.decode(ids) == "Hello, how are you today?"


def test_aliases_and_unknown_languages(hf_tokenizer_dir):
    tokenizer = Tokenizer.from_folder(hf_tokenizer_dir)
    slow = NllbTokenizer.from_pretrained(hf_tokenizer_dir)
    jpn = slow.convert_tokens_to_ids("jpn_Jpan")
    assert tokenizer.lang_id("ja") == tokenizer.lang_id("Japanese") == jpn
    assert tokenizer.encode("Hi", "jpn")[0] == jpn
    with pytest.raises(MlxStreamError, match="jpn_Jpan") as error:
        tokenizer.encode("Hi", "Japanse")
    assert "\n" not in str(error.value)
    with pytest.raises(MlxStreamError, match="unknown language"):
        tokenizer.lang_id("</s>")  # a special token is no language


def test_a_language_the_checkpoint_lacks(hf_tokenizer_dir, tmp_path):
    """A tokenizer whose files list only some codes (a fine-tuned checkpoint, say) knows just those."""
    shutil.copyfile(
        hf_tokenizer_dir / "sentencepiece.bpe.model", tmp_path / "sentencepiece.bpe.model"
    )
    specials = {"additional_special_tokens": ["eng_Latn", "fra_Latn"]}
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(specials))
    tokenizer = Tokenizer.from_folder(tmp_path)
    assert tokenizer.language_codes == ("eng_Latn", "fra_Latn")
    assert tokenizer.lang_id("French") == tokenizer.vocab_size - 2  # then <mask>
    with pytest.raises(MlxStreamError, match="no token in this tokenizer.*eng_Latn, fra_Latn"):
        tokenizer.encode("Hi", "ja")


def test_save_copies_what_loading_needs(hf_tokenizer_dir, tmp_path):
    tokenizer = Tokenizer.from_folder(hf_tokenizer_dir)
    tokenizer.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    again = Tokenizer.from_folder(tmp_path)
    slow = NllbTokenizer.from_pretrained(tmp_path)
    slow.src_lang = "fra_Latn"
    for text in CORPUS:
        assert again.encode(text, "fra_Latn") == tokenizer.encode(text, "fra_Latn")
        assert again.encode(text, "fra_Latn") == slow(text).input_ids


def test_bad_folders_are_one_line_errors(hf_tokenizer_dir, tmp_path):
    with pytest.raises(MlxStreamError, match="sentencepiece.bpe.model"):
        Tokenizer.from_folder(tmp_path / "missing")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(hf_tokenizer_dir, corrupt)
    (corrupt / "sentencepiece.bpe.model").write_bytes(b"not a model")
    with pytest.raises(MlxStreamError, match="not a sentencepiece model") as error:
        Tokenizer.from_folder(corrupt)
    assert "\n" not in str(error.value)
    broken_json = tmp_path / "broken-json"
    shutil.copytree(hf_tokenizer_dir, broken_json)
    (broken_json / "tokenizer_config.json").write_text("{ not json")
    with pytest.raises(MlxStreamError, match="not valid JSON"):
        Tokenizer.from_folder(broken_json)
    malformed = tmp_path / "malformed"
    shutil.copytree(hf_tokenizer_dir, malformed)
    _edit_config(malformed, added_tokens_decoder={"x": {"content": "<s>"}})
    with pytest.raises(MlxStreamError, match="malformed"):
        Tokenizer.from_folder(malformed)
    _edit_config(malformed, added_tokens_decoder={"0": {"content": "<s>"}})
    with pytest.raises(MlxStreamError, match="no '<pad>' token"):
        Tokenizer.from_folder(malformed)


def test_runtime_does_not_import_transformers(hf_tokenizer_dir):
    code = (
        "import sys; from mlx_stream.nllb.tokenizer import Tokenizer; "
        f"t = Tokenizer.from_folder({str(hf_tokenizer_dir)!r}); "
        "print(t.decode(t.encode('Hello, how are you today?', 'eng_Latn'))); "
        "print('transformers' in sys.modules, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Hello, how are you today?", "False False"]
