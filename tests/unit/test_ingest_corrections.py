"""A changed customer record that is now someone else leaves the customer it was linked to:
a shop that corrects a mistyped account into another person must not leave two people on one
card. A change that keeps the person (a new phone, a married name) moves nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from customer_card.services.cards import CardService
from customer_card.services.ingest import IngestService
from customer_card.store import models as m
from customer_card.store.database import Database
from tests.unit.test_ingest import customer, interaction, outcomes

JEAN: dict[str, Any] = {
    "given_name": "Jean",
    "family_name": "Moreau",
    "birth_date": "1975-06-02",
    "email": "jean.moreau@mail.fr",
    "phone": "06 21 43 65 87",
    "city": "Nantes",
}
MARIE: dict[str, Any] = {
    "given_name": "Marie",
    "family_name": "Lambert",
    "birth_date": "1988-11-23",
    "email": "marie.lambert@post.fr",
    "phone": "06 98 76 54 32",
    "city": "Rennes",
}


def customer_of(database: Database, source: str, source_id: str) -> int:
    with database.read() as session:
        return session.execute(
            select(m.SourceRecord.customer_id)
            .where(m.SourceRecord.source == source)
            .where(m.SourceRecord.source_id == source_id)
        ).scalar_one()


def first_load(ingest: IngestService, database: Database) -> tuple[int, int]:
    ingest.ingest(
        [
            customer("crm", "C1", **JEAN),
            customer("crm", "C2", **MARIE),
            customer("shop", "S1", **JEAN),
            interaction("shop", "O1", "S1", occurred_at="2026-09-01T10:00:00+00:00", amount="40"),
        ]
    )
    jean, marie = customer_of(database, "crm", "C1"), customer_of(database, "crm", "C2")
    assert customer_of(database, "shop", "S1") == jean != marie
    return jean, marie


def test_a_record_corrected_into_another_customer_moves_there_with_its_history(
    ingest: IngestService, database: Database
) -> None:
    jean, marie = first_load(ingest, database)

    # The shop finds that account S1 was Marie's all along, typed under Jean's details.
    report = ingest.ingest([customer("shop", "S1", **MARIE)])

    assert outcomes(report) == {"updated": 1}
    assert (report.moved, report.linked, report.customers_created) == (1, 1, 0)
    assert customer_of(database, "shop", "S1") == marie
    cards = CardService(database)
    jean_card, marie_card = cards.load(jean), cards.load(marie)
    assert jean_card is not None
    assert marie_card is not None
    assert (jean_card.customer.given_name, marie_card.customer.given_name) == ("Jean", "Marie")
    assert {s.source for s in jean_card.sources} == {"crm"}
    assert {p.value for p in jean_card.contact_points} >= {"jean.moreau@mail.fr"}
    assert "marie.lambert@post.fr" not in {p.value for p in jean_card.contact_points}
    # The order of S1 is Marie's now, and so is its value.
    assert (jean_card.interaction_count, marie_card.interaction_count) == (0, 1)
    assert (jean_card.customer.lifetime_value, marie_card.customer.lifetime_value) == (0, 40)
    assert {s.source for s in marie_card.sources} == {"crm", "shop"}

    # An order of S1 arriving later follows it too.
    ingest.ingest(
        [interaction("shop", "O2", "S1", occurred_at="2026-10-01T10:00:00+00:00", amount="5")]
    )
    again = cards.load(marie)
    assert again is not None
    assert again.interaction_count == 2


def test_a_record_corrected_into_someone_unknown_gets_a_customer_of_its_own(
    ingest: IngestService, database: Database
) -> None:
    jean, marie = first_load(ingest, database)
    paul = {
        "given_name": "Paul",
        "family_name": "Girard",
        "birth_date": "1990-01-15",
        "email": "paul.girard@mail.fr",
        "city": "Lille",
    }

    report = ingest.ingest([customer("shop", "S1", **paul)])

    assert (report.moved, report.customers_created) == (1, 1)
    own = customer_of(database, "shop", "S1")
    assert own not in (jean, marie)
    card = CardService(database).load(own)
    assert card is not None
    assert (card.customer.given_name, card.interaction_count) == ("Paul", 1)


def test_a_change_that_keeps_the_person_moves_nothing(
    ingest: IngestService, database: Database
) -> None:
    jean, _ = first_load(ingest, database)

    # A new phone and e-mail, the same person (name and birth date).
    moved = {**JEAN, "phone": "07 11 22 33 44", "email": "j.moreau@newmail.fr"}
    report = ingest.ingest([customer("shop", "S1", **moved)])

    assert outcomes(report) == {"updated": 1}
    assert (report.moved, report.customers_created) == (0, 0)
    assert customer_of(database, "shop", "S1") == jean

    # A record alone on its customer is that customer, whatever it becomes.
    alone = ingest.ingest([customer("crm", "C2", **{**MARIE, "given_name": "Mariette"})])
    assert alone.moved == 0


def test_a_record_corrected_into_a_relative_sharing_the_e_mail_leaves_with_a_suggestion(
    ingest: IngestService, database: Database
) -> None:
    jean, _ = first_load(ingest, database)
    # S1 was Jean's wife's account: the family's one e-mail and landline, her own name and
    # birth date. Two people: apart, with the household suggestion for a supervisor.
    wife = {**JEAN, "given_name": "Sylvie", "birth_date": "1977-09-30"}

    report = ingest.ingest([customer("shop", "S1", **wife)])

    assert report.moved == 1
    own = customer_of(database, "shop", "S1")
    assert own != jean
    with database.read() as session:
        pairs = {
            frozenset((s.customer_a, s.customer_b))
            for s in session.scalars(select(m.MergeSuggestion))
        }
    assert frozenset((own, jean)) in pairs


def test_after_a_correction_match_run_agrees_with_the_cache(
    ingest: IngestService, database: Database
) -> None:
    from customer_card.services.matching import MatchService

    first_load(ingest, database)
    ingest.ingest([customer("shop", "S1", **MARIE)])

    report = MatchService(database).run()

    assert (report.merges, report.suggestions, report.would_split, report.held) == (0, 0, 0, 0)


def test_a_married_name_keeps_the_record_on_its_customer(
    ingest: IngestService, database: Database
) -> None:
    marie, _ = first_load(ingest, database)[::-1]
    ingest.ingest([customer("shop", "S2", **MARIE)])
    assert customer_of(database, "shop", "S2") == marie

    married = {**MARIE, "family_name": "Lambert-Roussel", "email": "marie.roussel@post.fr"}
    report = ingest.ingest([customer("shop", "S2", **married)])

    assert report.moved == 0
    assert customer_of(database, "shop", "S2") == marie


# --- what must not move (found in review: each moved a record of the same person) -------------


def test_a_new_e_mail_or_phone_moves_no_record_linked_by_it(
    ingest: IngestService, database: Database
) -> None:
    # The support desk's contact holds only Jean's e-mail; it linked by it alone. A new
    # address on either record left the other no link, and the record went to a new customer.
    ingest.ingest(
        [
            customer("crm", "C1", **JEAN),
            customer("support", "H1", email=JEAN["email"]),
            customer("support", "H2", phone=JEAN["phone"]),
            interaction("crm", "O1", "C1", occurred_at="2026-09-01T10:00:00+00:00", amount="40"),
        ]
    )
    jean = customer_of(database, "crm", "C1")
    assert customer_of(database, "support", "H1") == customer_of(database, "support", "H2") == jean

    report = ingest.ingest(
        [
            customer("crm", "C1", **{**JEAN, "email": "jean.moreau@newmail.fr"}),
            customer("support", "H1", email="jmoreau@work.fr"),
            customer("support", "H2", phone="07 55 44 33 22"),
        ]
    )

    assert (report.moved, report.customers_created) == (0, 0)
    assert {customer_of(database, s, i) for s, i in (("crm", "C1"), ("support", "H1"))} == {jean}
    assert customer_of(database, "support", "H2") == jean


def test_a_change_on_a_customer_a_supervisor_merged_moves_nothing(
    ingest: IngestService, database: Database
) -> None:
    from customer_card.services.merge import MergeService

    first_load(ingest, database)
    jean, marie = customer_of(database, "crm", "C1"), customer_of(database, "crm", "C2")
    # The supervisor knows better than the model (here: wrongly or not, their decision).
    MergeService(database).merge(jean, marie, actor="supervisor")

    report = ingest.ingest([customer("crm", "C2", **{**MARIE, "phone": "07 00 00 00 01"})])

    assert report.moved == 0
    assert customer_of(database, "crm", "C2") == jean


def test_unmerge_after_a_move_leaves_the_moved_record_s_history_where_it_went(
    ingest: IngestService, database: Database
) -> None:
    from customer_card.services.merge import MergeService
    from customer_card.store.ingest_store import IngestStore

    paul = {"given_name": "Paul", "family_name": "Girard", "birth_date": "1990-01-15"}
    ingest.ingest(
        [
            customer("crm", "C1", **JEAN),
            customer("crm", "C2", **MARIE),
            customer("shop", "S1", **paul),
            interaction("shop", "O1", "S1", occurred_at="2026-09-01T10:00:00+00:00", amount="40"),
        ]
    )
    jean, marie = customer_of(database, "crm", "C1"), customer_of(database, "crm", "C2")
    own = customer_of(database, "shop", "S1")
    merging = MergeService(database)
    event = merging.merge(jean, own, actor="supervisor")
    # Since the merge, S1 went to Marie's card with its order (as a cache from before merged
    # customers kept their records could have it).
    with database.write() as session:
        record = session.execute(
            select(m.SourceRecord.id).where(m.SourceRecord.source == "shop")
        ).scalar_one()
        IngestStore(session).move_record(record, jean, marie, "moved")

    merging.unmerge(event, actor="supervisor")

    with database.read() as session:
        order = session.execute(
            select(m.Interaction.customer_id).where(m.Interaction.source_id == "O1")
        ).scalar_one()
    assert order == marie, "the order went back to the emptied customer, not with its record"


def test_a_record_corrected_away_from_a_deleted_record_leaves_its_card(
    ingest: IngestService, database: Database
) -> None:
    # Jean's CRM record was deleted: S1 was the only live one. Corrected into Marie, it kept
    # Jean's card (and his order), which took Marie's name.
    jean, marie = first_load(ingest, database)
    ingest.ingest(
        [
            interaction("crm", "O9", "C1", occurred_at="2026-08-01T10:00:00+00:00", amount="99"),
            customer("crm", "C1", deleted=True),
        ]
    )

    report = ingest.ingest([customer("shop", "S1", **MARIE)])

    assert report.moved == 1
    assert customer_of(database, "shop", "S1") == marie
    cards = CardService(database)
    left, found = cards.load(jean), cards.load(marie)
    assert left is not None
    assert found is not None
    assert (left.customer.status, left.customer.given_name) == ("deleted", "Jean")
    assert left.customer.lifetime_value == 99  # Jean's own order stays on Jean's card
    assert found.customer.lifetime_value == 40


def test_a_record_alone_on_its_customer_that_now_matches_another_is_suggested(
    ingest: IngestService, database: Database
) -> None:
    # Corrected into Paul, S1 went to a customer of its own; corrected back, it is Jean's
    # again: two cards of one person. It stays (merging customers is a supervisor's or a
    # match run's), and the pair waits for a supervisor (it waited for nothing before).
    jean, _ = first_load(ingest, database)
    paul = {"given_name": "Paul", "family_name": "Girard", "birth_date": "1990-01-15"}
    ingest.ingest([customer("shop", "S1", **paul)])
    own = customer_of(database, "shop", "S1")
    assert own != jean

    report = ingest.ingest([customer("shop", "S1", **JEAN)])

    assert (report.moved, report.suggestions) == (0, 1)
    assert customer_of(database, "shop", "S1") == own
    with database.read() as session:
        (pair,) = session.scalars(select(m.MergeSuggestion)).all()
    assert {pair.customer_a, pair.customer_b} == {own, jean}
    assert pair.probability > 0.9
    # The same change again (a source re-sending it) suggests nothing more.
    again = ingest.ingest([customer("shop", "S1", **{**JEAN, "city": "NANTES"})])
    assert again.suggestions == 0


def test_what_a_moved_record_was_suggested_for_goes_with_it(
    ingest: IngestService, database: Database
) -> None:
    from customer_card.store.match_store import MatchStore

    jean, marie = first_load(ingest, database)
    others = {
        "C3": {"given_name": "Paul", "family_name": "Girard", "birth_date": "1990-01-15"},
        "C4": {"given_name": "Luc", "family_name": "Petit", "birth_date": "1969-04-02"},
        "C5": {"given_name": "Zoé", "family_name": "Roux", "birth_date": "2001-12-24"},
        "C6": {"given_name": "Anne", "family_name": "Morel", "birth_date": "1958-07-14"},
    }
    ingest.ingest([customer("crm", sid, **fields) for sid, fields in others.items()])
    paul, luc, zoe, anne = (customer_of(database, "crm", sid) for sid in others)
    assert len({jean, marie, paul, luc, zoe, anne}) == 6
    by_s1 = {"incoming": ["shop", "S1"]}  # made when S1 came in
    with database.write() as session:
        store = MatchStore(session)
        store.suggest(jean, paul, 0.7, "probable", by_s1)
        store.suggest(jean, luc, 0.7, "probable", {"record": {"source": "shop", "source_id": "S1"}})
        store.suggest(jean, zoe, 0.7, "probable", by_s1)
        store.suggest(jean, marie, 0.7, "probable", by_s1)
        store.suggest(anne, jean, 0.6, "probable", {"incoming": ["crm", "C1"]})
        store.suggest(luc, marie, 0.7, "probable", {"incoming": ["crm", "C2"]})
        store.decide_suggestion(marie, paul, "rejected", "supervisor", datetime.now(UTC))

    def pairs() -> set[tuple[frozenset[int], str, str]]:
        with database.read() as session:
            rows = session.scalars(select(m.MergeSuggestion))
            return {
                (frozenset((s.customer_a, s.customer_b)), s.status, json.dumps(s.evidence))
                for s in rows
            }

    report = ingest.ingest([customer("shop", "S1", **MARIE)])

    assert report.moved == 1
    # S1 is Marie's now: what it was suggested for is Marie's to review, not Jean's (Zoé); a
    # pair Marie had already stays as it was (Luc suggested, Paul rejected); the pair the move
    # joined is gone. What Jean's own record was suggested for stays Jean's.
    assert pairs() == {
        (frozenset((marie, zoe)), "pending", json.dumps(by_s1)),
        (frozenset((marie, luc)), "pending", json.dumps({"incoming": ["crm", "C2"]})),
        (frozenset((marie, paul)), "rejected", json.dumps({})),
        (frozenset((jean, anne)), "pending", json.dumps({"incoming": ["crm", "C1"]})),
    }
