"""Normalisers: turn what company systems send into values that compare.

Every function is pure and keeps invalid input visible (flagged) rather than dropping it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from sync.mapping import FAMILY_PARTICLES as FAMILY_PARTICLES

DEFAULT_REGION = "FR"

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Normalised:
    raw: str
    value: str  # comparable form; the cleaned raw value when invalid
    valid: bool


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower case, no accents, punctuation to spaces: 'Hélène  LE-GOFF' -> 'helene le goff'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = stripped.replace("ß", "ss").replace("æ", "ae").replace("œ", "oe").replace("ø", "o")
    return _NON_ALNUM.sub(" ", stripped).strip()


def name_tokens(*parts: str | None) -> list[str]:
    tokens: list[str] = []
    for part in parts:
        if part:
            tokens.extend(fold(part).split())
    return tokens


def display_name(text: str | None) -> str:
    """Tidy a name for display: trims spaces, title-cases names sent in all capitals."""
    if not text:
        return ""
    cleaned = _SPACES.sub(" ", text).strip()
    if cleaned.isupper() or cleaned.islower():
        return _title_name(cleaned)
    return cleaned


def _title_name(text: str) -> str:
    out = []
    for word in text.split(" "):
        pieces = re.split(r"([-'’])", word.lower())
        out.append("".join(p.capitalize() if p not in "-'’" else p for p in pieces))
    return " ".join(out)


TITLES = frozenset(
    {"m", "mme", "mlle", "mr", "mrs", "ms", "miss", "dr", "pr", "me", "monsieur", "madame"}
)


def split_full_name(full_name: str) -> tuple[str, str]:
    """'Jocelyne MICHU' -> ('Jocelyne', 'MICHU'); 'MICHU Jocelyne' -> ('Jocelyne', 'MICHU').

    A word in capitals is taken as the family name (a common French convention) — but not a
    compound given name's initials ('J-P Besnard', 'A-M Maillard'); otherwise the last word
    is the family name, with the particles just before it ('G. Le Roux', 'M. Da Silva',
    'Anne de la Tour').
    """
    words = [w for w in _SPACES.sub(" ", full_name).strip().split(" ") if w]
    while words and words[0].casefold().rstrip(".") in TITLES:
        words = words[1:]
    if not words:
        return "", ""
    if len(words) == 1:
        return "", words[0]
    upper = [
        w
        for w in words
        if w.isupper() and len(w) > 1 and not w.endswith(".") and not _INITIALS.match(w)
    ]
    if upper and len(upper) < len(words):
        family = " ".join(upper)
        given = " ".join(w for w in words if w not in upper)
        return given, family
    start = len(words) - 1
    while start > 0 and _particle(words[start - 1]):
        start -= 1
    return " ".join(words[:start]), " ".join(words[start:])


# A compound given name by its initials ('J-P', 'A.-M', 'M-H'): capitals, not a family name.
_INITIALS = re.compile(r"^(?:[^\W\d_]\.?-){1,2}[^\W\d_]\.?$")


def _particle(word: str) -> bool:
    """A word that opens a family name ('de', 'Le', 'St.'), not an initial: 'L.' and 'D.'
    abbreviate a given name ('L. Boucher'), while 'L'' and 'D'' open one (L'Hermite)."""
    folded = fold(word)
    return folded in FAMILY_PARTICLES and not (len(folded) == 1 and word.endswith("."))


@lru_cache(maxsize=65536)
def phone(raw: str, region: str = DEFAULT_REGION) -> Normalised:
    """E.164 when the number parses and is valid; otherwise the digits, flagged invalid."""
    text = raw.strip()
    candidate = text
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return Normalised(raw, re.sub(r"\D", "", text), False)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Normalised(raw, e164, phonenumbers.is_valid_number(number))


@lru_cache(maxsize=65536)
def national_digits(e164: str, region: str = DEFAULT_REGION) -> str:
    """'+33612345678' -> '0612345678' (what people type), or the digits when unparseable."""
    try:
        number = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", e164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return re.sub(r"\D", "", national)


def national_number(e164: str) -> str:
    """'+32486027170' -> '486027170': an E.164 number without its country code, which a
    number written without one ('0486 02 71 70' in a record with no country, read as French)
    keeps under the wrong code; '' for anything else. Country codes are prefix-free (no code
    opens another), so the first one to match is the code: no parsing."""
    digits = e164[1:]
    if not e164.startswith("+") or not digits.isdigit():
        return ""
    for size in (1, 2, 3):
        if int(digits[:size]) in COUNTRY_CODE_TO_REGION_CODE:
            return digits[size:]
    return ""


@lru_cache(maxsize=65536)
def is_mobile(e164: str) -> bool:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


@lru_cache(maxsize=65536)
def email(raw: str) -> Normalised:
    """Lower-cased address when its syntax is valid (no DNS look-up); else trimmed, flagged."""
    text = raw.strip()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return Normalised(raw, text.lower(), False)
    return Normalised(raw, result.normalized.lower(), True)


def handle(raw: str) -> Normalised:
    """Social handle without '@', lower case: '@JocelyneMichu' -> 'jocelynemichu'."""
    text = raw.strip().lstrip("@").strip().lower()
    valid = bool(re.fullmatch(r"[a-z0-9_.]{1,30}", text))
    return Normalised(raw, text, valid)


def card_number(raw: str) -> Normalised:
    """Loyalty card number: its digits when it has 8 or more ('FID 2904 1000 0035' ->
    '290410000035', as other systems store it), else upper-case letters and digits."""
    digits = re.sub(r"\D", "", raw)
    if len(digits) >= 8:
        return Normalised(raw, digits, True)
    text = re.sub(r"[^0-9A-Za-z]", "", raw).upper()
    return Normalised(raw, text, len(text) >= 6)


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%d/%m/%y")


# An ISO date with a time: what a spreadsheet's date cell, a database's timestamp or a JSON
# API gives for a date (midnight, often in UTC). The date as written is the birth date.
_DATE_AND_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


def _date_text(raw: object) -> str:
    """A birth date's text, whatever the source gave: a date or a datetime as its ISO date, a
    whole number as its digits (19610403), an ISO date and time as its date."""
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    written = _DATE_AND_TIME.fullmatch(text)
    return written.group(1) if written else text


def birth_date(raw: object) -> date | None:
    """Parse a birth date in the common formats (day first, as in France); None when unparseable.
    Not only text: a JSON number, a spreadsheet's date cell, a database's date (a number
    stopped a whole source: ``'int' object has no attribute 'strip'``)."""
    if raw is None or raw == "":
        return None
    parsed, fmt = _parse_date(_date_text(raw))
    if parsed is not None and fmt == "%d/%m/%y" and parsed.year > date.today().year:
        parsed = parsed.replace(year=parsed.year - 100)
    return parsed


# Dates written as eight digits, as exports and forms without separators send them:
# '19610403' (year first, ISO 8601's basic form) and '03041961' (day first). A birth year
# (18xx to 20xx) cannot be read as a month, so the two never read one text both ways.
_COMPACT_DATE = re.compile(r"\d{8}")
_COMPACT_FORMATS = ("%Y%m%d", "%d%m%Y")
_FIRST_BIRTH_YEAR = 1850


@lru_cache(maxsize=65536)
def _parse_date(text: str) -> tuple[date | None, str]:
    """The first format that reads ``text`` (strptime is slow and the same dates recur)."""
    if _COMPACT_DATE.fullmatch(text):
        for fmt in _COMPACT_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt).date()
            except ValueError:
                continue
            if parsed.year >= _FIRST_BIRTH_YEAR:
                return parsed, fmt
        return None, ""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date(), fmt
        except ValueError:
            continue
    return None, ""


def birth_date_readings(raw: object) -> tuple[date, ...]:
    """Every plausible reading of a birth date: '03/04/1961' is 3 April in France but 4 March
    when it came from a US-formatted system; ISO dates have one reading."""
    first = birth_date(raw)
    if first is None or raw is None:
        return ()
    year_first = _parse_date(_date_text(raw))[1].startswith("%Y")
    if first.day <= 12 and first.day != first.month and not year_first:
        return (first, first.replace(month=first.day, day=first.month))
    return (first,)


# Name particles that some systems keep and others drop or glue: 'de La Fontaine', 'Lafontaine'.
PARTICLES = frozenset(
    {"de", "du", "des", "la", "le", "les", "d", "l", "van", "von", "der", "den", "da", "di", "dos",
     "del", "el", "al", "ben", "bin", "mac", "st", "saint", "sainte", "y"}
)  # fmt: skip


@lru_cache(maxsize=65536)
def name_core(text: str) -> str:
    """Folded name without particles or spaces: 'de La Fontaine' -> 'fontaine',
    'Lefebvre-Dumas' -> 'lefebvredumas'; the particles alone are kept ('Le' -> 'le')."""
    words = fold(text).split()
    kept = [w for w in words if w not in PARTICLES]
    return "".join(kept or words)


_PHONETIC_RULES: tuple[tuple[str, str], ...] = (
    ("sch", "s"), ("ch", "s"), ("sh", "s"), ("bv", "v"), ("ph", "f"), ("qu", "k"), ("ck", "k"),
    ("gu", "g"), ("ge", "je"),
    ("gi", "ji"), ("ce", "se"), ("ci", "si"), ("cy", "si"), ("ç", "s"), ("c", "k"),
    ("q", "k"), ("w", "v"), ("z", "s"), ("y", "i"), ("x", "ks"), ("h", ""),
    ("eau", "o"), ("au", "o"), ("ai", "e"), ("ei", "e"), ("ou", "u"), ("oe", "e"),
)  # fmt: skip


@lru_cache(maxsize=65536)
def phonetic(text: str) -> str:
    """A coarse sound key for blocking (French and English spellings): the first letter, then
    the consonants with doubles collapsed and silent endings dropped. 'Michu', 'Mishu' and
    'MICHOU' share 'MC'; 'Lefèvre' and 'Lefebvre' share 'LFVR'. Never used to decide alone."""
    word = fold(text).replace(" ", "")
    if not word:
        return ""
    first = word[0]
    for old, new in _PHONETIC_RULES:
        word = word.replace(old, new)
    word = re.sub(r"(.)\1+", r"\1", word)
    word = re.sub(r"(?<=.)[stdxp]$", "", word)
    word = re.sub(r"(?<=..)e[rs]$", "e", word)
    skeleton = re.sub(r"[aeiou]", "", word[1:])
    skeleton = re.sub(r"(.)\1+", r"\1", skeleton)
    head = "A" if first in "aeiouy" else word[:1]
    return (head + skeleton).upper()[:6]


# Street types as people write them, to one form: 'av.' and 'avenue' compare equal.
_STREET_TYPES = {
    "av": "avenue", "ave": "avenue", "bd": "boulevard", "bld": "boulevard", "blvd": "boulevard",
    "boul": "boulevard", "r": "rue", "ch": "chemin", "che": "chemin", "pl": "place",
    "imp": "impasse", "all": "allee", "rte": "route", "sq": "square", "crs": "cours",
    "fbg": "faubourg", "fg": "faubourg", "qu": "quai", "pass": "passage", "res": "residence",
    "st": "saint", "ste": "sainte", "str": "street", "rd": "road", "ln": "lane", "dr": "drive",
    "apt": "apartment", "bis": "bis", "ter": "ter",
}  # fmt: skip


def street(raw: str | None) -> str:
    """Folded street with street types spelt out: '12, Av. Paul-Bert' -> '12 avenue paul bert'."""
    if not raw:
        return ""
    words = fold(raw).split()
    return " ".join(_STREET_TYPES.get(w, w) for w in words)


def postcode(raw: str | None) -> str:
    """Postcode without spaces, upper case: ' 69 003' -> '69003', 'sw1a 1aa' -> 'SW1A1AA'."""
    if not raw:
        return ""
    return re.sub(r"[^0-9A-Za-z]", "", str(raw)).upper()


# Values people type when a form insists: never evidence that two records are one person.
PLACEHOLDER_MAILBOXES = frozenset(
    {
        "noemail",
        "no-email",
        "no.email",
        "nomail",
        "no-mail",
        "pasdemail",
        "pas-de-mail",
        "aucun",
        "aucune",
        "none",
        "null",
        "nil",
        "na",
        "n.a",
        "test",
        "tests",
        "essai",
        "inconnu",
        "unknown",
        "noreply",
        "no-reply",
        "donotreply",
        "xxx",
        "xx",
        "x",
        "a",
        "client",
        "customer",
        "refus",
        "refuse",
    }
)
PLACEHOLDER_DOMAINS = frozenset(
    {"test.com", "test.fr", "noemail.com", "nomail.com", "none.com", "aucun.fr", "invalid"}
)


def placeholder_email(normalised: str) -> bool:
    """'noemail@noemail.com', 'test@test.com', 'x@x.fr': an address nobody reads."""
    mailbox, _, domain = normalised.rpartition("@")
    if mailbox in PLACEHOLDER_MAILBOXES or domain in PLACEHOLDER_DOMAINS:
        return True
    return domain.endswith((".invalid", ".test", ".localhost"))


def placeholder_phone(e164: str) -> bool:
    """'+33600000000', '+33611111111': a number typed to get past a form."""
    return len(set(e164.lstrip("+")[-8:])) <= 1
