"""Two REST streams of one kind in one source (ids ``calls:…`` and ``visits:…``), each a full
extract: a sync cancelled after the first page of one of them resumes there, and the sweep at
the end of the resumed extract (which lists the stream's ids again) marks deleted only what
the server no longer has, never the live records of either stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from customer_card.services.ingest import _Waiting
from customer_card.services.sync_runner import SyncProgress
from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.sync_store import SyncStore
from sync.connector import CancelToken
from tests.sync.conftest import make_runner, write_sources

PAGE = 3
STREAMS = ("calls", "visits")
REMOVED = "2"  # on the first page, so already in the cache when the sync is cancelled


def _rows(stream: str) -> list[dict[str, Any]]:
    return [
        {"ref": str(n), "who": f"C{1 + n % 3}", "at": f"2026-01-{n:02d}T09:00:00Z", "via": stream}
        for n in range(1, 8)
    ]


Served = dict[str, list[dict[str, Any]]]


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            """``/v1/<stream>?after=<id>``: keyset pages (deleting a row moves no other row
            to a page already read), with the cursor of the next page if there is one."""
            url = urlparse(self.path)
            rows = served.get(url.path.removeprefix("/v1/"))
            if rows is None:
                self.send_error(404)
                return
            key = "id" if "id" in rows[0] else "ref"
            after = parse_qs(url.query).get("after", [""])[0]
            rest = [r for r in rows if not after or _order(r[key]) > _order(after)]
            items = rest[:PAGE]
            following = items[-1][key] if len(rest) > PAGE else None
            data = json.dumps({"items": items, "next": following}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _order(key: str) -> int:
    return int(key.lstrip("C"))


@pytest.fixture
def desk() -> Iterator[tuple[Served, str]]:
    """The API on a loopback port: what it serves (changed by the test) and its base URL."""
    served: Served = {
        "customers": [
            {"id": f"C{i}", "first": f"Prénom{i}", "last": f"Nom{i}", "email": f"c{i}@x.fr"}
            for i in range(1, 4)
        ],
        **{stream: _rows(stream) for stream in STREAMS},
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _sources_text(base: str) -> str:
    pagination = '{ type = "cursor", param = "after", cursor_path = "next" }'
    history = "".join(
        f"""
[sources.desk.streams.{stream}]
kind = "interaction"
path = "/{stream}"
records = "items"
pagination = {pagination}
id = "ref"
full_extract = true
[sources.desk.streams.{stream}.fields]
customer_ref = "who"
occurred_at = {{ column = "at", datetime = "iso" }}
channel = {{ value = "phone" }}
"""
        for stream in STREAMS
    )
    return f"""
[sources.desk]
type = "rest"
base_url = "{base}/v1"
max_retries = 0
[sources.desk.streams.customers]
kind = "customer"
path = "/customers"
records = "items"
pagination = {pagination}
id = "id"
[sources.desk.streams.customers.fields]
given_name = "first"
family_name = "last"
email = "email"
{history}"""


def _interactions(database: Database) -> dict[str, bool]:
    """Every interaction of the source: its id → whether it is marked deleted."""
    with database.read() as session:
        rows = session.execute(
            select(m.Interaction.source_id, m.Interaction.deleted).where(
                m.Interaction.source == "desk"
            )
        ).all()
    return {row.source_id: row.deleted for row in rows}


def _ids(stream: str, numbers: range) -> dict[str, bool]:
    return {f"{stream}:{n}": False for n in numbers}


@pytest.mark.parametrize("interrupted", STREAMS)
def test_a_resumed_full_extract_keeps_every_live_record_of_both_streams(
    desk: tuple[Served, str],
    database: Database,
    tmp_path: Path,
    interrupted: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A batch is a page and its checkpoint: on a loaded machine, the silent-source watcher
    # must not commit a page before its checkpoint has come.
    monkeypatch.setattr(_Waiting, "PATIENCE_S", 60.0)
    served, base = desk
    sources = write_sources(tmp_path, _sources_text(base)).select(None)
    token = CancelToken()

    def cancel_after_first_batch(progress: SyncProgress) -> None:
        if progress.stream == interrupted and progress.read:
            token.cancel()

    # A batch is a page and its checkpoint: the cancel comes once the first page is committed.
    first = make_runner(database, batch_size=PAGE + 1).run(
        sources, progress=cancel_after_first_batch, cancel=token
    )
    assert first.cancelled
    assert first.errors == {}
    with database.read() as session:
        state = SyncStore(session).state("desk", interrupted)
    assert state is not None
    assert state["in_run"] is True, "the extract stopped after its first page"
    assert state["next"] == "3", "the cursor after the first page"
    before = _ids(interrupted, range(1, PAGE + 1))
    if interrupted == "visits":
        before |= _ids("calls", range(1, 8))
    assert _interactions(database) == before

    served[interrupted] = [r for r in served[interrupted] if r["ref"] != REMOVED]
    resumed = make_runner(database).run(sources)
    assert resumed.ok, resumed.errors
    expected = _ids("calls", range(1, 8)) | _ids("visits", range(1, 8))
    expected[f"{interrupted}:{REMOVED}"] = True
    assert _interactions(database) == expected
    passes = {p.stream: p for p in resumed.passes}
    assert passes[interrupted].inserted == 7 - PAGE, "resumed after the first page"
    assert passes[interrupted].deleted == 1
    assert resumed.total("quarantined") == 0

    again = make_runner(database).run(sources)
    assert again.ok, again.errors
    assert again.total("inserted") == again.total("updated") == again.total("deleted") == 0
    assert _interactions(database) == expected
