"""`assetmap import assets`: Open Referral files and folders, or any spreadsheet.

An import reads, looks up, geocodes and checks every file first, on a read connection,
and only then takes the write lock, once, to write them all: all or nothing, and
editors saving meanwhile wait only for the writing (on SpatiaLite there is one writer
at a time, and the rows are staged before it takes the lock; see oruk.import_checked).

A bad value in a field a record can be without is left out and reported; ``strict``
refuses the file instead. Files that are only part of a directory are refused unless
the rest comes in the same import: one table of a CSV package without its services,
or a taxonomy without services to tag.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import Connection, Engine

from assetmap import duplicates, quality, service_areas
from assetmap.config import settings
from assetmap.db import reading
from assetmap.io import aliss, oruk, sync, tabular
from assetmap.io.report import ImportFileError, ImportReport
from assetmap.provenance import Source

SPREADSHEETS = {".csv", ".txt", ".xlsx", ".xlsm", ".xls", ".geojson", ".gpkg", ".shp", ".kml", ".fgb"}


def is_open_referral(path: Path) -> bool:
    """Read as Open Referral: a JSON file, a CSV package folder, or one table of a package."""
    return (path.is_dir() or path.suffix.lower() == ".json" or path.name == "datapackage.json"
            or oruk.table_of(path) is not None)


@dataclass
class Prepared:
    """One file read, placed and checked, ready to write."""

    path: Path
    records: oruk.Records
    report: ImportReport
    source: Source


GIVE_FOOD = Source(key="givefood", label="Give Food", kind="givefood", url="https://www.givefood.org.uk",
                   licence="Unlicense (public domain)",
                   attribution=("Food bank data from Give Food (www.givefood.org.uk)",))


def source_of(path: Path, records: oruk.Records, sheet: str | None = None, named: str | None = None) -> Source:
    """Where one file's records come from: what its reader said, else ``--source`` or the file itself
    (so a later copy under another file name needs ``--source`` to sync as the same source)."""
    if records.provenance.source:
        return records.provenance.source
    if sheet == "givefood":
        return GIVE_FOOD
    if sheet is not None:
        return Source(key=f"sheet:{sheet}"[:80], label=named or path.name, kind="spreadsheet")
    label = path.name if path.name != "datapackage.json" else path.parent.name
    return Source(key=f"oruk:{named or Path(label).stem}"[:80], label=named or label, kind="open-referral")


def import_assets(engine: Engine, path: Path | str, *, mapping: list[str] | None = None,
                  mapping_file: str | None = None, need: list[str] | None = None, source: str | None = None,
                  keep_bad_coordinates: bool = False, verified: str | None = None,
                  strict: bool = False) -> ImportReport:
    """Import one file of community assets, all or nothing, flagging what needs a look."""
    return import_files(engine, [path], mapping=mapping, mapping_file=mapping_file, need=need, source=source,
                        keep_bad_coordinates=keep_bad_coordinates, verified=verified, strict=strict)[0]


def import_files(engine: Engine, paths: Sequence[Path | str], *, mapping: list[str] | None = None,
                 mapping_file: str | None = None, need: list[str] | None = None, source: str | None = None,
                 keep_bad_coordinates: bool = False, verified: str | None = None,
                 strict: bool = False) -> list[ImportReport]:
    """Import several files as one: if any is refused, none is written. ``strict``: a bad
    value in any field refuses the file, instead of being left out and reported."""
    on_date = None
    if verified:
        try:
            on_date = dt.date.fromisoformat(verified)
        except ValueError:
            raise ImportFileError(f"--verified {verified!r} must be a date, YYYY-MM-DD") from None
    _refuse_lone_tables([Path(p) for p in paths])
    for attempt in range(3):
        prepared = [_prepare(engine, Path(p), mapping, mapping_file, need, source, keep_bad_coordinates, on_date,
                             strict) for p in paths]
        _refuse_taxonomies_alone(prepared)
        for item in prepared:  # where each service area is, as today's code
            service_areas.place(item.records.rows, item.report.flag)
        names = " and ".join(item.path.name for item in prepared)
        with reading(engine) as conn:
            # Before merging: each file is its own source, and keeps what editors changed here.
            plans = [sync.plan(conn, item.records, item.source) for item in prepared]
        records = prepared[0].records
        if len(prepared) > 1:  # one file may refer to records in another, or repeat them
            records = oruk.Records()
            for item in prepared:
                records.merge(item.records, item.path.name)
        with reading(engine) as conn:
            oruk.check(conn, records, names)
        try:
            oruk.import_checked(engine, records, names, also=partial(_record_sources, plans=plans))
            break
        except sync.Stale:  # an editor saved meanwhile: plan again, so as not to overwrite it
            if attempt == 2:
                raise ImportFileError(f"{names}: the directory kept changing while it was being imported; "
                                      f"nothing was imported: import it again") from None
    for item, plan in zip(prepared, plans):
        _describe(item)
        item.report.notes.extend(plan.notes())
    note = duplicates.detect(engine).note()  # the same service from another source: an editor decides
    if note:
        prepared[0].report.notes.append(note)
    return [item.report for item in prepared]


def _record_sources(conn: Connection, plans: list[sync.Plan]) -> None:
    for plan in plans:
        sync.apply(conn, plan)


def _prepare(engine: Engine, path: Path, mapping: list[str] | None, mapping_file: str | None,
             need: list[str] | None, source: str | None, keep_bad_coordinates: bool,
             on_date: dt.date | None, strict: bool) -> Prepared:
    """Read, place and flag one file, without holding the write lock."""
    if aliss.recognises(path):  # before Open Referral: ALISS's answers are JSON too, and addresses
        report = ImportReport(source=aliss.address_of(path) or path.name, what="services")
        records = aliss.read(path, report)
        sync.stamp_verified(records)
        with reading(engine) as conn:
            quality.check_records(conn, records.rows, report.flag)
        return Prepared(path, records, report, source_of(path, records))
    if not path.exists():
        raise ImportFileError(f"cannot open {path}: no such file or folder")
    if is_open_referral(path):
        report = ImportReport(source=path.name, what="records")
        records = oruk.read(path, keep_bad_coordinates, strict)
        sync.stamp_verified(records)
        with reading(engine) as conn:
            quality.check_records(conn, records.rows, report.flag)
        return Prepared(path, records, report, source_of(path, records, named=source))
    if path.suffix.lower() not in SPREADSHEETS:
        raise ImportFileError(f"{path.name}: assetmap reads Open Referral JSON or CSV folders, and "
                              f"spreadsheets ({', '.join(sorted(SPREADSHEETS))})")
    report = ImportReport(source=path.name, what="rows")
    frame = tabular.read_frame(path, report)
    columns = tabular.build_mapping(frame, path, mapping or [], mapping_file, need or [], source)
    config = settings()
    geocode = None
    if config.geocoder:
        from assetmap.geocode import geocoder

        geocode = geocoder(config)
    with reading(engine) as conn:
        records = tabular.read(path, conn, report, columns, geocode, on_date, strict)
        sync.stamp_verified(records)
        quality.check_records(conn, records.rows, report.flag)
    return Prepared(path, records, report, source_of(path, records, columns.source, source))


def _refuse_lone_tables(paths: list[Path]) -> None:
    """One table of a CSV package (contacts.csv, taxonomies.csv, ...) points by id into the
    others: it is refused unless its package's services.csv comes in the same import."""
    tables = {path: oruk.table_of(path) for path in paths if path.is_file() and path.suffix.lower() == ".csv"}
    with_services = {path.parent.resolve() for path, table in tables.items() if table == "service"}
    for path, table in tables.items():
        if table not in (None, "service") and path.parent.resolve() not in with_services:
            raise ImportFileError(oruk.lone_table(path, table))


def _refuse_taxonomies_alone(prepared: list[Prepared]) -> None:
    """A taxonomy or list of terms puts nothing in the directory: refused unless the same
    import brings records they can tag."""
    said = [oruk.not_a_directory(item.path.name, item.records) for item in prepared]
    if all(said):
        raise ImportFileError(str(said[0]))


def _describe(item: Prepared) -> None:
    report, rows = item.report, item.records.rows
    if report.what == "records":
        report.read = report.loaded = item.records.count()
        oruk.describe(report, item.records)
        return
    report.loaded = len(rows.get("service", {}))
    inactive = sum(1 for s in rows.get("service", {}).values() if s["status"] != "active")
    report.notes.append(f"{report.loaded:,} services, {inactive:,} not active, "
                        f"{len(rows.get('location', {})):,} locations")
