"""Page and offset positions move under a REST read: a row deleted from a page already read
moves the rows after it back by one, into that page. A stopped read therefore starts again at
the first page rather than skipping the row that moved, and a full extract confirms with a
fresh listing what it did not see before marking it deleted. Cursors and next links name a
place that stays put: a stopped read still resumes there."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from customer_card.services.ingest import _Waiting
from customer_card.services.sync_runner import SyncProgress, SyncSummary
from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.sync_store import SyncStore
from sync.connector import CancelToken
from sync.sources import SourcesFile
from tests.sync.conftest import make_runner, write_sources

PAGE = 3


def _row(n: int, updated: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"id": f"C{n}", "first": f"Prénom{n}", "last": f"Nom{n}", "updated": updated}


@dataclass
class Api:
    """What the test server serves (in id order, changed by the tests) and what it was asked."""

    rows: list[dict[str, Any]] = field(default_factory=lambda: [_row(n) for n in range(1, 8)])
    requests: list[str] = field(default_factory=list)
    cap: int | None = None  # the most rows the server answers at once, whatever is asked
    round_offsets: bool = False  # offsets rounded down to the start of a page
    before_answer: Callable[[Mapping[str, str]], None] | None = None
    """Called with a request's query before it is answered: how a test changes the rows
    between two pages of one read, exactly when the read asks for the second."""

    def delete(self, source_id: str) -> None:
        self.rows = [r for r in self.rows if r["id"] != source_id]


def _handler(api: Api) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def send(self, body: Any, headers: Mapping[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            api.requests.append(self.path)
            if api.before_answer is not None:
                api.before_answer(query)
            rows = api.rows
            if url.path == "/v1/customers":  # offset paging
                start, limit = int(query["offset"]), int(query["limit"])
                if api.round_offsets:
                    start -= start % limit
                self.send({"items": rows[start : start + min(limit, api.cap or limit)]})
            elif url.path == "/v1/people":  # page paging, incremental
                since = query.get("updated_since", "")
                rows = [r for r in rows if r["updated"] >= since]
                start = (int(query["page"]) - 1) * PAGE
                self.send({"items": rows[start : start + PAGE]})
            elif url.path == "/v1/cursored":  # keyset pages: the cursor is the last id sent
                after = int(query.get("after", "C0")[1:])
                rest = [r for r in rows if int(r["id"][1:]) > after]
                following = rest[PAGE - 1]["id"] if len(rest) > PAGE else None
                self.send({"items": rest[:PAGE], "next": following})
            elif url.path == "/v1/linked":  # next links
                start = int(query.get("from", "0"))
                headers = {}
                if start + PAGE < len(rows):
                    headers["Link"] = f'</v1/linked?from={start + PAGE}>; rel="next"'
                self.send({"items": rows[start : start + PAGE]}, headers)
            else:
                self.send_error(404)

    return Handler


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    """The API on a loopback port: its state and its base URL."""
    state = Api()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _sources(tmp_path: Path, base: str, path: str, pagination: str, extra: str) -> SourcesFile:
    text = f"""
[sources.crm]
type = "rest"
base_url = "{base}/v1"
max_retries = 0
[sources.crm.streams.customers]
kind = "customer"
path = "{path}"
records = "items"
pagination = {pagination}
id = "id"
{extra}
[sources.crm.streams.customers.fields]
given_name = "first"
family_name = "last"
"""
    return write_sources(tmp_path, text)


OFFSET = f'{{ type = "offset", param = "offset", size_param = "limit", size = {PAGE} }}'
INCREMENTAL = 'since_param = "updated_since"\nsince_field = "updated"'


def _customers(database: Database) -> dict[str, bool]:
    """Every customer record of the source: its id → whether it is marked deleted."""
    with database.read() as session:
        rows = session.execute(
            select(m.SourceRecord.source_id, m.SourceRecord.deleted).where(
                m.SourceRecord.source == "crm"
            )
        ).all()
    return {row.source_id: row.deleted for row in rows}


def _dated(*numbers: int) -> list[dict[str, Any]]:
    return [_row(n, f"2026-01-{10 + n:02d}T00:00:00Z") for n in numbers]


def _saved_since(database: Database) -> Any:
    """The ``since`` the stream's last run saved for the next one."""
    with database.read() as session:
        state = SyncStore(session).state("crm", "customers")
    assert state is not None
    return state["since"]


def _live(*numbers: int) -> dict[str, bool]:
    return {f"C{n}": False for n in numbers}


def _stopped_after_first_page(
    database: Database, sources: SourcesFile, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Run a sync and cancel it once its first page is committed; the state it saved."""
    # A batch is a page and its checkpoint: on a loaded machine, the silent-source watcher
    # must not commit a page before its checkpoint has come.
    monkeypatch.setattr(_Waiting, "PATIENCE_S", 60.0)
    token = CancelToken()

    def cancel_after_first_batch(progress: SyncProgress) -> None:
        if progress.read:
            token.cancel()

    summary = make_runner(database, batch_size=PAGE + 1).run(
        sources.select(None), progress=cancel_after_first_batch, cancel=token
    )
    assert summary.cancelled
    assert summary.errors == {}
    with database.read() as session:
        state = SyncStore(session).state("crm", "customers")
    assert state is not None
    assert state["in_run"] is True, "the read stopped after its first page"
    return dict(state)


def _run(database: Database, sources: SourcesFile) -> SyncSummary:
    summary = make_runner(database).run(sources.select(None))
    assert summary.ok, summary.errors
    return summary


def test_a_stopped_offset_extract_starts_again_and_keeps_the_row_that_moved_back(
    api: tuple[Api, str], database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, base = api
    sources = _sources(tmp_path, base, "/customers", OFFSET, "full_extract = true")
    state = _stopped_after_first_page(database, sources, monkeypatch)
    assert state["next"] == PAGE
    assert _customers(database) == _live(1, 2, 3)

    # C4 moves back into the first page, before the saved offset.
    server.delete("C2")
    server.requests.clear()
    resumed = _run(database, sources)
    assert _customers(database) == {**_live(1, 3, 4, 5, 6, 7), "C2": True}
    assert server.requests[0] == f"/v1/customers?offset=0&limit={PAGE}", "started again"
    assert resumed.total("inserted") == 4
    assert resumed.total("deleted") == 1

    again = _run(database, sources)
    assert again.total("inserted") == again.total("updated") == again.total("deleted") == 0
    assert _customers(database) == {**_live(1, 3, 4, 5, 6, 7), "C2": True}


def test_a_stopped_incremental_page_read_starts_again_with_the_runs_since(
    api: tuple[Api, str], database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, base = api
    pagination = f'{{ type = "page", param = "page", size_param = "size", size = {PAGE} }}'
    incremental = 'since_param = "updated_since"\nsince_field = "updated"'
    sources = _sources(tmp_path, base, "/people", pagination, incremental)
    server.rows = [_row(0, "2026-01-01T00:00:00Z")]
    _run(database, sources)
    # New rows: C3 changed before the others, so a since saved after them would leave it out.
    server.rows += [_row(n, f"2026-01-{10 + n:02d}T00:00:00Z") for n in range(1, 8)]
    server.rows[3] = _row(3, "2026-01-05T00:00:00Z")
    state = _stopped_after_first_page(database, sources, monkeypatch)
    assert state["next"] == 2
    assert _customers(database) == _live(0, 1, 2)

    # C3, new, moves back into the first page.
    server.delete("C1")
    server.requests.clear()
    _run(database, sources)
    assert _customers(database) == _live(0, 1, 2, 3, 4, 5, 6, 7)
    assert server.requests[0] == (
        f"/v1/people?updated_since=2026-01-01T00%3A00%3A00Z&page=1&size={PAGE}"
    ), "started again at the first page, with the run's since"

    server.requests.clear()
    again = _run(database, sources)
    assert again.total("inserted") == again.total("updated") == 0
    assert "updated_since=2026-01-17" in server.requests[0]


def test_a_row_deleted_between_two_pages_of_one_extract_leaves_the_next_one_live(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    """The row that moves back over the page boundary is missed by the read; the fresh listing
    the sweep makes then has it. The deleted row was read before it went: it is marked deleted
    by the next run, the first whose read and listing both miss it."""
    server, base = api
    sources = _sources(tmp_path, base, "/customers", OFFSET, "full_extract = true")
    _run(database, sources)
    assert _customers(database) == _live(1, 2, 3, 4, 5, 6, 7)

    def delete_on_second_page(query: Mapping[str, str]) -> None:
        if query.get("offset") == str(PAGE) and any(r["id"] == "C2" for r in server.rows):
            server.delete("C2")

    server.before_answer = delete_on_second_page
    shifted = _run(database, sources)
    assert shifted.total("deleted") == 0
    assert _customers(database) == _live(1, 2, 3, 4, 5, 6, 7), "C4, skipped, is still live"

    server.before_answer = None
    gone = _run(database, sources)
    assert gone.total("deleted") == 1
    assert _customers(database) == {**_live(1, 3, 4, 5, 6, 7), "C2": True}

    # Nothing missed: no second listing.
    server.requests.clear()
    again = _run(database, sources)
    assert again.total("deleted") == again.total("inserted") == again.total("updated") == 0
    assert len(server.requests) == 3, "two pages and the empty one that ends the read"


@pytest.mark.parametrize(
    ("changed", "rows"),
    [("C2", 7), ("C3", 5)],
    ids=["a row read before", "the row read last, seen again at the end of the next answer"],
)
def test_a_row_changed_during_an_incremental_offset_read_leaves_none_behind(
    api: tuple[Api, str], database: Database, tmp_path: Path, changed: str, rows: int
) -> None:
    """An incremental list ordered by its update time: a row of the first page changes while
    the read asks for the second, so it leaves its place for the end of the list and every row
    after it moves back: C4 crosses the page boundary, unread. Skipped, it would never come
    again once the run saves a newer ``since``: the page before is asked again, ends with C4
    now, and the run keeps its ``since``; the next run reads C4."""
    server, base = api
    server.rows = _dated(*range(1, rows + 1))
    sources = _sources(tmp_path, base, "/customers", OFFSET, INCREMENTAL)

    def change_before_second_page(query: Mapping[str, str]) -> None:
        row = next((r for r in server.rows if r["id"] == changed), None)
        if query.get("offset") != "0" and row is not None and row["last"] != "Nouveau":
            moved = {**row, "last": "Nouveau", "updated": "2026-02-01T00:00:00Z"}
            server.rows = [r for r in server.rows if r["id"] != changed] + [moved]

    server.before_answer = change_before_second_page
    _run(database, sources)
    assert "C4" not in _customers(database)
    assert _saved_since(database) is None, "not past the row the read missed"

    server.before_answer = None
    _run(database, sources)
    assert _customers(database) == _live(*range(1, rows + 1))
    with database.read() as session:
        fields = session.scalar(
            select(m.SourceRecord.fields).where(m.SourceRecord.source_id == changed)
        )
    assert fields["family_name"] == "Nouveau"
    assert _saved_since(database) == "2026-02-01T00:00:00Z"


def test_a_server_that_rounds_offsets_to_its_pages_is_read_whole(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    server, base = api
    server.round_offsets = True
    summary = _run(database, _sources(tmp_path, base, "/customers", OFFSET, ""))
    assert _customers(database) == _live(1, 2, 3, 4, 5, 6, 7)
    assert summary.total("inserted") == 7


def test_an_offset_read_that_loses_its_place_asks_for_the_same_changes_again(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    """Every row of the first page goes before the second is asked for: the rows that moved
    back are not read. The first page, asked again, ends with another row: the run keeps the
    ``since`` it began with, so the next run asks for those changes again."""
    server, base = api
    server.rows = _dated(1, 2, 3, 4, 5, 6, 7)
    sources = _sources(tmp_path, base, "/customers", OFFSET, INCREMENTAL)

    def delete_the_first_page(query: Mapping[str, str]) -> None:
        if query.get("offset") != "0" and server.rows[0]["id"] == "C1":
            server.rows = server.rows[3:]

    server.before_answer = delete_the_first_page
    _run(database, sources)
    assert "C4" not in _customers(database)
    assert _saved_since(database) is None, "not past the rows the read missed"

    server.before_answer = None
    _run(database, sources)
    assert _customers(database) == _live(1, 2, 3, 4, 5, 6, 7)
    assert _saved_since(database) == "2026-01-17T00:00:00Z"


PAGES = f'{{ type = "page", param = "page", size_param = "size", size = {PAGE} }}'


@pytest.mark.parametrize("how", ["changed", "deleted"])
def test_an_incremental_page_read_under_which_the_list_moved_asks_for_its_changes_again(
    api: tuple[Api, str], database: Database, tmp_path: Path, how: str
) -> None:
    """Page numbers cannot be asked from a row: C2 changes (and moves to the end of the list,
    ordered by update time) or goes while page 2 is asked for, and C4 moves back into page 1,
    unread. Each page before the last is asked again: page 1 ends with C4 now, so the run
    keeps its ``since``, and the next run reads C4."""
    server, base = api
    server.rows = _dated(1, 2, 3, 4, 5, 6, 7)
    sources = _sources(tmp_path, base, "/people", PAGES, INCREMENTAL)

    def move_c2(query: Mapping[str, str]) -> None:
        if query.get("page") == "2" and server.rows[1]["id"] == "C2":
            changed = {**server.rows[1], "last": "Nouveau", "updated": "2026-02-01T00:00:00Z"}
            server.rows = [r for r in server.rows if r["id"] != "C2"]
            if how == "changed":
                server.rows.append(changed)

    server.before_answer = move_c2
    _run(database, sources)
    assert "C4" not in _customers(database)
    assert _saved_since(database) is None

    server.before_answer = None
    _run(database, sources)
    assert "C4" in _customers(database)
    assert _saved_since(database) == max(r["updated"] for r in server.rows)


def test_a_list_not_in_update_order_that_moved_keeps_the_runs_since(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    # Newest first: nothing says which value the missed row holds.
    server, base = api
    server.rows = _dated(7, 6, 5, 4, 3, 2, 1)
    sources = _sources(tmp_path, base, "/customers", OFFSET, INCREMENTAL)

    def delete_c6(query: Mapping[str, str]) -> None:
        if query.get("offset") == "3" and server.rows[1]["id"] == "C6":
            server.delete("C6")

    server.before_answer = delete_c6
    _run(database, sources)
    assert "C4" not in _customers(database)
    assert _saved_since(database) is None

    server.before_answer = None
    _run(database, sources)
    assert "C4" in _customers(database)


def test_a_list_whose_values_only_look_in_order_keeps_the_runs_since(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    # In id order, the values the read sees rise (11, 12, 15, 16, 17), but C4, which crosses
    # the boundary unread when C1 goes, holds 13: only the run's own since is safe.
    server, base = api
    server.rows = [
        _row(n, f"2026-01-{day}T00:00:00Z")
        for n, day in ((1, 11), (2, 12), (3, 15), (4, 13), (5, 16), (6, 17))
    ]
    sources = _sources(tmp_path, base, "/people", PAGES, INCREMENTAL)

    def delete_c1(query: Mapping[str, str]) -> None:
        if query.get("page") == "2" and server.rows[0]["id"] == "C1":
            server.delete("C1")

    server.before_answer = delete_c1
    _run(database, sources)
    assert "C4" not in _customers(database)
    server.before_answer = None
    _run(database, sources)
    assert "C4" in _customers(database)


def test_a_row_gone_and_another_come_in_before_the_check_are_seen(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    # Newest first: C16 goes as page 2 is asked (C13 moves back into page 1, unread), and a
    # new C99 comes in as page 1 is asked again: page 1 ends with C14 as before, but it is
    # not the same page.
    server, base = api
    server.rows = list(reversed(_dated(11, 12, 13, 14, 15, 16)))
    sources = _sources(tmp_path, base, "/customers", OFFSET, INCREMENTAL)
    asked: list[str] = []

    def delete_then_insert(query: Mapping[str, str]) -> None:
        asked.append(query["offset"])
        if asked == ["0", "3"]:
            server.delete("C16")
        elif asked == ["0", "3", "0"]:
            server.rows.insert(0, _row(99, "2026-01-30T00:00:00Z"))

    server.before_answer = delete_then_insert
    _run(database, sources)
    assert "C13" not in _customers(database)
    assert _saved_since(database) is None, "the list moved: the next run asks for it all again"

    server.before_answer = None
    _run(database, sources)
    assert "C13" in _customers(database)


def test_an_incremental_page_read_of_a_list_that_stays_put_moves_its_since_on(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    # (A list holding one id twice is not a list that moved.)
    server, base = api
    server.rows = [*_dated(1, 2, 3, 4), _dated(2)[0], *_dated(5, 6)]
    _run(database, _sources(tmp_path, base, "/people", PAGES, INCREMENTAL))
    assert _saved_since(database) == "2026-01-16T00:00:00Z"


@pytest.mark.parametrize(("rows", "cap"), [(1, None), (2, None), (4, None), (5, 1), (5, 2)])
def test_offset_reads_of_one_row_or_from_a_server_with_small_pages_read_everything(
    api: tuple[Api, str], database: Database, tmp_path: Path, rows: int, cap: int | None
) -> None:
    server, base = api
    server.rows, server.cap = [_row(n) for n in range(1, rows + 1)], cap
    summary = _run(database, _sources(tmp_path, base, "/customers", OFFSET, ""))
    assert _customers(database) == _live(*range(1, rows + 1))
    assert summary.total("inserted") == summary.total("read") == rows


@pytest.mark.parametrize(
    ("path", "pagination", "saved", "first_request"),
    [
        (
            "/cursored",
            '{ type = "cursor", param = "after", cursor_path = "next" }',
            "C3",
            "/v1/cursored?after=C3",
        ),
        ("/linked", '{ type = "link" }', "/v1/linked?from=3", "/v1/linked?from=3"),
    ],
)
def test_a_stopped_cursor_or_link_read_resumes_at_its_saved_place(
    api: tuple[Api, str],
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    pagination: str,
    saved: str,
    first_request: str,
) -> None:
    server, base = api
    sources = _sources(tmp_path, base, path, pagination, "")
    state = _stopped_after_first_page(database, sources, monkeypatch)
    assert str(state["next"]).endswith(saved)

    server.requests.clear()
    resumed = _run(database, sources)
    assert server.requests[0] == first_request
    assert f"/v1{path}" not in server.requests, "the first page was not asked for again"
    assert resumed.total("inserted") == 7 - PAGE
    assert _customers(database) == _live(1, 2, 3, 4, 5, 6, 7)
