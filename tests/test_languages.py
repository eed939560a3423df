"""The 202 NLLB-200 language codes, their names and the aliases users type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

from mlx_stream.errors import MlxStreamError
from mlx_stream.nllb import languages
from mlx_stream.nllb.languages import LANGUAGES, iso639_1, language_name, resolve_language


def test_all_202_codes_in_the_checkpoint_order():
    assert len(LANGUAGES) == 202 == len(set(LANGUAGES))
    assert tuple(FAIRSEQ_LANGUAGE_CODES) == LANGUAGES


def test_every_code_resolves_to_itself_whatever_the_case():
    for code in LANGUAGES:
        assert resolve_language(code) == code
        assert resolve_language(code.upper()) == code
        assert resolve_language(code.lower().replace("_", "-")) == code
        assert resolve_language(f"  {code} ") == code


def test_names_are_distinct_and_resolve_back():
    names = [language_name(code) for code in LANGUAGES]
    assert len(set(names)) == 202
    for code, name in zip(LANGUAGES, names):
        assert resolve_language(name) == code
        assert resolve_language(name.upper()) == code


@pytest.mark.parametrize(
    ("alias", "code"),
    [
        ("ja", "jpn_Jpan"),
        ("jpn", "jpn_Jpan"),
        ("Japanese", "jpn_Jpan"),
        ("japanese", "jpn_Jpan"),
        ("en", "eng_Latn"),
        ("en-US", "eng_Latn"),
        ("fr_CA", "fra_Latn"),
        ("fre", "fra_Latn"),
        ("German", "deu_Latn"),
        ("zh", "zho_Hans"),
        ("zh-cn", "zho_Hans"),
        ("zh-TW", "zho_Hant"),
        ("Chinese", "zho_Hans"),
        ("Chinese (Simplified)", "zho_Hans"),
        ("chinese traditional", "zho_Hant"),
        ("Traditional Chinese", "zho_Hant"),
        ("Cantonese", "yue_Hant"),
        ("ar", "arb_Arab"),
        ("Arabic", "arb_Arab"),
        ("ara", "arb_Arab"),
        ("Egyptian Arabic", "arz_Arab"),
        ("fa", "pes_Arab"),
        ("Farsi", "pes_Arab"),
        ("Dari", "prs_Arab"),
        ("Brazilian Portuguese", "por_Latn"),
        ("pt-BR", "por_Latn"),
        ("Norwegian", "nob_Latn"),
        ("Norwegian Bokmal", "nob_Latn"),
        ("no", "nob_Latn"),
        ("Kurdish", "kmr_Latn"),
        ("Sorani", "ckb_Arab"),
        ("ms", "zsm_Latn"),
        ("Malay", "zsm_Latn"),
        ("Latvian", "lvs_Latn"),
        ("Albanian", "als_Latn"),
        ("Swahili", "swh_Latn"),
        ("Filipino", "tgl_Latn"),
        ("Punjabi", "pan_Guru"),
        ("Kashmiri", "kas_Arab"),
        ("Acehnese", "ace_Latn"),
        ("ko", "kor_Hang"),
        ("Ta’izzi-Adeni Arabic", "acq_Arab"),
        ("Kabiye", "kbp_Latn"),
        ("日本語", "jpn_Jpan"),
        ("中文", "zho_Hans"),
        ("Deutsch", "deu_Latn"),
        ("Français", "fra_Latn"),
        ("francais", "fra_Latn"),
        ("Русский", "rus_Cyrl"),
    ],
)
def test_aliases(alias, code):
    assert resolve_language(alias) == code


def test_each_ambiguous_alias_has_one_chosen_meaning():
    meanings: dict[str, set[str]] = {}
    for code, keys in languages._ALIASES.items():
        for key in map(languages._key, keys):
            meanings.setdefault(key, set()).add(code)
    for key, codes in meanings.items():
        if len(codes) > 1:
            assert len(codes & languages._PREFERRED) == 1, (key, codes)


def test_iso_codes_round_trip():
    for code in LANGUAGES:
        assert resolve_language(code[:3]).startswith(code[:3])
        two_letter = iso639_1(code)
        if two_letter is not None:
            assert len(two_letter) == 2
            assert iso639_1(resolve_language(two_letter)) == two_letter
    assert iso639_1("jpn_Jpan") == "ja"
    assert iso639_1("Japanese") == "ja"
    assert iso639_1("yue_Hant") is None


def test_every_xtts_language_is_an_nllb_language():
    """The speech backend maps NLLB codes to XTTS tags through iso639_1; each XTTS tag must be reachable."""
    from TTS.tts.configs.xtts_config import XttsConfig

    for tag in XttsConfig().languages:
        code = resolve_language(tag)
        assert iso639_1(code) == tag.split("-")[0], tag


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("Japanse", "jpn_Jpan"),
        ("jpn_Jpn", "jpn_Jpan"),
        ("Frnch", "fra_Latn"),
        ("germn", "deu_Latn"),
        ("Englsh", "eng_Latn"),
        ("zho_Hnas", "zho_Hans"),
        ("Portugese", "por_Latn"),
    ],
)
def test_typos_suggest_close_matches_in_one_line(typo, meant):
    with pytest.raises(MlxStreamError) as error:
        resolve_language(typo)
    message = str(error.value)
    assert message.startswith(f"unknown language '{typo}'")
    assert meant in message
    assert "\n" not in message
    assert sum(message.count(f"({code})") for code in LANGUAGES) <= 3


@pytest.mark.parametrize("name", ["", "   ", "Klingon", "xx-YY", "zz", "jpn_Latn", "line\nbreak"])
def test_unknown_languages_are_errors(name):
    with pytest.raises(MlxStreamError, match="unknown language") as error:
        resolve_language(name)
    assert "\n" not in str(error.value)


@given(st.text(max_size=20))
def test_any_text_resolves_or_is_a_one_line_error(name):
    try:
        assert resolve_language(name) in LANGUAGES
    except MlxStreamError as error:
        assert "\n" not in str(error)
