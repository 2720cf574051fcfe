"""`assetmap import assets`: Open Referral files and folders, or any spreadsheet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from assetmap import quality
from assetmap.config import settings
from assetmap.db import writing
from assetmap.io import oruk, tabular
from assetmap.io.report import ImportFileError, ImportReport

SPREADSHEETS = {".csv", ".txt", ".xlsx", ".xlsm", ".xls", ".geojson", ".gpkg", ".shp", ".kml", ".fgb"}


def is_open_referral(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() == ".json" or path.name == "datapackage.json"


def import_assets(engine: Engine, path: Path | str, *, mapping: list[str] | None = None,
                  mapping_file: str | None = None, need: list[str] | None = None, source: str | None = None,
                  keep_bad_coordinates: bool = False, verified: str | None = None) -> ImportReport:
    """Import one file of community assets, all or nothing, flagging what needs a look."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"cannot open {path}: no such file or folder")
    if is_open_referral(path):
        return oruk.import_oruk(engine, path, keep_bad_coordinates=keep_bad_coordinates,
                                check=quality.check_records)
    if path.suffix.lower() not in SPREADSHEETS:
        raise ImportFileError(f"{path.name}: assetmap reads Open Referral JSON or CSV folders, and "
                              f"spreadsheets ({', '.join(sorted(SPREADSHEETS))})")
    on_date = None
    if verified:
        try:
            on_date = dt.date.fromisoformat(verified)
        except ValueError:
            raise ImportFileError(f"--verified {verified!r} must be a date, YYYY-MM-DD") from None
    report = ImportReport(source=path.name, what="rows")
    frame = tabular.read_frame(path, report)
    columns = tabular.build_mapping(frame, path, mapping or [], mapping_file, need or [], source)
    config = settings()
    geocode = None
    if config.geocoder:
        from assetmap.geocode import geocoder

        geocode = geocoder(config)
    with writing(engine) as conn:
        records = tabular.read(path, conn, report, columns, geocode, on_date)
        quality.check_records(conn, records.rows, report.flag)
        oruk.check_and_write(conn, records, path.name)
    report.loaded = len(records.rows.get("service", {}))
    inactive = sum(1 for s in records.rows.get("service", {}).values() if s["status"] != "active")
    report.notes.append(f"{report.loaded:,} services, {inactive:,} not active, "
                        f"{len(records.rows.get('location', {})):,} locations")
    return report
