"""ALISS API responses in: a page of services, one service, or an organisation with its services.

ALISS (www.aliss.org, run by the Health and Social Care ALLIANCE Scotland) is where Scottish
Community Links Workers keep their local knowledge. Its API (v4 and v4.1) answers

- a page: ``{meta: {licence, attribution[]}, count, next, previous, data: [service, ...]}``
  (``/api/v4/import/`` is the whole export, as a chain of such pages);
- one service: ``{meta, data: {service}}``;
- an organisation: ``{meta, data: {organisation..., services: [...]}}``.

They come as a file, a folder of saved page files, or an API address (whose ``next`` pages
are followed). Each service becomes Open Referral rows (``oruk.Records``), so checking and
writing are the Open Referral importer's. ALISS writes ``""`` for nothing: empty strings are
left out. ALISS's ids are UUIDs and stable, so they are the records' ids as they are (a UUID
names one record wherever it comes from, so ALISS's cannot collide with another source's,
and the same ALISS record arriving twice is the same record); rows ALISS has no id for
(an address, a phone, a service area, a category link) get ids made from their parent's,
the same on every import, so importing again changes nothing.

Nothing about a person is ever sent: an address that searches by postcode, words or place
is refused (the whole export and listings need none).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from tqdm import tqdm

from assetmap import fields, taxonomy
from assetmap.io.oruk import Records, load_json
from assetmap.io.report import ImportFileError, ImportReport
from assetmap.provenance import Origin, Source

TIMEOUT = 30.0  # seconds for each page
MOST_PAGES = 10_000  # a chain longer than this is a loop, not an export
EXPORT = "https://www.aliss.org/api/v4/import/"
ATTRIBUTION = "Contains data from ALISS (www.aliss.org), CC BY 4.0"
USER_AGENT = "assetmap (community asset map; ALISS import)"
# Query parameters that would tell ALISS about a person (where they live, what they asked).
PERSONAL = {"postcode", "q", "location", "latitude", "longitude", "lat", "lng", "lon"}
# Parameters that only page through a listing; any other narrows it, so it is not the whole export.
PAGING = {"page", "page_size", "format"}
# ALISS's service-area types: its API gives the name, or (v4.1, organisations) the number.
AREA_TYPES = {"0": "Country", "1": "Region", "2": "Local Authority", "3": "Health Board",
              "4": "Health and Social Care Partnership"}
GSS_URI = "http://statistics.data.gov.uk/id/statistical-geography/{code}"
# ALISS fields with no Open Referral place: said in the report, not kept.
NOT_KEPT = {"slug", "aliss_url", "permalink", "is_claimed", "is_deprioritised", "facebook", "twitter",
            "instagram", "formatted_address", "description_formatted", "summary",
            "media_gallery", "media_galery", "location_score", "selected"}
_ENVELOPE = re.compile(r'^\s*\{\s*"(meta|count|next|previous|data)"\s*:')
_BARE_WEB = re.compile(r"^(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(/\S*)?$", re.IGNORECASE)


@dataclass
class Response:
    """One ALISS answer, as read: its services (each with its organisation, where known)."""

    where: str  # the file's name or the address
    kind: str  # "page", "service" or "organisation"
    meta: dict[str, Any]
    services: list[tuple[dict[str, Any], dict[str, Any] | None]]  # (service, organisation)
    organisation: dict[str, Any] | None = None  # an organisation response's own record
    count: int | None = None
    next: str | None = None
    previous: str | None = None


# --- recognising --------------------------------------------------------------------------


def address_of(path: Path | str) -> str | None:
    """The web address given, if ``path`` is one (``Path`` folds ``https://`` to ``https:/``)."""
    match = re.match(r"^(https?):/+(.+)$", str(path), re.IGNORECASE)
    if not match:
        return None
    address = f"{match.group(1).lower()}://{match.group(2)}"
    if "?" not in address and not address.endswith("/") and isinstance(path, Path):
        address += "/"  # ALISS's addresses end in a slash, which Path drops
    return address


def recognises(path: Path) -> bool:
    """An ALISS address, or a JSON file (or a folder of them) that starts like an ALISS answer.

    Only the start of each file is read: ALISS's answers open with their envelope (meta,
    count, data), Open Referral's with a record or ``total_items``."""
    if address_of(path):
        return True
    if path.is_dir():
        if (path / "datapackage.json").exists() or any(path.glob("*.csv")):
            return False
        return any(_looks_like_aliss(p) for p in sorted(path.glob("*.json")))
    return path.suffix.lower() == ".json" and _looks_like_aliss(path)


def _looks_like_aliss(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8-sig", errors="ignore")
    except OSError:
        return False
    return bool(_ENVELOPE.match(head))


# --- reading files and addresses ---------------------------------------------------------


def read(path: Path | str, report: ImportReport, timeout: float = TIMEOUT) -> Records:
    """ALISS's answers in ``path`` (a file, a folder of pages, an address) as Open Referral rows."""
    address = address_of(path)
    if address:
        responses = fetch(address, timeout)
    else:
        path = Path(path)
        files = _page_files(path) if path.is_dir() else [path]
        responses = [response_of(_load(p), p.name) for p in files]
    if not any(r.services for r in responses):
        raise ImportFileError(f"{address or Path(path).name} holds no ALISS services: nothing was imported")
    complete, why = whole_export(responses, address)
    records = _Mapper(report).map(responses)
    records.provenance.source = _source(responses, complete)
    kinds = [r.kind for r in responses]
    what = ", ".join(f"{kinds.count(k):,} {k}{'s' if kinds.count(k) > 1 else ''}" for k in dict.fromkeys(kinds))
    whole = ("the whole export" if complete else
             "not the whole export, so services it does not hold are left as they are")
    report.notes.insert(0, f"ALISS: {what}; {whole} ({why})")
    report.notes.append("attribution: " + "; ".join(records.provenance.source.attribution))
    return records


def _page_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ImportFileError(f"{folder.name} holds no .json files: save ALISS's pages there, or give the file")
    for path in files:
        if not _looks_like_aliss(path):
            raise ImportFileError(f"{folder.name}/{path.name} is not an ALISS API answer: a folder of ALISS "
                                  f"pages should hold only those; nothing was imported")
    return files


def _load(path: Path) -> Any:
    return load_json(path, "an ALISS API answer", ": save the ALISS page again")


def refuse_personal(address: str) -> None:
    """Refuse an address that would tell ALISS about a person: a postcode, search words or a place."""
    parts = urlsplit(address)
    asked = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    personal = sorted(asked & PERSONAL)
    if personal:
        shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))  # never the postcode itself
        raise ImportFileError(
            f"{shown} searches ALISS by {', '.join(f'{p}=' for p in personal)}: assetmap never sends a postcode "
            f"or search words to ALISS. Give the whole export ({EXPORT}) or a listing without "
            f"{'/'.join(sorted(PERSONAL & {'postcode', 'q', 'location'}))}; nothing was imported")


def fetch(address: str, timeout: float = TIMEOUT) -> list[Response]:
    """The answer at ``address`` and every ``next`` page after it, on the same server."""
    refuse_personal(address)
    start = urlsplit(address)
    if start.scheme not in ("http", "https") or not start.netloc:
        raise ImportFileError(f"{address} is not a web address: give one such as {EXPORT}")
    responses: list[Response] = []
    seen: set[str] = set()
    url: str | None = address
    with tqdm(desc="ALISS pages", unit=" pages", disable=None, leave=False) as bar:
        while url:
            if url in seen:
                raise ImportFileError(f"{address}: ALISS's pages lead back to {url}: the chain does not end; "
                                      f"nothing was imported")
            if len(seen) >= MOST_PAGES:
                raise ImportFileError(f"{address}: more than {MOST_PAGES:,} pages: that is not an ALISS export "
                                      f"(ALISS lists some thousands of services); nothing was imported")
            seen.add(url)
            response = response_of(_get(url, timeout), url)
            responses.append(response)
            if bar.total is None and response.count and response.services:
                bar.total = math.ceil(response.count / len(response.services))
            bar.update(1)
            url = _next_address(response.next, url, address)
    return responses


def _next_address(link: str | None, current: str, address: str) -> str | None:
    """The next page's address: on the server the import started on, never one that is personal."""
    if not link:
        return None
    start, parts = urlsplit(address), urlsplit(urljoin(current, link))
    if parts.netloc != start.netloc:
        raise ImportFileError(f"{address}: ALISS's next page is on another server ({parts.netloc}); "
                              f"nothing was imported")
    refuse_personal(link)
    # Behind a proxy ALISS may write http:// for its own https:// pages: keep the scheme asked for.
    return urlunsplit((start.scheme, start.netloc, parts.path, parts.query, ""))


def _get(url: str, timeout: float) -> Any:
    host = urlsplit(url).netloc
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        raise ImportFileError(f"{url}: {host} answered {exc.code} {exc.reason}: check the address (the whole "
                              f"export is {EXPORT}); nothing was imported") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise ImportFileError(_slow(url, host, timeout)) from None
        raise ImportFileError(f"cannot reach {host} ({exc.reason}): check the network connection, or save "
                              f"ALISS's pages where there is one and import the files; nothing was imported"
                              ) from None
    except (TimeoutError, socket.timeout):
        raise ImportFileError(_slow(url, host, timeout)) from None
    except OSError as exc:  # the connection dropped half-way (reset, broken, short read)
        raise ImportFileError(f"the connection to {host} failed while reading {url} ({exc}): try again; "
                              f"nothing was imported") from None
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ImportFileError(f"{url} did not answer with JSON: is it an ALISS API address, such as "
                              f"{EXPORT}? nothing was imported") from None


def _slow(url: str, host: str, timeout: float) -> str:
    return (f"{host} did not answer within {timeout:g} s for {url}: try again later, or save ALISS's pages "
            f"and import the files; nothing was imported")


# --- what an answer is --------------------------------------------------------------------


def response_of(data: Any, where: str) -> Response:
    """Which of ALISS's answers ``data`` is, or a clear refusal of what it is instead."""
    if not isinstance(data, dict) or "data" not in data:
        raise ImportFileError(f"{where} is not an ALISS API answer (it has no data): give an ALISS page, "
                              f"service or organisation, or an address such as {EXPORT}; nothing was imported")
    meta: dict[str, Any] = data["meta"] if isinstance(data.get("meta"), dict) else {}
    body = data["data"]
    if isinstance(body, list):
        items = [item for item in body if isinstance(item, dict)]
        if items and all("sub_categories" in item for item in items):
            raise ImportFileError(
                f"{where} is ALISS's category list (/api/v4/categories/), not services: assetmap already holds "
                f"ALISS's whole category tree and loads it with every ALISS import; import services from {EXPORT}")
        if items and all({"code", "type"} <= set(item) and "id" not in item for item in items):
            raise ImportFileError(
                f"{where} is ALISS's list of service areas (/api/v4/service-areas/), not services: each service "
                f"brings its own areas; import services from {EXPORT}")
        if len(items) != len(body):
            raise ImportFileError(f"{where}: an item of data is not a record: is it an ALISS page? "
                                  f"nothing was imported")
        return Response(where, "page", meta, [(item, _summary(item)) for item in items],
                        count=_count(data.get("count")), next=_link(data.get("next")),
                        previous=_link(data.get("previous")))
    if isinstance(body, dict) and isinstance(body.get("services"), list):
        services = [s for s in body["services"] if isinstance(s, dict)]
        return Response(where, "organisation", meta, [(s, body) for s in services], organisation=body)
    if isinstance(body, dict) and ({"categories", "organisation", "locations", "service_areas"} & set(body)):
        return Response(where, "service", meta, [(body, _summary(body))])
    raise ImportFileError(f"{where} is an ALISS answer but holds no services (a page, a service or an "
                          f"organisation): nothing was imported")


def _summary(service: dict[str, Any]) -> dict[str, Any] | None:
    organisation = service.get("organisation")
    return organisation if isinstance(organisation, dict) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _link(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _narrowed(address: str) -> bool:
    asked = {key.lower() for key, _ in parse_qsl(urlsplit(address).query, keep_blank_values=True)}
    return bool(asked - PAGING)


def whole_export(responses: list[Response], address: str | None = None) -> tuple[bool, str]:
    """Whether the answers hold every service ALISS lists, and why (or why not).

    Only then may records ALISS no longer lists be marked so: a chain of pages that ends
    (next = null), starts (previous = null), agrees on ``count`` and holds that many services,
    from an unfiltered listing."""
    if any(r.kind != "page" for r in responses):
        return False, "one service or organisation, not a listing"
    links = [address] if address else []
    links += [link for r in responses for link in (r.next, r.previous) if link]
    if any(_narrowed(link) for link in links):
        return False, "a search or a filtered listing"
    if address and any(key.lower() == "page" and value not in ("", "1") for key, value in
                       parse_qsl(urlsplit(address).query)):
        return False, "it starts after the first page"
    if sum(1 for r in responses if r.next is None) != 1:
        return False, "the chain of pages does not end here (a page's next is missing)"
    if sum(1 for r in responses if r.previous is None) != 1:
        return False, "the chain of pages does not start here (the first page is missing)"
    counts = {r.count for r in responses}
    ids = {str(s.get("id")).strip().lower() for r in responses for s, _ in r.services}
    if len(counts) != 1 or None in counts:
        return False, "the pages do not agree on how many services there are"
    count = counts.pop()
    if len(ids) != count:
        return False, f"{len(ids):,} services where ALISS counts {count:,}"
    return True, f"{count:,} services, as ALISS counts them"


def _source(responses: list[Response], complete: bool) -> Source:
    licence = next((r.meta["licence"] for r in responses if isinstance(r.meta.get("licence"), str)
                    and r.meta["licence"].strip()), None)
    lines = [ATTRIBUTION]
    for response in responses:
        for item in response.meta.get("attribution") or []:
            text = item.get("text") if isinstance(item, dict) else None
            if isinstance(text, str) and text.strip() and text.strip() not in lines:
                lines.append(text.strip())
    return Source(key="aliss", label="ALISS", kind="aliss", url="https://www.aliss.org", licence=licence,
                  attribution=tuple(lines), complete=complete)


# --- ALISS records -> Open Referral rows ----------------------------------------------------


def _newer(candidate: dict[str, Any], kept: dict[str, Any]) -> bool:
    return str(candidate.get("last_updated") or "") > str(kept.get("last_updated") or "")


def _fill(first: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``first``, with what it leaves empty taken from ``other``."""
    merged = dict(first)
    for key, value in other.items():
        if merged.get(key) in (None, "", [], {}):
            merged[key] = value
    return merged


def _is_full(organisation: dict[str, Any]) -> bool:
    return bool({"last_edited", "services", "description"} & set(organisation))


@dataclass
class _Mapper:
    """Turns ALISS's services into Open Referral rows, noting what it could not keep."""

    report: ImportReport
    records: Records = field(default_factory=Records)
    older: dict[str, str] = field(default_factory=dict)  # category slugs not in today's tree -> name
    used: set[str] = field(default_factory=set)  # category slugs used
    features_unknown: set[str] = field(default_factory=set)
    groups_unknown: set[str] = field(default_factory=set)
    not_kept: set[str] = field(default_factory=set)
    fixed_web: int = 0
    repeated: int = 0
    updated_at: dict[str, dt.date] = field(default_factory=dict)  # location id -> newest service date

    def map(self, responses: list[Response]) -> Records:
        services, organisations = self._collect(responses)
        for raw in organisations.values():
            self._organisation(raw)
        # Oldest first, so a location two services give is kept as the newer one has it.
        for raw, organisation_id in sorted(services.values(), key=lambda pair: str(pair[0].get("last_updated") or "")):
            self._service(raw, organisation_id)
        for raw in organisations.values():
            for location in raw.get("locations") or []:  # ALISS 2024: an organisation's venues
                if isinstance(location, dict):
                    self._location(location, self._id(raw), None, None)
        self._taxonomies()
        self._notes(responses)
        return self.records

    # -- collecting: one copy of each service and organisation --

    def _collect(self, responses: list[Response]) -> tuple[dict[str, tuple[dict[str, Any], str | None]],
                                                         dict[str, dict[str, Any]]]:
        services: dict[str, tuple[dict[str, Any], str | None]] = {}
        organisations: dict[str, dict[str, Any]] = {}
        for response in responses:
            for position, (raw, organisation) in enumerate(response.services, start=1):
                self.report.read += 1
                service_id = self._id(raw)
                if service_id is None or not self._text_of(raw.get("name")):
                    what = "no id" if service_id is None else "no name"
                    self._reject(f"a service with {what}", f"{response.where} service {position}")
                    continue
                organisation_id = self._id(organisation) if organisation else None
                if organisation and organisation_id:
                    kept = organisations.get(organisation_id)
                    if kept is None:
                        organisations[organisation_id] = organisation
                    elif _is_full(organisation) and not _is_full(kept):
                        organisations[organisation_id] = _fill(organisation, kept)
                    else:
                        organisations[organisation_id] = _fill(kept, organisation)
                if service_id not in services:
                    services[service_id] = (raw, organisation_id)
                    continue
                self.repeated += 1
                kept_raw, kept_org = services[service_id]
                if _newer(raw, kept_raw):
                    services[service_id] = (_fill(raw, kept_raw), organisation_id or kept_org)
                else:
                    services[service_id] = (_fill(kept_raw, raw), kept_org or organisation_id)
        return services, organisations

    def _reject(self, reason: str, where: str) -> None:
        self.report.rejected[reason] += 1
        if len(self.report.examples) < 5:
            self.report.examples.append(f"{where}: {reason}")

    # -- values --

    def _text_of(self, value: Any) -> str | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return None
        cleaned = self.records.dropped.clean(value).strip()
        return cleaned or None

    def _id(self, raw: dict[str, Any] | None) -> str | None:
        text = self._text_of(raw.get("id")) if raw else None
        return text.lower() if text else None

    def _value(self, table: str, column: str, value: Any, where: str) -> Any:
        """A value that keeps its column's rule (assetmap.fields), or None and a line saying so."""
        if isinstance(value, (dict, list)):
            self.records.left_out.append(f"{where}: {column} is a {type(value).__name__}, not text; left out")
            return None
        text = self._text_of(value)
        if text is None:
            return None
        if (table, column) in (("service", "url"), ("organization", "website")) and _BARE_WEB.match(text):
            text = "http://" + text  # ALISS keeps addresses as typed: "www.example.org"
            self.fixed_web += 1
        if (table, column) in (("service", "email"), ("organization", "email")) and text.lower().startswith("mailto:"):
            text = text[len("mailto:"):]
        try:
            return fields.column_rule(table, column)(text)
        except fields.FieldProblem as problem:
            self.records.left_out.append(fields.left_out(where, column, problem))
            return None

    def _referral(self, value: Any, where: str) -> str | None:
        """ALISS's referral address as how to get in (application_process): where a professional
        refers the person (search.getting_in reads it as "Referral needed")."""
        url = self._value("service", "url", value, where)
        return f"Referral through ALISS's referral link: {url}" if url else None

    def _moment(self, value: Any, where: str, column: str) -> dt.datetime | None:
        text = self._text_of(value)
        if text is None:
            return None
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.records.left_out.append(f"{where}: {column} {text[:40]!r} is not a date and time; left out")
            return None
        return moment.astimezone(dt.timezone.utc) if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)

    def _keep(self, table: str, row: dict[str, Any], raw: dict[str, Any], mapped: Iterable[str]) -> None:
        self.records.rows[table][row["id"]] = row
        self.not_kept |= {f"{table}.{key}" for key in set(raw) & NOT_KEPT if raw[key] not in (None, "", [], {})}
        unknown = set(raw) - set(mapped) - NOT_KEPT
        self.not_kept |= {f"{table}.{key}" for key in unknown if raw[key] not in (None, "", [], {})}

    # -- records --

    def _organisation(self, raw: dict[str, Any]) -> None:
        organisation_id = self._id(raw)
        assert organisation_id is not None
        where = f"organisation {organisation_id}"
        name = self._value("organization", "name", raw.get("name"), where)
        if name is None:
            self.records.left_out.append(f"{where}: has no name; its services are kept without it")
            return
        row: dict[str, Any] = {"id": organisation_id, "name": name}
        if _is_full(raw):  # a summary inside a service says only who; a full record says the rest
            row |= {"description": self._value("organization", "description", raw.get("description"), where),
                    "website": self._value("organization", "website", raw.get("url"), where),
                    "email": self._value("organization", "email", raw.get("email"), where)}
            self._phone(raw.get("phone"), "organization_id", organisation_id, where)
        edited = self._moment(raw.get("last_edited"), where, "last_edited")
        self._keep("organization", row, raw, ("id", "name", "description", "url", "email", "phone",
                                              "last_edited", "services", "locations"))
        self.records.provenance.origins[("organization", organisation_id)] = Origin(
            source_record_id=organisation_id, source_updated=edited.date() if edited else None)

    def _service(self, raw: dict[str, Any], organisation_id: str | None) -> None:
        service_id = self._id(raw)
        assert service_id is not None
        where = f"service {service_id} {str(raw.get('name'))[:40]!r}"
        if organisation_id not in self.records.rows["organization"]:
            organisation_id = None
        updated = self._moment(raw.get("last_updated"), where, "last_updated")
        reviewed = self._moment(raw.get("last_reviewed"), where, "last_reviewed")  # ALISS 2024
        checked = max((m for m in (updated, reviewed) if m), default=None)
        row = {"id": service_id, "organization_id": organisation_id, "status": "active",
               "name": self._value("service", "name", raw.get("name"), where),
               "description": self._value("service", "description", raw.get("description"), where),
               "url": self._value("service", "url", raw.get("url"), where),
               "email": self._value("service", "email", raw.get("email"), where),
               "assured_date": checked.date() if checked else None, "last_modified": updated,
               "application_process": self._referral(raw.get("referral_url"), where)}
        if row["name"] is None:
            self._reject("a service whose name breaks its rule", where)
            return
        self._keep("service", row, raw, ("id", "name", "description", "url", "email", "phone", "last_updated",
                                         "referral_url",
                                         "last_reviewed", "organisation", "categories", "service_areas",
                                         "locations", "accessibility_features", "community_groups"))
        self.records.provenance.origins[("service", service_id)] = Origin(
            source_record_id=service_id, source_updated=checked.date() if checked else None)
        self._phone(raw.get("phone"), "service_id", service_id, where)
        locations = [loc for loc in raw.get("locations") or [] if isinstance(loc, dict)]
        location_ids = [self._location(loc, organisation_id, service_id, checked) for loc in locations]
        for location_id in filter(None, location_ids):
            link_id = taxonomy.stable_id("service_at_location", f"aliss:{service_id}:{location_id}")
            self.records.rows["service_at_location"][link_id] = {"id": link_id, "service_id": service_id,
                                                                 "location_id": location_id}
        self._categories(raw.get("categories"), service_id)
        self._areas(raw.get("service_areas"), service_id, where)
        self._features(raw.get("accessibility_features"), [i for i in location_ids if i], where)
        self._groups(raw.get("community_groups"), service_id)

    def _phone(self, number: Any, pointer: str, owner: str, where: str) -> None:
        text = self._value("phone", "number", number, where)
        if text:
            phone_id = taxonomy.stable_id("phone", f"aliss:{owner}")
            self.records.rows["phone"][phone_id] = {"id": phone_id, pointer: owner, "number": text}

    def _location(self, raw: dict[str, Any], organisation_id: str | None, service_id: str | None,
                  checked: dt.datetime | None) -> str | None:
        location_id = self._id(raw)
        if location_id is None:
            self.records.left_out.append(f"service {service_id}: a location without an id; left out")
            return None
        where = f"location {location_id}"
        latitude, longitude = self._coordinates(raw, where)
        row = {"id": location_id, "location_type": "physical", "organization_id": organisation_id,
               "name": self._value("location", "name", raw.get("name"), where),
               "description": self._value("location", "description", raw.get("description"), where),
               "latitude": latitude, "longitude": longitude}
        self._keep("location", row, raw, ("id", "name", "description", "latitude", "longitude", "street_address",
                                          "locality", "region", "state", "postal_code", "country"))
        address = {"address_1": self._value("address", "address_1", raw.get("street_address"), where),
                   "city": self._value("address", "city", raw.get("locality"), where),
                   "region": self._value("address", "region", raw.get("region"), where),
                   "state_province": self._value("address", "state_province", raw.get("state"), where),
                   "postal_code": self._value("address", "postal_code", raw.get("postal_code"), where),
                   "country": self._value("address", "country", raw.get("country"), where)}
        if not any(address.values()):  # only the one line ALISS shows
            address["address_1"] = self._value("address", "address_1", raw.get("formatted_address"), where)
        if any(address.values()):
            address_id = taxonomy.stable_id("address", f"aliss:{location_id}")
            self.records.rows["address"][address_id] = {"id": address_id, "location_id": location_id,
                                                        "address_type": "physical", **address}
        if checked and (location_id not in self.updated_at or self.updated_at[location_id] < checked.date()):
            self.updated_at[location_id] = checked.date()
        self.records.provenance.origins[("location", location_id)] = Origin(
            source_record_id=location_id, source_updated=self.updated_at.get(location_id))
        return location_id

    def _coordinates(self, raw: dict[str, Any], where: str) -> tuple[float | None, float | None]:
        """Both or neither: a location with one bad coordinate keeps its address, unplaced."""
        found: list[float | None] = []
        for column, rule in (("latitude", fields.latitude), ("longitude", fields.longitude)):
            value = raw.get(column)
            if value in (None, ""):
                found.append(None)
                continue
            try:
                found.append(rule(value))
            except fields.FieldProblem as problem:
                self.records.left_out.append(fields.left_out(where, column, problem))
                found.append(None)
        if None in found:
            if any(v is not None for v in found):
                self.records.left_out.append(f"{where}: latitude and longitude need each other; both left out")
            return None, None
        return found[0], found[1]

    def _categories(self, given: Any, service_id: str) -> None:
        for category in given or []:
            if not isinstance(category, dict):
                continue
            name = self._text_of(category.get("name"))
            slug = (self._text_of(category.get("slug")) or "").lower() or (
                "-".join(re.findall(r"[a-z0-9]+", name.lower())) if name else "")
            if not slug:
                continue
            self.used.add(slug)
            if slug not in taxonomy.aliss_lists().by_slug:
                self.older.setdefault(slug, name or slug)
            attribute_id = taxonomy.stable_id("attribute", f"aliss:{service_id}:{slug}")
            self.records.rows["attribute"][attribute_id] = {
                "id": attribute_id, "link_id": service_id, "link_entity": "service", "link_type": "category",
                "taxonomy_term_id": taxonomy.aliss_category_id(slug), "label": name}

    def _areas(self, given: Any, service_id: str, where: str) -> None:
        for area in given or []:
            if not isinstance(area, dict):
                continue
            code = (self._text_of(area.get("code")) or "").upper() or None
            name = self._value("service_area", "name", area.get("name"), where)
            if not (code or name):
                continue
            kind = self._text_of(area.get("type"))
            area_id = taxonomy.stable_id("service_area", f"aliss:{service_id}:{code or name}")
            self.records.rows["service_area"][area_id] = {
                "id": area_id, "service_id": service_id, "name": name, "service_area": name,
                "description": AREA_TYPES.get(kind or "", kind), "uri": GSS_URI.format(code=code) if code else None}

    def _features(self, given: Any, location_ids: list[str], where: str) -> None:
        """ALISS 2024's accessibility features: on the venue they name, else on each of the service's."""
        for item in given or []:
            if not isinstance(item, dict):
                continue
            feature = taxonomy.aliss_feature(self._text_of(item.get("slug")), self._text_of(item.get("name")))
            if feature is None:
                self.features_unknown.add(self._text_of(item.get("name")) or str(item.get("slug")))
                continue
            named = (self._text_of(item.get("location_id")) or "").lower()
            at = [named] if named in location_ids else location_ids
            if not at:
                self.records.left_out.append(f"{where}: accessibility {feature.name!r} but no venue to hold it; "
                                             f"left out")
            details = self._value("accessibility", "details", item.get("additional_info"), where)
            for location_id in at:
                row_id = taxonomy.stable_id("accessibility", f"aliss:{location_id}:{feature.slug}")
                self.records.rows["accessibility"][row_id] = {
                    "id": row_id, "location_id": location_id, "description": feature.name, "details": details}

    def _groups(self, given: Any, service_id: str) -> None:
        """ALISS 2024's "who it is for": links to ALISS's groups (their age range, if any, as the value)."""
        for item in given or []:
            if not isinstance(item, dict):
                continue
            group = taxonomy.aliss_group(self._text_of(item.get("slug")), self._text_of(item.get("name")))
            if group is None:
                self.groups_unknown.add(self._text_of(item.get("name")) or str(item.get("slug")))
                continue
            ages = None
            if item.get("is_range") is True and isinstance(item.get("min"), int) and isinstance(item.get("max"), int):
                ages = f"{item['min']}-{item['max']}"
            attribute_id = taxonomy.stable_id("attribute", f"aliss:{service_id}:group:{group.slug.lower()}")
            self.records.rows["attribute"][attribute_id] = {
                "id": attribute_id, "link_id": service_id, "link_entity": "service", "link_type": "who_it_is_for",
                "taxonomy_term_id": taxonomy.aliss_group_id(group.slug), "label": group.name, "value": ages}

    def _taxonomies(self) -> None:
        for table, rows in taxonomy.aliss_taxonomy_rows(self.older).items():
            for row in rows:
                self.records.rows[table][row["id"]] = row

    # -- the report --

    def _notes(self, responses: list[Response]) -> None:
        rows, notes = self.records.rows, self.report.notes
        organisations = len(rows.get("organization", {}))
        areas = len(rows.get("service_area", {}))
        notes.append(f"{organisations:,} organisations, {areas:,} service areas, {len(self.used):,} ALISS "
                     f"categories used")
        if self.repeated:
            notes.append(f"{self.repeated:,} services given more than once: the most recently updated copy kept")
        matched = {slug: taxonomy.aliss_category(slug, name) for slug, name in sorted(self.older.items())}
        known = {slug: today.slug for slug, today in matched.items() if today}
        if known:
            notes.append("older ALISS category slugs read as today's: "
                         + ", ".join(f"{old} -> {new}" for old, new in known.items()))
        unmapped = [slug for slug, today in matched.items() if today is None]
        if unmapped:
            notes.append("unmapped ALISS categories (not in ALISS's tree today, and no category has their words; "
                         "kept, matched by name only; add them to aliss-crosswalk.toml): " + ", ".join(unmapped))
        crosswalk = taxonomy.aliss_crosswalk()
        meets_none = sorted(s for s in self.used if crosswalk.get(known.get(s, s), None) == ())
        if meets_none:
            notes.append("ALISS categories that meet none of assetmap's needs (see aliss-crosswalk.toml): "
                         + ", ".join(meets_none))
        for what, names in (("accessibility features", self.features_unknown), ("groups", self.groups_unknown)):
            if names:
                notes.append(f"{what} not in ALISS's list, left out: {', '.join(sorted(names))}")
        if self.fixed_web:
            notes.append(f"{self.fixed_web:,} web addresses without http:// given it")
        if self.not_kept:
            notes.append("ALISS fields with no Open Referral place, not kept: " + ", ".join(sorted(self.not_kept)))
        notes.extend(self.records.dropped.notes())
        notes.extend(self.records.left_out_lines())
