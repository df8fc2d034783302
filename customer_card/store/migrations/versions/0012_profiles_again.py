"""Every indexed record is profiled again from its source record's fields, as this version
reads them, and keyed again where its profile changed.

The match index keeps each record's profile, and ``match run`` reuses it: without this, a
record filed by an earlier version keeps that version's reading of its fields — a full name
opening with a compound given name's initials ('A-M Maillard') filed with 'A-M' as the family
name, before this revision — and is compared and found by it, while the same fields arriving
now are read the new way. A deleted record keeps its profile and keys as ingest leaves them
(a tombstone's fields may be empty; deleted records still count in windows and in the weak
numbers' thresholds). A record whose profile is unchanged is left alone (running this on
a current index writes nothing); a changed one gets its new profile and exactly its block
keys. The whole pass is one transaction, like every migration (``store.migrate``): a process
killed half-way leaves the cache at revision 0011, and the next open runs it again.

Profiles come from ``matching.profile`` as this version computes them, in the default phone
region, as ingest profiles records. A later change of how fields are read adds a migration
like this one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 09:40:00.000000
"""

import json
import logging
import time
from collections.abc import Sequence

from alembic import op

from customer_card.matching.blocking import block_keys
from customer_card.matching.profile import profile_of

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

_BATCH = 20_000  # records read, profiled and compared per step
_LOG_EVERY = 10.0  # seconds between progress lines


def upgrade() -> None:
    cursor = op.get_bind().connection.driver_connection.cursor()  # type: ignore[union-attr]
    total = int(cursor.execute("SELECT count(*) FROM match_record").fetchone()[0])
    if not total:
        return
    log.info("match index: reading the fields of %d records again", total)
    started = last_log = time.monotonic()
    done = changed = 0
    after = 0
    while True:
        rows = cursor.execute(
            "SELECT m.seq, m.profile, s.fields FROM match_record m "
            "JOIN source_record s ON s.source = m.source AND s.source_id = m.source_id "
            "WHERE m.seq > ? AND NOT s.deleted ORDER BY m.seq LIMIT ?",
            (after, _BATCH),
        ).fetchall()
        if not rows:
            break
        profiles: list[tuple[str, int]] = []
        keys: list[tuple[str, int]] = []
        for seq, stored, fields in rows:
            profile = profile_of(json.loads(fields))
            text = profile.to_json()
            if text != stored:
                profiles.append((text, int(seq)))
                keys.extend((key, int(seq)) for key in block_keys(profile))
        if profiles:
            cursor.executemany("UPDATE match_record SET profile = ? WHERE seq = ?", profiles)
            cursor.executemany(
                "DELETE FROM match_key WHERE seq = ?", [(seq,) for _, seq in profiles]
            )
            cursor.executemany("INSERT OR IGNORE INTO match_key (key, seq) VALUES (?, ?)", keys)
        changed += len(profiles)
        done += len(rows)
        after = int(rows[-1][0])
        now = time.monotonic()
        if now - last_log >= _LOG_EVERY:
            log.info("match index: %d of %d records read (%d changed)", done, total, changed)
            last_log = now
    log.info(
        "match index: %d records read again in %.1f s, %d profiles changed",
        done,
        time.monotonic() - started,
        changed,
    )


def downgrade() -> None:
    # Revision 0011 reads the fields its own way: profiles it would have stored are not kept,
    # and ``match run`` works with those it finds.
    pass
