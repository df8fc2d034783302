"""The match index gets the birth date block keys (``dp:`` with the postcode, ``dg:`` with the
given name's sound): every indexed record's keys are computed again from its stored profile
and the index made to hold exactly those.

Without it, inline matching would never meet a record filed before the upgrade through one of
the new keys, and ``match run`` would look each missing key up record by record. The whole
pass is one transaction, like every migration (``store.migrate``): a process killed half-way
leaves the cache as it was, at revision 0010, and the next open runs it again.

The keys come from ``matching.blocking`` as this version computes them — the match index is
matching's data, kept in the store; a later change of blocking adds a migration like this
one (a key already right is left alone, so running it on a current index writes nothing).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 02:00:00.000000
"""

import logging
import time
from collections.abc import Sequence

from alembic import op

from customer_card.matching.blocking import block_keys
from customer_card.matching.profile import Profile

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

_BATCH = 20_000  # records read, keyed and compared per step
_LOG_EVERY = 10.0  # seconds between progress lines


def upgrade() -> None:
    cursor = op.get_bind().connection.driver_connection.cursor()  # type: ignore[union-attr]
    total = int(cursor.execute("SELECT count(*) FROM match_record").fetchone()[0])
    if not total:
        return
    log.info("match index: recomputing the block keys of %d records", total)
    started = last_log = time.monotonic()
    done = added = removed = 0
    after = 0
    while True:
        rows = cursor.execute(
            "SELECT seq, profile FROM match_record WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, _BATCH),
        ).fetchall()
        if not rows:
            break
        low, high = int(rows[0][0]), int(rows[-1][0])
        held: set[tuple[str, int]] = set(
            cursor.execute(
                "SELECT key, seq FROM match_key WHERE seq BETWEEN ? AND ?", (low, high)
            ).fetchall()
        )
        wanted = {
            (key, int(seq)) for seq, text in rows for key in block_keys(Profile.from_json(text))
        }
        # Sorted as the table's primary key: neighbouring rows land on the same pages.
        missing = sorted(wanted - held)
        stale = sorted(held - wanted)
        if missing:
            cursor.executemany("INSERT INTO match_key (key, seq) VALUES (?, ?)", missing)
        if stale:
            cursor.executemany("DELETE FROM match_key WHERE key = ? AND seq = ?", stale)
        added += len(missing)
        removed += len(stale)
        done += len(rows)
        after = high
        now = time.monotonic()
        if now - last_log >= _LOG_EVERY:
            log.info("match index: %d of %d records keyed (%d keys added)", done, total, added)
            last_log = now
    log.info(
        "match index: %d records keyed in %.1f s, %d keys added, %d removed",
        done,
        time.monotonic() - started,
        added,
        removed,
    )


def downgrade() -> None:
    # Revision 0010's blocking computes neither key: without them the index is again exactly
    # what it computes (``match run`` takes a slow path for any record whose keys differ).
    op.execute("DELETE FROM match_key WHERE key LIKE 'dp:%' OR key LIKE 'dg:%'")
