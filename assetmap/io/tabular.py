"""Any real spreadsheet of community assets: CSV, Excel, or a vector file.

Locality teams keep lists in whatever columns suit them. A mapping says which
column holds which field (``name``, ``postcode``, ``latlon``, ...); where none is
given, common column names are recognised, and Give Food's list is known by its
columns. Each row becomes an Open Referral organization, service, location,
address, phone, schedule and cost, with ids derived from the source and the
row's own id (or name and postcode), so importing again updates, never duplicates.
A cell that breaks its field's rule (an impossible latitude, a date that is not
one, an email that is not one) is left out of its row and reported; ``strict``
refuses the file instead.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from assetmap import fields, taxonomy
from assetmap.errors import AssetmapError
from assetmap.geography import PostcodeNotFound, lookup
from assetmap.io.csvfile import delimiter, detect_encoding
from assetmap.io.oruk import Records
from assetmap.io.report import DroppedControls, ImportFileError, ImportReport
from assetmap.io.safecsv import unprotect
from assetmap.models import Postcode
from assetmap.postcodes import PostcodeError, normalise_unit
from assetmap.taxonomy import stable_id

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("id", "slug", "ref", "reference", "source id"),
    "name": ("name", "service", "service name", "activity", "title", "group"),
    "organisation": ("organisation", "organization", "org", "provider", "organisation name", "run by"),
    "description": ("description", "details", "summary", "about", "what it is"),
    "need": ("need", "needs", "category", "categories", "activity type", "type"),
    "location_name": ("venue", "location name", "place"),
    "address": ("address", "full address", "location address", "street address"),
    "postcode": ("postcode", "post code", "postal code", "zip"),
    "region": ("district", "council", "council area", "local authority", "region"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
    "latlon": ("latt long", "lat long", "latlong", "lat lon", "lat lng", "coordinates"),
    "phone": ("phone", "telephone", "tel", "phone number", "contact number"),
    "email": ("email", "e mail", "email address"),
    "website": ("website", "url", "web", "web address", "link"),
    "opening_times": ("opening times", "hours", "opening hours", "when", "times", "schedule"),
    "cost": ("cost", "price", "fee", "fees", "charge"),
    "status": ("status",),
    "closed": ("closed",),
    "verified": ("verified", "last verified", "assured date", "last checked", "checked"),
}
# Give Food's list of food banks: recognised by its columns, imported as food banks.
GIVE_FOOD_COLUMNS = {"slug", "shopping_list_url", "latt_long", "closed"}
# How to get in to a food bank of each of Give Food's networks (its ``network`` column), as the
# record's application process: a Trussell Trust food bank gives food against a referral voucher,
# so nothing may tell the person to just go along. Other networks' food banks differ: not said.
GIVE_FOOD_ENTRY = {
    "trussell trust": "Referral needed: a food bank voucher from a referral partner such as a GP practice, "
                      "link worker or Citizens Advice. Phone the food bank to ask.",
}
STATUS_WORDS = {
    "active": "active", "open": "active", "running": "active", "current": "active", "yes": "active",
    "inactive": "inactive", "closed": "inactive", "ended": "inactive", "stopped": "inactive", "no": "inactive",
    "temporarily closed": "temporarily closed", "paused": "temporarily closed",
    "suspended": "temporarily closed", "on hold": "temporarily closed",
    "defunct": "defunct", "permanently closed": "defunct", "gone": "defunct",
}
TRUE_WORDS = {"true", "yes", "y", "1", "closed"}
UK = (49.8, 61.0, -8.7, 1.8)  # latitude and longitude bounds of the United Kingdom
DAYS = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}


@dataclass
class Mapping:
    columns: dict[str, str]  # field -> column
    needs: list[str] = field(default_factory=list)
    source: str = ""


def _normalise_header(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", str(name).lower()).split())


def read_frame(path: Path, report: ImportReport | None = None) -> pd.DataFrame:
    """Every cell as text, control characters dropped; what was done is noted in ``report``."""
    suffix = path.suffix.lower()
    text_file = suffix in (".csv", ".txt")
    notes: list[str] = []
    try:
        if text_file:
            encoding = detect_encoding(path)
            notes += [encoding.note] if encoding.note else []
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding.codec,
                                sep=delimiter(path, encoding))
        elif suffix in (".xlsx", ".xlsm", ".xls"):
            frame = pd.read_excel(path, dtype=str).fillna("")
        else:
            import geopandas as gpd

            geo = gpd.read_file(path)
            if geo.crs is not None:
                geo = geo.to_crs(4326)
            points = geo.geometry.apply(lambda g: g if g is None or g.geom_type == "Point" else
                                        (None if g.is_empty else g.representative_point()))
            frame = pd.DataFrame(geo.drop(columns="geometry")).astype(str).replace({"None": "", "nan": ""})
            frame["latitude"] = [f"{p.y}" if p is not None else "" for p in points]
            frame["longitude"] = [f"{p.x}" if p is not None else "" for p in points]
    except ImportFileError:
        raise
    except FileNotFoundError:
        raise ImportFileError(f"cannot open {path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise ImportFileError(f"{path.name} is empty: expected a header row and one row per service") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFileError(f"cannot read {path.name} ({reason}): is it a CSV, Excel or vector file?") from None
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several kinds for unreadable files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFileError(f"cannot read {path.name} ({reason})") from None
    if frame.empty:
        raise ImportFileError(f"{path.name} has a header but no rows")
    dropped = DroppedControls()
    frame = frame.map(lambda cell: dropped.clean(unprotect(cell) if text_file else cell)
                      if isinstance(cell, str) else cell)
    if report is not None:
        report.notes.extend(notes + dropped.notes())
    return frame


def build_mapping(frame: pd.DataFrame, path: Path, given: list[str], mapping_file: str | None,
                  needs: list[str], source: str | None) -> Mapping:
    columns = {c: c for c in frame.columns}
    by_normal = {_normalise_header(c): c for c in frame.columns}
    mapping: dict[str, str] = {}
    give_food = GIVE_FOOD_COLUMNS <= set(frame.columns)
    for fieldname, names in FIELDS.items():
        found = next((by_normal[n] for n in names if n in by_normal), None)
        if found:
            mapping[fieldname] = found
    explicit: dict[str, str] = {}
    if mapping_file:
        explicit |= _read_mapping_file(Path(mapping_file))
    for item in given:
        if "=" not in item:
            raise ImportFileError(f"--map {item!r} should be FIELD=COLUMN, e.g. --map name='Group name'")
        key, _, value = item.partition("=")
        explicit[key.strip()] = value.strip()
    for key, column in explicit.items():
        if key not in FIELDS:
            raise ImportFileError(f"{key!r} is not a field assetmap maps; use one of: {', '.join(FIELDS)}")
        if column not in columns:
            raise ImportFileError(f"the column {column!r} mapped to {key} is not in {path.name}; "
                                  f"its columns are: {', '.join(frame.columns)}")
        mapping[key] = column
    if "name" not in mapping:
        raise ImportFileError(f"cannot tell which column of {path.name} holds the service name: "
                              f"map it with --map name=COLUMN; its columns are: {', '.join(frame.columns)}")
    if give_food:
        needs = needs or ["food-bank"]
    return Mapping(mapping, needs, source or ("givefood" if give_food else path.stem))


def _read_mapping_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_bytes()
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text.decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ImportFileError(f"cannot read the mapping file {path} ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ImportFileError(f"the mapping file {path} should hold FIELD = \"COLUMN\" pairs")
    return data


def _text(row: dict[str, Any], mapping: Mapping, key: str) -> str:
    column = mapping.columns.get(key)
    return str(row.get(column, "")).strip() if column else ""


@dataclass
class Placed:
    latitude: float | None
    longitude: float | None
    how: str  # "coordinates", "swapped coordinates", "postcode", "geocoder", "unplaced"


def _postcode_points(conn: Connection, frame: pd.DataFrame, mapping: Mapping) -> dict[str, tuple[float, float]]:
    """(latitude, longitude) of the file's postcodes the directory places, a few queries for all.

    One lookup per row would take half a minute for 50,000 rows; ``lookup`` still
    answers for the rest (partial, unknown or malformed postcodes).
    """
    column = mapping.columns.get("postcode")
    if not column:
        return {}
    wanted = sorted({p for p in (normalise_unit(str(v)) for v in frame[column] if str(v).strip()) if p})
    found: dict[str, tuple[float, float]] = {}
    for start in range(0, len(wanted), 500):
        found |= {r.postcode: (r.latitude, r.longitude) for r in conn.execute(
            select(Postcode.postcode, Postcode.latitude, Postcode.longitude)
            .where(Postcode.postcode.in_(wanted[start:start + 500]), Postcode.latitude.is_not(None)))}
    return found


def _coordinates(row: dict[str, Any], mapping: Mapping, where: str, line: str,
                 records: Records) -> tuple[float, float] | None:
    """The row's point, if its coordinates make one (assetmap.fields.coordinates); if they
    cannot, they are left out and said so (strict: the file refused), and the row is placed
    by its postcode or address instead, as a row without coordinates would be."""
    latlon = _text(row, mapping, "latlon")
    if latlon:
        column = mapping.columns["latlon"]
        parts = [p.strip() for p in latlon.split(",")]
        if len(parts) != 2:
            problem = fields.FieldProblem(f"is {fields.shown(latlon)}, not \"latitude,longitude\"",
                                          "give the latitude and longitude with a comma between")
            records.bad_field(line, column, problem, f"{where}: {column} is {latlon!r}, expected "
                              f"\"latitude,longitude\"")
            return None
        lat_text, lon_text = parts
        names, dropped = (f"{column} latitude", f"{column} longitude"), column
    else:
        lat_text, lon_text = _text(row, mapping, "latitude"), _text(row, mapping, "longitude")
        names = (mapping.columns.get("latitude", "latitude"), mapping.columns.get("longitude", "longitude"))
        dropped = " and ".join(names)
    try:
        return fields.coordinates(lat_text or None, lon_text or None, names)
    except fields.CoordinatesProblem as problem:
        records.bad_field(line, problem.field, problem, f"{where}: {problem.refusal}", what=f"{dropped} left out")
        return None


def _place(row: dict[str, Any], mapping: Mapping, point: tuple[float, float] | None, conn: Connection,
           geocode: Any, report: ImportReport, name: str,
           placed_at: dict[str, tuple[float, float]]) -> Placed:
    if point:
        lat, lon = point
        if _in_uk(lat, lon):
            return Placed(lat, lon, "coordinates")
        if _in_uk(lon, lat):
            report.flag("latitude and longitude looked swapped, corrected", name)
            return Placed(lon, lat, "swapped coordinates")
        report.flag("coordinates outside the UK, not placed", name)
        return Placed(None, None, "unplaced")
    postcode = _text(row, mapping, "postcode")
    if postcode:
        known = placed_at.get(normalise_unit(postcode) or "")
        if known:
            return Placed(known[0], known[1], "postcode")
        try:
            place = lookup(conn, postcode)
            if place.exact:
                return Placed(place.latitude, place.longitude, "postcode")
        except (PostcodeError, PostcodeNotFound):
            report.flag("postcode not found in the directory", name)
    address = _text(row, mapping, "address")
    if address and geocode is not None:
        try:
            found = geocode.geocode(address.replace("\n", ", "))
        except AssetmapError as exc:
            report.flag(f"not geocoded ({exc})", name)
            found = None
        if found:
            return Placed(found.latitude, found.longitude, "geocoder")
    report.flag("unplaced: no coordinates, known postcode or geocoded address", name)
    return Placed(None, None, "unplaced")


def _in_uk(lat: float, lon: float) -> bool:
    return UK[0] <= lat <= UK[1] and UK[2] <= lon <= UK[3]


def _split_address(address: str, postcode: str) -> dict[str, str | None]:
    lines = [line.strip(" ,") for line in re.split(r"[\n\r]+|,\s*", address) if line.strip(" ,")]
    squeezed = postcode.replace(" ", "").upper()
    lines = [line for line in lines if line.replace(" ", "").upper() != squeezed]
    if not lines:
        return {"address_1": None, "address_2": None, "city": None}
    if len(lines) == 1:
        return {"address_1": lines[0], "address_2": None, "city": None}
    return {"address_1": lines[0], "address_2": ", ".join(lines[1:-1]) or None, "city": lines[-1]}


def parse_opening_times(text: str) -> dict[str, Any] | None:
    """A weekly schedule from simple text ("Tue & Thu 10:00-12:00"), or None if unclear."""
    lowered = text.lower()
    days = []
    for word in re.findall(r"[a-z]+", lowered):
        code = DAYS.get(word[:3])
        if code and word[:3] in DAYS and (len(word) == 3 or word.startswith(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))):
            if code not in days:
                days.append(code)
    times = re.search(r"(\d{1,2})[:.](\d{2})\s*(?:-|–|to)\s*(\d{1,2})[:.](\d{2})", lowered)
    if not days or not times:
        return None
    h1, m1, h2, m2 = (int(g) for g in times.groups())
    return {"freq": "WEEKLY", "byday": ",".join(days), "opens_at": f"{h1:02d}:{m1:02d}",
            "closes_at": f"{h2:02d}:{m2:02d}"}


def _cost(text: str) -> dict[str, Any]:
    """A cost option from what the sheet says; the amount is judged by assetmap.fields.cost."""
    amount = fields.cost(text)
    if amount == 0.0:
        return {"option": "Free", "amount": 0.0, "currency": "GBP"}
    if isinstance(amount, float):
        return {"amount": amount, "currency": "GBP"}
    return {"amount_description": text}


def _checked(row: dict[str, Any], mapping: Mapping, where: str, records: Records, key: str,
             rule: fields.Rule = fields.text()) -> str:
    """A cell's text if it keeps its field's rule; else "" and a line saying it was left out."""
    value = _text(row, mapping, key)
    if not value:
        return ""
    try:
        rule(value)
    except fields.FieldProblem as problem:
        column = mapping.columns[key]
        records.bad_field(where, column, problem, f"{where}: {column} {problem.reason}: {problem.advice}")
        return ""
    return value


def read(path: Path, conn: Connection, report: ImportReport, mapping: Mapping, geocode: Any,
         verified: dt.date | None, strict: bool = False) -> Records:
    """The rows as Open Referral records; ``strict``: one bad cell refuses the file."""
    frame = read_frame(path)
    vocabulary = taxonomy.load()
    fixed_terms = []
    for need in mapping.needs:
        matched = vocabulary.match(need)
        if not matched:
            raise ImportFileError(f"--need {need!r} is not a need or activity type; see assetmap/data/taxonomy.toml")
        fixed_terms.extend(matched[:1])
    records = Records(strict=strict)
    # Rows by id (or name and postcode): an identical copy is merged, a different one refused.
    seen: dict[str, tuple[int, dict[str, Any]]] = {}
    identical = 0
    placed_at = _postcode_points(conn, frame, mapping)
    for number, row in enumerate(frame.to_dict("records"), start=2):
        report.read += 1
        where = f"{path.name} row {number}"
        name = _text(row, mapping, "name")
        if not name:
            report.reject(number, "no name")
            continue
        if len(name) > fields.NAME_LENGTH:
            report.reject(number, f"a name longer than {fields.NAME_LENGTH} characters")
            continue
        line = f"{path.name} row {number} ({name[:40]!r})"  # where the report says a cell was left out
        cell = partial(_checked, row, mapping, line, records)

        postcode_text = _text(row, mapping, "postcode")
        postcode = normalise_unit(postcode_text) if postcode_text else None
        given_id = _text(row, mapping, "id")
        key = given_id or f"{name.lower()}|{postcode or postcode_text.upper()}"
        if key in seen:
            first, earlier = seen[key]
            if earlier == row:
                identical += 1
                continue
            what = (f"the same {mapping.columns['id']} {given_id!r}" if given_id
                    else f"the same name and postcode ({name}, {postcode or postcode_text or 'none'})")
            column = next(c for c in row if earlier.get(c) != row[c])
            raise ImportFileError(f"{path.name} rows {first} and {number} have {what} but differ "
                                  f"({column} is {earlier.get(column)!r} and {row[column]!r}): which is "
                                  f"right? Merge them, or give each its own id; nothing was imported")
        seen[key] = (number, row)
        base = f"{mapping.source}:{key}"
        service_id = stable_id("service", base)
        org_name = cell("organisation", fields.text(fields.NAME_LENGTH)) or name
        org_id = stable_id("organization", f"{mapping.source}:{org_name.lower()}")
        email, website = cell("email", fields.email) or None, cell("website", fields.url) or None
        records.rows["organization"].setdefault(org_id, {"id": org_id, "name": org_name, "email": email,
                                                          "website": website})
        status = "active"
        if _text(row, mapping, "closed").lower() in TRUE_WORDS:
            status = "inactive"
        status_text = _text(row, mapping, "status").lower()
        if status_text:
            if status_text not in STATUS_WORDS:
                report.reject(number, f"status {status_text!r} not understood")
                continue
            status = STATUS_WORDS[status_text]
        assured = verified
        verified_text = _text(row, mapping, "verified")
        if verified_text:
            try:
                assured = pd.to_datetime(verified_text, dayfirst=True).date()
            except (ValueError, TypeError):  # left out: the row keeps --verified, if given
                column = mapping.columns["verified"]
                problem = fields.FieldProblem(f"{fields.shown(verified_text)} is not a date",
                                              "give a date such as 31/01/2025 or 2025-01-31")
                records.bad_field(line, column, problem, f"{where}: {column} is {verified_text!r}, it must be a date")
        cost_text = cell("cost", fields.cost)
        records.rows["service"][service_id] = {
            "id": service_id, "organization_id": org_id, "name": name,
            "description": cell("description") or None, "url": website, "email": email,
            "status": status, "assured_date": assured, "fees_description": cost_text or None,
        }
        if mapping.source == "givefood":  # every row keeps the same keys: None where not known
            records.rows["service"][service_id]["application_process"] = GIVE_FOOD_ENTRY.get(
                str(row.get("network") or "").strip().lower())
        point = _coordinates(row, mapping, where, line, records)
        placed = _place(row, mapping, point, conn, geocode, report, name, placed_at)
        address = cell("address", fields.text(fields.LINE_LENGTH))
        location_id = stable_id("location", base)
        if placed.latitude is not None or address or postcode_text:
            records.rows["location"][location_id] = {
                "id": location_id, "location_type": "physical", "organization_id": org_id,
                "name": cell("location_name", fields.text(fields.NAME_LENGTH)) or name,
                "latitude": placed.latitude, "longitude": placed.longitude,
            }
            sal_id = stable_id("service_at_location", base)
            records.rows["service_at_location"][sal_id] = {"id": sal_id, "service_id": service_id,
                                                           "location_id": location_id}
            if address or postcode_text:
                address_id = stable_id("address", base)
                records.rows["address"][address_id] = {
                    "id": address_id, "location_id": location_id, "address_type": "physical",
                    "postal_code": postcode or postcode_text or None, "country": "GB",
                    "state_province": _text(row, mapping, "region") or None,
                    **_split_address(address, postcode_text),
                }
        phone = cell("phone", fields.text(fields.PHONE_LENGTH))
        if phone:
            phone_id = stable_id("phone", base)
            records.rows["phone"][phone_id] = {"id": phone_id, "service_id": service_id, "number": phone}
        times = cell("opening_times", fields.text(fields.LINE_LENGTH))
        if times:
            schedule_id = stable_id("schedule", base)
            records.rows["schedule"][schedule_id] = {"id": schedule_id, "service_id": service_id,
                                                     "description": times, **(parse_opening_times(times) or {})}
        if cost_text:
            cost_id = stable_id("cost_option", base)
            records.rows["cost_option"][cost_id] = {"id": cost_id, "service_id": service_id, **_cost(cost_text)}
        terms = list(fixed_terms)
        for word in re.split(r"[;,/|]+", _text(row, mapping, "need")):
            if word.strip():
                matched = vocabulary.match(word)
                if matched:
                    terms.extend(matched)
                else:
                    report.flag(f"category {word.strip()!r} matches no need or activity type", name)
        for term in dict.fromkeys(terms):
            attribute_id = stable_id("attribute", f"{service_id}:{term.id}")
            records.rows["attribute"][attribute_id] = {
                "id": attribute_id, "link_id": service_id, "link_entity": "service",
                "link_type": term.kind, "taxonomy_term_id": term.id}
    records.refuse()
    report.check_mostly_valid("a spreadsheet with one service per row")
    report.notes.extend(records.left_out_lines())
    if identical:
        report.notes.append(f"{identical:,} rows repeated an earlier row exactly: each kept once")
    report.notes.append("columns used: " + ", ".join(f"{k}={v!r}" for k, v in mapping.columns.items()))
    return records
