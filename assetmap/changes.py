"""Change counters: every write says what it changed, so in-memory indexes stay current."""

from __future__ import annotations

import itertools

from sqlalchemy import Connection, update

from assetmap import backends
from assetmap.models import ChangeCounter

DIRECTORY = "directory"
POSTCODES = "postcodes"
AREAS = "areas"  # deprivation and other area figures
UNMET = "unmet"  # the unmet-need counts


_written = itertools.count()
_writes = 0


def written() -> int:
    """How many changes this process has recorded: a searcher that trusts its last look at the
    counters for a moment (search.Searcher's ``fresh_for``) looks again at once after its own."""
    return _writes


def bump(conn: Connection, name: str) -> None:
    """Record that ``name`` changed, inside the writer's own transaction."""
    global _writes
    _writes = next(_written) + 1
    updated = conn.execute(
        update(ChangeCounter).where(ChangeCounter.name == name)
        .values(generation=ChangeCounter.generation + 1)
    )
    if updated.rowcount == 0:
        conn.execute(backends.of(conn).insert(ChangeCounter).values(name=name, generation=1).on_conflict_do_update(
            index_elements=["name"], set_={"generation": ChangeCounter.generation + 1}))


def generations(conn: Connection) -> dict[str, int]:
    # Read before every search, so it skips SQLAlchemy's statement machinery.
    return dict(conn.exec_driver_sql("SELECT name, generation FROM change_counter").all())
