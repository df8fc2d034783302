"""A small Singer tap for the tests: customers and orders of an imaginary e-shop.

Emits SCHEMA, RECORD and STATE messages on stdout like any tap; with ``--state FILE`` it only
sends what changed after the bookmark there. ``--config FILE`` must hold {"api_key": "…"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

CUSTOMERS = [
    {"id": i, "email": f"tap{i}@example.fr", "name": f"Client{i} TAP", "updated": i}
    for i in range(1, 13)
]
ORDERS = [
    {
        "id": 100 + i,
        "customer_id": 1 + i % 12,
        "at": "2026-01-05T10:00:00Z",
        "total": 10 + i,
        "updated": i + 1,
    }
    for i in range(20)
]


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--state")
    parser.add_argument("--extra", type=int, default=0, help="customers added since")
    parser.add_argument("--noisy", action="store_true", help="log 256 KiB of Latin-1 first")
    parser.add_argument("--latin1", action="store_true", help="one customer sent in Latin-1")
    parser.add_argument(
        "--hang", metavar="PIDFILE", help="after the customers, write the pid, wait"
    )
    parser.add_argument(
        "--die-after", type=int, default=0, help="crash after N customers (and one more record)"
    )
    parser.add_argument("--cut", action="store_true", help="dying, its last line cut short")
    args = parser.parse_args()
    if args.noisy:  # more than a pipe holds, and not UTF-8
        for _ in range(4096):
            sys.stderr.buffer.write("avertissement : données reçues\n".encode("latin-1") * 2)
        sys.stderr.flush()
    with open(args.config, encoding="utf-8") as handle:
        if json.load(handle).get("api_key") != "tap-key":
            sys.stderr.write("CRITICAL invalid api_key\n")
            return 2
    bookmarks = {"customers": 0, "orders": 0}
    if args.state:
        with open(args.state, encoding="utf-8") as handle:
            bookmarks.update(json.load(handle)["bookmarks"])
    customers = CUSTOMERS + [
        {"id": 50 + i, "email": f"new{i}@example.fr", "name": f"New{i} TAP", "updated": 100 + i}
        for i in range(args.extra)
    ]
    emit({"type": "SCHEMA", "stream": "customers", "schema": {}, "key_properties": ["id"]})
    if args.latin1:
        row = {"id": 77, "email": "helene@example.fr", "name": "Hélène DUPONT"}
        line = json.dumps(
            {"type": "RECORD", "stream": "customers", "record": row}, ensure_ascii=False
        )
        sys.stdout.flush()
        sys.stdout.buffer.write(line.encode("latin-1") + b"\n")
    sent = 0
    for row in customers:
        if row["updated"] > bookmarks["customers"]:
            if args.die_after and sent == args.die_after:
                if args.cut:  # killed while writing
                    line = json.dumps({"type": "RECORD", "stream": "customers", "record": row})
                    sys.stdout.write(line[: len(line) // 2])
                else:
                    emit({"type": "RECORD", "stream": "customers", "record": row})  # no STATE
                sys.stdout.flush()
                sys.stderr.write("CRITICAL connection reset by peer\n")
                return 1
            emit({"type": "RECORD", "stream": "customers", "record": row})
            bookmarks["customers"] = max(bookmarks["customers"], int(row["updated"]))
            emit({"type": "STATE", "value": {"bookmarks": dict(bookmarks)}})
            sent += 1
    if args.hang:  # a slow system: the sync is interrupted while it waits
        sys.stdout.flush()
        with open(args.hang, "w", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
        time.sleep(120)
    emit({"type": "SCHEMA", "stream": "orders", "schema": {}, "key_properties": ["id"]})
    emit({"type": "RECORD", "stream": "ignored_stream", "record": {"x": 1}})
    for row in ORDERS:
        if row["updated"] > bookmarks["orders"]:
            emit({"type": "RECORD", "stream": "orders", "record": row})
            bookmarks["orders"] = max(bookmarks["orders"], int(row["updated"]))
    emit({"type": "STATE", "value": {"bookmarks": dict(bookmarks)}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
