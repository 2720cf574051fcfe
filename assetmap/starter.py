"""Scotland's open data and real directories from the shared folder, for a first run.

A newcomer's first search in Dundee or Edinburgh should find real services, each saying
where it came from, not only the fictional demo. ``load_open_data`` loads what the
shared folder holds (every Scottish postcode, data zones, council areas, SIMD, Give
Food's food banks, the ALISS material) and skips what is already there, so running it
at every start costs seconds after the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select

from assetmap.io.report import ImportFileError, ImportReport
from assetmap.models import Area, Deprivation, Postcode


@dataclass(frozen=True)
class Step:
    what: str
    files: tuple[str, ...]  # relative to the shared folder


GEOGRAPHY = (
    Step("data zones (centroids, all of Scotland)", ("opendata/simd2020v2/dz2020_centroids.json",)),
    Step("Glasgow's data zone boundaries", ("opendata/datazones2011-glasgow/glasgow_city_data_zones.json",)),
    Step("council areas", ("opendata/council-areas-2018/council_areas.geojson",)),
    Step("SIMD 2020v2", ("opendata/simd2020v2/simd2020_withinds.csv",)),
)
DIRECTORIES = (
    Step("Give Food's food banks", ("opendata/givefood/foodbanks_scotland_subset.csv",)),
    Step("ALISS", ("aliss/v4-services-search-G2-4AA.json", "aliss/v4.1-service.json",
                   "aliss/v4.1-organisation.json")),
)
POSTCODES = "opendata/codepoint-open-2020-08/csv"


def _count(engine: Engine, what: object, *where: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(what).where(*where)).scalar_one())  # type: ignore[arg-type]  # a model class


def load_open_data(engine: Engine, folder: Path | str,
                   say: Callable[[str], None] = print) -> list[ImportReport]:
    """Load the shared folder's geography and directories; what is there already is skipped."""
    from assetmap.io.areas import import_areas
    from assetmap.io.assets import import_files
    from assetmap.io.deprivation import import_deprivation
    from assetmap.io.postcodes import import_postcodes

    folder = Path(folder)
    if not (folder / "opendata").is_dir():
        raise ImportFileError(f"{folder} has no opendata/ folder: give the shared open-data folder")
    reports: list[ImportReport] = []
    have_areas = _count(engine, Area, Area.area_type == "datazone2011")
    for step in GEOGRAPHY:
        path = folder / step.files[0]
        if not path.exists():
            say(f"skipped {step.what}: {path} is not there")
            continue
        if step.what.startswith("SIMD"):
            if _count(engine, Deprivation) >= 6976:
                continue
            say(f"loading {step.what}")
            reports.append(import_deprivation(engine, path))
        elif have_areas < 6976 or step.what == "council areas" and not _count(
                engine, Area, Area.area_type == "council_area"):
            say(f"loading {step.what}")
            reports.append(import_areas(engine, path))
    postcodes = sorted((folder / POSTCODES).glob("*.csv"))
    if postcodes and _count(engine, Postcode) < 150_000:
        say(f"loading every Scottish postcode ({len(postcodes)} files; a minute or two, once)")
        for path in postcodes:
            reports.append(import_postcodes(engine, path))
    for step in DIRECTORIES:
        paths = [folder / f for f in step.files if (folder / f).exists()]
        if not paths:
            say(f"skipped {step.what}: not in {folder}")
            continue
        say(f"loading {step.what}")
        reports.extend(import_files(engine, paths))  # a re-sync: unchanged records stay as they are
    return reports
