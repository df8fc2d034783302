"""A record's match profile: the normalised values matching compares, small enough to store
beside the record and to load by the hundred for each incoming record."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from mypy_extensions import mypyc_attr

from customer_card.matching import normalise
from customer_card.matching.extract import Extracted, extract
from customer_card.matching.link import Identity
from customer_card.matching.normalise import DEFAULT_REGION

_LETTERS = re.compile(r"[^a-z]")
_SEPARATED = re.compile(r"[\s_.]")
# Mailbox names that say nothing about who reads them.
ROLE_MAILBOXES = frozenset(
    {"contact", "info", "infos", "admin", "bonjour", "hello", "famille", "family", "home",
     "maison", "noreply", "client", "commande", "service", "compta", "mail", "email"}
)  # fmt: skip


# Read-only all the same (hashed by its values). Not frozen: mypyc, which compiles it (see
# ``customer_card.native``), cannot unpickle a frozen dataclass, and a sync's second process
# sends profiles to the writing one.
@mypyc_attr(serializable=True)
@dataclass(slots=True, unsafe_hash=True)
class Profile:
    given: str  # folded: 'jocelyne', 'jean pierre', 'j' (an initial)
    family: str  # folded: 'michu', 'le goff', 'm'
    births: tuple[date, ...]  # every plausible reading
    emails: tuple[str, ...]
    phones: tuple[str, ...]  # E.164
    ids: tuple[str, ...]  # 'loyalty_card:2904…', 'crm_id:…'
    social: tuple[str, ...]  # 'twitter:jocelynemichu'
    postcode: str
    city: str
    street: str
    aliases: tuple[str, ...]  # letters of handles and e-mail mailbox names: 'jocelynemichu'

    def identity(self) -> Identity:
        return Identity(
            frozenset({self.given} if self.given else ()),
            frozenset(self.births[:1]),
            frozenset({self.family} if self.family else ()),
        )

    def to_json(self) -> str:
        return json.dumps(
            [
                self.given,
                self.family,
                [d.isoformat() for d in self.births],
                self.emails,
                self.phones,
                self.ids,
                self.social,
                self.postcode,
                self.city,
                self.street,
                self.aliases,
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Profile:
        g, f, b, e, p, i, s, pc, c, st, a = json.loads(text)
        return cls(
            g,
            f,
            tuple(date.fromisoformat(x) for x in b),
            tuple(e),
            tuple(p),
            tuple(i),
            tuple(s),
            pc,
            c,
            st,
            tuple(a),
        )


def profile_of(
    fields: Mapping[str, Any], region: str = DEFAULT_REGION, extracted: Extracted | None = None
) -> Profile:
    """The profile of a customer record's fields (``extracted`` when the caller has it)."""
    x = extracted if extracted is not None else extract(fields, region)
    given, family = normalise.fold(x.given_name), normalise.fold(x.family_name)
    if (
        not given
        and " " in family
        and _SEPARATED.search(x.family_name)
        and family.partition(" ")[0] not in normalise.FAMILY_PARTICLES
    ):
        # A display name in one piece ('jocelyne_michu', 'Jocelyne Michu' without capitals
        # split elsewhere): the first word is the given name — unless it opens a family
        # name ('Da Silva', 'Le Roux'). A hyphen joins one name ('Pierre-Yves',
        # 'Lefebvre-Dumas'): it is not a separator.
        given, _, family = family.partition(" ")
    ids = tuple(f"{k}:{v}" for k, v in x.identifiers if k in ("loyalty_card", "crm_id"))
    social = tuple(v for k, v in x.identifiers if k == "social")
    emails = tuple(v for k, v in x.identifiers if k == "email")
    phones = tuple(v for k, v in x.identifiers if k == "phone")
    aliases: dict[str, None] = {}
    for handle in social:
        core = _LETTERS.sub("", handle.partition(":")[2])
        if len(core) >= 4:
            aliases[core] = None
    for address in emails:
        local = address.partition("@")[0].partition("+")[0]
        core = _LETTERS.sub("", local)
        if len(core) >= 4 and core not in ROLE_MAILBOXES:
            aliases[core] = None
    return Profile(
        given=given,
        family=family,
        births=normalise.birth_date_readings(_text(fields.get("birth_date"))),
        emails=emails,
        phones=phones,
        ids=ids,
        social=social,
        postcode=normalise.postcode(_text(fields.get("postcode"))),
        city=normalise.fold(_text(fields.get("city")) or ""),
        street=normalise.street(_text(fields.get("street"))),
        aliases=tuple(aliases),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
