"""Deterministic linking on strong identifiers, guarded against people who share them.

Two records that share an e-mail, a phone, a loyalty card or a social handle are the same
person — unless the rest clearly disagrees: a family sharing one e-mail or landline has
different given names or birth dates. Then the pair becomes a suggestion, not a link.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from rapidfuzz.distance import JaroWinkler, Levenshtein

from customer_card.matching.normalise import fold

# Short forms seen in French and English customer files; both directions are checked.
NICKNAMES: dict[str, frozenset[str]] = {
    "catherine": frozenset({"cathy", "cath", "kathy", "cat"}),
    "christophe": frozenset({"chris", "tof"}),
    "christine": frozenset({"chris", "christie", "tina"}),
    "elisabeth": frozenset({"elise", "babeth", "lisa", "liz", "beth", "betty"}),
    "elizabeth": frozenset({"liz", "beth", "betty", "lisa", "eliza"}),
    "frederic": frozenset({"fred", "fredo"}),
    "frederique": frozenset({"fred"}),
    "guillaume": frozenset({"guigui", "will"}),
    "jean pierre": frozenset({"jp", "jean", "jeanpierre"}),
    "jean claude": frozenset({"jc", "jean"}),
    "jean francois": frozenset({"jf", "jean"}),
    "marie christine": frozenset({"marie", "mc"}),
    "nicolas": frozenset({"nico", "nick"}),
    "alexandre": frozenset({"alex"}),
    "alexandra": frozenset({"alex", "sandra"}),
    "sebastien": frozenset({"seb", "sebas"}),
    "stephane": frozenset({"steph"}),
    "stephanie": frozenset({"steph", "fanny"}),
    "thomas": frozenset({"tom", "tommy"}),
    "maximilien": frozenset({"max"}),
    "maxime": frozenset({"max"}),
    "mathieu": frozenset({"mat", "matt"}),
    "matthieu": frozenset({"mat", "matt"}),
    "benjamin": frozenset({"ben", "benji"}),
    "dominique": frozenset({"dom", "domi"}),
    "emmanuel": frozenset({"manu"}),
    "emmanuelle": frozenset({"manu"}),
    "isabelle": frozenset({"isa", "babette"}),
    "valerie": frozenset({"val"}),
    "patricia": frozenset({"pat", "patty", "patou"}),
    "patrick": frozenset({"pat"}),
    "philippe": frozenset({"phil"}),
    "william": frozenset({"will", "bill", "billy", "liam"}),
    "robert": frozenset({"bob", "rob", "bobby"}),
    "richard": frozenset({"rick", "dick", "rich"}),
    "michael": frozenset({"mike", "mick"}),
    "michel": frozenset({"mimi"}),
    "margaret": frozenset({"maggie", "meg", "peggy"}),
    "jennifer": frozenset({"jen", "jenny"}),
    "anthony": frozenset({"tony"}),
    "antoine": frozenset({"toine", "tony"}),
    "francoise": frozenset({"fanfan"}),
    "jacqueline": frozenset({"jacky", "jackie", "jacquie"}),
    "jacques": frozenset({"jacky", "jackie", "jacquot", "jack"}),
    "daniel": frozenset({"dan", "dany", "danny"}),
    "danielle": frozenset({"dany"}),
    "gabriel": frozenset({"gaby"}),
    "gabrielle": frozenset({"gaby"}),
    "josephine": frozenset({"jo", "josie"}),
    "joseph": frozenset({"jo", "joe", "jojo"}),
    "victoria": frozenset({"vicky"}),
    "caroline": frozenset({"caro"}),
    "charlotte": frozenset({"charlie", "lotte"}),
    "pierre": frozenset({"pierrot"}),
    "laurence": frozenset({"laure"}),
    "monique": frozenset({"momo"}),
    "maurice": frozenset({"momo"}),
    "mohamed": frozenset({"momo", "mo"}),
    "marguerite": frozenset({"margot", "guite"}),
    "jocelyne": frozenset({"jojo", "jo"}),
    "christiane": frozenset({"kiki"}),
    "sandrine": frozenset({"sandy"}),
    "christina": frozenset({"tina"}),
    "suzanne": frozenset({"suzy", "suzon"}),
    "bernadette": frozenset({"bernie"}),
    "charles": frozenset({"charlie", "chuck"}),
    "edward": frozenset({"ed", "eddie", "ted"}),
    "james": frozenset({"jim", "jimmy"}),
    "john": frozenset({"jack", "johnny"}),
    "katherine": frozenset({"kate", "kathy", "katie"}),
    "susan": frozenset({"sue", "suzy"}),
    "rebecca": frozenset({"becky"}),
    "henry": frozenset({"harry", "hank"}),
    "lawrence": frozenset({"larry"}),
    "francis": frozenset({"frank"}),
    "theodore": frozenset({"theo", "ted"}),
    # Common French diminutives (hypocoristics): the doubled syllable and the '-ot'/'-ou'
    # endings are how French families shorten names.
    "bernard": frozenset({"nanard", "bernie"}),
    "gerard": frozenset({"gege", "gerry"}),
    "albert": frozenset({"bebert"}),
    "hubert": frozenset({"bebert"}),
    "henri": frozenset({"riri"}),
    "louis": frozenset({"loulou", "lou"}),
    "louise": frozenset({"loulou", "lou", "lulu"}),
    "lucien": frozenset({"lulu"}),
    "lucienne": frozenset({"lulu"}),
    "lucie": frozenset({"lulu"}),
    "laurent": frozenset({"lolo"}),
    "paul": frozenset({"polo", "popol"}),
    "martine": frozenset({"titine"}),
    "micheline": frozenset({"mimi"}),
    "michele": frozenset({"mimi", "michou", "micha"}),
    "georges": frozenset({"jojo"}),
    "joel": frozenset({"jojo"}),
    "jean": frozenset({"jeannot"}),
    "nathalie": frozenset({"nath", "nat"}),
    "veronique": frozenset({"vero"}),
    "sophie": frozenset({"soso"}),
    "thierry": frozenset({"titi"}),
    "christian": frozenset({"chris"}),
    "christelle": frozenset({"chris"}),
    "elodie": frozenset({"elo"}),
    "raymond": frozenset({"ray"}),
    "francois": frozenset({"francky"}),
    "marie therese": frozenset({"maite"}),
    # Common English diminutives.
    "andrew": frozenset({"andy", "drew"}),
    "christopher": frozenset({"chris", "kit"}),
    "david": frozenset({"dave", "davy"}),
    "donald": frozenset({"don"}),
    "douglas": frozenset({"doug"}),
    "frederick": frozenset({"fred", "freddie"}),
    "gregory": frozenset({"greg"}),
    "jonathan": frozenset({"jon", "jonny"}),
    "joshua": frozenset({"josh"}),
    "kenneth": frozenset({"ken", "kenny"}),
    "matthew": frozenset({"matt"}),
    "nicholas": frozenset({"nick", "nicky"}),
    "peter": frozenset({"pete"}),
    "ronald": frozenset({"ron", "ronnie"}),
    "samuel": frozenset({"sam", "sammy"}),
    "samantha": frozenset({"sam", "sammy"}),
    "stephen": frozenset({"steve"}),
    "steven": frozenset({"steve"}),
    "timothy": frozenset({"tim"}),
    "abigail": frozenset({"abby"}),
    "deborah": frozenset({"deb", "debbie"}),
    "dorothy": frozenset({"dot", "dotty"}),
    "eleanor": frozenset({"ellie", "nell"}),
    "jessica": frozenset({"jess", "jessie"}),
    "pamela": frozenset({"pam"}),
    "gerald": frozenset({"gerry", "jerry"}),
}
_SHORT_TO_FULL: dict[str, set[str]] = {}
for _full, _shorts in NICKNAMES.items():
    for _short in _shorts:
        _SHORT_TO_FULL.setdefault(_short, set()).add(_full)


def full_forms(given: str) -> frozenset[str]:
    """The full given names a short form stands for ('manu' -> emmanuel, emmanuelle)."""
    return frozenset(_SHORT_TO_FULL.get(given, ()))


GIVEN_NAME_SIMILARITY = 0.88
FAMILY_NAME_SIMILARITY = 0.85


@dataclass(frozen=True, slots=True)
class Identity:
    """What is compared when two records share a strong identifier."""

    given_names: frozenset[str]  # folded
    birth_dates: frozenset[date]
    family_names: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        names: Iterable[tuple[str | None, str | None]],
        birth_dates: Iterable[date | None],
    ) -> Identity:
        """From (given, family) name pairs and birth dates; empty values are ignored."""
        pairs = [(fold(g or ""), fold(f or "")) for g, f in names]
        return cls(
            frozenset(g for g, _ in pairs if g),
            frozenset(d for d in birth_dates if d),
            frozenset(f for _, f in pairs if f),
        )

    def __or__(self, other: Identity) -> Identity:
        return Identity(
            self.given_names | other.given_names,
            self.birth_dates | other.birth_dates,
            self.family_names | other.family_names,
        )


@lru_cache(maxsize=65536)
def given_names_compatible(a: str, b: str) -> bool:
    """Folded given names that may denote one person: equal, typo, initial, short form, compound."""
    if a == b:
        return True
    a_compact, b_compact = a.replace(" ", ""), b.replace(" ", "")
    if a_compact == b_compact:
        return True
    if len(a_compact) == 1 or len(b_compact) == 1:  # an initial: 'j' vs 'jocelyne'
        return a_compact[0] == b_compact[0]
    if _initials(a) == b_compact or _initials(b) == a_compact:  # 'jp' vs 'jean pierre'
        return True
    if b in NICKNAMES.get(a, ()) or a in NICKNAMES.get(b, ()):
        return True
    if _SHORT_TO_FULL.get(a, set()) & _SHORT_TO_FULL.get(b, set()):
        return True
    if _typo_of_a_form(a_compact, b) or _typo_of_a_form(b_compact, a):
        return True
    a_words, b_words = set(a.split()), set(b.split())
    if a_words <= b_words or b_words <= a_words:  # 'jean' vs 'jean pierre'
        return True
    shorter, longer = sorted((a_compact, b_compact), key=len)
    if len(shorter) >= 4 and longer.startswith(shorter):  # 'nath', 'vero': cut short
        return True
    return bool(JaroWinkler.similarity(a_compact, b_compact) >= GIVEN_NAME_SIMILARITY)


def _typo_of_a_form(typed: str, name: str) -> bool:
    """Whether ``typed`` is a typo of one of ``name``'s short or full forms: a short form
    and a typo in one record ('Freed' for Frédéric's Fred, 'Caaroline' for Caro's
    Caroline) are two common kinds of noise that meet."""
    if len(typed) < _TYPO_MIN_LENGTH:
        return False
    forms = NICKNAMES.get(name, frozenset()) | _SHORT_TO_FULL.get(name, frozenset())
    # One edit, not a similarity: Stephen is close to Stéphanie, but not by a typo.
    return any(
        Levenshtein.distance(typed, form.replace(" ", ""), score_cutoff=1) <= 1
        for form in forms
        if len(form) >= _TYPO_MIN_LENGTH  # 'tim' and 'tom': too short to tell a typo
    )


_TYPO_MIN_LENGTH = 4


def _initials(name: str) -> str:
    words = name.split()
    return "".join(w[0] for w in words) if len(words) > 1 else ""


def birth_dates_compatible(a: date, b: date) -> bool:
    """Equal, or day and month swapped (a US/FR format mix-up)."""
    return a == b or (a.year == b.year and a.day == b.month and a.month == b.day)


def _swapped(a: Identity, b: Identity) -> bool:
    """``a``'s given name is ``b``'s family name and ``a``'s family name fits ``b``'s given
    name (or ``a`` has no family name to say otherwise). With both names to check, the
    swapped family name may carry a typo, as names filed the right way round do ('Mller
    Aimé' for Aimé Muller); a lone name must be the other record's family name exactly."""
    if not a.given_names & b.family_names and not (
        a.family_names
        and any(
            _family_compatible(given, family)
            for given in a.given_names
            for family in b.family_names
            if len(given) > 1 and len(family) > 1
        )
    ):
        return False
    if not a.family_names:
        return True
    return any(given_names_compatible(f, g) for f in a.family_names for g in b.given_names)


def conflict(incoming: Identity, existing: Identity) -> str | None:
    """Why two records sharing a strong identifier look like different people, or None."""
    # (A value both hold is compatible: ``isdisjoint`` says so before any pair is compared.)
    births_a, births_b = incoming.birth_dates, existing.birth_dates
    if (
        births_a
        and births_b
        and births_a.isdisjoint(births_b)
        and not any(birth_dates_compatible(a, b) for a in births_a for b in births_b)
    ):
        return "different birth dates"
    names_a, names_b = incoming.given_names, existing.given_names
    if (
        names_a
        and names_b
        and names_a.isdisjoint(names_b)
        and not any(given_names_compatible(a, b) for a in names_a for b in names_b)
        # Given and family names swapped in one system: 'DUPONT Jean' filed as given 'Dupont'.
        and not _swapped(incoming, existing)
        and not _swapped(existing, incoming)
    ):
        return "different given names"
    fams_a, fams_b = incoming.family_names, existing.family_names
    if (
        # Only full names on both sides: a lone word ('Bernard', 'Mme Jocelyne') may be either.
        names_a
        and names_b
        and fams_a
        and fams_b
        and fams_a.isdisjoint(fams_b)
        and not any(_family_compatible(a, b) for a in fams_a for b in fams_b)
        and not _swapped(incoming, existing)
        and not _swapped(existing, incoming)
    ):
        # 'Marie Dupont' and 'Marie Martin' on test@test.com, or on a company switchboard.
        return "different family names"
    for lone, full in ((incoming, existing), (existing, incoming)):
        # One name alone ('Laure', 'Mme Simon', a display name) must be one of the other
        # record's names, whichever role it was filed in.
        words = lone.given_names | lone.family_names
        if (
            words
            and not (lone.given_names and lone.family_names)
            and full.given_names
            and full.family_names
            and not any(given_names_compatible(w, g) for w in words for g in full.given_names)
            and not any(_family_compatible(w, f) for w in words for f in full.family_names)
        ):
            return "different names"
    return None


def _family_compatible(a: str, b: str) -> bool:
    """Folded family names that may denote one person: equal, a typo, an initial, or one part
    of a compound name ('lefebvre dumas' and 'dumas')."""
    a_compact, b_compact = a.replace(" ", ""), b.replace(" ", "")
    if a_compact == b_compact:
        return True
    if len(a_compact) == 1 or len(b_compact) == 1:
        return a_compact[:1] == b_compact[:1]
    a_words, b_words = set(a.split()), set(b.split())
    if a_words & b_words:
        return True
    shorter, longer = sorted((a_compact, b_compact), key=len)
    if len(shorter) >= 4 and (longer.startswith(shorter) or longer.endswith(shorter)):
        return True
    return bool(JaroWinkler.similarity(a_compact, b_compact) >= FAMILY_NAME_SIMILARITY)
