"""`assetmap import assets`: Open Referral files and folders, or any spreadsheet.

An import reads, looks up, geocodes and checks every file first, on a read connection,
and only then takes the write lock, once, to write them all: all or nothing, and
editors saving meanwhile wait only for the writing (on SpatiaLite there is one writer
at a time, and the rows are staged before it takes the lock; see oruk.import_checked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from assetmap import duplicates, quality
from assetmap.config import settings
from assetmap.db import reading
from assetmap.io import oruk, tabular
from assetmap.io.report import ImportFileError, ImportReport

SPREADSHEETS = {".csv", ".txt", ".xlsx", ".xlsm", ".xls", ".geojson", ".gpkg", ".shp", ".kml", ".fgb"}


def is_open_referral(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() == ".json" or path.name == "datapackage.json"


@dataclass
class Prepared:
    """One file read, placed and checked, ready to write."""

    path: Path
    records: oruk.Records
    report: ImportReport


def import_assets(engine: Engine, path: Path | str, *, mapping: list[str] | None = None,
                  mapping_file: str | None = None, need: list[str] | None = None, source: str | None = None,
                  keep_bad_coordinates: bool = False, verified: str | None = None) -> ImportReport:
    """Import one file of community assets, all or nothing, flagging what needs a look."""
    return import_files(engine, [path], mapping=mapping, mapping_file=mapping_file, need=need, source=source,
                        keep_bad_coordinates=keep_bad_coordinates, verified=verified)[0]


def import_files(engine: Engine, paths: Sequence[Path | str], *, mapping: list[str] | None = None,
                 mapping_file: str | None = None, need: list[str] | None = None, source: str | None = None,
                 keep_bad_coordinates: bool = False, verified: str | None = None) -> list[ImportReport]:
    """Import several files as one: if any is refused, none is written."""
    on_date = None
    if verified:
        try:
            on_date = dt.date.fromisoformat(verified)
        except ValueError:
            raise ImportFileError(f"--verified {verified!r} must be a date, YYYY-MM-DD") from None
    prepared = [_prepare(engine, Path(p), mapping, mapping_file, need, source, keep_bad_coordinates, on_date)
                for p in paths]
    names = " and ".join(item.path.name for item in prepared)
    records = prepared[0].records
    if len(prepared) > 1:  # one file may refer to records in another, or repeat them
        records = oruk.Records()
        for item in prepared:
            records.merge(item.records, item.path.name)
    with reading(engine) as conn:
        oruk.check(conn, records, names)
    oruk.import_checked(engine, records, names)
    for item in prepared:
        _describe(item)
    note = duplicates.detect(engine).note()  # the same service from another source: an editor decides
    if note:
        prepared[0].report.notes.append(note)
    return [item.report for item in prepared]


def _prepare(engine: Engine, path: Path, mapping: list[str] | None, mapping_file: str | None,
             need: list[str] | None, source: str | None, keep_bad_coordinates: bool,
             on_date: dt.date | None) -> Prepared:
    """Read, place and flag one file, without holding the write lock."""
    if not path.exists():
        raise ImportFileError(f"cannot open {path}: no such file or folder")
    if is_open_referral(path):
        report = ImportReport(source=path.name, what="records")
        records = oruk.read(path, keep_bad_coordinates)
        with reading(engine) as conn:
            quality.check_records(conn, records.rows, report.flag)
        return Prepared(path, records, report)
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
        records = tabular.read(path, conn, report, columns, geocode, on_date)
        quality.check_records(conn, records.rows, report.flag)
    return Prepared(path, records, report)


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
