"""Change counters: every write says what it changed, so in-memory indexes stay current."""

from __future__ import annotations

from sqlalchemy import Connection, update

from assetmap import backends
from assetmap.models import ChangeCounter

DIRECTORY = "directory"
POSTCODES = "postcodes"
AREAS = "areas"  # deprivation and other area figures
UNMET = "unmet"  # the unmet-need counts


def bump(conn: Connection, name: str) -> None:
    """Record that ``name`` changed, inside the writer's own transaction."""
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
