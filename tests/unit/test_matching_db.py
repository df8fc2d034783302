"""Matching against a real cache: inline (ingest) and batch (match run) agree, a re-run is
idempotent, a threshold change is caught up by a run, exports are complete."""

from __future__ import annotations

import csv
import gc
import io
import json
import sys
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from customer_card import cli, paths
from customer_card.matching.decide import Decision, Matcher
from customer_card.matching.extract import extract
from customer_card.matching.frequency import counted_keys
from customer_card.matching.profile import Profile
from customer_card.services import matching as matching_service
from customer_card.services.demo import build_demo
from customer_card.services.ingest import IngestService
from customer_card.services.matching import (
    MatchIndex,
    MatchService,
    Plan,
    config_path,
    default_config,
)
from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from customer_card.store.match_store import MatchStore
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind, SourceRecord
from tests.conftest import TEST_PASSPHRASE, DemoServices

SMALL_DEMO = 120


def partition(groups: dict[int, int]) -> set[frozenset[int]]:
    members: dict[int, set[int]] = defaultdict(set)
    for item, group in groups.items():
        members[group].add(item)
    return {frozenset(v) for v in members.values()}


def current_partition(database: Database) -> set[frozenset[tuple[str, str]]]:
    with database.read() as session:
        customer_of = MatchStore(session).record_customers()
    members: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for ref, cid in customer_of.items():
        members[cid].add(ref)
    return {frozenset(v) for v in members.values()}


def test_inline_and_batch_agree_on_the_demo(demo_services: DemoServices) -> None:
    service = MatchService(demo_services.database)
    plan = service.plan()  # read-only: the batch decision, not applied

    assert partition(plan.cluster_of) == partition(plan.customer_of)
    with demo_services.database.read() as session:
        pending = {(s.customer_a, s.customer_b) for s in MatchStore(session).suggestions("pending")}
    planned = set()
    for seq, cluster, *_ in plan.suggestions:
        a, b = plan.customer_of[seq], plan.customer_of[cluster]
        planned.add((min(a, b), max(a, b)))
    assert planned == pending


def test_every_link_and_suggestion_carries_its_evidence(demo_services: DemoServices) -> None:
    with demo_services.database.read() as session:
        reasons = session.scalars(select(m.SourceRecord.link_reason)).all()
        suggestions = MatchStore(session).suggestions(None)
    assert all(reasons)
    assert {r.split(" ")[0] for r in reasons} <= {"new", "shares", "probable"}
    assert suggestions
    for s in suggestions:
        assert s.reason
        assert {"probability", "record", "fields", "incoming"} <= set(s.evidence)
        for field in s.evidence["fields"]:
            assert set(field) == {"field", "level", "weight"}


def test_demo_persons_are_mostly_one_customer(demo_services: DemoServices) -> None:
    """The foundation left ~356 customers for 300 persons; probabilistic matching links the
    social accounts and partial support contacts."""
    with demo_services.database.read() as session:
        customers = len(set(MatchStore(session).record_customers().values()))
    assert customers <= 325


@pytest.fixture
def small_demo(database: Database) -> Database:
    build_demo(database, customers=SMALL_DEMO, seed=3)
    return database


def replay_record_by_record(service: MatchService) -> Plan:
    """The batch replay as it was first written: one indexed candidate look-up per record,
    exactly as inline matching makes it. ``plan()`` must decide the same without it."""
    plan = Plan()
    with service.database.read() as session:
        store = MatchStore(session)
        index = MatchIndex(
            store, service.matcher, service.region, max_block_records=service.max_block_records
        )
        for batch in store.iter_records():
            for record in batch:
                plan.customer_of[record.seq] = record.customer_id
                profile = Profile.from_json(record.profile)
                candidates, weak = index.candidates(
                    profile, record.seq, lambda r: plan.cluster_of.get(r.seq, r.seq)
                )
                decision = service.matcher.decide(
                    profile, candidates, record.seq - 1, weak, plan.counts
                )
                plan.counts.add(profile)
                plan.cluster_of[record.seq] = decision.link.cluster if decision.link else record.seq
                for s in decision.suggestions:
                    evidence = {**s.evidence, "incoming": [record.source, record.source_id]}
                    plan.suggestions.append(
                        (record.seq, s.cluster, s.probability, s.reason, evidence)
                    )
    return plan


def assert_plans_equal(plan: Plan, reference: Plan) -> None:
    assert plan.cluster_of == reference.cluster_of
    assert plan.customer_of == reference.customer_of
    assert plan.suggestions == reference.suggestions
    assert plan.counts.counts == reference.counts.counts


def assert_same_plan(service: MatchService) -> Plan:
    plan = service.plan()
    assert_plans_equal(plan, replay_record_by_record(service))
    return plan


def test_the_batch_replay_decides_like_a_look_up_per_record(small_demo: Database) -> None:
    # Lower thresholds and a small phone limit, so that the replay makes links that are
    # not in the cache yet and meets phones too common to link.
    config = replace(default_config().with_thresholds(0.9, 0.3), max_phone_records=2, window=3)
    plan = assert_same_plan(MatchService(small_demo, config=config))
    assert partition(plan.cluster_of) != partition(plan.customer_of)
    assert plan.suggestions


def test_common_block_keys_stop_making_candidates_alike_inline_and_batch(
    small_demo: Database,
) -> None:
    # A tiny limit, so that the demo's name and place keys pass it: the replay and the
    # record-by-record look-up prune the same windows, and pruning drops candidates.
    config = replace(default_config().with_thresholds(0.9, 0.3), window=3)
    pruned = assert_same_plan(MatchService(small_demo, config=config, max_block_records=2))
    unpruned = assert_same_plan(MatchService(small_demo, config=config))
    assert pruned.suggestions != unpruned.suggestions
    # Strong identifiers are never pruned: what a shared e-mail or phone links stays linked.
    with small_demo.read() as session:
        customer_of = MatchStore(session).record_customers()
    assert len(set(pruned.cluster_of.values())) < len(customer_of)


@pytest.mark.skipif(sys.platform != "linux", reason="worker processes are forked (Linux)")
def test_worker_processes_decide_exactly_like_the_sequential_replay(
    small_demo: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching_service, "_CHUNK", 16)  # many stretches per worker
    lowered = replace(default_config().with_thresholds(0.9, 0.3), max_phone_records=2, window=3)
    # The cache as inline matching left it (the workers' assumed clusters hold), then a
    # threshold change (the replay links records of different customers: it decides itself
    # wherever the workers assumed other clusters).
    for service in (
        MatchService(small_demo),
        MatchService(small_demo, config=lowered, max_block_records=2),
    ):
        sequential = service.plan(workers=1)
        parallel = service.plan(workers=2)
        assert_plans_equal(parallel, sequential)
        assert parallel.pairs == sequential.pairs > 0


@pytest.mark.skipif(sys.platform != "linux", reason="worker processes are forked (Linux)")
def test_the_collector_is_as_it_was_after_workers_decided(small_demo: Database) -> None:
    # The collector rests while the workers' decisions come in: afterwards it is as before
    # (a sync's ingest turns it off around its batches), and nothing stays frozen.
    service = MatchService(small_demo)
    assert gc.isenabled()
    service.plan(workers=2)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    gc.disable()
    try:
        service.plan(workers=2)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_windows_are_laid_out_as_each_key_lists_its_records(small_demo: Database) -> None:
    # Small windows and limit, so that keys have records past both.
    config = replace(default_config(), window=2, strong_window=3, max_phone_records=2)
    limit = 3
    with small_demo.read() as session:
        store = MatchStore(session)
        windows = matching_service._Windows.read(store, config, limit)
        groups = list(store.block_groups())
    expected: dict[int, set[int]] = defaultdict(set)
    last_use = [0] * windows.size
    for key, group in groups:
        strong = key.startswith(("e:", "p:", "i:", "s:"))
        width = config.strong_window if strong else config.window
        for i, seq in enumerate(group):
            window = group[max(0, i - width) : i] if strong or i < limit else []
            expected[seq].update(window)
            for c in window:
                last_use[c] = max(last_use[c], seq)
    state = bytearray([2]) * windows.size
    assert {seq: windows.of(seq, state)[0] for seq in expected} == expected
    # Each record is kept in memory exactly until the last record whose windows hold it.
    assert list(windows.last_use) == last_use


@pytest.mark.parametrize(
    ("given", "family", "city"),
    [
        ("jocelyne", "michu", "paris"),
        ("", "le goff", "saint-malo"),
        ("j", "m", ""),
        ('jean "jj"', "o\\brien", 'l"isle'),
        ("zoë", "nguyễn thị", "hà nội"),
        ("", "", ""),
    ],
)
def test_the_keys_a_replay_counts_are_read_from_the_profile_text(
    given: str, family: str, city: str
) -> None:
    profile = Profile(given, family, (), ("a@b.fr",), (), (), (), "75011", city, "", ("jm",))
    text = profile.to_json()
    assert matching_service.counted_keys_of(text) == counted_keys(Profile.from_json(text))
    # The replay keeps a fixed number of slots per record for these keys.
    assert len(counted_keys(profile)) <= matching_service._NAMES


def test_a_run_writes_only_the_name_counts_that_changed(small_demo: Database) -> None:
    service = MatchService(small_demo)
    plan = service.plan()
    with small_demo.write() as session:
        session.execute(update(m.NameFrequency).where(m.NameFrequency.key == "#").values(count=1))
        session.execute(insert(m.NameFrequency).values(key="g:nobody", count=3))
        session.execute(delete(m.NameFrequency).where(m.NameFrequency.key.startswith("f:")))
    service.apply(plan)
    with small_demo.read() as session:
        stored = dict(session.execute(select(m.NameFrequency.key, m.NameFrequency.count)).all())
    assert stored == {k: v for k, v in plan.counts.counts.items() if v}


def test_suggestions_are_recorded_once_per_pair(small_demo: Database) -> None:
    evidence = {"why": "test"}
    with small_demo.write() as session:
        session.execute(delete(m.MergeSuggestion))
        customers = sorted(set(MatchStore(session).record_customers().values()))[:4]
        a, b, c, d = customers
        store = MatchStore(session)
        assert store.suggest(a, b, 0.5, "first", evidence)
        made = store.suggest_many(
            [(b, a, 0.6, "again", evidence), (c, d, 0.7, "new", evidence), (d, c, 0.8, "dup", {})]
        )
    assert made == 1
    with small_demo.read() as session:
        rows = {(s.customer_a, s.customer_b): s for s in MatchStore(session).suggestions(None)}
    assert rows[(a, b)].reason == "first"
    assert (rows[(c, d)].reason, rows[(c, d)].probability) == ("new", 0.7)
    assert rows[(c, d)].evidence == evidence


def test_the_batch_replay_copes_with_deleted_records_and_stale_block_keys(
    small_demo: Database,
) -> None:
    before = MatchService(small_demo).plan()
    with small_demo.write() as session:
        seqs = session.scalars(select(m.MatchRecord.seq).order_by(m.MatchRecord.seq)).all()
        gone = session.scalars(
            select(m.MatchRecord.source_id).where(m.MatchRecord.seq == seqs[10])
        ).one()
        session.execute(
            update(m.SourceRecord).where(m.SourceRecord.source_id == gone).values(deleted=True)
        )
        # An index written by another blocking: a linked record's keys missing, a key too
        # many for others.
        linked = next(seq for seq, cluster in before.cluster_of.items() if cluster != seq)
        session.execute(delete(m.MatchKey).where(m.MatchKey.seq == linked))
        session.execute(insert(m.MatchKey).values(key="x:old", seq=seqs[50]))
        session.execute(insert(m.MatchKey).values(key="x:old", seq=seqs[60]))
    plan = assert_same_plan(MatchService(small_demo))
    assert seqs[10] not in plan.cluster_of
    # The stale keys are looked up one by one, pruned like the others; workers do the same.
    pruned = assert_same_plan(MatchService(small_demo, max_block_records=2))
    assert_plans_equal(MatchService(small_demo, max_block_records=2).plan(workers=2), pruned)
    assert plan.cluster_of[linked] == before.cluster_of[linked]


def test_a_batch_of_records_is_matched_like_one_record_at_a_time(small_demo: Database) -> None:
    # People of the cache under another system's ids (they link to existing customers), then
    # new people with several accounts each (they link within the batch).
    known = DemoGenerator(DemoConfig(customers=25, seed=3)).records()
    new = DemoGenerator(DemoConfig(customers=25, seed=4)).records()
    records = [
        ("batch", f"B{i}", r.fields, extract(r.fields))
        for i, r in enumerate(r for r in (*known, *new) if r.kind == RecordKind.CUSTOMER)
    ]
    now = datetime(2026, 11, 2, tzinfo=UTC)

    def decide(batch: bool) -> list[Decision[int]]:
        with small_demo.read() as session:
            ingest = IngestStore(session)
            index = MatchIndex(MatchStore(session), Matcher(default_config()), "FR")

            def place(i: int, decision: Decision[int]) -> int:
                source, source_id, fields, _ = records[i]
                customer = decision.link.cluster if decision.link else ingest.new_customer(now)
                ingest.insert_source_record(
                    source=source,
                    source_id=source_id,
                    customer_id=customer,
                    fields=fields,
                    updated_at=None,
                    content_hash=source_id,
                    link_reason="test",
                    now=now,
                )
                return customer

            try:
                if batch:
                    return index.match_many(records, place)
                decisions = []
                for i, record in enumerate(records):
                    decisions.append(index.match(*record))
                    place(i, decisions[-1])
                return decisions
            finally:
                session.rollback()

    one_by_one = decide(batch=False)
    assert decide(batch=True) == one_by_one
    assert sum(d.link is not None for d in one_by_one) > len(records) // 3


def test_match_run_is_idempotent(small_demo: Database) -> None:
    before = current_partition(small_demo)
    first = MatchService(small_demo).run()
    second = MatchService(small_demo).run()

    assert (first.merges, first.suggestions, first.would_split) == (0, 0, 0)
    assert (second.merges, second.suggestions, second.would_split) == (0, 0, 0)
    assert current_partition(small_demo) == before


def test_records_from_before_the_match_index_are_indexed_by_a_run(small_demo: Database) -> None:
    with small_demo.write() as session:
        session.execute(delete(m.MatchKey))
        session.execute(delete(m.MatchRecord))
    report = MatchService(small_demo).run()
    with small_demo.read() as session:
        customer_records = session.scalars(
            select(m.SourceRecord.id).where(m.SourceRecord.deleted.is_(False))
        ).all()
        assert MatchStore(session).indexed_count() == len(customer_records)
    assert report.indexed == len(customer_records)


def test_a_run_after_a_threshold_change_merges_like_inline_would(
    database: Database, tmp_path: Path, keychain: object
) -> None:
    from customer_card.store.cache import open_cache
    from customer_card.store.keys import KdfCost

    # First ingest with probabilistic links switched off (deterministic links only).
    user_config = paths.config_dir() / "matching.toml"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    shipped = (paths.resources_dir() / "matching.toml").read_text(encoding="utf-8")
    user_config.write_text(shipped.replace("link = 0.995", "link = 0.99999999999"), "utf-8")
    assert config_path() == user_config
    build_demo(database, customers=SMALL_DEMO, seed=3)
    strict = current_partition(database)
    user_config.unlink()

    report = MatchService(database).run()

    reference = open_cache(tmp_path / "ref.db", keychain, create=True, kdf_cost=KdfCost.minimal())  # type: ignore[arg-type]
    try:
        build_demo(reference.database, customers=SMALL_DEMO, seed=3)
        inline = current_partition(reference.database)
    finally:
        reference.database.dispose()
    assert report.merges > 0
    assert strict != inline
    assert current_partition(database) == inline


def test_exports(demo_services: DemoServices) -> None:
    service = MatchService(demo_services.database)
    links = io.StringIO()
    rows = service.export_links(links)
    parsed = list(csv.DictReader(io.StringIO(links.getvalue())))
    assert len(parsed) == rows
    assert set(parsed[0]) == {"source", "source_id", "customer_id"}
    assert all(r["customer_id"].startswith("C") for r in parsed)

    suggestions = io.StringIO()
    count = service.export_suggestions(suggestions)
    parsed = list(csv.DictReader(io.StringIO(suggestions.getvalue())))
    assert len(parsed) == count
    assert count > 0
    first = parsed[0]
    assert first["records_a"]
    assert first["records_b"]
    assert json.loads(first["evidence"])["fields"]


def test_cli_links_export(
    demo_services: DemoServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", TEST_PASSPHRASE)
    output = tmp_path / "links.csv"
    assert (
        cli.main(["--db", str(demo_services.path), "links", "export", "--output", str(output)]) == 0
    )
    assert output.read_text(encoding="utf-8").startswith("source,source_id,customer_id")
    missing = tmp_path / "nowhere" / "x.csv"
    assert (
        cli.main(["--db", str(demo_services.path), "links", "export", "--output", str(missing)])
        == 1
    )


def test_a_record_corrected_into_another_person_never_merges_two_people(
    database: Database,
) -> None:
    """Jean's shop record is corrected into Marie's (same e-mail and birth date as Marie's CRM
    record). It kept Jean's customer; a match run then linked Marie's records and merged
    Marie's customer into Jean's: two people on one card. Ingest now moves it to Marie's
    customer; in a cache from before that (the record still on Jean's), the run suggests the
    pair instead of merging."""
    jean = {"given_name": "Jean", "family_name": "Dupont", "email": "jd@example.com",
            "birth_date": "1980-05-12"}  # fmt: skip
    marie = {"given_name": "Marie", "family_name": "Curie", "email": "mc@example.com",
             "birth_date": "1970-01-01"}  # fmt: skip
    ingest = IngestService(database)
    ingest.ingest(
        [
            SourceRecord("shop", "1", RecordKind.CUSTOMER, jean),
            SourceRecord("crm", "K1", RecordKind.CUSTOMER, jean),
            SourceRecord("crm", "K2", RecordKind.CUSTOMER, marie),
        ]
    )
    ingest.ingest([SourceRecord("shop", "1", RecordKind.CUSTOMER, marie)])  # corrected
    assert {frozenset({("crm", "K1")}), frozenset({("crm", "K2"), ("shop", "1")})} == (
        current_partition(database)
    )
    # The cache as ingest left it before records moved: the corrected one on Jean's customer.
    with database.write() as session:
        customers = MatchStore(session).record_customers()
        jean_id, marie_id = customers[("crm", "K1")], customers[("crm", "K2")]
        shop = session.execute(
            select(m.SourceRecord.id).where(m.SourceRecord.source == "shop")
        ).scalar_one()
        IngestStore(session).move_record(shop, marie_id, jean_id, "exact e-mail")
    before = current_partition(database)
    assert {("crm", "K1"), ("shop", "1")} in before

    report = MatchService(database).run()
    assert report.merges == 0
    assert report.held == 1
    assert current_partition(database) == before, "Jean's and Marie's records never together"
    with database.read() as session:
        (suggestion,) = session.scalars(select(m.MergeSuggestion))
    assert "a supervisor decides" in suggestion.reason
