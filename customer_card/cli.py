"""``customer-card``: the window, and the same core headless for scripts, telephony and tests.

Every command takes ``--db PATH``. Errors are one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from customer_card import __version__, app, paths
from customer_card.services.cards import card_as_json
from customer_card.services.demo import DEFAULT_CUSTOMERS, DEFAULT_SEED
from customer_card.services.info import cache_info
from customer_card.services.ingest import IngestReport
from customer_card.store.errors import CacheError

EXIT_ERROR = 1
EXIT_NOT_FOUND = 3
SEARCH_JSON_VERSION = 1


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="customer-card",
        description="One customer, every channel: the customer card and its encrypted cache.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--db", type=Path, help="cache file (default: your data directory)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="build (if needed) and open a demo cache")
    demo.add_argument("--customers", type=_positive, default=DEFAULT_CUSTOMERS)
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED)
    demo.add_argument("--no-window", action="store_true", help="build only, do not open")

    search = commands.add_parser("search", help="find customers (names, phone, e-mail, card…)")
    search.add_argument("text")
    search.add_argument("--limit", type=_positive, default=20)
    search.add_argument("--json", action="store_true", help="machine-readable output")

    show = commands.add_parser("show", help="print one customer's card")
    show.add_argument("id", help="public id (e.g. C7K3M9QX2) or internal number")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.add_argument("--interactions", type=_positive, default=20, help="latest N (default 20)")

    info = commands.add_parser("info", help="what the cache holds")
    info.add_argument("--json", action="store_true", help="machine-readable output")

    opener = commands.add_parser("open", help="bring the window to a customer (screen pop)")
    key = opener.add_mutually_exclusive_group(required=True)
    key.add_argument("--phone")
    key.add_argument("--email")
    key.add_argument("--card")
    key.add_argument("--id")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except CliError as error:
        print(f"customer-card: {error}", file=sys.stderr)
        return error.code
    except (CacheError, app.DemoError) as error:
        print(f"customer-card: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("customer-card: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command is None:
        return _window(args, None)
    if args.command == "demo":
        return _demo(args)
    if args.command == "open":
        return _window(args, _open_request(args))
    services = app.open_services(app.resolve_db(args.db))
    try:
        if args.command == "search":
            return _search(services, args)
        if args.command == "show":
            return _show(services, args)
        if args.command == "info":
            return _info(services, args)
    finally:
        services.close()
    raise CliError(f"unknown command {args.command}")


def _window(args: argparse.Namespace, request: dict[str, Any] | None) -> int:
    db_path = app.resolve_db(args.db)
    if args.db is None and not db_path.exists():
        # Nothing configured yet: show the demo rather than an empty window.
        services, report = app.ensure_demo(db_path, progress=_progress_printer())
        _report_build(report)
        services.close()
    return _run_gui(db_path, request)


def _demo(args: argparse.Namespace) -> int:
    db_path = args.db.expanduser() if args.db else paths.demo_cache()
    started = time.perf_counter()
    services, report = app.ensure_demo(
        db_path, customers=args.customers, seed=args.seed, progress=_progress_printer()
    )
    services.close()
    _report_build(report, time.perf_counter() - started)
    if args.no_window:
        print(f"demo cache ready: {db_path}")
        return 0
    return _run_gui(db_path, None)


def _run_gui(db_path: Path, request: dict[str, Any] | None) -> int:
    from customer_card.ui.startup import run_gui  # Qt only when a window is wanted

    return run_gui(
        db_path,
        request,
        open_services=lambda path, passphrase: app.open_services(path, passphrase=passphrase),
        instance_key=app.instance_key(db_path),
        runtime_dir=paths.runtime_dir(),
    )


def _progress_printer() -> Any:
    last = [0.0]

    def show(report: IngestReport) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 and sys.stderr.isatty():
            last[0] = now
            print(f"\r  {report.read:,} records ingested…", end="", file=sys.stderr, flush=True)

    return show


def _report_build(report: IngestReport | None, seconds: float | None = None) -> None:
    if report is None:
        return
    if sys.stderr.isatty():
        print(file=sys.stderr)
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    print(
        f"demo cache built{took}: {report.read:,} records, {report.customers_created:,} customers, "
        f"{report.suggestions:,} merge suggestions, {report.total('quarantined'):,} quarantined",
        file=sys.stderr,
    )


def _open_request(args: argparse.Namespace) -> dict[str, Any]:
    for key in ("phone", "email", "card", "id"):
        value = getattr(args, key)
        if value:
            return {"action": "open", key: value}
    raise CliError("open needs --phone, --email, --card or --id")


def _search(services: app.Services, args: argparse.Namespace) -> int:
    hits = services.search.search(args.text, limit=args.limit)
    if args.json:
        payload = {
            "format": "customer-card/search",
            "version": SEARCH_JSON_VERSION,
            "query": args.text,
            "results": [
                {
                    "id": h.public_id,
                    "name": h.name,
                    "city": h.city,
                    "birth_year": h.birth_year,
                    "loyalty_tier": h.loyalty_tier,
                    "vip": h.vip,
                    "last_contact_at": h.last_contact_at.isoformat() if h.last_contact_at else None,
                    "sources": list(h.sources),
                    "matched": h.matched,
                    "score": h.score,
                }
                for h in hits
            ],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print(f"no customer matches {args.text!r}")
        return EXIT_NOT_FOUND
    for h in hits:
        born = str(h.birth_year) if h.birth_year else "—"
        tier = (h.loyalty_tier or "").capitalize() + (" VIP" if h.vip else "")
        print(
            f"{h.public_id}  {h.name:<32} {h.city or '—':<18} {born:<5} {tier:<14} "
            f"{','.join(h.sources)}"
        )
    return 0


def _show(services: app.Services, args: argparse.Namespace) -> int:
    ident = args.id.strip()
    card = (
        services.cards.load(int(ident))
        if ident.isdigit()
        else services.cards.load_by_public_id(ident)
    )
    if card is None:
        raise CliError(f"no customer with id {ident!r}", EXIT_NOT_FOUND)
    latest = services.cards.timeline(card.customer.id, None, args.interactions)
    if args.json:
        print(json.dumps(card_as_json(card, latest), ensure_ascii=False, indent=2))
        return 0
    c = card.customer
    print(f"{c.display_name}  ({c.public_id})")
    flags = [
        f for f in (c.loyalty_tier and c.loyalty_tier.capitalize(), "VIP" if c.vip else "") if f
    ]
    if flags:
        print("  " + " · ".join(flags))
    print(
        f"  value: {c.lifetime_value:,.2f} € over {c.order_count} purchases; "
        f"followers: {c.followers:,}"
    )
    if card.do_not_contact:
        print("  DO NOT CONTACT")
    for cp in card.contact_points:
        mark = "" if cp.valid else "  [invalid]"
        sources = ", ".join(sorted({p.source for p in cp.provenance}))
        print(f"  {cp.kind.value:<8} {cp.value}{mark}  ({sources})")
    for consent in card.consents:
        print(f"  consent  {consent.purpose}: {consent.status.value} ({consent.provenance.source})")
    print(f"  history: {card.interaction_count} interactions, {card.open_interactions} open")
    for item in latest:
        when = item.occurred_at.astimezone().strftime("%Y-%m-%d %H:%M")
        print(f"    {when}  {item.channel:<7} {item.summary}")
    return 0


def _info(services: app.Services, args: argparse.Namespace) -> int:
    info = cache_info(services.database)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(
        f"cache: {info['path']} ({info['size_bytes'] / 1e6:.1f} MB, "
        f"schema {info['schema_version']})"
    )
    for table, n in info["tables"].items():
        print(f"  {table:<18} {n:>10,}")
    for source, counts in info["sources"].items():
        parts = ", ".join(f"{n:,} {k}" for k, n in counts.items())
        print(f"  source {source}: {parts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
