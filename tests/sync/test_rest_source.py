"""The rest connector against a real local HTTP server that paginates in four ways, fails
transiently (500/503), rate-limits (429 + Retry-After) and requires authentication."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from customer_card.services.sync_runner import SyncSummary
from customer_card.store.database import Database
from customer_card.store.sync_store import SyncStore
from sync.rest_source import _shown
from sync.sources import store_secret
from tests.sync.conftest import make_runner, write_sources

TOKEN = "s3cret-token"
API_KEY = "k-123"
CUSTOMERS = [
    {
        "id": f"W{i:03d}",
        "profile": {"first": f"Prénom{i}", "last": f"Nom{i}", "email": f"w{i}@example.fr"},
        "updated": f"2026-01-{1 + i % 20:02d}T10:00:00+00:00",
    }
    for i in range(1, 24)
]
ORDERS = [
    {
        "number": f"O{i}",
        "client": f"W{1 + i % 23:03d}",
        "date": "05/01/2026 14:30",
        "total": "49,90",
    }
    for i in range(31)
]
TICKETS = [
    {"ref": f"T{i}", "who": f"W{1 + i % 23:03d}", "at": "2026-01-05T09:00:00Z"} for i in range(17)
]
CONSENTS = [
    {"key": f"W{i:03d}:newsletter", "customer": f"W{i:03d}", "ok": "O"} for i in range(1, 12)
]


@dataclass
class Api:
    """What the test server serves and what it saw."""

    customers: list[dict[str, Any]] = field(default_factory=lambda: list(CUSTOMERS))
    requests: list[str] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)
    """Path → statuses to answer first (then the real answer)."""
    elsewhere: str = ""
    """Another server's address, which /v1/leaky names as its next page and /v1/moved
    redirects to."""
    api_keys: list[str] = field(default_factory=list)
    """The X-Api-Key headers received."""
    broken_pages: set[str] = field(default_factory=set)
    """Pages of /v1/customers that answer 500, however often asked."""


def page(items: list[Any], start: int, size: int) -> list[Any]:
    return items[start : start + size]


def handler_for(api: Api) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            api.requests.append(self.path)
            if "X-Api-Key" in self.headers:
                api.api_keys.append(self.headers["X-Api-Key"])
            planned = api.failures.get(url.path)
            if planned:
                status = planned.pop(0)
                self.send(
                    status, {"error": "try later"}, {"Retry-After": "2"} if status == 429 else None
                )
                return
            auth = self.headers.get("Authorization", "")
            if url.path == "/v1/customers":
                if auth != f"Bearer {TOKEN}":
                    self.send(401, {"error": "unauthorised"})
                    return
                if query.get("page") in api.broken_pages:
                    self.send(500, {"error": "database timeout"})
                    return
                since = query.get("updated_since", "")
                items = [c for c in api.customers if c["updated"] >= since]
                number, size = int(query["page"]), int(query["per_page"])
                self.send(200, {"data": {"items": page(items, (number - 1) * size, size)}})
            elif url.path == "/v1/orders":
                if self.headers.get("X-Api-Key") != API_KEY:
                    self.send(403, {"error": "forbidden"})
                    return
                offset, limit = int(query["offset"]), int(query["limit"])
                self.send(200, {"results": page(ORDERS, offset, limit)})
            elif url.path == "/v1/tickets":
                expected = "Basic " + base64.b64encode(b"agent:pw").decode()
                if auth != expected:
                    self.send(401, {"error": "unauthorised"})
                    return
                start = int(query.get("from", "0"))
                headers = {}
                if start + 5 < len(TICKETS):
                    headers["Link"] = f'</v1/tickets?from={start + 5}>; rel="next"'
                self.send(200, page(TICKETS, start, 5), headers)
            elif url.path == "/v1/keyed-tickets":  # an API key in the query, next links
                if query.get("api_key") != API_KEY:
                    self.send(403, {"error": "forbidden"})
                    return
                start = int(query.get("from", "0"))
                headers = {}
                if start + 5 < len(TICKETS):
                    headers["Link"] = f'</v1/keyed-tickets?from={start + 5}>; rel="next"'
                self.send(200, page(TICKETS, start, 5), headers)
            elif url.path == "/v1/leaky":
                link = f'<{api.elsewhere}/v1/tickets?from=5>; rel="next"'
                self.send(200, page(TICKETS, 0, 5), {"Link": link})
            elif url.path == "/v1/moved":
                self.send(302, {}, {"Location": f"{api.elsewhere}/v1/orders?offset=0&limit=5"})
            elif url.path == "/v1/same-cursor":  # a broken API: always the same next cursor
                self.send(200, {"items": page(CONSENTS, 0, 4), "meta": {"next": "p2"}})
            elif url.path == "/v1/same-link":  # a broken API: the last page names itself
                headers = {"Link": '</v1/same-link?from=5>; rel="next"'}
                self.send(200, page(TICKETS, int(query.get("from", "0")), 5), headers)
            elif url.path == "/v1/no-paging":  # ignores every query parameter
                self.send(200, {"results": page(ORDERS, 0, 10)})
            elif url.path == "/v1/nothing-yet":  # a new API: no list at all when empty
                self.send(200, {"meta": {"total": 0}, "data": None})
            elif url.path == "/v1/wrapped":
                self.send(200, {"data": {"results": page(ORDERS, 0, 10)}})
            elif url.path == "/v1/login":  # a proxy's login page instead of the API
                body = b"<html><body>Please sign in</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif url.path == "/v1/scan":  # a scan: empty pages mid-way, a cursor kept at its end
                step = int(query.get("cursor", "s0")[1:])
                items = [] if step % 2 else page(CONSENTS, step // 2 * 4, 4)
                following = f"s{min(step + 1, 5)}"  # at the end, the cursor it was sent
                self.send(200, {"items": items, "meta": {"next": following}})
            elif url.path == "/v1/feed":  # a change feed: a new cursor with every empty answer
                step = int(query.get("cursor", "0"))
                self.send(200, {"items": [], "meta": {"next": str(step + 1)}})
            elif url.path == "/v1/consents":
                start = int(query.get("cursor", "0"))
                following = str(start + 4) if start + 4 < len(CONSENTS) else None
                self.send(200, {"items": page(CONSENTS, start, 4), "meta": {"next": following}})
            else:
                self.send(404, {"error": "no such path"})

    return Handler


@contextmanager
def serving(state: Api) -> Iterator[str]:
    """The test API on a loopback port, for the time of the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    state = Api()
    with serving(state) as base:
        yield state, base


@pytest.fixture
def elsewhere(api: tuple[Api, str]) -> Iterator[Api]:
    """Another server, where the API's redirects and next links point."""
    other = Api()
    with serving(other) as base:
        api[0].elsewhere = base
        yield other


def optin_source(base: str, path: str) -> str:
    """The consent system: a cursor-paginated API at ``path``."""
    return f"""
[sources.optin]
type = "rest"
base_url = "{base}/v1"
[sources.optin.streams.consents]
kind = "consent"
path = "{path}"
records = "items"
pagination = {{ type = "cursor", param = "cursor", cursor_path = "meta.next" }}
id = "key"
[sources.optin.streams.consents.fields]
customer_ref = "customer"
purpose = {{ value = "marketing_email" }}
status = {{ column = "ok", map = {{ O = "granted", N = "denied" }} }}
"""


def sources_text(base_url: str, name: str = "shop", auth: str = "shop-token") -> str:
    return f"""
[sources.{name}]
type = "rest"
base_url = "{base_url}/v1"
auth = {{ type = "bearer", secret = "{auth}" }}
timeout = 5
max_retries = 4
backoff = 0.001
max_backoff = 0.01

[sources.{name}.streams.customers]
kind = "customer"
path = "customers"
records = "$.data.items[*]"
pagination = {{ type = "page", param = "page", size_param = "per_page", size = 5 }}
since_param = "updated_since"
since_field = "updated"
id = "id"
updated_at = {{ column = "updated", datetime = "iso" }}
[sources.{name}.streams.customers.fields]
given_name = "profile.first"
family_name = "profile.last"
email = "profile.email"
"""


def test_paginated_authenticated_resilient_and_incremental(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    server, base = api
    store_secret("shop-token", TOKEN)
    sources = write_sources(tmp_path, sources_text(base))
    server.failures = {"/v1/customers": [503, 429, 500]}
    first = make_runner(database, batch_size=7).run(sources.select(None))
    assert first.ok, first.errors
    assert first.total("inserted") == 23
    # 5 pages of 5 (the last one short), after three transient failures; an incremental page
    # read asks each page before the last again (did the list move under the read?).
    assert len(server.requests) == 3 + 5 + 1 + 5  # failures, pages, the empty one, the checks
    assert not any(TOKEN in r for r in server.requests)

    # Second run: only what changed since the newest value seen comes back, unchanged.
    server.requests.clear()
    second = make_runner(database).run(sources.select(None))
    assert second.ok
    assert second.total("read") == second.total("unchanged") > 0
    assert second.total("read") < 23
    assert all("updated_since=2026-01-20" in r for r in server.requests)

    server.customers[0] = {
        **CUSTOMERS[0],
        "updated": "2026-02-01T00:00:00+00:00",
        "profile": {**CUSTOMERS[0]["profile"], "email": "new@x.fr"},
    }
    third = make_runner(database).run(sources.select(None))
    assert third.total("updated") == 1


def test_other_paginations_and_auths(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    _, base = api
    store_secret("shop-token", TOKEN)
    store_secret("orders-key", API_KEY)
    store_secret("desk-password", "pw")
    text = (
        sources_text(base)
        + f"""
[sources.orders]
type = "rest"
base_url = "{base}/v1"
auth = {{ type = "api_key", header = "X-Api-Key", secret = "orders-key" }}
[sources.orders.streams.orders]
kind = "interaction"
path = "/orders"
records = "results"
pagination = {{ type = "offset", param = "offset", size_param = "limit", size = 10 }}
id = "number"
[sources.orders.streams.orders.fields]
customer_ref = "client"
occurred_at = {{ column = "date", datetime = "%d/%m/%Y %H:%M", timezone = "Europe/Paris" }}
amount = {{ column = "total", decimal = "," }}
channel = {{ value = "web" }}
kind = {{ value = "order" }}

[sources.desk]
type = "rest"
base_url = "{base}/v1"
auth = {{ type = "basic", username = "agent", secret = "desk-password" }}
[sources.desk.streams.tickets]
kind = "interaction"
path = "/tickets"
pagination = {{ type = "link" }}
id = "ref"
full_extract = true
[sources.desk.streams.tickets.fields]
customer_ref = "who"
occurred_at = {{ column = "at", datetime = "iso" }}
channel = {{ value = "web" }}

{optin_source(base, "/consents")}"""
    )
    sources = write_sources(tmp_path, text)
    runner = make_runner(database, batch_size=6)
    first = runner.run(sources.select(None))
    assert first.ok, first.errors
    inserted = {p.source: p.inserted for p in first.passes}
    # orders, tickets and consents refer to the shop's customers; in their own sources these
    # customers are unknown, so they wait in quarantine (nothing is lost).
    assert inserted["shop"] == 23
    assert {p.source: p.read for p in first.passes} == {
        "shop": 23,
        "orders": 31,
        "desk": 17,
        "optin": 11,
    }
    assert first.total("quarantined") == 31 + 17 + 11
    second = runner.run(sources.select(None))
    assert second.total("inserted") == second.total("updated") == 0


def test_refused_credentials_fail_alone(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    _, base = api
    store_secret("shop-token", TOKEN)
    store_secret("wrong-token", "nope")
    text = sources_text(base, "bad", "wrong-token") + sources_text(base)
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert "access refused (401)" in summary.errors["bad"]
    # The message names what to fix.
    assert "customer-card sources set-secret wrong-token" in summary.errors["bad"]
    assert "nope" not in summary.errors["bad"]
    assert "shop" not in summary.errors
    assert summary.total("inserted") == 23


def test_a_next_link_to_another_server_is_not_followed(
    api: tuple[Api, str], elsewhere: Api, database: Database, tmp_path: Path
) -> None:
    """The client sends the source's credentials with every request: never to another host."""
    _, base = api
    other = elsewhere
    store_secret("desk-password", "pw")
    text = f"""
[sources.desk]
type = "rest"
base_url = "{base}/v1"
auth = {{ type = "basic", username = "agent", secret = "desk-password" }}
[sources.desk.streams.tickets]
kind = "interaction"
path = "/leaky"
pagination = {{ type = "link" }}
id = "ref"
[sources.desk.streams.tickets.fields]
customer_ref = "who"
occurred_at = {{ column = "at", datetime = "iso" }}
channel = {{ value = "web" }}
"""
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert not summary.ok
    assert "another server" in summary.errors["desk"]
    assert other.requests == [], "nothing was sent to the other host"


def orders_source(base: str, path: str, pagination: str, records: str = "results") -> str:
    return f"""
[sources.orders]
type = "rest"
base_url = "{base}/v1"
auth = {{ type = "api_key", header = "X-Api-Key", secret = "orders-key" }}
max_retries = 0
[sources.orders.streams.orders]
kind = "interaction"
path = "{path}"
records = "{records}"
pagination = {pagination}
id = "number"
[sources.orders.streams.orders.fields]
customer_ref = "client"
occurred_at = {{ column = "date", datetime = "%d/%m/%Y %H:%M" }}
"""


def run_alone(database: Database, tmp_path: Path, text: str) -> SyncSummary:
    """Run a sync on a thread: a pagination that loops must not hang the test suite."""
    result: list[SyncSummary] = []
    sources = write_sources(tmp_path, text).select(None)
    worker = threading.Thread(
        target=lambda: result.append(make_runner(database).run(sources)), daemon=True
    )
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the sync never ended"
    return result[0]


@pytest.mark.parametrize(
    ("path", "pagination", "records", "message"),
    [
        (
            "/same-cursor",
            '{ type = "cursor", cursor_path = "meta.next" }',
            "items",
            "the server sent cursor 'p2' again: its pagination loops",
        ),
        ("/same-link", '{ type = "link" }', "$", "as the next page again: its pagination loops"),
        (
            "/no-paging",
            '{ type = "page", param = "p", size = 10 }',
            "results",
            "p=2 answered the same records as the page before",
        ),
        (
            "/no-paging",
            '{ type = "offset", size = 10 }',
            "results",
            "offset=10 answered the same records as the page before",
        ),
    ],
)
def test_a_looping_pagination_stops_with_an_error(
    api: tuple[Api, str],
    database: Database,
    tmp_path: Path,
    path: str,
    pagination: str,
    records: str,
    message: str,
) -> None:
    server, base = api
    store_secret("orders-key", API_KEY)
    summary = run_alone(database, tmp_path, orders_source(base, path, pagination, records))
    assert message in summary.errors["orders"]
    assert "?" not in summary.errors["orders"]  # URLs shown without their query (see below)
    assert len(server.requests) <= 3


def test_a_redirect_to_another_server_gets_no_credentials(
    api: tuple[Api, str], elsewhere: Api, database: Database, tmp_path: Path
) -> None:
    """httpx drops Authorization on a redirect to another host, but not an API key header."""
    state, base = api
    other = elsewhere
    store_secret("orders-key", API_KEY)
    text = orders_source(base, "/moved", '{ type = "none" }')
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert f"redirects to another server ({state.elsewhere})" in summary.errors["orders"]
    assert other.requests == [], "nothing was sent to the other host"
    assert other.api_keys == []


def test_a_redirect_to_another_server_gets_no_headers_of_the_source(
    api: tuple[Api, str], elsewhere: Api, database: Database, tmp_path: Path
) -> None:
    """A source without auth but with headers of its own (a session cookie) keeps them home."""
    state, base = api
    other = elsewhere
    text = orders_source(base, "/moved", '{ type = "none" }').replace(
        'auth = { type = "api_key", header = "X-Api-Key", secret = "orders-key" }',
        'headers = { Cookie = "session=abc" }',
    )
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert f"redirects to another server ({state.elsewhere})" in summary.errors["orders"]
    assert other.requests == [], "nothing was sent to the other host"


def test_a_first_answer_without_any_records_is_an_empty_source_not_an_error(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    _, base = api
    store_secret("orders-key", API_KEY)
    text = orders_source(base, "/nothing-yet", '{ type = "none" }', records="data.results")
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert summary.ok, summary.errors
    assert summary.total("read") == 0


def test_a_records_path_selecting_nothing_is_an_error_not_an_empty_source(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    _, base = api
    store_secret("orders-key", API_KEY)
    text = orders_source(base, "/wrapped", '{ type = "none" }', records="results")
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert (
        "records path 'results' selects nothing in the answer of /wrapped, "
        "which is an object with data"
    ) in summary.errors["orders"]
    no_path = text.replace('records = "results"\n', "")
    summary = make_runner(database).run(write_sources(tmp_path, no_path).select(None))
    assert (
        "the answer of /wrapped is an object with data, not a list of records "
        '(set records = "…" to where the list is)'
    ) in summary.errors["orders"]
    fixed = text.replace('records = "results"', 'records = "data.results"')
    summary = make_runner(database).run(write_sources(tmp_path, fixed).select(None))
    assert summary.ok, summary.errors
    assert summary.total("read") == 10


def test_an_html_page_instead_of_json_says_what_came(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    _, base = api
    store_secret("orders-key", API_KEY)
    text = orders_source(base, "/login", '{ type = "none" }')
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert (
        "/login did not answer JSON (text/html, starting '<html><body>Please sign in"
        in summary.errors["orders"]
    )


def test_a_page_failing_after_others_loses_nothing_and_the_next_run_reads_it_all_again(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    server, base = api
    store_secret("shop-token", TOKEN)
    sources = write_sources(tmp_path, sources_text(base)).select(None)
    server.broken_pages = {"3"}
    first = make_runner(database, batch_size=4).run(sources)
    # Which page failed is said (it was not).
    assert "/v1/customers?page=3&per_page=5 still answers 500 after 5 tries" in first.errors["shop"]
    with database.read() as session:
        state = SyncStore(session).state("shop", "customers")
        kept = SyncStore(session).live_ids("shop", "customer", "", 100)
    assert state is not None
    assert state["in_run"] is True
    assert state["next"] == 3, "not beyond the pages stored"
    assert len(kept) == 10  # pages 1 and 2

    server.broken_pages = set()
    server.requests.clear()
    second = make_runner(database).run(sources)
    assert second.ok, second.errors
    # Page numbers shift when rows are deleted: the stopped read starts again at page 1 (see
    # test_rest_offset_paging.py), and what it stored already comes back unchanged.
    assert server.requests[0].startswith("/v1/customers?page=1&"), "started again"
    assert second.total("inserted") == 13
    assert second.total("unchanged") == 10
    server.requests.clear()
    third = make_runner(database).run(sources)
    assert third.total("inserted") == third.total("updated") == 0
    assert all("updated_since=2026-01-20" in r for r in server.requests)


def test_next_links_are_followed_with_an_api_key_in_the_query(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    # With the key in the query, httpx dropped the next link's own query (?from=5): every link
    # read the first page again, forever (each page a checkpoint, the sync never ending).
    server, base = api
    store_secret("desk-key", API_KEY)
    text = f"""
[sources.desk]
type = "rest"
base_url = "{base}/v1"
auth = {{ type = "api_key", query_param = "api_key", secret = "desk-key" }}
[sources.desk.streams.tickets]
kind = "interaction"
path = "/keyed-tickets"
pagination = {{ type = "link" }}
id = "ref"
[sources.desk.streams.tickets.fields]
customer_ref = "who"
occurred_at = {{ column = "at", datetime = "iso" }}
"""
    summary = run_alone(database, tmp_path, text)

    assert summary.total("read") == len(TICKETS)
    assert len(server.requests) == 4
    assert all(f"api_key={API_KEY}" in r for r in server.requests)


def test_urls_in_messages_never_show_a_query_or_user_info() -> None:
    # An API key given as a query parameter (auth.query_param) travels in every request URL,
    # and a next link may copy it: the errors end up in the sync status, the log, the CLI.
    assert (
        _shown("https://me:pw@api.example.com/v1/orders?api_key=SECRET&page=2#top")
        == "https://api.example.com/v1/orders"
    )
    assert _shown("/v1/orders?token=x") == "/v1/orders"


def test_a_cursor_is_followed_past_empty_pages_while_the_server_gives_one(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    """Scan-style APIs answer empty pages mid-scan; the scan ends when the cursor stays put."""
    server, base = api
    summary = run_alone(database, tmp_path, optin_source(base, "/scan"))

    assert summary.ok, summary.errors
    assert summary.total("read") == len(CONSENTS)
    assert [r.rsplit("=", 1)[-1] for r in server.requests] == [
        "/v1/scan",
        *(f"s{n}" for n in range(1, 6)),
    ]


def test_a_cursor_that_is_new_with_every_empty_page_stops_with_an_error(
    api: tuple[Api, str], database: Database, tmp_path: Path
) -> None:
    """Followed past empty pages, but a change feed whose cursor never settles is no scan."""
    server, base = api
    store_secret("orders-key", API_KEY)
    pagination = '{ type = "cursor", cursor_path = "meta.next" }'
    summary = run_alone(database, tmp_path, orders_source(base, "/feed", pagination, "items"))

    assert summary.errors["orders"] == (
        "orders/orders: 1,000 empty pages in a row, each with a new cursor: the server never "
        "says the read is over; stopped"
    )
    assert len(server.requests) == 1000
