"""What the match index offers inline matching, as a test asks it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from customer_card.matching.decide import Matcher
from customer_card.matching.extract import extract
from customer_card.matching.profile import profile_of
from customer_card.services.matching import MatchIndex, default_config
from customer_card.store.database import Database
from customer_card.store.match_store import MatchStore


def inline_candidates(database: Database, fields: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (source, source id) of every record inline matching would compare with a new
    record of these fields."""
    with database.read() as session:
        index = MatchIndex(MatchStore(session), Matcher(default_config()), "FR")
        found, _ = index.candidates(profile_of(fields, "FR", extract(fields)), 1 << 62, id)
    return {c.ref for c in found}
