"""Area deprivation indices: SIMD (Scotland), and the English IMD by its published names.

The index's name and edition are kept with every rank, so SIMD 2020v2 and IMD
2019 (or two SIMD editions) sit side by side. SIMD files also carry each data
zone's population, intermediate zone and council area, which fill the area table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from assetmap import changes
from assetmap.db import writing
from assetmap.io.csvfile import detect_encoding
from assetmap.io.report import ImportFileError, ImportReport
from assetmap.io.write import upsert
from assetmap.models import Area, Deprivation

CODE_COLUMNS = ("Data_Zone", "DataZone", "DZ", "LSOA code (2011)", "LSOA11CD", "lsoa11cd")
_SIMD_RANK = re.compile(r"^SIMD_?(\d{4}(?:v\d+)?)_Rank$", re.I)
_IMD_RANK = "Index of Multiple Deprivation (IMD) Rank"
_DOMAIN = re.compile(r"^SIMD_?\d{4}(?:v\d+)?_(\w+?)_Domain_Rank$", re.I)


def _find(columns: list[str], pattern: str) -> str | None:
    return next((c for c in columns if re.match(pattern, c, re.I)), None)


def read(path: Path, report: ImportReport, index: str | None, year: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    try:
        frame = pd.read_csv(path, dtype=str, encoding=detect_encoding(path).codec, keep_default_na=False)
    except FileNotFoundError:
        raise ImportFileError(f"cannot open {path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "empty"
        raise ImportFileError(f"cannot read {path.name} as a CSV ({reason}): the file looks truncated "
                              f"or damaged; nothing was imported") from None
    columns = list(frame.columns)
    code_col = next((c for c in CODE_COLUMNS if c in columns), None)
    simd = next((m for m in map(_SIMD_RANK.match, columns) if m), None)
    imd_rank = next((c for c in columns if c.startswith(_IMD_RANK)), None)
    if code_col is None or (simd is None and imd_rank is None):
        raise ImportFileError(
            f"{path.name} is not a deprivation index assetmap knows: expected SIMD's Data_Zone and "
            f"SIMD<year>_Rank columns, or the English IMD's 'LSOA code (2011)' and '{_IMD_RANK}'"
        )
    if simd:
        rank_col, name, edition = simd.group(0), "SIMD", simd.group(1)
        prefix = rank_col[: -len("_Rank")]
        decile_col = _find(columns, rf"^{prefix}_Decile$")
        quintile_col = _find(columns, rf"^{prefix}_Quintile$")
        vigintile_col = _find(columns, rf"^{prefix}_Vigintile$")
    else:
        assert imd_rank is not None
        rank_col, name, edition = imd_rank, "IMD", year or "2019"
        decile_col = next((c for c in columns if c.startswith("Index of Multiple Deprivation (IMD) Decile")), None)
        quintile_col = vigintile_col = None
    name, edition = index or name, year or edition
    domains = {m.group(1).lower(): m.group(0) for m in map(_DOMAIN.match, columns) if m}
    if frame.empty:
        raise ImportFileError(f"{path.name} has a header but no rows; nothing was imported")
    if len(frame) and frame.iloc[-1].eq("").sum() > len(columns) / 2:
        raise ImportFileError(f"{path.name} ends in a half-empty row: the file looks truncated; "
                              f"nothing was imported")

    def number(value: str) -> int | None:
        value = value.strip().replace(",", "")
        return int(float(value)) if value else None

    ranks: list[dict[str, Any]] = []
    areas: list[dict[str, Any]] = []
    for i, row in enumerate(frame.to_dict("records"), start=2):
        report.read += 1
        code = row[code_col].strip()
        try:
            rank = number(row[rank_col])
            extras = {k: number(row[c]) if c else None for k, c in
                      (("decile", decile_col), ("quintile", quintile_col), ("vigintile", vigintile_col))}
            domain_ranks = {d: number(row[c]) for d, c in domains.items()}
            population = number(row["Total_population"]) if "Total_population" in row else None
        except ValueError:
            report.reject(i, "a rank or population is not a number")
            continue
        if not code or rank is None:
            report.reject(i, "no area code or no rank")
            continue
        ranks.append({"index_name": name, "index_year": edition, "area_code": code, "rank": rank,
                      **extras, "domain_ranks": domain_ranks or None})
        areas.append({"code": code, "area_type": "datazone2011" if code.startswith("S01") else "lsoa",
                      "population": population,
                      "intermediate_zone": row.get("Intermediate_Zone") or None,
                      "council_area": row.get("Council_area") or None})
    report.check_mostly_valid(f"a {name} file")
    report.notes.append(f"index {name} {edition}; {len(domains)} domain ranks")
    return ranks, areas


def import_deprivation(engine: Engine, path: Path | str, index: str | None = None,
                       year: str | None = None) -> ImportReport:
    """Load an index's ranks; fill each area's population and parents where the file has them."""
    path = Path(path)
    report = ImportReport(source=path.name, what="areas")
    ranks, areas = read(path, report, index, year)
    with writing(engine) as conn:
        # The index's population is the one it was computed with, usually newer than
        # a census figure in a boundary file, so it wins where it is given.
        upsert(conn, Area.__table__, areas,
               keep_existing=("population", "intermediate_zone", "council_area"))
        report.loaded = upsert(conn, Deprivation.__table__, ranks, progress=path.name)
        changes.bump(conn, changes.AREAS)
    return report
