"""What the card tells the advisor about merge suggestions: "may be the same person" only for
the ones the model finds probable, not for the family members it keeps apart."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from customer_card import paths
from customer_card.services.cards import CardService
from customer_card.services.ingest import IngestService
from customer_card.services.matching import default_config
from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.match_store import MatchStore
from tests.unit.merge_people import customer


def customer_of(database: Database, source: str, source_id: str) -> int:
    with database.read() as session:
        return int(
            session.scalars(
                select(m.SourceRecord.customer_id)
                .where(m.SourceRecord.source == source)
                .where(m.SourceRecord.source_id == source_id)
            ).one()
        )


def test_a_family_sharing_an_e_mail_is_kept_for_review_without_a_duplicate_banner(
    database: Database, ingest: IngestService
) -> None:
    family = "famille.michu@orange.fr"
    ingest.ingest(
        [
            customer("crm", "C1", given_name="Jean", family_name="Michu", email=family,
                     birth_date="1958-03-02", city="Lyon"),
            customer("eshop", "E1", given_name="Kevin", family_name="Michu", email=family,
                     birth_date="1992-08-30", city="Lyon"),
        ]
    )  # fmt: skip
    jean, kevin = customer_of(database, "crm", "C1"), customer_of(database, "eshop", "E1")
    assert jean != kevin
    with database.read() as session:
        (suggestion,) = session.scalars(select(m.MergeSuggestion)).all()
    # The rule: a shared e-mail with the rest disagreeing is a suggestion, not a link;
    # the model finds it improbable, so the card does not call them the same person.
    assert suggestion.status == "pending"
    assert suggestion.probability < default_config().suggest_threshold
    cards = CardService(database)
    for cid in (jean, kevin):
        card = cards.load(cid)
        assert card is not None
        assert card.pending_suggestions == 0
    # Related customers: a household member, not a possible duplicate.
    (related,) = cards.related(jean)
    assert (related.customer_id, related.relation) == (kevin, "household")
    # Every pending suggestion still counts where asked for (a supervisor's view).
    card = CardService(database, suggestions_from=0.0).load(jean)
    assert card is not None
    assert card.pending_suggestions == 1


def test_the_card_counts_pending_suggestions_from_the_threshold_on(
    database: Database, ingest: IngestService
) -> None:
    ingest.ingest(
        [
            customer("crm", "A", given_name="Ana", family_name="Leroy", city="Nantes"),
            customer("crm", "B", given_name="Paul", family_name="Girard", city="Brest"),
            customer("crm", "C", given_name="Lise", family_name="Morel", city="Albi"),
        ]
    )
    a, b, c = (customer_of(database, "crm", x) for x in "ABC")
    threshold = default_config().suggest_threshold
    with database.write() as session:
        store = MatchStore(session)
        store.suggest(a, b, threshold, "possible match", {})
        store.suggest(a, c, threshold - 0.01, "kept apart", {})
    cards = CardService(database)
    counts = {x: cards.load(x).pending_suggestions for x in (a, b, c)}  # type: ignore[union-attr]
    assert counts == {a: 1, b: 1, c: 0}


def test_a_shared_loyalty_card_with_other_people_behind_it_stays_on_the_card(
    database: Database, ingest: IngestService
) -> None:
    # One card number, two unrelated people: not a family's e-mail but a data error to look at.
    ingest.ingest(
        [
            customer("crm", "C1", given_name="Jean", family_name="Michu",
                     birth_date="1958-03-02", loyalty_card="290410000035"),
            customer("shop", "S1", given_name="Kevin", family_name="Durand",
                     birth_date="1992-08-30", loyalty_card="290410000035"),
        ]
    )  # fmt: skip
    jean, kevin = customer_of(database, "crm", "C1"), customer_of(database, "shop", "S1")
    with database.read() as session:
        (suggestion,) = session.scalars(select(m.MergeSuggestion)).all()
    assert suggestion.probability < default_config().suggest_threshold
    cards = CardService(database)
    card = cards.load(jean)
    assert card is not None
    assert card.pending_suggestions == 1
    (related,) = cards.related(jean)
    assert (related.customer_id, related.relation) == (kevin, "possible_duplicate")


def test_a_broken_matching_file_does_not_keep_cards_from_opening(
    database: Database, ingest: IngestService, profile: Path
) -> None:
    ingest.ingest([customer("crm", "A", given_name="Ana", family_name="Leroy")])
    config = paths.config_dir() / "matching.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[thresholds\nlink = 2\n", encoding="utf-8")
    card = CardService(database).load(customer_of(database, "crm", "A"))
    assert card is not None
    assert card.pending_suggestions == 0
