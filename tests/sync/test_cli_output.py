"""The sync commands' output when its reader goes away (``… | head``) and when a source name is
mistyped: one line or none, never a traceback, and never a sync stopped by its own progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from customer_card import cli
from tests.sync.test_sync_cli import PASSPHRASE, SOURCES, run

ROWS = "id;prenom;nom;naissance\n1;Ana;Leroy;01/02/1990\n2;Léo;Petit;03/04/1991\n"


class ClosedPipe(io.TextIOBase):
    """A stream whose reader went away: every write fails as a closed pipe makes it fail."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def isatty(self) -> bool:
        return False


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    (tmp_path / "clients.csv").write_text(ROWS, encoding="utf-8")
    (tmp_path / "sources.toml").write_text(SOURCES, encoding="utf-8")
    return ("--db", str(tmp_path / "cache.db"), "--sources", str(tmp_path / "sources.toml"))


def test_progress_into_a_closed_pipe_does_not_stop_the_sync(
    base: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``sync run 2>&1 | head -1``: the progress lines went into the closed pipe, the error
    # failed the pass and stood as the source's last error ("[Errno 32] Broken pipe").
    monkeypatch.setattr("sys.stderr", ClosedPipe())
    assert cli.main([*base, "sync", "run", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["totals"]["inserted"] == 2
    monkeypatch.undo()
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    code, out, _ = run(capsys, *base, "sync", "status")
    assert code == 0
    assert "error" not in out


def test_output_into_a_closed_pipe_ends_quietly(
    base: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``sync run --json | head -3`` printed a BrokenPipeError traceback.
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert cli.main([*base, "sync", "run", "--json"]) == cli.EXIT_ERROR
    assert "Traceback" not in capsys.readouterr().err


def test_quarantine_of_a_mistyped_source_says_so(
    base: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, *base, "sync", "run")[0] == 0
    code, _, err = run(capsys, *base, "sync", "quarantine", "--source", "shpo")
    assert code == cli.EXIT_ERROR
    assert "no source named 'shpo' (configured: shop)" in err
    for more in (("--reingest",), ("--json",)):  # ("re-ingested 0 record(s)", "[]")
        code, out, err = run(capsys, *base, "sync", "quarantine", "--source", "shpo", *more)
        assert code == cli.EXIT_ERROR
        assert "no source named 'shpo' (configured: shop)" in err
        assert out == ""
    code, out, _ = run(capsys, *base, "sync", "quarantine", "--source", "shop")
    assert code == 0
    assert out.strip() == "quarantine holds no record of source 'shop'"


def test_a_source_failing_before_its_streams_has_a_row_in_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its error line followed the table, where it had no row: the table looked complete.
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    (tmp_path / "clients.csv").write_text(ROWS, encoding="utf-8")
    api = """
[sources.api]
type = "rest"
base_url = "http://127.0.0.1:9"
auth = { type = "bearer", secret = "never-stored" }
[sources.api.streams.customers]
kind = "customer"
path = "/customers"
id = "id"
[sources.api.streams.customers.fields]
given_name = "first"
"""
    (tmp_path / "sources.toml").write_text(SOURCES + api, encoding="utf-8")
    base = ("--db", str(tmp_path / "cache.db"), "--sources", str(tmp_path / "sources.toml"))

    code, out, err = run(capsys, *base, "sync", "run")

    assert code == cli.EXIT_ERROR
    rows = out.splitlines()
    assert any(r.startswith("shop/customers") for r in rows)
    (failed,) = [r for r in rows if r.startswith("api")]
    assert failed.endswith("FAILED")
    assert "source api failed" in err
