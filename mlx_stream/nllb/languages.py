"""The 202 NLLB-200 languages: codes in the checkpoint's order, English names, and the aliases users type."""

from __future__ import annotations

import difflib
import re
import unicodedata

from ..errors import MlxStreamError

# One line per language, in the order of the checkpoint's language tokens:
#   code[*]  ISO 639-1 (or -)  English name (FLORES-200); more aliases (codes, names, native names)
# `*` marks the language an ambiguous alias means (`zh` is zho_Hans, `Kashmiri` is kas_Arab, ...).
# The ISO 639-3 code (the code's first part) and the name without its "(... script)" are aliases too.
_TABLE = """
ace_Arab  -  Acehnese (Arabic script)
ace_Latn* -  Acehnese (Latin script)
acm_Arab  -  Mesopotamian Arabic; Iraqi Arabic
acq_Arab  -  Ta'izzi-Adeni Arabic
aeb_Arab  -  Tunisian Arabic
afr_Latn  af Afrikaans
ajp_Arab  -  South Levantine Arabic
aka_Latn  ak Akan
amh_Ethi  am Amharic
apc_Arab  -  North Levantine Arabic
arb_Arab  ar Modern Standard Arabic; Arabic; Standard Arabic; ara; العربية
ars_Arab  -  Najdi Arabic
ary_Arab  -  Moroccan Arabic
arz_Arab  -  Egyptian Arabic
asm_Beng  as Assamese
ast_Latn  -  Asturian
awa_Deva  -  Awadhi
ayr_Latn  ay Central Aymara; Aymara; aym
azb_Arab  az South Azerbaijani
azj_Latn* az North Azerbaijani; Azerbaijani; Azeri; aze
bak_Cyrl  ba Bashkir
bam_Latn  bm Bambara
ban_Latn  -  Balinese
bel_Cyrl  be Belarusian
bem_Latn  -  Bemba
ben_Beng  bn Bengali; Bangla
bho_Deva  -  Bhojpuri
bjn_Arab  -  Banjar (Arabic script)
bjn_Latn* -  Banjar (Latin script)
bod_Tibt  bo Standard Tibetan; Tibetan; tib
bos_Latn  bs Bosnian
bug_Latn  -  Buginese
bul_Cyrl  bg Bulgarian
cat_Latn  ca Catalan; Valencian
ceb_Latn  -  Cebuano
ces_Latn  cs Czech; cze; Čeština
cjk_Latn  -  Chokwe
ckb_Arab  ku Central Kurdish; Sorani
crh_Latn  -  Crimean Tatar
cym_Latn  cy Welsh; wel
dan_Latn  da Danish; Dansk
deu_Latn  de German; ger; Deutsch
dik_Latn  -  Southwestern Dinka; Dinka
dyu_Latn  -  Dyula
dzo_Tibt  dz Dzongkha
ell_Grek  el Greek; Modern Greek; gre; Ελληνικά
eng_Latn  en English
epo_Latn  eo Esperanto
est_Latn  et Estonian
eus_Latn  eu Basque; baq
ewe_Latn  ee Ewe
fao_Latn  fo Faroese
pes_Arab* fa Western Persian; Persian; Farsi; fas; per; فارسی
fij_Latn  fj Fijian
fin_Latn  fi Finnish; Suomi
fon_Latn  -  Fon
fra_Latn  fr French; fre; Français
fur_Latn  -  Friulian
fuv_Latn  ff Nigerian Fulfulde; Fulfulde; Fula; Fulani; ful
gla_Latn  gd Scottish Gaelic; Gaelic
gle_Latn  ga Irish
glg_Latn  gl Galician
grn_Latn  gn Guarani
guj_Gujr  gu Gujarati
hat_Latn  ht Haitian Creole; Haitian
hau_Latn  ha Hausa
heb_Hebr  he Hebrew; iw; עברית
hin_Deva  hi Hindi; हिन्दी
hne_Deva  -  Chhattisgarhi
hrv_Latn  hr Croatian
hun_Latn  hu Hungarian; Magyar
hye_Armn  hy Armenian; arm
ibo_Latn  ig Igbo
ilo_Latn  -  Ilocano
ind_Latn  id Indonesian; Bahasa Indonesia
isl_Latn  is Icelandic; ice
ita_Latn  it Italian; Italiano
jav_Latn  jv Javanese
jpn_Jpan  ja Japanese; 日本語
kab_Latn  -  Kabyle
kac_Latn  -  Jingpho; Kachin
kam_Latn  -  Kamba
kan_Knda  kn Kannada
kas_Arab* ks Kashmiri (Arabic script)
kas_Deva  ks Kashmiri (Devanagari script)
kat_Geor  ka Georgian; geo
knc_Arab  kr Central Kanuri (Arabic script)
knc_Latn* kr Central Kanuri (Latin script); Kanuri; kau
kaz_Cyrl  kk Kazakh
kbp_Latn  -  Kabiyè
kea_Latn  -  Kabuverdianu; Cape Verdean Creole
khm_Khmr  km Khmer
kik_Latn  ki Kikuyu; Gikuyu
kin_Latn  rw Kinyarwanda
kir_Cyrl  ky Kyrgyz; Kirghiz
kmb_Latn  -  Kimbundu
kon_Latn  kg Kikongo; Kongo
kor_Hang  ko Korean; 한국어
kmr_Latn* ku Northern Kurdish; Kurmanji; Kurdish; kur
lao_Laoo  lo Lao
lvs_Latn  lv Standard Latvian; Latvian; lav
lij_Latn  -  Ligurian
lim_Latn  li Limburgish
lin_Latn  ln Lingala
lit_Latn  lt Lithuanian
lmo_Latn  -  Lombard
ltg_Latn  -  Latgalian
ltz_Latn  lb Luxembourgish; Letzeburgesch
lua_Latn  -  Luba-Kasai; Tshiluba
lug_Latn  lg Ganda; Luganda
luo_Latn  -  Luo
lus_Latn  -  Mizo
mag_Deva  -  Magahi
mai_Deva  -  Maithili
mal_Mlym  ml Malayalam
mar_Deva  mr Marathi
min_Latn  -  Minangkabau (Latin script)
mkd_Cyrl  mk Macedonian; mac
plt_Latn  mg Plateau Malagasy; Malagasy; mlg
mlt_Latn  mt Maltese
mni_Beng  -  Meitei (Bengali script); Manipuri
khk_Cyrl  mn Halh Mongolian; Mongolian; mon
mos_Latn  -  Mossi
mri_Latn  mi Maori; mao
zsm_Latn  ms Standard Malay; Malay; msa; may
mya_Mymr  my Burmese; Myanmar; bur
nld_Latn  nl Dutch; Flemish; dut; Nederlands
nno_Latn  nn Norwegian Nynorsk; Nynorsk
nob_Latn  nb Norwegian Bokmål; Norwegian; Bokmål; nor; no; Norsk
npi_Deva  ne Nepali; nep
nso_Latn  -  Northern Sotho; Sepedi; Pedi
nus_Latn  -  Nuer
nya_Latn  ny Nyanja; Chichewa; Chewa
oci_Latn  oc Occitan
gaz_Latn  om West Central Oromo; Oromo; orm
ory_Orya  or Odia; Oriya; ori
pag_Latn  -  Pangasinan
pan_Guru  pa Eastern Panjabi; Punjabi; Panjabi
pap_Latn  -  Papiamento
pol_Latn  pl Polish; Polski
por_Latn  pt Portuguese; Brazilian Portuguese; European Portuguese; Português
prs_Arab  fa Dari; fa-AF
pbt_Arab  ps Southern Pashto; Pashto; pus
quy_Latn  qu Ayacucho Quechua; Quechua; que
ron_Latn  ro Romanian; Moldovan; rum
run_Latn  rn Rundi; Kirundi
rus_Cyrl  ru Russian; Русский
sag_Latn  sg Sango
san_Deva  sa Sanskrit
sat_Beng  -  Santali
scn_Latn  -  Sicilian
shn_Mymr  -  Shan
sin_Sinh  si Sinhala; Sinhalese
slk_Latn  sk Slovak; slo
slv_Latn  sl Slovenian; Slovene
smo_Latn  sm Samoan
sna_Latn  sn Shona
snd_Arab  sd Sindhi
som_Latn  so Somali
sot_Latn  st Southern Sotho; Sesotho
spa_Latn  es Spanish; Castilian; Latin American Spanish; Español
als_Latn  sq Tosk Albanian; Albanian; sqi; alb
srd_Latn  sc Sardinian
srp_Cyrl  sr Serbian
ssw_Latn  ss Swati; Swazi
sun_Latn  su Sundanese
swe_Latn  sv Swedish; Svenska
swh_Latn  sw Swahili; swa
szl_Latn  -  Silesian
tam_Taml  ta Tamil
tat_Cyrl  tt Tatar
tel_Telu  te Telugu
tgk_Cyrl  tg Tajik
tgl_Latn  tl Tagalog; Filipino; fil
tha_Thai  th Thai; ภาษาไทย
tir_Ethi  ti Tigrinya
taq_Latn* -  Tamasheq (Latin script)
taq_Tfng  -  Tamasheq (Tifinagh script)
tpi_Latn  -  Tok Pisin
tsn_Latn  tn Tswana; Setswana
tso_Latn  ts Tsonga
tuk_Latn  tk Turkmen
tum_Latn  -  Tumbuka
tur_Latn  tr Turkish; Türkçe
twi_Latn  tw Twi
tzm_Tfng  -  Central Atlas Tamazight; Tamazight
uig_Arab  ug Uyghur; Uighur
ukr_Cyrl  uk Ukrainian; Українська
umb_Latn  -  Umbundu
urd_Arab  ur Urdu
uzn_Latn  uz Northern Uzbek; Uzbek; uzb
vec_Latn  -  Venetian
vie_Latn  vi Vietnamese; Tiếng Việt
war_Latn  -  Waray
wol_Latn  wo Wolof
xho_Latn  xh Xhosa
ydd_Hebr  yi Eastern Yiddish; Yiddish; yid
yor_Latn  yo Yoruba
yue_Hant  -  Yue Chinese; Cantonese; zh-yue
zho_Hans* zh Chinese (Simplified); Simplified Chinese; Mandarin; cmn; chi; zh-CN; zh-SG; zh-Hans; 中文
zho_Hant  zh Chinese (Traditional); Traditional Chinese; zh-TW; zh-HK; zh-Hant; 繁體中文
zul_Latn  zu Zulu
"""


def _parse(table: str):
    codes, names, iso1, aliases, preferred = [], {}, {}, {}, set()
    for line in table.strip().splitlines():
        code, iso, rest = line.split(maxsplit=2)
        if code.endswith("*"):
            code = code[:-1]
            preferred.add(code)
        name, *extra = (part.strip() for part in rest.split(";"))
        codes.append(code)
        names[code] = name
        if iso != "-":
            iso1[code] = iso
        keys = [code, code[:3], name, name.split(" (")[0], *extra] + ([iso] if iso != "-" else [])
        aliases[code] = keys
    return tuple(codes), names, iso1, aliases, preferred


LANGUAGES, _NAMES, _ISO1, _ALIASES, _PREFERRED = _parse(_TABLE)


def _key(text: str) -> str:
    """Fold case, accents and punctuation: 'Norwegian Bokmål' and 'norwegian-bokmal' are one key."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.split(r"[\W_]+", text)).strip()


def _index() -> dict[str, str]:
    candidates: dict[str, list[str]] = {}
    for code, keys in _ALIASES.items():
        for key in map(_key, keys):
            if code not in candidates.setdefault(key, []):
                candidates[key].append(code)
    index = {}
    for key, codes in candidates.items():
        chosen = [c for c in codes if c in _PREFERRED] if len(codes) > 1 else codes
        index[key] = chosen[0] if chosen else codes[0]
    return index


_INDEX = _index()


def resolve_language(name: str) -> str:
    """The NLLB code for an NLLB code, ISO 639-1/639-3 code or English name (case does not matter).

    Ambiguous aliases mean the most used variety: `zh` is zho_Hans, `ar` is arb_Arab, `fa` is pes_Arab.
    A tag with a region (`pt-BR`, `en-US`) means its language.
    """
    key = _key(str(name))
    code = _INDEX.get(key)
    if code is None:
        language, _, region = key.partition(" ")
        if re.fullmatch(r"[a-z]{2}|\d{3}", region):
            code = _INDEX.get(language)
    if code is None:
        raise MlxStreamError(_unknown_message(str(name), key))
    return code


def language_name(code: str) -> str:
    """English name of a language, e.g. 'Japanese' for jpn_Jpan."""
    return _NAMES[resolve_language(code)]


def iso639_1(code: str) -> str | None:
    """Two-letter ISO 639-1 code of a language (`ja` for jpn_Jpan), or None when it has none."""
    return _ISO1.get(resolve_language(code))


def _unknown_message(name: str, key: str) -> str:
    scored = []
    for alias in difflib.get_close_matches(key, _INDEX, n=12, cutoff=0.6) if key else []:
        scored.append((difflib.SequenceMatcher(None, key, alias).ratio(), _INDEX[alias]))
    # Only the near-best: "Japanse" suggests Japanese and Javanese, not everything vaguely alike.
    best = max((score for score, _ in scored), default=0.0)
    suggestions = list(dict.fromkeys(code for score, code in scored if score >= best - 0.15))[:3]
    how = "use an NLLB code like jpn_Jpan, an ISO 639 code like ja or jpn, or an English name"
    if not suggestions:
        return f"unknown language {name!r}: {how}"
    listed = ", ".join(f"{_NAMES[c]} ({c})" for c in suggestions)
    return f"unknown language {name!r}: did you mean {listed}? Or {how}"
