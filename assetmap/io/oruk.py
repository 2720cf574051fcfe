"""Open Referral (HSDS 3.0 / ORUK 3.0) in and out: JSON records, API pages, CSV packages.

Reading flattens nested records (a service with its organization, locations,
schedules, ...) into rows of the standard's tables, which are also assetmap's
tables, so import is a mapping. Everything is checked before anything is
written. A field a record can be without that breaks its rule (a number given as
text, a malformed date, an impossible latitude) is left out of the record and the
report names the record, the field and why; with ``strict`` it refuses the file
instead. What a record cannot be without (an id, a required field, a record where
one should be, a taxonomy term nobody defines) stops the file with a message
naming the record and the field, and the database is left as it was.
Rows are written by id, so importing again updates and never duplicates.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError

from assetmap import backends, changes, fields, models
from assetmap.backends.base import Batch
from assetmap.db import reading
from assetmap.errors import check_output_folder
from assetmap.io.csvfile import detect_encoding
from assetmap.io.report import DroppedControls, ImportFileError, ImportReport
from assetmap.io.safecsv import unprotect, write_rows
from assetmap.io.write import write_batches
from assetmap.models import placeable
from assetmap.provenance import Provenance

# Tables in the order they can be written (parents before children).
ORDER = ["taxonomy", "taxonomy_term", "organization", "program", "organization_identifier", "service",
         "location", "address", "service_at_location", "contact", "phone", "schedule", "cost_option",
         "accessibility", "service_area", "language", "funding", "required_document", "attribute",
         "metadata", "meta_table_description"]
TABLES: dict[str, Table] = {name: models.Base.metadata.tables[name] for name in ORDER}
INTERNAL = {"geom", "area_code"}  # assetmap's own columns, never read from or written to files

# Arrays nested in a record: key -> (child table, the child's field that points back).
_COMMON = {"attributes": ("attribute", "link_id"), "metadata": ("metadata", "resource_id")}
CHILDREN: dict[str, dict[str, tuple[str, str]]] = {
    "service": {"schedules": ("schedule", "service_id"), "service_areas": ("service_area", "service_id"),
                "service_at_locations": ("service_at_location", "service_id"),
                "languages": ("language", "service_id"), "funding": ("funding", "service_id"),
                "fundings": ("funding", "service_id"), "cost_options": ("cost_option", "service_id"),
                "contacts": ("contact", "service_id"), "phones": ("phone", "service_id"),
                "required_documents": ("required_document", "service_id")},
    "organization": {"organization_identifiers": ("organization_identifier", "organization_id"),
                     "programs": ("program", "organization_id"), "contacts": ("contact", "organization_id"),
                     "locations": ("location", "organization_id"), "funding": ("funding", "organization_id"),
                     "fundings": ("funding", "organization_id"), "phones": ("phone", "organization_id"),
                     "services": ("service", "organization_id")},
    "service_at_location": {"phones": ("phone", "service_at_location_id"),
                            "contacts": ("contact", "service_at_location_id"),
                            "schedules": ("schedule", "service_at_location_id")},
    "location": {"addresses": ("address", "location_id"), "accessibility": ("accessibility", "location_id"),
                 "accessibilitys": ("accessibility", "location_id"), "phones": ("phone", "location_id"),
                 "contacts": ("contact", "location_id"), "schedules": ("schedule", "location_id"),
                 "languages": ("language", "location_id")},
    "contact": {"phones": ("phone", "contact_id")},
    "taxonomy": {"taxonomy_terms": ("taxonomy_term", "taxonomy_id")},
    "phone": {"languages": ("language", "phone_id")},
}
# Objects nested in a record: key -> (table, the parent's field that points to it).
SINGLES: dict[str, dict[str, tuple[str, str]]] = {
    "service": {"organization": ("organization", "organization_id"), "program": ("program", "program_id")},
    "service_at_location": {"location": ("location", "location_id"), "service": ("service", "service_id")},
    "attribute": {"taxonomy_term": ("taxonomy_term", "taxonomy_term_id")},
    "taxonomy_term": {"taxonomy_detail": ("taxonomy", "taxonomy_id")},
}
# Precomputed per table, as every record of a large file passes through _flatten.
KINDS: dict[str, dict[str, type]] = {
    table: {c.name: type(c.type) for c in TABLES[table].columns if c.name not in INTERNAL} for table in ORDER
}
NESTED: dict[str, dict[str, tuple[str, str]]] = {
    table: {**CHILDREN.get(table, {}), **_COMMON} for table in ORDER
}
SKIPPED: dict[str, set[str]] = {table: set(NESTED[table]) | set(SINGLES.get(table, {})) for table in ORDER}
# Foreign keys that must name a record in the file or the database.
REFERENCES: dict[str, dict[str, str]] = {
    table: {fk.parent.name: fk.column.table.name for fk in TABLES[table].foreign_keys}
    for table in ORDER
}
# Each table's file in a CSV package, as the standard names it (HSDS 3.0's datapackage.json
# and its example package): plural, but funding, accessibility, metadata, service_at_location.
PACKAGE_FILES = {
    "taxonomy": "taxonomies.csv", "taxonomy_term": "taxonomy_terms.csv", "organization": "organizations.csv",
    "program": "programs.csv", "organization_identifier": "organization_identifiers.csv",
    "service": "services.csv", "location": "locations.csv", "address": "addresses.csv",
    "service_at_location": "service_at_location.csv", "contact": "contacts.csv", "phone": "phones.csv",
    "schedule": "schedules.csv", "cost_option": "cost_options.csv", "accessibility": "accessibility.csv",
    "service_area": "service_areas.csv", "language": "languages.csv", "funding": "funding.csv",
    "required_document": "required_documents.csv", "attribute": "attributes.csv", "metadata": "metadata.csv",
    "meta_table_description": "meta_table_descriptions.csv",
}
# File names read: the standard's, the singular (the ORUK examples use both) and other plurals.
CSV_NAMES = {name: name for name in ORDER} | {file[:-4]: table for table, file in PACKAGE_FILES.items()} | {
    "fundings": "funding", "service_at_locations": "service_at_location",
}
NOT_DIRECTORY: set[str] = set()


@dataclass
class Records:
    """Rows per table, by id, as read from a file, plus what could not be used."""

    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    errors: list[str] = field(default_factory=list)
    ignored: set[str] = field(default_factory=set)
    dropped: DroppedControls = field(default_factory=DroppedControls)
    notes: list[str] = field(default_factory=list)  # for the import report (e.g. a file's encoding)
    # Fields that broke their rule (assetmap.fields) and were left out of a record that was kept.
    left_out: list[str] = field(default_factory=list)
    # Refuse the file for one bad field (``--strict``) instead of leaving the field out.
    strict: bool = False
    # (table, id, field) already reported: a record nested in several others is read once per copy.
    reported: set[tuple[str, str, str]] = field(default_factory=set, repr=False)
    # Where each record was first read (table, id) -> "service 12" or a file name, to say
    # where both copies of an id came from when they disagree.
    origin: dict[tuple[str, str], str] = field(default_factory=dict)
    # Where the records come from, and each one's id and date there (see assetmap.provenance).
    provenance: Provenance = field(default_factory=Provenance)

    def error(self, message: str) -> None:
        if len(self.errors) < 8 and message not in self.errors:
            self.errors.append(message)

    def bad_field(self, where: str, column: str, problem: fields.FieldProblem, refusal: str,
                  what: str = "left out", record: tuple[str, str] | None = None) -> None:
        """One field that breaks its rule: left out of its record and reported (``where`` names
        the record, ``record`` is its table and id), or, when strict, the file refused with ``refusal``."""
        if self.strict:
            self.error(refusal)
            return
        if record is not None:
            if (*record, column) in self.reported:
                return
            self.reported.add((*record, column))
        self.left_out.append(fields.left_out(where, column, problem, what))

    def refuse(self, name: str = "") -> None:
        """Refuse the file, in one line, if anything was wrong that it cannot be imported with."""
        if self.errors:
            more = "" if len(self.errors) < 8 else "; ..."
            start = f"{name}: " if name else ""
            raise ImportFileError(start + "; ".join(self.errors) + more + "; nothing was imported")

    def left_out_lines(self, most: int = 20) -> list[str]:
        """The report's lines for fields left out: the first ``most``, then how many more."""
        lines = self.left_out[:most]
        if len(self.left_out) > most:
            lines.append(f"... and {len(self.left_out) - most:,} more fields left out")
        return lines

    def count(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def add(self, table: str, row: dict[str, Any], where: str) -> None:
        """Keep a record; a second copy of its id may repeat it or fill in what it left
        out (a record nested in several others), but not contradict it: which of two
        different records is right only the person who made the file can say."""
        record_id = row["id"]
        existing = self.rows[table].get(record_id)
        if existing is None:
            self.rows[table][record_id] = row
            self.origin[(table, record_id)] = where
            return
        for key, value in row.items():
            if value is not None and existing.get(key) is not None and existing[key] != value:
                first = self.origin.get((table, record_id), "?")
                self.error(f"{table} id {record_id!r} appears twice with different {key} "
                           f"({existing[key]!r} in {first}, {value!r} in {where}): "
                           f"give each its own id or remove one")
                return
        existing.update({k: v for k, v in row.items() if v is not None})

    def merge(self, other: Records, source: str) -> None:
        """Take in the records of another file of the same import (see ``add``)."""
        for table, rows in other.rows.items():
            for row in rows.values():
                self.add(table, row, source)
        self.ignored |= other.ignored


# --- reading ----------------------------------------------------------------------


def read(path: Path, keep_bad_coordinates: bool = False, strict: bool = False) -> Records:
    """Read a JSON file (record, list, API page, tabular JSON), a CSV package folder, or one
    table of a package (see ``table_of``). ``strict``: one bad field refuses the file."""
    records = Records(strict=strict)
    try:
        if path.is_dir() or path.name == "datapackage.json":
            _read_csv_package(path if path.is_dir() else path.parent, records, keep_bad_coordinates)
        elif path.suffix.lower() == ".csv":
            _read_table(path, table_of(path), records, keep_bad_coordinates)
        else:
            _read_json(path, records, keep_bad_coordinates)
    except RecursionError:  # json and _flatten recurse once per level of nesting
        raise ImportFileError(f"{path.name} is nested too deeply (lists or records inside each other "
                              f"hundreds of levels down) to be Open Referral records: nothing was imported"
                              ) from None
    if records.count() == 0 and not records.errors:
        raise ImportFileError(f"{path.name} holds no Open Referral records")
    records.refuse(path.name)
    return records


def table_of(path: Path) -> str | None:
    """The Open Referral table one CSV file is, or None: named as one of the standard's
    tables (services.csv, taxonomy_terms.csv, ...) with every header column one of that
    table's fields, as in the official packages and assetmap's export. A spreadsheet
    called services.csv with a postcode column is a spreadsheet."""
    table = CSV_NAMES.get(path.stem)
    if table is None or path.suffix.lower() != ".csv" or not path.is_file():
        return None
    header = _header(path)
    return table if "id" in header and set(header) <= set(KINDS[table]) else None


def _header(path: Path) -> list[str]:
    encoding = detect_encoding(path)
    try:
        with open(path, newline="", encoding=encoding.codec) as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except (UnicodeDecodeError, csv.Error):
        return []  # read as a spreadsheet, which says what is wrong with it


def lone_table(path: Path, table: str) -> str:
    """What to say of one table of a CSV package given without its services: the rows only
    mean something beside the package's other tables, which they point into by id."""
    return (f"{path.name} is an Open Referral {table.replace('_', ' ')} table, not a directory of services: "
            f"import the whole CSV package folder that holds it (with services.csv)")


VOCABULARY = {"taxonomy", "taxonomy_term"}


def not_a_directory(name: str, records: Records) -> str | None:
    """What to say of a file that holds only a taxonomy or its terms, or None if it holds more:
    services are tagged with terms, but terms alone put nothing in the directory."""
    held = {table for table, rows in records.rows.items() if rows}
    if not held or not held <= VOCABULARY:
        return None
    what = "taxonomy term list" if "taxonomy_term" in held else "taxonomy list"
    return (f"{name} is an Open Referral {what}, not a directory of services: import the services that use "
            f"it (their records carry their terms), or give it in the same import as them "
            f"(assetmap import assets {name} SERVICES)")


def load_json(path: Path, expected: str = "Open Referral JSON", advice: str = "") -> Any:
    """A JSON file, or one line saying why it cannot be read (the ALISS reader uses it too)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ImportFileError(f"{path.name} is not UTF-8 text: is it the right file?") from None
    if not text.strip():
        raise ImportFileError(f"{path.name} is empty: expected {expected}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}){advice}; nothing was imported") from None


def _is_tabular(data: Any) -> bool:
    return isinstance(data, dict) and bool(data) and all(k.endswith(".csv") for k in data)


def _read_json(path: Path, records: Records, keep_bad: bool) -> None:
    data = load_json(path)
    if _is_tabular(data):  # HSDS's tabular JSON: {"services.csv": [rows], ...}
        _read_tabular_json(data, records, keep_bad)
        return
    hint = _kind_from_name(path.name)
    for position, (item, kind) in enumerate(_top_level(data, hint, path.name), start=1):
        _flatten(item, kind, records, keep_bad, where=f"{kind} #{item.get('id', '?')} (item {position})",
                 strict_types=True)


def _kind_from_name(name: str) -> str | None:
    for kind in ("service_at_location", "organization", "taxonomy_term", "taxonomy", "location", "service"):
        if name.startswith(kind):
            return kind
    return None


def _top_level(data: Any, hint: str | None, name: str) -> Iterator[tuple[dict[str, Any], str]]:
    if isinstance(data, dict) and "id" not in data and set(data) <= {"openapi_url", "profile", "version"}:
        raise ImportFileError(f"{name} describes an Open Referral API (its base endpoint) and holds no records: "
                              f"give the API's records instead, such as a page of its /services saved as a "
                              f".json file, or a CSV package folder")
    if isinstance(data, dict) and isinstance(data.get("contents"), list):  # an API page
        items: list[Any] = data["contents"]
    elif isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = [data]
    else:
        raise ImportFileError(f"{name} is JSON but not Open Referral records (a {type(data).__name__})")
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ImportFileError(f"{name}: item {position} is a {type(item).__name__}, not a record")
        yield item, hint or _guess_kind(item)


def _guess_kind(item: dict[str, Any]) -> str:
    keys = set(item)
    if "location" in keys and isinstance(item.get("location"), dict):
        return "service_at_location"
    if keys & {"services", "organization_identifiers", "year_incorporated", "legal_status", "programs"}:
        return "organization"
    if keys & {"location_type", "addresses", "accessibility"} and "status" not in keys:
        return "location"
    if keys & {"term", "code", "taxonomy_detail", "taxonomy_id", "term_uri"} and "status" not in keys:
        return "taxonomy_term"
    if "version" in keys and "status" not in keys:
        return "taxonomy"
    return "service"


def _flatten(item: dict[str, Any], table: str, records: Records, keep_bad: bool, where: str,
             strict_types: bool, parent: tuple[str, str] | None = None) -> str | None:
    """Store one record and its nested ones; returns its id."""
    record_id = item.get("id")
    if isinstance(record_id, str):
        record_id = records.dropped.clean(record_id)
    label = _label(table, item)
    if not isinstance(record_id, str) or not record_id.strip():
        if isinstance(record_id, (int, float)) and not isinstance(record_id, bool):
            record_id = str(record_id)
        else:
            records.error(f"{label} in {where} has no id")
            return None
    kinds, skipped = KINDS[table], SKIPPED[table]
    # Where a refusal says the problem is, and where the report says a field was left out.
    at = _At(f"{table} {record_id}{label[len(table):]}", table, record_id, parent)
    row: dict[str, Any] = {}
    for key, value in item.items():
        if key in skipped:
            continue
        kind = kinds.get(key)
        if kind is None:
            if value not in (None, [], {}, ""):
                records.ignored.add(f"{table}.{key}")
            continue
        if kind in _TEXT and isinstance(value, str):
            value = records.dropped.clean(value) if key != "id" else record_id
            text = value if value.strip() or key == "id" else None
            if text is None or _fits(key, text, records, at):
                row[key] = text
            continue
        converted = _convert(kind, key, value, strict_types, records, at)
        if converted is not _INVALID and (converted is None or _fits(key, converted, records, at)):
            row[key] = converted
    row["id"] = record_id
    if parent:
        parent_table, parent_id = parent
        _link_to_parent(table, row, parent_table, parent_id)
    if table == "location" and not keep_bad:
        _place(row, records, at)
    records.add(table, row, where)
    here = f"{table} {record_id}"
    for key, (child_table, _fk) in NESTED[table].items():
        value = item.get(key)
        if value in (None, []):
            continue
        if not isinstance(value, list):
            records.error(f"{here}: {key} should be a list, not {type(value).__name__}")
            continue
        for child in value:
            if not isinstance(child, dict):
                records.error(f"{here}: an item of {key} is a {type(child).__name__}, not a record")
                continue
            _flatten(child, child_table, records, keep_bad, here, strict_types, parent=(table, record_id))
    for key, (single_table, pointer) in SINGLES.get(table, {}).items():
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            records.error(f"{here}: {key} should be a record, not {type(value).__name__}")
            continue
        single_id = _flatten(value, single_table, records, keep_bad, here, strict_types)
        if single_id:
            records.rows[table][record_id][pointer] = single_id
    return record_id


def _label(table: str, item: dict[str, Any]) -> str:
    name = item.get("name") if isinstance(item.get("name"), str) else None
    return f"{table} '{name[:40]}'" if name else table


def _link_to_parent(table: str, row: dict[str, Any], parent_table: str, parent_id: str) -> None:
    if table == "attribute":
        row.setdefault("link_id", parent_id)
        row.setdefault("link_entity", parent_table)
    elif table == "metadata":
        row.setdefault("resource_id", parent_id)
        row.setdefault("resource_type", parent_table)
    else:
        fk = CHILDREN.get(parent_table, {})
        for child_table, pointer in fk.values():
            if child_table == table:
                row.setdefault(pointer, parent_id)
                break


@dataclass(frozen=True)
class _At:
    """One record being read: ``where`` names it in a refusal; ``line`` in the report's line
    for a field left out, with the record it is nested in (a cost option of service s1)."""

    where: str
    table: str
    record_id: str
    parent: tuple[str, str] | None

    @property
    def record(self) -> tuple[str, str]:
        return self.table, self.record_id

    @property
    def line(self) -> str:
        parent = self.parent
        return self.where + (f" of {parent[0]} {parent[1]}" if parent and parent[0] != self.table else "")


def _place(row: dict[str, Any], records: Records, at: _At) -> None:
    """Coordinates that are no point on Earth are left out and the location kept unplaced
    (strict: the file refused): its name, address and services are still worth having."""
    try:
        fields.coordinates(row.get("latitude"), row.get("longitude"))
    except fields.CoordinatesProblem as problem:
        records.bad_field(at.line, problem.field, problem, f"location {at.record_id}: {problem.refusal}",
                          what="latitude and longitude left out, the location unplaced", record=at.record)
        row.pop("latitude", None)
        row.pop("longitude", None)


_INVALID = object()
_TEXT = {String, Text}


def _bad_value(key: str, records: Records, at: _At, problem: fields.FieldProblem, refusal: str) -> None:
    """A value its record can be without is left out (strict: the file refused); a required
    field, an id or a pointer to another record refuses the file, said by ``refusal``."""
    if key == "id" or key.endswith("_id") or not TABLES[at.table].c[key].nullable:
        records.error(refusal)
    else:
        records.bad_field(at.line, key, problem, refusal, record=at.record)


def _fits(key: str, value: Any, records: Records, at: _At) -> bool:
    """Whether a value keeps its field's rule (assetmap.fields); if not, see ``_bad_value``."""
    if key == "id" or key.endswith("_id"):
        return True  # ids and pointers: checked as references
    try:
        fields.column_rule(at.table, key)(value)
        return True
    except fields.FieldProblem as problem:
        _bad_value(key, records, at, problem, f"{at.where}: {key} {problem.reason}: {problem.advice}")
        return False


def _convert(kind: type, key: str, value: Any, strict: bool, records: Records, at: _At) -> Any:
    """A file's value as its column's type, or _INVALID (see ``_bad_value``)."""
    if value is None or (isinstance(value, str) and not value.strip() and key != "id"):
        return None
    where = at.where
    try:
        if kind in (Float, Integer):
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str):
                if strict:  # JSON says what is a number; text there is a mistake
                    _bad_value(key, records, at, fields.FieldProblem(
                        f"is the text {fields.shown(value)}, not a number", "give it as a number, without quotes"),
                        f"{where}: {key} is the text {value!r}, it must be a number")
                    return _INVALID
                value = float(value)
            if not isinstance(value, (int, float)):
                raise ValueError
            if not math.isfinite(value):
                return float(value)  # left out by the field's rule, not the file refused
            if kind is Integer:
                if not float(value).is_integer():
                    raise ValueError
                return int(value)
            return float(value)
        if kind is Date:
            return dt.date.fromisoformat(str(value)[:10])
        if kind is DateTime:
            text = str(value).replace("Z", "+00:00")
            moment = dt.datetime.fromisoformat(text)
            # UTC throughout; SQLite keeps the wall time, PostGIS the instant: both UTC.
            return (moment.astimezone(dt.timezone.utc) if moment.tzinfo
                    else moment.replace(tzinfo=dt.timezone.utc))
        if kind is Boolean:
            return str(value).strip().lower() in ("1", "true", "yes", "y")
        if isinstance(value, (dict, list)):
            shape = type(value).__name__
            _bad_value(key, records, at, fields.FieldProblem(f"is a {shape}, not a single value", "give one value"),
                       f"{where}: {key} should be a single value, not a {shape}")
            return _INVALID
        return str(value)
    except ValueError:
        expected = {Float: "a number", Integer: "a whole number", Date: "a date (YYYY-MM-DD)",
                    DateTime: "a date and time (ISO 8601)"}.get(kind, "a value")
        _bad_value(key, records, at, fields.FieldProblem(f"is {fields.shown(value)}, not {expected}",
                                                         f"give {expected}"),
                   f"{where}: {key} is {value!r}, it must be {expected}")
        return _INVALID


def _read_csv_package(folder: Path, records: Records, keep_bad: bool) -> None:
    files = _package_files(folder)
    if not files:
        raise ImportFileError(f"{folder.name} holds no Open Referral CSV tables (services.csv, ...)")
    for table, path in files:
        _read_table(path, table, records, keep_bad)


def _read_table(path: Path, table: str | None, records: Records, keep_bad: bool) -> None:
    if table is None:
        raise ImportFileError(f"{path.name} is not an Open Referral table (named as one, with the table's "
                              f"columns): give a CSV package folder, or import it as a spreadsheet")
    for row in _csv_rows(path, records):
        _flatten(row, table, records, keep_bad, where=path.name, strict_types=False)


def _package_files(folder: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    package = folder / "datapackage.json"
    paths = sorted(folder.glob("*.csv"))
    if package.exists():
        try:
            resources = json.loads(package.read_text(encoding="utf-8")).get("resources", [])
            paths = [folder / r["path"] for r in resources if isinstance(r, dict) and "path" in r]
        except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
            pass  # not a description (the HSDS examples ship a link as text): use the CSV files
    for path in paths:
        table = CSV_NAMES.get(path.stem)
        if table is None:
            if path.stem not in NOT_DIRECTORY and path.exists():
                raise ImportFileError(f"{folder.name}/{path.name} is not an Open Referral table")
            continue
        if path.exists():
            found.append((table, path))
    return sorted(found, key=lambda tp: ORDER.index(tp[0]))


def _csv_rows(path: Path, records: Records) -> Iterator[dict[str, Any]]:
    """The rows of one table, each cell as it was before export (see assetmap.io.safecsv)."""
    encoding = detect_encoding(path)
    if encoding.note:
        records.notes.append(encoding.note)
    try:
        with open(path, newline="", encoding=encoding.codec) as handle:
            reader = csv.DictReader(handle, strict=True)
            for row in reader:
                if None in row:
                    raise ImportFileError(f"{path.name} line {reader.line_num} has more fields than its header")
                yield {k: unprotect(v) for k, v in row.items() if v is not None}
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name} is not {encoding.codec} text (byte {exc.start}): "
                              f"is it the right file? nothing was imported") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path.name} cannot be read as CSV ({exc}): the file looks damaged") from None


def _read_tabular_json(data: dict[str, Any], records: Records, keep_bad: bool) -> None:
    for name in sorted(data, key=lambda n: ORDER.index(CSV_NAMES[n[:-4]]) if n[:-4] in CSV_NAMES else 99):
        table = CSV_NAMES.get(name[:-4])
        if table is None or not isinstance(data[name], list):
            records.error(f"{name} is not an Open Referral table")
            continue
        for row in data[name]:
            if isinstance(row, dict):
                _flatten(row, table, records, keep_bad, where=name, strict_types=True)
            else:
                records.error(f"{name}: a row is a {type(row).__name__}, not a record")


# --- checking against the database and writing ---------------------------------------


def _check_references(conn: Connection, records: Records) -> None:
    for table, references in REFERENCES.items():
        rows = records.rows.get(table, {})
        for pointer, target in references.items():
            wanted = {r[pointer] for r in rows.values() if r.get(pointer)}
            missing = wanted - set(records.rows.get(target, {}))
            if not missing:
                continue
            key = TABLES[target].c.id
            known: set[str] = set()
            ordered = sorted(missing)
            for start in range(0, len(ordered), 500):
                known |= set(conn.execute(select(key).where(key.in_(ordered[start:start + 500]))).scalars())
            for target_id in sorted(missing - known)[:3]:
                holder = next(i for i, r in rows.items() if r.get(pointer) == target_id)
                what = "taxonomy term" if target == "taxonomy_term" else target.replace("_", " ")
                records.error(f"{table} {holder}: {pointer} {target_id} is an unknown {what}: "
                              f"include it in the file or import it first")


def _check_required(records: Records) -> None:
    for table, rows in records.rows.items():
        for column in TABLES[table].columns:
            if column.nullable or column.primary_key or column.default is not None or column.name in INTERNAL:
                continue
            for record_id, row in rows.items():
                if row.get(column.name) is None:
                    records.error(f"{table} {record_id}: has no {column.name}")
                    break
        if table == "service":
            for record_id, row in rows.items():
                status = row.get("status")
                if status is not None and status not in models.SERVICE_STATUSES:
                    records.error(f"service {record_id}: status {status!r} is not one of "
                                  f"{', '.join(models.SERVICE_STATUSES)}")


def _complete(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with every column any of them has; locations with the point they make, if real."""
    columns = sorted({k for r in rows for k in r})
    complete = [{c: r.get(c) for c in columns} for r in rows]
    if table == "service":
        for r in complete:
            r["status"] = r.get("status") or "active"
    if table == "location":
        for r in complete:
            r.setdefault("latitude", None)
            r.setdefault("longitude", None)
            # Kept as given (lossless), but only real coordinates become a point.
            ok = placeable(r["latitude"], r["longitude"])
            r["_lat"], r["_lon"] = (r["latitude"], r["longitude"]) if ok else (None, None)
    return complete


def batches(records: Records) -> list[Batch]:
    """The records as the backend writes them: one batch per table, in the order of ORDER."""
    found = []
    for table in ORDER:
        rows = list(records.rows.get(table, {}).values())
        if rows:
            found.append(Batch(TABLES[table], _complete(table, rows),
                               point=("_lon", "_lat") if table == "location" else None))
    return found


def write(conn: Connection, records: Records, progress: str | None = None) -> int:
    return write_batches(conn, batches(records), progress)


def check(conn: Connection, records: Records, source: str) -> None:
    """Refuse records that break the standard or name records neither given nor stored; then
    give each service its ``last_modified`` if the file does not (see ``stamp_last_modified``)."""
    _check_required(records)
    _check_references(conn, records)
    if records.errors:
        raise ImportFileError(f"{source}: " + "; ".join(records.errors) + "; nothing was imported")
    stamp_last_modified(conn, records)


# The records that belong to one service, by the field that points to it: a change to any
# of them is a change to the service (its schedules, venues, costs, contacts, tags, ...).
_OF_SERVICE = {table: pointer for table, pointer in CHILDREN["service"].values()} | {"attribute": "link_id"}


def stamp_last_modified(conn: Connection, records: Records, now: dt.datetime | None = None) -> None:
    """Every service written has a ``last_modified``: the file's, if it gives one; else the one
    stored, if this import changes neither the service nor a record of it (a re-import of the
    same file is not a change); else now, the moment the directory's copy changes. It is what
    the API's ``modified_after`` reads, so other directories can sync only what changed."""
    services = records.rows.get("service", {})
    unstamped = sorted(i for i, row in services.items() if row.get("last_modified") is None)
    if not unstamped:
        return
    now = now or dt.datetime.now(dt.timezone.utc)
    stored: dict[str, dict[str, Any]] = {}
    for start in range(0, len(unstamped), 500):
        for row in conn.execute(_rows_where("service", "id"), {"ids": unstamped[start:start + 500]}):
            stored[row.id] = row._asdict()
    changed = {i for i in unstamped if stored.get(i, {}).get("last_modified") is None}
    columns = {k for row in services.values() for k in row} - {"id", "last_modified"}
    changed |= {i for i in unstamped if i not in changed and not _same_row(services[i], stored[i], columns)}
    waiting = set(unstamped) - changed
    for table, pointer in _OF_SERVICE.items():
        given = [row for row in records.rows.get(table, {}).values() if row.get(pointer) in waiting]
        if not given:
            continue
        ids = sorted({row["id"] for row in given})
        held: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            for row in conn.execute(_rows_where(table, "id"), {"ids": ids[start:start + 500]}):
                held[row.id] = row._asdict()
        child_columns = {k for row in given for k in row} - {"id"}
        changed |= {row[pointer] for row in given
                    if row["id"] not in held or not _same_row(row, held[row["id"]], child_columns)}
    for i in unstamped:
        services[i]["last_modified"] = now if i in changed else stored[i]["last_modified"]


def _same_row(given: dict[str, Any], held: dict[str, Any], columns: set[str]) -> bool:
    def same(a: Any, b: Any) -> bool:
        a, b = plain(a), plain(b)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            return abs(float(a) - float(b)) < 1e-9
        return a == b
    return all(same(given.get(c), held.get(c)) for c in columns if c in held)


def write_checked(conn: Connection, records: Records, source: str) -> int:
    """Write records already checked (see ``check``), on a connection from ``writing``."""
    written = write(conn, records, progress=source)
    changes.bump(conn, changes.DIRECTORY)
    return written


def import_checked(engine: Engine, records: Records, source: str,
                   also: Callable[[Connection], object] | None = None) -> int:
    """Write checked records in one transaction that holds the write lock as briefly as it can.

    A record they refer to can only have gone since the check if someone deleted it in
    between; the database's foreign keys then refuse the write, which says so."""
    try:
        # SpatiaLite stages the rows before it takes the file's write lock; PostgreSQL
        # writers do not lock each other out, so it writes them in one transaction.
        def finish(conn: Connection) -> None:
            if also:  # e.g. the sources' provenance (assetmap.io.sync.apply), in the same transaction
                also(conn)
            changes.bump(conn, changes.DIRECTORY)

        return backends.of(engine).write_import(engine, batches(records), finish, progress=source)
    except IntegrityError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise ImportFileError(f"{source}: a record it refers to was deleted while it was being imported "
                              f"({reason}): nothing was imported; import it again") from None


def check_and_write(conn: Connection, records: Records, source: str) -> int:
    """Check and write in one transaction (for small loads such as the demo directory)."""
    check(conn, records, source)
    return write_checked(conn, records, source)


def import_oruk(engine: Engine, path: Path | str, keep_bad_coordinates: bool = False,
                check_records: Any = None, strict: bool = False) -> ImportReport:
    """Import an Open Referral file or CSV package, all or nothing (``strict``: see ``read``).

    ``check_records(conn, rows, flag)`` may flag records that need a look (see
    assetmap.quality). Reading and checking happen on a read connection; only the
    write takes the write lock, so editors are not kept waiting by the checks.
    """
    path = Path(path)
    report = ImportReport(source=path.name, what="records")
    records = read(path, keep_bad_coordinates, strict)
    with reading(engine) as conn:
        if check_records:
            check_records(conn, records.rows, report.flag)
        check(conn, records, path.name)
    report.read = report.loaded = import_checked(engine, records, path.name)
    describe(report, records)
    return report


def describe(report: ImportReport, records: Records) -> None:
    """Add what was imported, per table, and the fields not kept, to the report's notes."""
    report.notes.append(", ".join(f"{len(records.rows[t]):,} {t}" for t in ORDER if records.rows.get(t)))
    report.notes.extend(records.notes + records.dropped.notes())
    if records.ignored:
        report.notes.append(f"fields not in the standard, not kept: {', '.join(sorted(records.ignored))}")
    report.notes.extend(records.left_out_lines())


# --- export -------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A stored value as files and JSON carry it (dates as ISO text, whole floats as ints)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        # Microseconds only where they exist (edits are stamped to the microsecond), so a
        # re-import gives back the same instant and the edit form's version still matches.
        return value.isoformat(timespec="microseconds" if value.microsecond % 1000 else "milliseconds") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Fields ORUK 3.0 requires in exported records. Where the directory does not know
# one, it is exported empty rather than invented, and reads back as unknown.
REQUIRED_ON_EXPORT = {
    "organization": ("name", "description"), "taxonomy": ("name", "description"),
    "taxonomy_term": ("name", "description"), "organization_identifier": ("identifier_type", "identifier"),
    "address": ("address_1", "city", "state_province", "postal_code", "country", "address_type"),
}


def _clean(row: Any, table: str) -> dict[str, Any]:
    # None is left out, and so is a non-finite number (which JSON cannot carry) already stored.
    values = {c.name: plain(getattr(row, c.name)) for c in TABLES[table].columns if c.name not in INTERNAL}
    record = {k: v for k, v in values.items() if v is not None}
    for name in REQUIRED_ON_EXPORT.get(table, ()):
        record.setdefault(name, "")
    return record


@lru_cache(maxsize=None)
def _rows_of(table: str) -> Select[Any]:
    """One statement per table, built once: a handout reads thirty tables for a few services,
    and building the statement costs more than running it."""
    return select(*[c for c in TABLES[table].columns if c.name not in INTERNAL])


@lru_cache(maxsize=None)
def _rows_where(table: str, column: str) -> Select[Any]:
    return _rows_of(table).where(TABLES[table].c[column].in_(bindparam("ids", expanding=True)))


class _Directory:
    """Directory rows in memory, grouped by the fields records are nested by.

    With ``services`` given, only the rows those services' records need are read
    (a few indexed queries), which is what the API does for one page.
    """

    def __init__(self, conn: Connection, services: Iterable[str] | None) -> None:
        self.conn = conn
        self.rows: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in ORDER}
        self.by: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        if services is None:
            for table in ORDER:
                self._add(table, None, ())
            self.service_ids = sorted(self.rows["service"])
            return
        wanted = list(dict.fromkeys(services))
        self._add("service", "id", wanted)
        self.service_ids = [i for i in wanted if i in self.rows["service"]]
        ids = self.service_ids
        self._add("service_at_location", "service_id", ids)
        sals = list(self.rows["service_at_location"])
        self._add("location", "id", {r["location_id"] for r in self.rows["service_at_location"].values()})
        locations = list(self.rows["location"])
        orgs = {r["organization_id"] for r in self.rows["service"].values() if r.get("organization_id")}
        self._add("organization", "id", orgs)
        self._add("program", "id", {r["program_id"] for r in self.rows["service"].values() if r.get("program_id")})
        self._add("organization_identifier", "organization_id", orgs)
        for table in ("schedule", "cost_option", "service_area", "language", "funding", "required_document",
                      "contact", "phone"):
            self._add(table, "service_id", ids)
        for table in ("address", "accessibility", "schedule", "phone", "contact", "language"):
            self._add(table, "location_id", locations)
        for table in ("schedule", "phone", "contact"):
            self._add(table, "service_at_location_id", sals)
        for table in ("contact", "phone", "funding"):
            self._add(table, "organization_id", orgs)
        self._add("phone", "contact_id", list(self.rows["contact"]))
        self._add("language", "phone_id", list(self.rows["phone"]))
        every = [i for table in ORDER for i in self.rows[table]]
        self._add("attribute", "link_id", every)
        self._add("metadata", "resource_id", every)
        self._add("taxonomy_term", "id", {r["taxonomy_term_id"] for r in self.rows["attribute"].values()})
        self._add("taxonomy", "id", {r["taxonomy_id"] for r in self.rows["taxonomy_term"].values()
                                     if r.get("taxonomy_id")})

    def _add(self, table: str, column: str | None, ids: Iterable[str]) -> None:
        if column is None:
            for row in self.conn.execute(_rows_of(table)):
                self.rows[table][row.id] = _clean(row, table)
            return
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            for row in self.conn.execute(_rows_where(table, column), {"ids": ordered[start:start + 500]}):
                self.rows[table][row.id] = _clean(row, table)


    def children(self, table: str, pointer: str, parent_id: str) -> list[dict[str, Any]]:
        key = (table, pointer)
        if key not in self.by:
            grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in self.rows[table].values():
                if row.get(pointer):
                    grouped[row[pointer]].append(row)
            self.by[key] = grouped
        return self.by[key].get(parent_id, [])


def _nest(directory: _Directory, table: str, row: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    record = dict(row)
    for key, (child_table, pointer) in CHILDREN.get(table, {}).items():
        if key in skip or key in ("fundings", "accessibilitys", "services", "locations"):
            continue
        found = directory.children(child_table, pointer, row["id"])
        if found:
            record[key] = [_nest(directory, child_table, c, {"service_at_locations"}) for c in found]
    attributes = [a for a in directory.children("attribute", "link_id", row["id"])]
    if attributes:
        record["attributes"] = [_attribute(directory, a) for a in attributes]
    metadata = directory.children("metadata", "resource_id", row["id"])
    if metadata:
        record["metadata"] = metadata
    for key, (single_table, pointer) in SINGLES.get(table, {}).items():
        if key == "service" or not row.get(pointer):
            continue
        single = directory.rows[single_table].get(row[pointer])
        if single:
            record[key] = _nest(directory, single_table, single, {"services", "locations"})
    return record


def _attribute(directory: _Directory, attribute: dict[str, Any]) -> dict[str, Any]:
    record = dict(attribute)
    term = directory.rows["taxonomy_term"].get(attribute["taxonomy_term_id"])
    if term:
        record["taxonomy_term"] = dict(term)
        taxonomy = directory.rows["taxonomy"].get(term.get("taxonomy_id", ""))
        if taxonomy:
            record["taxonomy_term"]["taxonomy_detail"] = taxonomy
    return record


# What a feed sends: a field is filled or absent, never "" (see ``published``). A required
# description the source did not give is the record's name, as the standard asks for one.
DESCRIBED_BY_NAME = {"organization", "taxonomy", "taxonomy_term"}
_NESTED_TABLES: dict[str, dict[str, str]] = {
    table: {key: child for key, (child, _) in {**NESTED[table], **SINGLES.get(table, {})}.items()} for table in ORDER
}
_NESTED_TABLES["taxonomy_term"]["taxonomy_detail"] = "taxonomy"


def published(record: dict[str, Any], table: str) -> dict[str, Any] | None:
    """A record as the API sends it: empty strings and nulls left out, nested records likewise;
    a required description not given is the name; a nested record that still lacks a field the
    standard requires (an address with no postcode) is left out, and None is returned for it."""
    found: dict[str, Any] = {}
    nested = _NESTED_TABLES.get(table, {})
    for key, value in record.items():
        if value is None or value == "":
            continue
        child = nested.get(key)
        if child is not None and isinstance(value, list):
            items = [item for item in (published(v, child) for v in value if isinstance(v, dict)) if item]
            if items:
                found[key] = items
        elif child is not None and isinstance(value, dict):
            inner = published(value, child)
            if inner is not None:
                found[key] = inner
        else:
            found[key] = value
    if table in DESCRIBED_BY_NAME and "description" not in found and found.get("name"):
        found["description"] = found["name"]
    if any(name not in found for name in REQUIRED_ON_EXPORT.get(table, ())):
        return None
    return found


# The one-to-one fields of a service, which a list sends without ``full`` (HSDS 3.0's list shape),
# and what ``minimal`` sends: enough to tell which services changed (and the list schema's required).
MINIMAL = ("id", "name", "status", "last_modified")


def service_records(conn: Connection, services: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Full ORUK service records (organisation, locations, schedules, ...), in the order asked."""
    directory = _Directory(conn, services)
    return [_nest(directory, "service", directory.rows["service"][i], set()) for i in directory.service_ids]


def service_list_records(conn: Connection, services: Iterable[str], shape: str = "full") -> list[dict[str, Any]]:
    """Services for a list page: ``full`` records, the ``list`` shape (the service's own fields
    and its organisation) or ``minimal`` (MINIMAL)."""
    if shape == "full":
        return service_records(conn, services)
    wanted = list(dict.fromkeys(services))
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        for row in conn.execute(_rows_where("service", "id"), {"ids": wanted[start:start + 500]}):
            rows[row.id] = _clean(row, "service")
    if shape == "minimal":
        return [{k: rows[i][k] for k in MINIMAL if k in rows[i]} for i in wanted if i in rows]
    orgs: dict[str, dict[str, Any]] = {}
    org_ids = sorted({r["organization_id"] for r in rows.values() if r.get("organization_id")})
    for start in range(0, len(org_ids), 500):
        for row in conn.execute(_rows_where("organization", "id"), {"ids": org_ids[start:start + 500]}):
            orgs[row.id] = _clean(row, "organization")
    records = []
    for i in wanted:
        if i in rows:
            record = dict(rows[i])
            if record.get("organization_id") in orgs:
                record["organization"] = orgs[record["organization_id"]]
            records.append(record)
    return records


def service_at_location_records(conn: Connection, ids: Iterable[str], shape: str = "list") -> list[dict[str, Any]]:
    """ORUK service_at_location records: the link with its location and a service summary
    (``full``: the whole service record; ``minimal``: the link's own fields only)."""
    wanted = list(dict.fromkeys(ids))
    links = {r.id: _clean(r, "service_at_location") for r in conn.execute(
        select(*[c for c in TABLES["service_at_location"].columns]).where(TABLES["service_at_location"].c.id.in_(wanted)))}
    if shape == "minimal":
        return [links[i] for i in wanted if i in links]
    directory = _Directory(conn, {link["service_id"] for link in links.values()})
    records = []
    for link_id in wanted:
        link = links.get(link_id)
        if link is None:
            continue
        record = dict(link)
        location = directory.rows["location"].get(link["location_id"])
        if location:
            record["location"] = _nest(directory, "location", location, set())
        service = directory.rows["service"].get(link["service_id"])
        if service:
            record["service"] = (_nest(directory, "service", service, {"service_at_locations"}) if shape == "full"
                                 else dict(service))
        records.append(record)
    return records


def table_records(conn: Connection, table: str, offset: int, limit: int,
                  where: Any = None) -> tuple[list[dict[str, Any]], int]:
    """A page of one table's records (taxonomies, taxonomy terms) and how many there are in all."""
    t = TABLES[table]
    query = select(*[c for c in t.columns if c.name not in INTERNAL])
    count = select(func.count()).select_from(t)
    if where is not None:
        query, count = query.where(where), count.where(where)
    rows = conn.execute(query.order_by(t.c.id).offset(offset).limit(limit)).all()
    return [_clean(r, table) for r in rows], int(conn.execute(count).scalar_one())


def page(contents: list[dict[str, Any]], number: int = 1, size: int | None = None,
         total: int | None = None, attribution: list[str] | None = None) -> dict[str, Any]:
    """An ORUK API page around ``contents``; with the lines its sources' licences ask to be shown."""
    total = len(contents) if total is None else total
    per_page = size or max(len(contents), 1)
    pages = max(1, math.ceil(total / per_page))
    # ``size`` is the number of records on this page (the standard's "entities in the current
    # page", which the validator checks against the contents), not the per_page asked for.
    found = {"total_items": total, "total_pages": pages, "page_number": number, "size": len(contents),
             "first_page": number == 1, "last_page": number >= pages, "empty": not contents,
             "contents": contents}
    if attribution:
        found["attribution"] = attribution
    return found


def export_oruk(engine: Engine, out: Path | str) -> int:
    """Write the directory out; returns how many services.

    A ``.json`` file gets one ORUK 3.0 page of full service records (what other
    directories consume); a folder gets the CSV package of every table, which
    also keeps records no service refers to (a whole-directory backup).
    """
    out = Path(out)
    check_output_folder(out)
    with engine.connect() as conn:
        if out.suffix.lower() == ".json":
            from assetmap.directory import attribution

            services = service_records(conn)
            out.write_text(json.dumps(page(services, attribution=attribution(conn)), indent=1, ensure_ascii=False)
                           + "\n", encoding="utf-8")
            return len(services)
        return _export_csv_package(conn, out)


def _package_sources(conn: Connection) -> dict[str, Any]:
    """Where the records came from, in the data package's own terms (sources, licenses), and the
    attribution lines the licences ask for."""
    from assetmap.directory import attribution
    from assetmap.models import DataSource

    sources = conn.execute(select(DataSource.label, DataSource.url, DataSource.licence)
                           .where(DataSource.kind != "editor").order_by(DataSource.label)).all()
    if not sources:
        return {}
    return {"sources": [{"title": s.label, **({"path": s.url} if s.url else {})} for s in sources],
            "licenses": [{"title": f"{s.label}: {s.licence}", **({"path": s.licence} if (s.licence or "")
                                                                   .startswith("http") else {})}
                         for s in sources if s.licence],
            "attribution": attribution(conn)}


def _export_csv_package(conn: Connection, folder: Path) -> int:
    if folder.exists() and not folder.is_dir():
        raise ImportFileError(f"{folder} is a file: give a folder for a CSV package, or a .json file")
    folder.mkdir(exist_ok=True)
    resources = []
    for table in ORDER:
        columns = [c for c in TABLES[table].columns if c.name not in INTERNAL]
        name = PACKAGE_FILES[table]
        with open(folder / name, "w", newline="", encoding="utf-8") as handle:
            rows = conn.execute(select(*columns).order_by(TABLES[table].c.id))
            write_rows(handle, chain([[c.name for c in columns]],
                                     (["" if v is None else plain(v) for v in row] for row in rows)))
        resources.append({"name": table, "path": name, "profile": "tabular-data-resource"})
    package: dict[str, Any] = {"name": "assetmap-export", "profile": "tabular-data-package", "resources": resources}
    package.update(_package_sources(conn))
    (folder / "datapackage.json").write_text(json.dumps(package, indent=1) + "\n", encoding="utf-8")
    return int(conn.execute(select(func.count()).select_from(TABLES["service"])).scalar_one())
