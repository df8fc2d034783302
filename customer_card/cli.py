"""``customer-card``: the window, and the same core headless for scripts, telephony and tests.

Every command takes ``--db PATH``. Errors are one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from customer_card import __version__, app, paths
from customer_card.matching.config import ConfigError
from customer_card.services.cards import card_as_json
from customer_card.services.demo_defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
from customer_card.services.files import (
    ExportError,
    is_special,
    private_text_file,
    written_in_place,
)
from customer_card.services.info import cache_info
from customer_card.services.ingest import IngestReport
from customer_card.services.matching import MatchService
from customer_card.services.merge import MergeError, MergeService
from customer_card.services.outbox import OutboxService
from customer_card.services.overrides import (
    CustomerOverrides,
    OverrideError,
    OverrideService,
    UnknownCustomerError,
)
from customer_card.services.sync_runner import SyncProgress, SyncRunner, SyncSummary
from customer_card.store.errors import CacheError
from customer_card.store.sync_store import SyncStore
from sync.sources import SourcesError, keyring_secrets, load_sources, store_secret

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
    parser.add_argument(
        "--sources", type=Path, help="sources file (default: sources.toml in your config dir)"
    )
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

    sync = commands.add_parser("sync", help="fill the cache from the company's systems")
    sync_commands = sync.add_subparsers(dest="sync_command", metavar="SYNC_COMMAND", required=True)
    sync_run = sync_commands.add_parser("run", help="run the sources (all, or one)")
    sync_run.add_argument("--source", help="only this source")
    sync_run.add_argument("--json", action="store_true", help="machine-readable summary")
    sync_status = sync_commands.add_parser("status", help="last run of every stream")
    sync_status.add_argument("--json", action="store_true", help="machine-readable output")
    quarantine = sync_commands.add_parser("quarantine", help="records kept aside, with reasons")
    quarantine.add_argument("--source", help="only this source")
    quarantine.add_argument("--limit", type=_positive, default=50)
    quarantine.add_argument("--json", action="store_true", help="machine-readable output")
    quarantine.add_argument(
        "--reingest", action="store_true", help="map and ingest them again (after a fix)"
    )

    sources = commands.add_parser("sources", help="the sources file and its secrets")
    sources_commands = sources.add_subparsers(
        dest="sources_command", metavar="SOURCES_COMMAND", required=True
    )
    set_secret = sources_commands.add_parser(
        "set-secret", help="store a password or token in the keychain (read from stdin)"
    )
    set_secret.add_argument("name")

    outbox = commands.add_parser("outbox", help="changes queued for the company's systems")
    outbox_commands = outbox.add_subparsers(
        dest="outbox_command", metavar="OUTBOX_COMMAND", required=True
    )
    export = outbox_commands.add_parser("export", help="write the outbox as JSON lines")
    export.add_argument("--output", type=Path, required=True)
    export.add_argument("--all", action="store_true", help="every entry, not only pending ones")
    export.add_argument("--keep", action="store_true", help="leave exported entries pending")

    demo_export = commands.add_parser(
        "demo-export", help="write the demo systems as CSV exports with a sources file"
    )
    demo_export.add_argument("--output", type=Path, required=True)
    demo_export.add_argument("--customers", type=_positive, default=DEFAULT_CUSTOMERS)
    demo_export.add_argument("--seed", type=int, default=DEFAULT_SEED)

    match = commands.add_parser("match", help="find the records of one person (matching)")
    match_commands = match.add_subparsers(
        dest="match_command", metavar="MATCH_COMMAND", required=True
    )
    match_commands.add_parser("run", help="re-examine the whole cache (merges and suggestions)")
    match_commands.add_parser("estimate", help="print weights estimated from the cache (EM)")
    for name, what in (
        ("links", "source record -> golden customer"),
        ("suggestions", "pending merge suggestions with evidence"),
    ):
        command = commands.add_parser(name, help=f"export {what}")
        command.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True).add_parser(
            "export", help=f"write {what} as CSV"
        ).add_argument("--output", type=Path, required=True)
    merge = commands.add_parser("merge", help="merge customer B into customer A")
    merge.add_argument("survivor", help="public id or internal number")
    merge.add_argument("merged", help="public id or internal number")
    unmerge = commands.add_parser("unmerge", help="undo a merge event")
    unmerge.add_argument("event", type=_positive)
    override = commands.add_parser(
        "override", help="pin a golden field's value for a customer (manual survivorship)"
    )
    override_commands = override.add_subparsers(
        dest="override_command", metavar="OVERRIDE_COMMAND", required=True
    )
    pin = override_commands.add_parser("set", help="pin FIELD to VALUE: it wins over the rules")
    unpin = override_commands.add_parser("clear", help="let the rules pick FIELD again")
    pins = override_commands.add_parser("list", help="the customer's pinned fields")
    for command in (pin, unpin, pins):
        command.add_argument("customer", help="public id or internal number")
    for command in (pin, unpin):
        command.add_argument("field", help="given_name, family_name, birth_date, city, …")
    pin.add_argument("value")
    pins.add_argument("--json", action="store_true", help="machine-readable output")
    _accept_global_options_everywhere(parser)
    return parser


def _accept_global_options_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--db``, ``--sources`` and ``-v`` work before or after the command
    (``customer-card --db X demo`` and ``customer-card demo --db X``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="cache file")
                sub.add_argument(
                    "--sources", type=Path, default=argparse.SUPPRESS, help="sources file"
                )
                sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
                _accept_global_options_everywhere(sub)


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
    except (CacheError, app.DemoError, SourcesError, ExportError) as error:
        print(f"customer-card: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("customer-card: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``… | head``): nothing more to say to it, and no traceback.
        # Python would still flush stdout into the closed pipe at exit: point it elsewhere.
        with suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


def _dispatch(args: argparse.Namespace) -> int:
    if args.command is None:
        return _window(args, None)
    if args.command == "demo":
        return _demo(args)
    if args.command == "open":
        return _window(args, _open_request(args))
    if args.command == "sources":
        return _set_secret(args)
    if args.command == "demo-export":
        return _demo_export(args)
    syncing = args.command == "sync" and args.sync_command == "run"
    if syncing:
        # A first sync creates the user's cache (never the demo cache).
        db_path = args.db.expanduser() if args.db else paths.default_cache()
        services = app.open_services(db_path, create=True, upgrading=_say_upgrading)
    else:
        services = app.open_services(app.resolve_db(args.db), upgrading=_say_upgrading)
    try:
        if args.command == "search":
            return _search(services, args)
        if args.command == "show":
            return _show(services, args)
        if args.command == "info":
            return _info(services, args)
        if args.command == "sync":
            return _sync(services, args)
        if args.command == "outbox":
            return _outbox_export(services, args)
        if args.command == "match":
            return _match(services, args)
        if args.command in ("links", "suggestions"):
            return _export_matching(services, args)
        if args.command in ("merge", "unmerge"):
            return _merge(services, args)
        if args.command == "override":
            return _override(services, args)
    finally:
        services.close()
    raise CliError(f"unknown command {args.command}")


def _window(args: argparse.Namespace, request: dict[str, Any] | None) -> int:
    db_path = app.resolve_db(args.db)
    if args.db is None and app.demo_unfinished(db_path):
        # Nothing configured yet: show the demo rather than an empty window, built behind the
        # window's busy notice (it takes seconds) rather than before anything shows.
        def build(progress: Callable[[int], None]) -> None:
            services, report = app.ensure_demo(db_path, progress=lambda done: progress(done.read))
            services.close()
            _report_build(report)

        return _run_gui(db_path, request, args.sources, prepare=build)
    return _run_gui(db_path, request, args.sources)


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
    return _run_gui(db_path, None, args.sources)


def _run_gui(
    db_path: Path,
    request: dict[str, Any] | None,
    sources: Path | None,
    prepare: Callable[[Callable[[int], None]], None] | None = None,
) -> int:
    from customer_card.ui.startup import run_gui  # Qt only when a window is wanted

    return run_gui(
        db_path,
        request,
        open_services=lambda path, passphrase: app.open_services(
            path, passphrase=passphrase, sources=sources
        ),
        instance_key=app.instance_key(db_path),
        runtime_dir=paths.runtime_dir(),
        prepare=prepare,
    )


def _say_upgrading() -> None:
    print(
        "customer-card: bringing the cache up to date for this version "
        "(a minute or so for a million customers)…",
        file=sys.stderr,
        flush=True,
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
    bought = services.cards.products(card.customer.id)
    if args.json:
        print(json.dumps(card_as_json(card, latest, bought), ensure_ascii=False, indent=2))
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
    for product in bought.products:
        returned = f", {product.returned} returned" if product.returned else ""
        last = product.last_bought_at.astimezone().strftime("%Y-%m-%d")
        print(f"  bought   {product.name} ×{product.quantity} (last {last}{returned})")
    if bought.total > len(bought.products):
        print(f"  bought   … and {bought.total - len(bought.products)} more product(s)")
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


# --- sync, sources, outbox ---------------------------------------------------------------------


def _sync(services: app.Services, args: argparse.Namespace) -> int:
    if args.sync_command == "status":
        return _sync_status(services, args)
    runner = SyncRunner(services.database, services.ingest, keyring_secrets())
    if args.sync_command == "quarantine":
        # Reading the quarantine needs no sources file: it is where one looks when that file
        # is broken. Re-ingesting maps the rows again, so it needs the current mappings.
        configs = []
        if args.reingest:
            known = load_sources(app.resolve_sources(args.sources))
            if args.source:
                known.select(args.source)  # a typo is said, not "re-ingested 0"
            configs = known.select(None)
        return _sync_quarantine(services, runner, configs, args)
    sources = load_sources(app.resolve_sources(args.sources))
    selected = sources.select(args.source)
    if not selected:
        raise CliError(f"{sources.path}: no enabled source to run")
    # Every failed source is reported below, once, after the summary: the runner's own log of
    # it (with a traceback for a connector's bug) is for --verbose.
    runner_log = logging.getLogger(SyncRunner.__module__)
    level = runner_log.level
    if not args.verbose:
        runner_log.setLevel(logging.CRITICAL)
    try:
        with _ended_as_by_ctrl_c():
            summary = runner.run(selected, progress=_sync_progress_printer())
    finally:
        runner_log.setLevel(level)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_summary(summary)
    for source, error in summary.errors.items():
        print(f"customer-card: source {source} failed: {error}", file=sys.stderr)
    return 0 if summary.ok else EXIT_ERROR


@contextmanager
def _ended_as_by_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP (``timeout``, a closed terminal, a scheduler stopping the job) end a
    sync as Ctrl-C does: its connectors close on the way out — a Singer tap, in a process group
    of its own, is ended with what it started — and what was committed stays. By default they
    would end this process on the spot and leave the tap running. A signal ignored on purpose
    (``nohup``) stays ignored."""
    if os.name != "posix" or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {}
    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) == signal.SIG_DFL:
            previous[number] = signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _sync_progress_printer() -> Any:
    closed = [False]

    def show(p: SyncProgress) -> None:
        # A line per committed batch when piped (scripts follow it), one updated line on a tty.
        # A reader that went away (``2>&1 | head``) ends the lines, never the sync: the error
        # would fail the pass and stand as the source's last error.
        if closed[0]:
            return
        text = f"{p.source}/{p.stream}: {p.read:,} records ({p.total_read:,} in all)"
        try:
            if sys.stderr.isatty():
                print(f"\r  {text}   ", end="", file=sys.stderr, flush=True)
            else:
                print(f"progress {text}", file=sys.stderr, flush=True)
        except OSError:
            closed[0] = True

    return show


def _print_summary(summary: SyncSummary) -> None:
    print(
        f"{'stream':<28} {'read':>9} {'inserted':>9} {'updated':>9} {'unchanged':>9} "
        f"{'deleted':>8} {'quarant.':>8} {'seconds':>8}"
    )
    for p in summary.passes:
        state = " FAILED" if p.error else " cancelled" if p.cancelled else ""
        print(
            f"{p.source + '/' + p.stream:<28} {p.read:>9,} {p.inserted:>9,} {p.updated:>9,} "
            f"{p.unchanged:>9,} {p.deleted:>8,} {p.quarantined:>8,} {p.seconds:>8.1f}{state}"
        )
    # A source that failed before any stream (a missing secret, a connection refused) has a
    # row too: its error follows the table.
    passed = {p.source for p in summary.passes}
    for source in summary.errors:
        if source not in passed:
            print(f"{source + ' (no stream read)':<28} {'-':>9} {'':>56} FAILED")
    print(
        f"{'total':<28} {summary.total('read'):>9,} {summary.total('inserted'):>9,} "
        f"{summary.total('updated'):>9,} {summary.total('unchanged'):>9,} "
        f"{summary.total('deleted'):>8,} {summary.total('quarantined'):>8,} "
        f"{summary.seconds:>8.1f}"
    )
    if moved := summary.total("moved"):
        print(
            f"{moved:,} changed record(s) now describe someone else: moved off the customer "
            "they were linked to (see their cards' sources)"
        )


def _sync_status(services: app.Services, args: argparse.Namespace) -> int:
    with services.database.read() as session:
        store = SyncStore(session)
        rows = store.status()
        waiting = store.quarantine_counts()
    if args.json:
        payload = {
            "streams": [
                {
                    "source": r.source,
                    "stream": r.stream,
                    "updated_at": r.updated_at.isoformat() if r.updated_at else None,
                    "last_success_at": r.last_success_at.isoformat() if r.last_success_at else None,
                    "last_error": r.last_error,
                }
                for r in rows
            ],
            "quarantined": waiting,
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no sync has run on this cache yet")
    for r in rows:
        when = (
            r.last_success_at.astimezone().strftime("%Y-%m-%d %H:%M")
            if r.last_success_at
            else "never"
        )
        error = f"  error: {r.last_error}" if r.last_error else ""
        print(f"{r.source + '/' + r.stream:<28} last success {when}{error}")
    for source, n in waiting.items():
        print(f"{source}: {n:,} record(s) in quarantine (customer-card sync quarantine)")
    return 0


def _sync_quarantine(
    services: app.Services, runner: SyncRunner, sources: Any, args: argparse.Namespace
) -> int:
    if args.reingest:
        report = runner.reingest_quarantine(sources, args.source)
        # (Every outcome, so that they add up to the records read.)
        deleted = report.total("deleted")
        print(
            f"re-ingested {report.read:,} record(s): {report.total('inserted'):,} inserted, "
            f"{report.total('updated'):,} updated, {report.total('unchanged'):,} unchanged, "
            + (f"{deleted:,} deleted, " if deleted else "")
            + f"{report.total('quarantined'):,} still quarantined"
        )
    with services.database.read() as session:
        rows = SyncStore(session).quarantined(args.source, limit=args.limit)
    if not rows and args.source and not args.reingest:
        _check_source_name(args)
    if args.json:
        payload = [
            {
                "id": q.id,
                "source": q.source,
                "source_id": q.source_id,
                "kind": q.kind,
                "reason": q.reason,
                "raw": q.raw,
                "created_at": q.created_at.isoformat(),
            }
            for q in rows
        ]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    if not rows and not args.reingest:
        if args.source:
            print(f"quarantine holds no record of source {args.source!r}")
        else:
            print("quarantine is empty")
    for q in rows:
        print(f"{q.id:>6}  {q.source}/{q.kind or '?'}  {q.source_id or '(no id)'}: {q.reason}")
        print(f"        {q.raw[:160]}")
    return 0


def _check_source_name(args: argparse.Namespace) -> None:
    """A ``--source`` the sources file does not name is a typo, said as ``sync run`` says it
    (the quarantine is read without a sources file: a missing or broken one is no error)."""
    try:
        sources = load_sources(app.resolve_sources(args.sources))
    except SourcesError:
        return
    sources.select(args.source)  # raises SourcesError naming the configured sources


def _set_secret(args: argparse.Namespace) -> int:
    import getpass

    if sys.stdin.isatty():
        value = getpass.getpass(f"secret {args.name}: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise CliError("empty secret: nothing stored")
    try:
        store_secret(args.name, value)
    except SourcesError:
        raise
    except Exception as error:  # keyring backends raise their own kinds
        raise CliError(f"the keychain refused the secret ({type(error).__name__})") from None
    print(f"secret {args.name!r} stored in the keychain")
    return 0


def _output_file(path: Path) -> Path:
    """Where an export goes: a file (written beside and moved over it: all or nothing), or
    the process's output, a pipe or a terminal, written into (``written_in_place``); never a
    disk or other device."""
    output = path.expanduser()
    if is_special(output):
        raise CliError(f"{output} is a device or other special file; give a file name")
    return output


def _summary(output: Path, text: str) -> None:
    """What an export wrote: on stderr when the export itself went to the process's output
    or a stream, where the line would end up inside the data."""
    print(text, file=sys.stderr if written_in_place(output) else sys.stdout)


def _outbox_export(services: app.Services, args: argparse.Namespace) -> int:
    output = _output_file(args.output)
    if not output.parent.is_dir():
        raise CliError(f"no directory {output.parent}")
    if written_in_place(output) and not args.keep:
        # Entries exported are marked, and a pipe cannot tell whether its reader got them
        # (``| head`` stops reading; what fits its buffer was "written").
        raise CliError(
            f"an export into {output} cannot tell whether the entries were read: add --keep "
            "(they stay pending) or give a file"
        )
    n = OutboxService(services.database).export_jsonl(
        output, mark_exported=not args.keep, everything=args.all
    )
    _summary(output, f"{n:,} outbox entr{'y' if n == 1 else 'ies'} written to {output}")
    return 0


def _demo_export(args: argparse.Namespace) -> int:
    output = args.output.expanduser()
    if output.exists() and any(output.iterdir()):
        raise CliError(f"{output} is not empty; choose a new directory")
    from customer_card.services.demo_files import export_demo  # the generator, only here

    counts = export_demo(output, customers=args.customers, seed=args.seed)
    for name, n in counts.items():
        print(f"  {name:<28} {n:>9,} rows")
    print(f"demo exports written to {output}; load them with:")
    print(f"  customer-card --db CACHE --sources {output / 'sources.toml'} sync run")
    return 0


def _match(services: app.Services, args: argparse.Namespace) -> int:
    try:
        matching = MatchService(services.database)
    except ConfigError as error:
        raise CliError(str(error)) from None
    if args.match_command == "estimate":
        result = matching.estimate()
        print(f"# EM: {result.iterations} iterations, converged: {result.converged}")
        print(matching.config.with_weights(result.fields).as_toml_weights())
        return 0
    report = matching.run()
    print(
        f"match run: {report.records:,} records in {report.seconds:.1f} s; "
        f"{report.merges:,} merges, {report.suggestions:,} new suggestions, "
        f"{report.kept_apart:,} kept apart by a supervisor, {report.indexed:,} newly indexed"
        + (
            f", {report.held:,} held for review (a customer's records now apart)"
            if report.held
            else ""
        )
    )
    return 0


def _export_matching(services: app.Services, args: argparse.Namespace) -> int:
    output = _output_file(args.output)
    matching = MatchService(services.database)
    with private_text_file(output, newline="") as handle:
        if args.command == "links":
            n = matching.export_links(handle)
        else:
            n = matching.export_suggestions(handle)
    _summary(output, f"{n:,} {args.command} written to {output}")
    return 0


def _merge(services: app.Services, args: argparse.Namespace) -> int:
    merging = MergeService(services.database)
    try:
        if args.command == "unmerge":
            survivor, restored = merging.unmerge(args.event, actor="cli")
            print(f"merge {args.event} undone: customers {survivor} and {restored} are apart again")
            return 0
        ids = [merging.customer_id(x) for x in (args.survivor, args.merged)]
        for ident, found in zip((args.survivor, args.merged), ids, strict=True):
            if found is None:
                raise CliError(f"no customer with id {ident!r}", EXIT_NOT_FOUND)
        event = merging.merge(ids[0], ids[1], actor="cli")  # type: ignore[arg-type]
    except MergeError as error:
        raise CliError(str(error)) from None
    print(f"merged {args.merged} into {args.survivor} (merge event {event}; undo: unmerge {event})")
    return 0


def _override(services: app.Services, args: argparse.Namespace) -> int:
    overrides = OverrideService(services.database)
    try:
        if args.override_command == "set":
            result = overrides.set(args.customer, args.field, args.value, actor="cli")
        elif args.override_command == "clear":
            result = overrides.clear(args.customer, args.field, actor="cli")
        else:
            result = overrides.list(args.customer)
    except UnknownCustomerError as error:
        raise CliError(str(error), EXIT_NOT_FOUND) from None
    except OverrideError as error:
        raise CliError(str(error)) from None
    if args.override_command == "list" and args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return 0
    _print_overrides(result, args)
    return 0


def _print_overrides(result: CustomerOverrides, args: argparse.Namespace) -> None:
    if result.redirected_from:
        print(f"{result.redirected_from} was merged into {result.public_id}")
    if args.override_command == "set":
        print(f"{result.public_id}: {args.field} pinned")
    elif args.override_command == "clear":
        print(f"{result.public_id}: {args.field} no longer pinned (the rules pick it again)")
    if not result.pinned:
        print(f"{result.public_id}: no pinned fields")
    for p in result.pinned:
        when = p.set_at.astimezone().strftime("%Y-%m-%d %H:%M")
        print(f"  {p.field:<14} {p.value}  (by {p.set_by}, {when})")


if __name__ == "__main__":
    raise SystemExit(main())
