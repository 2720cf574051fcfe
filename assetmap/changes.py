"""Change counters: every write says what it changed, so in-memory indexes stay current."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from sqlalchemy import Connection, delete, insert, select, update

from assetmap import backends
from assetmap.models import ChangeCounter, DirectoryChange

DIRECTORY = "directory"
POSTCODES = "postcodes"
AREAS = "areas"  # deprivation and other area figures
UNMET = "unmet"  # the unmet-need counts


# How many services one change may list (more: read everything again), and for how many
# generations the lists are kept.
LIST_AT_MOST = 5_000
KEEP_CHANGES = 1_000

_written = itertools.count()
_writes = 0


def written() -> int:
    """How many changes this process has recorded: a searcher that trusts its last look at the
    counters for a moment (search.Searcher's ``fresh_for``) looks again at once after its own."""
    return _writes


def bump(conn: Connection, name: str, services: Iterable[str] | None = None) -> None:
    """Record that ``name`` changed, inside the writer's own transaction. For the directory,
    ``services`` names the services the change touched, when the writer knows them (an edit, a
    merge): servers then re-read only those; without them, everything is read again."""
    global _writes
    _writes = next(_written) + 1
    updated = conn.execute(
        update(ChangeCounter).where(ChangeCounter.name == name)
        .values(generation=ChangeCounter.generation + 1)
    )
    if updated.rowcount == 0:
        conn.execute(backends.of(conn).insert(ChangeCounter).values(name=name, generation=1).on_conflict_do_update(
            index_elements=["name"], set_={"generation": ChangeCounter.generation + 1}))
    if name == DIRECTORY:
        generation = conn.execute(select(ChangeCounter.generation).where(ChangeCounter.name == name)).scalar_one()
        listed: list[str | None] = []
        listed.extend(sorted(set(services)) if services is not None else ())
        if services is None or len(listed) > LIST_AT_MOST or not listed:
            listed = [None]  # everything: also said when a writer names no service
        conn.execute(insert(DirectoryChange), [{"generation": generation, "service_id": s} for s in listed])
        conn.execute(delete(DirectoryChange).where(DirectoryChange.generation <= generation - KEEP_CHANGES))


def changed_since(conn: Connection, generation: int, now: int) -> set[str] | None:
    """The services changed after ``generation`` up to ``now``; None when that is not known (a
    change too large to list, history older than kept, a restored backup's jump)."""
    rows = conn.execute(select(DirectoryChange.generation, DirectoryChange.service_id).where(
        DirectoryChange.generation > generation, DirectoryChange.generation <= now)).all()
    if {g for g, _ in rows} != set(range(generation + 1, now + 1)) or any(s is None for _, s in rows):
        return None
    return {s for _, s in rows if s is not None}


def generations(conn: Connection) -> dict[str, int]:
    # Read before every search, so it skips SQLAlchemy's statement machinery.
    return dict(conn.exec_driver_sql("SELECT name, generation FROM change_counter").all())
