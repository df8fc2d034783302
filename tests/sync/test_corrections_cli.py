"""``sync run`` says when a changed record left its customer: a shop corrected an account typed
under one customer's details into another person's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sync.test_sync_cli import PASSPHRASE, run

SOURCES = """
[sources.crm]
type = "csv"
[sources.crm.streams.customers]
kind = "customer"
file = "crm.csv"
id = "id"
[sources.crm.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
email = "mail"
birth_date = { column = "naissance", date = "%d/%m/%Y" }

[sources.shop]
type = "csv"
[sources.shop.streams.customers]
kind = "customer"
file = "shop.csv"
id = "id"
[sources.shop.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
email = "mail"
birth_date = { column = "naissance", date = "%d/%m/%Y" }
"""
HEADER = "id;prenom;nom;mail;naissance\n"
JEAN = "Jean;Moreau;jean.moreau@mail.fr;02/06/1975\n"
MARIE = "Marie;Lambert;marie.lambert@post.fr;23/11/1988\n"


def test_sync_run_says_how_many_records_left_their_customer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    (tmp_path / "sources.toml").write_text(SOURCES, encoding="utf-8")
    (tmp_path / "crm.csv").write_text(HEADER + "C1;" + JEAN + "C2;" + MARIE, encoding="utf-8")
    (tmp_path / "shop.csv").write_text(HEADER + "S1;" + JEAN, encoding="utf-8")
    base = ("--db", str(tmp_path / "cache.db"), "--sources", str(tmp_path / "sources.toml"))
    code, out, _ = run(capsys, *base, "sync", "run")
    assert code == 0
    assert "moved" not in out

    (tmp_path / "shop.csv").write_text(HEADER + "S1;" + MARIE, encoding="utf-8")
    code, out, _ = run(capsys, *base, "sync", "run")

    assert code == 0
    assert "1 changed record(s) now describe someone else" in out
    (tmp_path / "shop.csv").write_text(
        HEADER + "S1;" + MARIE.replace("Lambert", "LAMBERT"), encoding="utf-8"
    )
    code, out, _ = run(capsys, *base, "sync", "run", "--json")
    assert json.loads(out)["totals"]["moved"] == 0
