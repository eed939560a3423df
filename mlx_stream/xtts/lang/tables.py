"""The per-language words XTTS v2 was trained to hear for abbreviations, symbols and ordinals.

These are the expansions coqui-tts applies before tokenizing; the model learnt to read text spelt
this way, so they must stay exactly as they are (tests compare with coqui's output).
"""

from __future__ import annotations

# Abbreviation -> expansion, tried in this order. An abbreviation counts only when a word starts
# with it and a full stop follows it (Russian: when it is a whole word, without the stop).
ABBREVIATIONS: dict[str, dict[str, str]] = {
    "en": {
        "mrs": "misess", "mr": "mister", "dr": "doctor", "st": "saint", "co": "company",
        "jr": "junior", "maj": "major", "gen": "general", "drs": "doctors", "rev": "reverend",
        "lt": "lieutenant", "hon": "honorable", "sgt": "sergeant", "capt": "captain",
        "esq": "esquire", "ltd": "limited", "col": "colonel", "ft": "fort",
    },
    "es": {
        "sra": "señora", "sr": "señor", "dr": "doctor", "dra": "doctora", "st": "santo",
        "co": "compañía", "jr": "junior", "ltd": "limitada",
    },
    "fr": {
        "mme": "madame", "mr": "monsieur", "dr": "docteur", "st": "saint", "co": "compagnie",
        "jr": "junior", "ltd": "limitée",
    },
    "de": {"fr": "frau", "dr": "doktor", "st": "sankt", "co": "firma", "jr": "junior"},
    "pt": {
        "sra": "senhora", "sr": "senhor", "dr": "doutor", "dra": "doutora", "st": "santo",
        "co": "companhia", "jr": "júnior", "ltd": "limitada",
    },
    "it": {
        "sig": "signore", "dr": "dottore", "st": "santo", "co": "compagnia", "jr": "junior",
        "ltd": "limitata",
    },
    "pl": {"p": "pani", "m": "pan", "dr": "doktor", "sw": "święty", "jr": "junior"},
    "cs": {"dr": "doktor", "ing": "inženýr", "p": "pan"},
    "ru": {"г-жа": "госпожа", "г-н": "господин", "д-р": "доктор"},
    "nl": {"dhr": "de heer", "mevr": "mevrouw", "dr": "dokter", "jhr": "jonkheer"},
    "tr": {"b": "bay", "byk": "büyük", "dr": "doktor"},
    "hu": {"dr": "doktor", "b": "bácsi", "nőv": "nővér"},
}  # fmt: skip
WHOLE_WORD_ABBREVIATIONS = {"ru"}

# What each of these symbols is read as, in this order.
SYMBOLS = "&@%#$£°"
SYMBOL_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("and", "at", "percent", "hash", "dollar", "pound", "degree"),
    "es": ("y", "arroba", "por ciento", "numeral", "dolar", "libra", "grados"),
    "fr": ("et", "arobase", "pour cent", "dièse", "dollar", "livre", "degrés"),
    "de": ("und", "at", "prozent", "raute", "dollar", "pfund", "grad"),
    "pt": ("e", "arroba", "por cento", "cardinal", "dólar", "libra", "graus"),
    "it": ("e", "chiocciola", "per cento", "cancelletto", "dollaro", "sterlina", "gradi"),
    "pl": ("i", "małpa", "procent", "krzyżyk", "dolar", "funt", "stopnie"),
    "ar": ("و", "على", "في المئة", "رقم", "دولار", "جنيه", "درجة"),
    "zh": ("和", "在", "百分之", "号", "美元", "英镑", "度"),
    "cs": ("a", "na", "procento", "křížek", "dolar", "libra", "stupně"),
    "ru": ("и", "собака", "процентов", "номер", "доллар", "фунт", "градус"),
    "nl": ("en", "bij", "procent", "hekje", "dollar", "pond", "graden"),
    "tr": ("ve", "at", "yüzde", "diyez", "dolar", "sterlin", "derece"),
    "hu": ("és", "kukac", "százalék", "kettőskereszt", "dollár", "font", "fok"),
    "ko": ("그리고", "에", "퍼센트", "번호", "달러", "파운드", "도"),
    "hi": ("और", "ऐट दी रेट", "प्रतिशत", "हैश", "डॉलर", "पाउंड", "डिग्री"),
}

# Endings that make the digits before them an ordinal, tried in this order. "." is a full stop
# anywhere; ".$" is a full stop followed by whitespace or the end of the text.
ORDINAL_ENDINGS: dict[str, tuple[str, ...]] = {
    "en": ("st", "nd", "rd", "th"),
    "es": ("º", "ª", "er", "o", "a", "os", "as"),
    "fr": ("º", "ª", "er", "re", "e", "ème"),
    "de": ("st", "nd", "rd", "th", "º", "ª", ".$"),
    "pt": ("º", "ª", "o", "a", "os", "as"),
    "it": ("º", "°", "ª", "o", "a", "i", "e"),
    "pl": ("º", "ª", "st", "nd", "rd", "th"),
    "ar": ("ون", "ين", "ث", "ر", "ى"),
    "cs": (".$",),
    "ru": ("-й", "-я", "-е", "-ое", "-ье", "-го"),
    "nl": ("de", "ste", "e"),
    "tr": (".", "inci", "nci", "uncu", "üncü"),
    "hu": (".", "adik", "edik", "odik", "ödik", "ödike", "ik"),
    "ko": ("번째", "번", "차", "째"),
    "hi": ("st", "nd", "rd", "th"),
}

# num2words spells a currency amount as "<units><and><cents>"; whole amounts drop the last part.
CURRENCY_AND: dict[str, str] = {
    "es": " con ", "fr": " et ", "de": " und ", "pt": " e ", "it": " e ",
}  # fmt: skip
CURRENCY_AND_DEFAULT = ", "

# English and Russian group thousands with commas; the others with a full stop (or anything).
COMMA_THOUSANDS = {"en", "ru"}
