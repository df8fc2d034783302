"""Search: whatever the caller says (a misspelt name, a phone in any format, an e-mail, a
handle, an id, a city) finds the customer; merged and erased customers never show."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from customer_card.services.ingest import IngestService
from customer_card.services.search import SearchService
from customer_card.store import models as m
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from customer_card.store.keys import KdfCost
from sync.records import RecordKind, SourceRecord
from tests.conftest import TEST_PASSPHRASE

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)

PEOPLE: dict[str, dict[str, str]] = {
    "jocelyne": {
        "given_name": "Jocelyne",
        "family_name": "Michu",
        "email": "jocelyne.michu@mail.fr",
        "phone": "06 12 34 56 78",
        "instagram": "@JocelyneMichu",
        "loyalty_card": "FID 2904-1234",
        "city": "Lyon",
    },
    "marcel": {
        "given_name": "Marcel",
        "family_name": "Proust",
        "email": "marcel.proust@cabourg.fr",
        "phone": "01 44 55 66 77",
        "city": "Cabourg",
    },
    "helene": {
        "given_name": "Hélène",
        "family_name": "Le Goff",
        "phone": "02 98 00 11 22",
        "city": "Brest",
    },
    # A duplicate of Jocelyne, already merged into her: never a result of its own.
    "merged": {
        "given_name": "Jocelyne",
        "family_name": "Michu",
        "email": "j.michu@old-mail.fr",
        "city": "Villeurbanne",
    },
    # Erased on request (GDPR): never a result at all.
    "erased": {
        "given_name": "Gaston",
        "family_name": "Lagaffe",
        "email": "gaston.lagaffe@spirou.be",
        "phone": "07 11 22 33 44",
        "twitter": "@gaston",
        "city": "Bruxelles",
    },
}


@dataclass(frozen=True)
class Cache:
    search: SearchService
    ids: dict[str, int]
    public_ids: dict[str, str]

    def find(self, text: str) -> list[int]:
        return [hit.customer_id for hit in self.search.search(text)]


@dataclass(frozen=True)
class Built:
    database: Database
    ids: dict[str, int]
    public_ids: dict[str, str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The small cache, built once for the module (search only reads it)."""
    path = tmp_path_factory.mktemp("search") / "cache.db"
    opened = open_cache(
        path, None, Unlock(passphrase=TEST_PASSPHRASE), create=True, kdf_cost=KdfCost.minimal()
    )
    database = opened.database
    records = [
        SourceRecord("crm", key, RecordKind.CUSTOMER, fields, updated_at=T0)
        for key, fields in PEOPLE.items()
    ]
    IngestService(database).ingest(records)
    with database.write() as session:
        store = IngestStore(session)
        ids = {key: store.source_records("crm", [key])[key].customer_id for key in PEOPLE}
        public_ids = store.public_ids(ids.values())
        session.execute(
            update(m.Customer)
            .where(m.Customer.id == ids["merged"])
            .values(status="merged", merged_into=ids["jocelyne"])
        )
        session.execute(
            update(m.Customer).where(m.Customer.id == ids["erased"]).values(status="erased")
        )
    assert len(set(ids.values())) == len(PEOPLE), "the test needs five separate customers"
    yield Built(database, ids, {key: public_ids[cid] for key, cid in ids.items()})
    database.dispose()


@pytest.fixture
def cache(built: Built) -> Cache:
    return Cache(SearchService(built.database), built.ids, built.public_ids)


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("Jocelyne Michu", "jocelyne"),
        ("jocelyne michu", "jocelyne"),
        ("Michu Jocelyne", "jocelyne"),
        ("MICHU", "jocelyne"),
        ("Jocelyn Michou", "jocelyne"),
        ("Jocleyne Michu", "jocelyne"),
        ("Marcel Prousst", "marcel"),
        ("Proust Marcel", "marcel"),
        ("helene le goff", "helene"),
        ("Hélène Le Goff", "helene"),
        ("Le Goff Hélène", "helene"),
    ],
)
def test_names(cache: Cache, query: str, who: str) -> None:
    found = cache.find(query)

    assert found, f"nothing found for {query!r}"
    assert found[0] == cache.ids[who]


@pytest.mark.parametrize(
    ("query", "who"),
    [("Jocleyne Mic", "jocelyne"), ("Prousst Marc", "marcel"), ("Le Gof Hél", "helene")],
)
def test_a_misspelt_word_with_the_next_one_half_typed(cache: Cache, query: str, who: str) -> None:
    # Typed so far: a typo in one word, the start of the other (the exact substring search
    # finds nothing; the word index takes the known spellings and the typed start).
    found = cache.find(query)

    assert found, f"nothing found for {query!r}"
    assert found[0] == cache.ids[who]


def test_the_word_index_holds_every_indexed_customer(built: Built) -> None:
    with built.database.read() as session:
        conn = session.connection()
        trigram = conn.exec_driver_sql("SELECT rowid FROM customer_search ORDER BY 1").all()
        words = conn.exec_driver_sql("SELECT rowid FROM customer_search_words ORDER BY 1").all()

    assert trigram
    assert words == trigram


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("06 12 34 56 78", "jocelyne"),
        ("0612345678", "jocelyne"),
        ("06.12.34.56.78", "jocelyne"),
        ("+33612345678", "jocelyne"),
        ("+33 6 12 34 56 78", "jocelyne"),
        ("0033612345678", "jocelyne"),
        ("5678", "jocelyne"),
        ("56 78", "jocelyne"),
        ("01 44 55 66 77", "marcel"),
        ("6677", "marcel"),
        ("1122", "helene"),
    ],
)
def test_phones(cache: Cache, query: str, who: str) -> None:
    assert cache.find(query) == [cache.ids[who]]


@pytest.mark.parametrize(
    "query",
    [
        "jocelyne.michu@mail.fr",
        "JOCELYNE.MICHU@MAIL.FR",
        "Jocelyne.Michu@Mail.Fr",
        " jocelyne.michu@mail.fr ",
    ],
)
def test_email_in_any_case(cache: Cache, query: str) -> None:
    hits = cache.search.search(query)

    assert [h.customer_id for h in hits] == [cache.ids["jocelyne"]]
    assert hits[0].matched == "exact"


@pytest.mark.parametrize("query", ["@jocelynemichu", "@JocelyneMichu", "@jocelyne"])
def test_handle(cache: Cache, query: str) -> None:
    assert cache.find(query) == [cache.ids["jocelyne"]]


def test_public_id_in_any_case(cache: Cache) -> None:
    public_id = cache.public_ids["marcel"]

    assert cache.find(public_id) == [cache.ids["marcel"]]
    assert cache.find(public_id.lower()) == [cache.ids["marcel"]]


def test_loyalty_card_number(cache: Cache) -> None:
    assert cache.find("2904-1234") == [cache.ids["jocelyne"]]


@pytest.mark.parametrize(("query", "who"), [("Cabourg", "marcel"), ("brest", "helene")])
def test_city(cache: Cache, query: str, who: str) -> None:
    assert cache.ids[who] in cache.find(query)


def test_merged_customer_never_shows(cache: Cache) -> None:
    for query in ("Jocelyne Michu", "Michu", "j.michu@old-mail.fr", "Villeurbanne"):
        assert cache.ids["merged"] not in cache.find(query), query
    assert cache.find("Jocelyne Michu") == [cache.ids["jocelyne"]]


@pytest.mark.parametrize(
    "query",
    [
        "Gaston Lagaffe",
        "Lagafe",
        "gaston.lagaffe@spirou.be",
        "07 11 22 33 44",
        "3344",
        "@gaston",
        "Bruxelles",
    ],
)
def test_erased_customer_never_shows(cache: Cache, query: str) -> None:
    assert cache.find(query) == []


def test_erased_public_id_finds_nothing(cache: Cache) -> None:
    assert cache.find(cache.public_ids["erased"]) == []


@pytest.mark.parametrize("query", ["", "   ", "zzzzzz", "xq"])
def test_nothing_to_find(cache: Cache, query: str) -> None:
    assert cache.find(query) == []


def test_hits_show_the_systems_each_customer_is_known_in(demo_services: Any) -> None:
    """Source badges are read for the hits shown only, each from the hit's own records."""
    hits = demo_services.search.search("Lyon", limit=30)
    assert len(hits) > 5
    for hit in hits:
        card = demo_services.cards.load(hit.customer_id)
        assert hit.sources == tuple(sorted({p.source for p in card.sources}))
    assert len({h.sources for h in hits}) > 1
    (jocelyne,) = demo_services.search.search("Jocelyne Michu", limit=10)
    assert jocelyne.sources == ("crm", "eshop", "loyalty", "social", "support")
