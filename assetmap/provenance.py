"""Where records come from, and keeping them in step with their sources.

Every import names its source (ALISS, Give Food, a named spreadsheet, an Open
Referral file). Each record it writes is remembered with the source's own id and
date for it, and with its values as imported. The next import of the same source is
a three-way comparison per field: stored value, value as last synced, new value.

- stored == synced: nobody changed it here, so the source's new value is taken;
- new == synced: only an editor changed it, so the local value stays;
- both changed and differ: the local value stays and a conflict is listed for an
  editor, with both values.

Records a complete import of the source no longer holds are marked "no longer
listed" for review, never deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """A directory the records of one import come from."""

    key: str  # stable: "aliss", "givefood", "sheet:gp-practice-list", "oruk:example"
    label: str  # what a CLW reads: "ALISS", "Give Food", "gp-practice-list.csv"
    kind: str  # aliss, givefood, spreadsheet, open-referral, editor
    url: str | None = None
    licence: str | None = None
    attribution: tuple[str, ...] = ()
    # Whether the import holds the whole source: only then are missing records "no longer listed".
    complete: bool = True


@dataclass(frozen=True)
class Origin:
    """One record as its source knows it."""

    source_record_id: str | None = None
    source_updated: dt.date | None = None  # last updated or reviewed there


EDITOR = Source(key="editor", label="an editor", kind="editor")


@dataclass
class Provenance:
    """What an import knows of its source, carried beside its rows (see oruk.Records)."""

    source: Source | None = None
    # (table, id) -> Origin, for the records the source names (services, organisations, locations).
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)

