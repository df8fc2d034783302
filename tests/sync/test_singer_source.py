"""The singer connector with a real tap process (and a file of tap output)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from customer_card.services.sync_runner import SyncProgress, SyncSummary
from customer_card.store.database import Database
from customer_card.store.sync_store import SyncStore
from sync import singer_source
from sync.connector import Cancelled, CancelToken
from sync.sources import SourcesError, keyring_secrets, load_sources, store_secret
from tests.helpers.processes import gone
from tests.sync.conftest import WRAPPER, make_runner, write_sources

TAP = Path(__file__).with_name("fake_tap.py")
STREAMS = """
[sources.eshop.streams.customers]
kind = "customer"
id = { column = "id", type = "str" }
[sources.eshop.streams.customers.fields]
email = "email"
full_name = { column = "name", split_name = "given_family" }

[sources.eshop.streams.orders]
kind = "interaction"
id = { column = "id", type = "str" }
[sources.eshop.streams.orders.fields]
customer_ref = { column = "customer_id", type = "str" }
occurred_at = "at"
amount = "total"
channel = { value = "web" }
"""


def tap_sources(extra: int = 0, *flags: str, wrapped: bool = False) -> str:
    tap = [sys.executable, str(TAP), "--extra", str(extra), *flags]
    command = json.dumps([*WRAPPER, *tap] if wrapped else tap)
    return (
        f"""
[sources.eshop]
type = "singer"
command = {command}
config_secret = "eshop-tap"
"""
        + STREAMS
    )


def test_tap_runs_resumes_from_its_state_and_stays_idempotent(
    database: Database, tmp_path: Path
) -> None:
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    runner = make_runner(database, batch_size=5)
    first = runner.run(write_sources(tmp_path, tap_sources()).select(None))
    assert first.ok, first.errors
    assert (first.total("inserted"), first.total("quarantined")) == (32, 0)

    # The tap gets its state back: it sends nothing old.
    second = runner.run(write_sources(tmp_path, tap_sources()).select(None))
    assert second.ok
    assert second.total("read") == 0
    third = runner.run(write_sources(tmp_path, tap_sources(extra=2)).select(None))
    assert third.total("inserted") == 2 == third.total("read")
    with database.read() as session:
        state = SyncStore(session).state("eshop", "tap")
    assert state is not None
    assert state["singer"]["bookmarks"]["customers"] == 101


def test_tap_failure_is_reported_without_its_secret(database: Database, tmp_path: Path) -> None:
    store_secret("eshop-tap", json.dumps({"api_key": "wrong"}))
    summary = make_runner(database).run(write_sources(tmp_path, tap_sources()).select(None))
    assert "the tap exited with status 2: CRITICAL invalid api_key" in summary.errors["eshop"]
    assert "wrong" not in summary.errors["eshop"]


def test_tap_output_file_twice_changes_nothing(database: Database, tmp_path: Path) -> None:
    messages = [
        {
            "type": "RECORD",
            "stream": "customers",
            "record": {"id": 1, "email": "a@x.fr", "name": "Ana LEROY"},
        },
        {
            "type": "RECORD",
            "stream": "orders",
            "record": {"id": 9, "customer_id": 1, "at": "yesterday", "total": 3},
        },
        {"type": "STATE", "value": {"done": True}},
    ]
    too_deep = "[" * 100_000 + "]" * 100_000  # valid JSON that the parser cannot nest
    (tmp_path / "out.jsonl").write_text(
        "\n".join(json.dumps(x) for x in messages) + f"\nnot json\n{too_deep}\n", encoding="utf-8"
    )
    text = '[sources.eshop]\ntype = "singer"\nfile = "out.jsonl"\n' + STREAMS
    runner = make_runner(database)
    first = runner.run(write_sources(tmp_path, text).select(None))
    assert first.total("inserted") == 1
    assert first.ok, first.errors
    assert first.total("quarantined") == 3  # an unparseable date, two lines not read as JSON
    second = runner.run(write_sources(tmp_path, text).select(None))
    assert second.total("inserted") == second.total("updated") == 0
    assert second.total("unchanged") == 1
    with database.read() as session:
        reasons = sorted(q.reason for q in SyncStore(session).quarantined())
    assert reasons[0].startswith("line 4: not a JSON message")
    assert reasons[1].startswith("line 5: not a JSON message")
    assert "unparseable occurred_at 'yesterday'" in reasons[2]


def test_a_tap_logging_bad_bytes_does_not_hang_the_sync(database: Database, tmp_path: Path) -> None:
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    sources = write_sources(tmp_path, tap_sources(0, "--noisy")).select(None)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(make_runner(database).run(sources)))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the sync hung on the tap's stderr"
    assert result[0].ok, result[0].errors
    assert result[0].total("inserted") == 32


def test_a_record_that_is_not_utf8_goes_to_quarantine_unaltered(
    database: Database, tmp_path: Path
) -> None:
    """Not into the cache with its letters replaced by U+FFFD ('H\ufffdl\ufffdne')."""
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    summary = make_runner(database).run(
        write_sources(tmp_path, tap_sources(0, "--latin1")).select(None)
    )
    assert summary.ok, summary.errors
    assert (summary.total("inserted"), summary.total("quarantined")) == (32, 1)
    with database.read() as session:
        (kept,) = SyncStore(session).quarantined()
    assert kept.source_id == "77"
    assert kept.reason == "line 2: bad encoding: bytes that are not UTF-8 text"
    assert "H\\xe9l\\xe8ne" in kept.raw  # the bytes as they came


def test_an_output_file_with_a_line_that_is_not_utf8(database: Database, tmp_path: Path) -> None:
    good = {"type": "RECORD", "stream": "customers", "record": {"id": 1, "name": "Ana LEROY"}}
    bad = {"type": "RECORD", "stream": "customers", "record": {"id": 2, "name": "Léa MARTIN"}}
    (tmp_path / "out.jsonl").write_bytes(
        json.dumps(bad, ensure_ascii=False).encode("cp1252")
        + b"\n"
        + json.dumps(good).encode()
        + b"\n"
    )
    text = '[sources.eshop]\ntype = "singer"\nfile = "out.jsonl"\n' + STREAMS
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert summary.ok, summary.errors
    assert (summary.total("inserted"), summary.total("quarantined")) == (1, 1)
    with database.read() as session:
        (kept,) = SyncStore(session).quarantined()
    assert (kept.source_id, kept.reason) == (
        "2",
        "line 1: bad encoding: bytes that are not UTF-8 text",
    )


@pytest.mark.parametrize(
    ("batch_size", "cut"),
    [(2, False), (500, False), (500, True)],
    ids=["small-batches", "one-batch", "last-line-cut"],
)
def test_a_tap_dying_mid_stream_keeps_what_it_sent_and_resumes_from_its_last_state(
    database: Database, tmp_path: Path, batch_size: int, cut: bool
) -> None:
    # In one batch (the default size: a tap sending a few hundred records and dying), the
    # records before its last STATE were dropped with the batch: a tap dying at the same
    # place every run never got on. Killed while writing a line, that cut line went to
    # quarantine for good, and the state said the read was done.
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    runner = make_runner(database, batch_size=batch_size)
    flags = ("--die-after", "5", *(("--cut",) if cut else ()))
    first = runner.run(write_sources(tmp_path, tap_sources(0, *flags)).select(None))
    assert first.errors["eshop"] == (
        "eshop: the tap exited with status 1: CRITICAL connection reset by peer"
    )
    assert first.total("inserted") >= 5
    with database.read() as session:
        state = SyncStore(session).state("eshop", "tap")
    assert state is not None
    # Not beyond the last STATE the tap sent: the sixth customer came after it.
    assert state["singer"]["bookmarks"]["customers"] == 5
    assert "done" not in state
    assert first.total("quarantined") == 0

    second = runner.run(write_sources(tmp_path, tap_sources()).select(None))
    assert second.ok, second.errors
    assert first.total("inserted") + second.total("inserted") == 32  # nothing lost, no double


def _tap_output(tmp_path: Path, lines: list[bytes], tap_stream: str = "customers") -> Any:
    (tmp_path / "out.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    streams = STREAMS.replace(
        '[sources.eshop.streams.customers]\nkind = "customer"\n',
        f'[sources.eshop.streams.customers]\nkind = "customer"\ntap_stream = "{tap_stream}"\n',
    )
    return write_sources(
        tmp_path, '[sources.eshop]\ntype = "singer"\nfile = "out.jsonl"\n' + streams
    ).select(None)


def _message(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


CUSTOMER_LINES = [
    _message(type="SCHEMA", stream="customers", schema={}, key_properties=["id"]),
    _message(type="RECORD", stream="customers", record={"id": 1, "name": "Ana LEROY"}),
    _message(type="STATE", value={"bookmarks": {"customers": 1}}),
    _message(type="RECORD", stream="customers", record={"id": 2, "name": "Léo PETIT"}),
    _message(type="STATE", value={"bookmarks": {"customers": 2}}),
]


def test_a_mistyped_tap_stream_is_an_error_naming_what_the_tap_sent(
    database: Database, tmp_path: Path
) -> None:
    runner = make_runner(database)
    lines = [_message(type="SCHEMA", stream="orders", schema={}), *CUSTOMER_LINES]
    summary = runner.run(_tap_output(tmp_path, lines, tap_stream="custommers"))

    assert summary.errors["eshop"] == (
        "eshop: the tap sent nothing of tap_stream 'custommers' (stream customers) but sent "
        "records of 'customers' (2 records), which no stream maps; check tap_stream in the "
        "sources file, or list the tap streams nobody wants in the source's ignore_streams (the "
        "tap's state was not saved past them: the next run reads them again)"
    )
    with database.read() as session:
        assert not SyncStore(session).state("eshop", "tap"), "no state past skipped records"

    fixed = runner.run(_tap_output(tmp_path, lines))
    assert fixed.ok, fixed.errors
    assert fixed.total("inserted") == 2


def test_streams_nobody_wants_can_be_ignored_beside_an_empty_configured_one(
    database: Database, tmp_path: Path
) -> None:
    # The configured stream has nothing new (the tap sends no SCHEMA for it) while the tap
    # sends deals nobody maps: suspect, until the source says deals are not wanted.
    lines = [
        _message(type="SCHEMA", stream="deals", schema={}),
        _message(type="RECORD", stream="deals", record={"id": 7, "amount": 1200}),
        _message(type="STATE", value={"bookmarks": {"deals": 7}}),
    ]
    runner = make_runner(database)
    suspect = runner.run(_tap_output(tmp_path, lines))
    assert "'deals' (1 record), which no stream maps" in suspect.errors["eshop"]
    (tmp_path / "sources.toml").write_text(
        (tmp_path / "sources.toml")
        .read_text(encoding="utf-8")
        .replace('file = "out.jsonl"\n', 'file = "out.jsonl"\nignore_streams = ["deals"]\n', 1),
        encoding="utf-8",
    )
    ignored = runner.run(load_sources(tmp_path / "sources.toml").select(None))
    assert ignored.ok, ignored.errors
    with database.read() as session:
        assert SyncStore(session).state("eshop", "tap")["singer"] == {"bookmarks": {"deals": 7}}


@pytest.mark.parametrize("value", ['"deals"', "[1, 2]"])
def test_ignore_streams_is_a_list_of_names(tmp_path: Path, value: str) -> None:
    (tmp_path / "out.jsonl").write_bytes(b"")
    text = f'[sources.eshop]\ntype = "singer"\nfile = "out.jsonl"\nignore_streams = {value}\n'
    with pytest.raises(SourcesError, match=r"sources.toml:4: .*ignore_streams is a list"):
        write_sources(tmp_path, text + STREAMS)


def test_a_configured_stream_the_tap_never_mentions_is_not_an_error_by_itself(
    database: Database, tmp_path: Path
) -> None:
    """Some taps send no SCHEMA for a stream with nothing new (here: orders)."""
    ignored = _message(type="RECORD", stream="audit", record={"x": 1})
    runner = make_runner(database)
    summary = runner.run(_tap_output(tmp_path, CUSTOMER_LINES))
    assert summary.ok, summary.errors
    assert summary.total("inserted") == 2
    # A stream nobody maps, when every configured one showed up, is no error either.
    lines = [*CUSTOMER_LINES, _message(type="SCHEMA", stream="orders", schema={}), ignored]
    assert runner.run(_tap_output(tmp_path, lines)).ok


def test_a_state_that_is_not_utf8_stops_the_pass_and_is_not_kept(
    database: Database, tmp_path: Path
) -> None:
    bad_state = '{"type": "STATE", "value": {"bookmarks": {"customers": "Hélène"}}}'
    lines = [*CUSTOMER_LINES[:3], bad_state.encode("latin-1"), *CUSTOMER_LINES[3:]]
    summary = make_runner(database, batch_size=2).run(_tap_output(tmp_path, lines))

    assert summary.errors["eshop"] == (
        "eshop: line 4: the tap's STATE message holds bytes that are not UTF-8 text; it is not "
        "kept (the next run resumes from the last good state)"
    )
    with database.read() as session:
        state = SyncStore(session).state("eshop", "tap")
    assert state is not None
    assert state["singer"] == {"bookmarks": {"customers": 1}}, "the last good state"


def test_a_line_that_is_neither_json_nor_utf8_is_quarantined_whole(
    database: Database, tmp_path: Path
) -> None:
    noise = "avertissement : données reçues ".encode("latin-1") * 400  # 12,000 bytes
    summary = make_runner(database).run(_tap_output(tmp_path, [*CUSTOMER_LINES, noise]))

    assert summary.ok, summary.errors
    assert summary.total("quarantined") == 1
    with database.read() as session:
        (kept,) = SyncStore(session).quarantined()
    assert kept.reason == "line 6: not a JSON message"
    assert kept.raw == "avertissement : donn\\xe9es re\\xe7ues " * 400, "every byte, escaped"
    assert kept.raw.encode("latin-1").decode("unicode_escape").encode("latin-1") == noise


@pytest.mark.parametrize("wrapped", [False, True], ids=["tap", "tap-behind-a-wrapper"])
def test_a_cancel_ends_a_tap_that_sends_nothing_and_the_next_run_resumes(
    database: Database, tmp_path: Path, wrapped: bool
) -> None:
    """Also a tap started by a wrapper script: ending the wrapper alone left the tap holding
    the output open, and the cancel waiting until it was done."""
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    pid_file = tmp_path / "tap.pid"
    hanging = write_sources(
        tmp_path, tap_sources(0, "--hang", str(pid_file), wrapped=wrapped)
    ).select(None)
    runner = make_runner(database, batch_size=5)
    token = CancelToken()
    # Batches of 5 items (a customer, a state, …): 10 of the 12 customers the tap sends before
    # it waits are committed, the last 2 wait for a batch to fill.
    committed = threading.Event()
    result: list[SyncSummary] = []

    def progress(done: SyncProgress) -> None:
        if done.read >= 10:
            committed.set()

    def run() -> None:
        result.append(runner.run(hanging, progress=progress, cancel=token))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    assert committed.wait(30), "the customers were never committed"
    time.sleep(0.5)  # the runner goes back to reading the tap, which sends nothing more
    assert pid_file.read_text()

    token.cancel()  # as the window's Cancel does, from another thread

    worker.join(timeout=15)
    assert not worker.is_alive(), "the cancel waited for the silent tap"
    (summary,) = result
    assert summary.cancelled
    assert summary.errors == {}, "a cancel is not the source's failure"
    tap = int(pid_file.read_text())
    deadline = time.monotonic() + 5  # (a wrapper's tap is reaped by whoever adopts it)
    while not gone(tap) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(tap), "the tap outlived the cancel"

    again = runner.run(write_sources(tmp_path, tap_sources()).select(None))
    assert again.ok, again.errors
    assert summary.total("inserted") + again.total("inserted") == 32  # nothing lost, no double


# A tap that saves its work when asked to stop (SIGTERM): it sends its last state, takes a
# moment, then leaves a mark.
SAVING_TAP = """
import json, os, signal, sys, time

def stop(signum, frame):
    print(json.dumps({"type": "STATE", "value": {"stopped": True}}), flush=True)
    time.sleep(0.5)
    with open(sys.argv[2], "w") as handle:
        handle.write("saved")
    raise SystemExit(0)

signal.signal(signal.SIGTERM, stop if sys.argv[3] == "saves" else signal.SIG_IGN)
record = {"id": 1, "email": "a@x.fr", "name": "Ana LEROY"}
print(json.dumps({"type": "RECORD", "stream": "customers", "record": record}), flush=True)
with open(sys.argv[1], "w") as handle:
    handle.write(str(os.getpid()))
while True:
    time.sleep(0.1)
"""


def _cancel_tap_behind_a_wrapper(
    database: Database, tmp_path: Path, behaviour: str
) -> tuple[int, float]:
    """Run the tap behind a wrapper script, cancel the sync once the tap waits; the tap's pid
    and how long the cancel took."""
    tap = tmp_path / "saving_tap.py"
    tap.write_text(SAVING_TAP, encoding="utf-8")
    pid_file, mark = tmp_path / "tap.pid", tmp_path / "saved"
    command = [*WRAPPER, sys.executable, str(tap), str(pid_file), str(mark), behaviour]
    sources = write_sources(
        tmp_path, f'[sources.eshop]\ntype = "singer"\ncommand = {json.dumps(command)}\n' + STREAMS
    ).select(None)
    token = CancelToken()
    result: list[SyncSummary] = []
    worker = threading.Thread(
        target=lambda: result.append(make_runner(database).run(sources, cancel=token)),
        daemon=True,
    )
    worker.start()
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = int(pid_file.read_text())

    started = time.monotonic()
    token.cancel()
    worker.join(timeout=30)
    took = time.monotonic() - started
    assert not worker.is_alive()
    assert result[0].cancelled
    assert gone(pid), "the tap outlived the cancel"
    return pid, took


def test_a_tap_behind_a_wrapper_gets_the_same_grace_to_stop_as_a_tap(
    database: Database, tmp_path: Path
) -> None:
    """The wrapper dies on SIGTERM at once; the tap, in the same group, was killed right after
    it (SIGKILL) once its output was no longer read, instead of being left its time to save
    and exit."""
    _, took = _cancel_tap_behind_a_wrapper(database, tmp_path, "saves")
    assert (tmp_path / "saved").read_text() == "saved", "the tap was killed while it saved"
    assert took < 5, "the cancel waited longer than the tap took"


def test_a_tap_behind_a_wrapper_that_ignores_sigterm_is_killed_after_the_grace(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(singer_source, "TERMINATE_TIMEOUT_S", 1.0)
    _, took = _cancel_tap_behind_a_wrapper(database, tmp_path, "ignores")
    assert not (tmp_path / "saved").exists()
    assert 1.0 <= took < 10


# A tap that sends nothing and ignores SIGTERM: only SIGKILL ends it.
DEAF_TAP = """
import os, signal, sys, time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1], "w") as handle:
    handle.write(str(os.getpid()))
while True:
    time.sleep(0.1)
"""


def _read_in_thread(connector: singer_source.SingerConnector) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def read() -> None:
        try:
            outcome.extend(connector.read(singer_source.PASS, None))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, outcome


def _deaf_connector(tmp_path: Path, command: list[str]) -> singer_source.SingerConnector:
    sources = write_sources(
        tmp_path, f'[sources.eshop]\ntype = "singer"\ncommand = {json.dumps(command)}\n' + STREAMS
    )
    (config,) = sources.select(None)
    return singer_source.create(config, keyring_secrets())


def test_a_cancel_while_the_tap_starts_still_ends_a_tap_that_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled between the tap's start and the connector's noting it: the tap gets SIGTERM
    and, as after any cancel, SIGKILL once the grace has passed."""
    monkeypatch.setattr(singer_source, "TERMINATE_TIMEOUT_S", 1.0)
    tap = tmp_path / "deaf_tap.py"
    tap.write_text(DEAF_TAP, encoding="utf-8")
    pid_file = tmp_path / "tap.pid"
    connector = _deaf_connector(tmp_path, [sys.executable, str(tap), str(pid_file)])
    popen = subprocess.Popen

    def started(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = popen(*args, **kwargs)
        deadline = time.monotonic() + 30  # the tap ignores SIGTERM from now on
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        connector.interrupt()  # the cancel comes before the connector has noted the tap
        return process

    monkeypatch.setattr(singer_source.subprocess, "Popen", started)

    thread, outcome = _read_in_thread(connector)
    thread.join(timeout=20)
    assert not thread.is_alive(), "the read waited for a tap that ignores SIGTERM"
    assert [type(x) for x in outcome] == [Cancelled]
    assert gone(int(pid_file.read_text()))


def test_a_cancel_ends_the_tap_a_wrapper_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrapper that starts the tap in the background and exits: the tap holds the output
    open. The cancel ends the tap's group all the same, not only a wrapper already gone."""
    monkeypatch.setattr(singer_source, "TERMINATE_TIMEOUT_S", 1.0)
    tap = tmp_path / "deaf_tap.py"
    tap.write_text(DEAF_TAP, encoding="utf-8")
    pid_file = tmp_path / "tap.pid"
    command = ["sh", "-c", '"$@" &', "tap-wrapper", sys.executable, str(tap), str(pid_file)]
    connector = _deaf_connector(tmp_path, command)

    thread, outcome = _read_in_thread(connector)
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = int(pid_file.read_text())
    while connector._process is None or connector._process.poll() is None:  # the wrapper exits
        assert time.monotonic() < deadline, "the wrapper did not exit"
        time.sleep(0.02)
    connector.interrupt()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the cancel left the wrapper's tap running"
    assert [type(x) for x in outcome] == [Cancelled]
    assert gone(pid)
