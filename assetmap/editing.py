"""Keeping the directory current by hand: edits, verification, status, the review queue, the audit log.

A service is edited as one form (the service, where and when it runs, how to get
in touch, what it costs, which needs it meets, the venue's accessibility and who it
is for, in ALISS's words: assetmap.taxonomy.aliss_venue_features and aliss_lists().groups).
Tags the form does not show (a source's own categories, such as ALISS's) are kept as
they are. Every change is written to the
audit log field by field. Two people editing the same service: the second save
is refused with the other person's values (compare-and-set on ``last_modified``),
so nothing is silently overwritten and the second person's input is kept.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update

from assetmap import backends, changes, fields, reports, taxonomy
from assetmap.db import writing
from assetmap.errors import AssetmapError
from assetmap.geography import PostcodeNotFound, lookup
from assetmap.models import (
    Accessibility,
    Address,
    Attribute,
    AuditEntry,
    CostOption,
    DataSource,
    Location,
    Organization,
    Phone,
    RecordSource,
    Schedule,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
)
from assetmap.postcodes import PostcodeError
from assetmap.provenance import EDITOR
from assetmap.quality import STALE_AFTER

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ATTENDING = {"in_person": "In person", "online": "Online", "phone": "By phone"}
FIELDS = ("name", "description", "organization", "status", "url", "email", "phone", "minimum_age",
          "maximum_age", "cost", "location_name", "address", "postcode", "latitude", "longitude",
          "days", "opens_at", "closes_at", "when", "attending", "needs", "access", "who", "how_in",
          "application_process", "eligibility")
# The fields a form sends as several values (checkboxes).
LISTS = ("days", "attending", "needs", "access", "who")
# How to get in, as the form offers it: stored at the start of Service.application_process in
# these words ("Referral needed: ask your GP for a voucher"), which search reads back as the
# same three kinds. Text that does not start so (an import's own words) is kept as it came.
HOW_IN = {"drop-in": "Drop in", "phone-first": "Phone first", "referral": "Referral needed"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


class EditError(AssetmapError):
    """The form cannot be saved as it is; ``problems`` says which field and why."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


class ConflictError(AssetmapError):
    """Someone else saved the record since this form was opened."""

    def __init__(self, current: dict[str, Any], version: str) -> None:
        self.current = current
        self.version = version
        super().__init__("someone else has saved this service since you opened it: "
                         "compare their version with yours and save again")


@dataclass
class Form:
    values: dict[str, Any] = field(default_factory=dict)
    version: str = ""


def _version(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def how_in(process: str | None) -> tuple[str, str]:
    """Application process text as the form's choice (a HOW_IN key, or "") and its own words."""
    text = process or ""
    for key, label in HOW_IN.items():
        if text == label:
            return key, ""
        if text.startswith(label + ": ") and text[len(label) + 2:][:1].strip():
            return key, text[len(label) + 2:]
    return "", text


def _application_process(choice: str | None, words: str | None) -> str | None:
    """The choice and the words as one text, the way how_in() reads it back."""
    if not choice:
        return words or None
    return f"{HOW_IN[choice]}: {words}" if words else HOW_IN[choice]


def service_form(conn: Connection, service_id: str) -> Form | None:
    """The current values of a service as the edit form shows them."""
    service = conn.execute(select(Service.__table__).where(Service.id == service_id)).first()
    if service is None:
        return None
    org = conn.execute(select(Organization.name).where(Organization.id == service.organization_id)).scalar()
    place = conn.execute(select(Location.__table__).join(
        ServiceAtLocation, ServiceAtLocation.location_id == Location.id).where(
        ServiceAtLocation.service_id == service_id).order_by(Location.id)).first()
    address = conn.execute(select(Address.address_1, Address.postal_code).where(
        Address.location_id == place.id)).first() if place else None
    schedule = conn.execute(select(Schedule.__table__).where(Schedule.service_id == service_id)
                            .order_by(Schedule.id)).first()
    phone = conn.execute(select(Phone.number).where(Phone.service_id == service_id).order_by(Phone.id)).scalar()
    cost = conn.execute(select(CostOption.amount).where(CostOption.service_id == service_id)
                        .order_by(CostOption.id)).scalar()
    vocabulary = taxonomy.load()
    codes = {t.id: t.slug for t in vocabulary.terms}
    tagged = set(conn.execute(select(Attribute.taxonomy_term_id).where(Attribute.link_id == service_id)).scalars())
    needs = sorted(codes[i] for i in tagged if i in codes)
    groups = [g.slug for g in taxonomy.aliss_lists().groups if taxonomy.aliss_group_id(g.slug) in tagged]
    unmanaged = tagged - set(codes) - {taxonomy.aliss_group_id(g.slug) for g in taxonomy.aliss_lists().groups}
    categories = sorted(set(conn.execute(select(TaxonomyTerm.name).where(
        TaxonomyTerm.id.in_(sorted(unmanaged)))).scalars())) if unmanaged else []
    access = _venue_features(conn, place.id) if place else []
    choice, words = how_in(service.application_process)
    attending = []
    if schedule and schedule.attending_type:
        attending = [k for k in ATTENDING if k in schedule.attending_type]
    values = {
        "name": service.name, "description": service.description, "organization": org, "status": service.status,
        "url": service.url, "email": service.email, "phone": phone,
        "minimum_age": service.minimum_age, "maximum_age": service.maximum_age,
        "cost": cost if cost is not None else service.fees_description,
        "location_name": place.name if place else None, "address": address.address_1 if address else None,
        "postcode": address.postal_code if address else None,
        "latitude": place.latitude if place else None, "longitude": place.longitude if place else None,
        "days": [d for d in DAYS if schedule and schedule.byday and d in schedule.byday.split(",")],
        "opens_at": schedule.opens_at if schedule else None, "closes_at": schedule.closes_at if schedule else None,
        "when": schedule.description if schedule else None, "attending": attending, "needs": needs,
        "access": access, "who": groups, "categories": categories,
        "how_in": choice, "application_process": words, "eligibility": service.eligibility_description,
        "assured_date": service.assured_date.isoformat() if service.assured_date else None,
    }
    return Form({k: v for k, v in values.items()}, _version(service.last_modified))


def _venue_features(conn: Connection, location_id: str) -> list[str]:
    """Slugs of the venue's accessibility that is one of the features the form offers."""
    named = set(conn.execute(select(Accessibility.description).where(Accessibility.location_id == location_id)).scalars())
    return [f.slug for f in taxonomy.aliss_venue_features() if f.name in named]


def _chosen(value: Any, known: list[str], what: str, key: str, problems: dict[str, str]) -> list[str]:
    """The ticked values that the list knows, in its order; an unknown one is a problem."""
    given = value if isinstance(value, list) else [value] if value else []
    unknown = [v for v in given if v not in known]
    if unknown:
        problems[key] = f"unknown {what} {str(unknown[0])[:40]!r}: tick one of the list"
    return [k for k in known if k in given]


def _squashed(postcode: Any) -> str:
    return re.sub(r"\s+", "", str(postcode or "")).upper()


def _check(conn: Connection, raw: dict[str, Any], before: dict[str, Any] | None = None) -> dict[str, Any]:
    """Clean and check what the form sent; EditError names every field that is wrong.

    A new postcode with the pin where it was (``before``: the saved values) moves the pin to
    the postcode, as the form's script does at once: the same without JavaScript."""
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key in FIELDS:
        value = raw.get(key)
        if isinstance(value, str):
            value = value.strip() or None
        values[key] = value
    for key, rule in fields.FORM.items():
        try:
            rule(values[key])
        except fields.FieldProblem as exc:
            problems[key] = f"{exc.reason}: {exc.advice}"
    if not values["name"]:
        problems["name"] = "give the service a name"
    for key in ("application_process", "eligibility"):
        try:
            fields.text(fields.TEXT_LENGTH)(values[key])
        except fields.FieldProblem as exc:
            problems[key] = f"{exc.reason}: {exc.advice}"
    if values["how_in"] not in (None, *HOW_IN):
        problems["how_in"] = "choose drop in, phone first, referral needed, or not said"
        values["how_in"] = None
    if values["status"] not in ("active", "inactive", "defunct", "temporarily closed"):
        problems["status"] = "choose a status"
    for key in ("minimum_age", "maximum_age"):
        try:
            values[key] = fields.age(values[key])
        except fields.FieldProblem as exc:
            problems[key] = f"{exc.reason}: {exc.advice}"
    if (values["minimum_age"] is not None and values["maximum_age"] is not None
            and "minimum_age" not in problems and "maximum_age" not in problems
            and values["minimum_age"] > values["maximum_age"]):
        problems["maximum_age"] = "is below the minimum age: swap them, or leave one empty"
    for key in ("opens_at", "closes_at"):
        if values[key] and not _TIME.match(values[key]):
            problems[key] = "give a time as HH:MM, e.g. 10:30"
    days = values["days"] or []
    values["days"] = [d for d in DAYS if d in (days if isinstance(days, list) else [days])]
    attending = values["attending"] or []
    values["attending"] = [a for a in ATTENDING if a in (attending if isinstance(attending, list) else [attending])]
    vocabulary = taxonomy.load()
    needs = values["needs"] or []
    needs = needs if isinstance(needs, list) else [needs]
    unknown = [n for n in needs if vocabulary.term(n) is None]
    if unknown:
        problems["needs"] = f"unknown need {unknown[0]!r}"
    values["needs"] = [n for n in needs if vocabulary.term(n)]
    values["access"] = _chosen(values["access"], [f.slug for f in taxonomy.aliss_venue_features()],
                               "accessibility feature", "access", problems)
    values["who"] = _chosen(values["who"], [g.slug for g in taxonomy.aliss_lists().groups], "group", "who",
                            problems)
    if "cost" not in problems:
        values["cost"] = fields.cost(values["cost"])  # checked above: 0.0, pounds, or words
    for key, rule in (("latitude", fields.latitude), ("longitude", fields.longitude)):
        try:
            values[key] = rule(values[key])
        except fields.FieldProblem as exc:
            problems[key] = f"{exc.reason}: {exc.advice}"
    if (values["latitude"] is None) != (values["longitude"] is None):
        problems["latitude"] = "give both latitude and longitude, or neither"
    if values["access"] and not (values["latitude"] is not None or values["address"] or values["postcode"]):
        problems["access"] = "accessibility is the venue's: give its address, postcode or place on the map"
    moved = (before is not None and _squashed(values["postcode"]) != _squashed(before.get("postcode"))
             and (values["latitude"], values["longitude"]) == (before.get("latitude"), before.get("longitude")))
    if values["postcode"] and (values["latitude"] is None or moved) and "latitude" not in problems:
        try:
            place = lookup(conn, values["postcode"])
            values["latitude"], values["longitude"] = place.latitude, place.longitude
            values["postcode"] = place.query
        except (PostcodeError, PostcodeNotFound) as exc:
            if values["latitude"] is None:
                problems["postcode"] = str(exc)
            # else the pin stays where it is: a postcode the directory lacks does not block a placed venue
    if problems:
        raise EditError(problems)
    return values


def save_service(engine: Engine, raw: dict[str, Any], user: str, service_id: str | None = None,
                 version: str = "") -> str:
    """Create (no ``service_id``) or update a service from the edit form; returns its id."""
    now = dt.datetime.now(dt.timezone.utc)
    opened_at = _parse_version(version) if version else None
    with writing(engine) as conn:
        before = service_form(conn, service_id) if service_id else None
        if service_id and before is None:
            raise EditError({"service": f"no service has the id {service_id}"})
        values = _check(conn, raw, before.values if before else None)
        org_id = _organisation(conn, values["organization"] or values["name"])
        columns = {"name": values["name"], "description": values["description"], "status": values["status"],
                   "url": values["url"], "email": values["email"], "minimum_age": values["minimum_age"],
                   "maximum_age": values["maximum_age"], "organization_id": org_id, "last_modified": now,
                   "fees_description": values["cost"] if isinstance(values["cost"], str) else None,
                   "application_process": _application_process(values["how_in"], values["application_process"]),
                   "eligibility_description": values["eligibility"]}
        if service_id is None:
            # Made by someone who knows it: verified when made, and that is where it came from.
            service_id = str(uuid.uuid4())
            conn.execute(Service.__table__.insert().values(
                id=service_id, assured_date=now.date(), assurer_email=user if _EMAIL.match(user) else None,
                **columns))
            _made_by_an_editor(conn, service_id, now)
            action = "create"
        else:
            assert before is not None
            guard = Service.last_modified.is_(None) if opened_at is None else Service.last_modified == opened_at
            changed = conn.execute(update(Service).where(Service.id == service_id, guard).values(**columns))
            if changed.rowcount != 1:
                current = service_form(conn, service_id)
                assert current is not None
                raise ConflictError(current.values, current.version)
            action = "update"
            # Whoever saves the service has looked at it: the problems reported are dealt with.
            reports.resolve_open(conn, service_id, user, action, now, "edited")
        _write_children(conn, service_id, org_id, values)
        after = service_form(conn, service_id)
        assert after is not None
        _audit(conn, now, user, action, service_id, before.values if before else {}, after.values)
        changes.bump(conn, changes.DIRECTORY, services=_sharing_venues(conn, service_id))
    return service_id


def _sharing_venues(conn: Connection, service_id: str) -> set[str]:
    """The service and every service at one of its venues: an edit to a venue shows in all of them."""
    venues = select(ServiceAtLocation.location_id).where(ServiceAtLocation.service_id == service_id)
    return {service_id, *conn.execute(select(ServiceAtLocation.service_id).where(
        ServiceAtLocation.location_id.in_(venues), ServiceAtLocation.service_id.is_not(None))).scalars()}


def _made_by_an_editor(conn: Connection, service_id: str, now: dt.datetime) -> None:
    backend = backends.of(conn)
    conn.execute(backend.insert(DataSource).values(key=EDITOR.key, label=EDITOR.label, kind=EDITOR.kind)
                 .on_conflict_do_nothing(index_elements=["key"]))
    conn.execute(RecordSource.__table__.insert().values(
        record_type="service", record_id=service_id, source_key=EDITOR.key, source_record_id=service_id,
        source_updated=now.date(), last_synced=now, listed=True))


def _parse_version(version: str) -> dt.datetime:
    """The moment the form was opened at, as the form's hidden ``version`` carries it."""
    try:
        moment = dt.datetime.fromisoformat(version)
    except ValueError:
        raise EditError({"version": f"the form's version {version[:40]!r} is not one assetmap wrote: "
                                    "open the service's edit page again and make the change there"}) from None
    return moment.replace(tzinfo=dt.timezone.utc)


def _organisation(conn: Connection, name: str) -> str:
    found = conn.execute(select(Organization.id).where(Organization.name == name).order_by(Organization.id)).first()
    if found:
        return str(found.id)
    new_id = str(uuid.uuid4())
    conn.execute(Organization.__table__.insert().values(id=new_id, name=name, description=""))
    return new_id


def _write_children(conn: Connection, service_id: str, org_id: str, values: dict[str, Any]) -> None:
    """Where, when, phone, cost and needs, as the form says: rows kept by id where they exist, so a
    record from a source stays that record and the next sync can tell what the editor changed."""
    location_ids = list(conn.execute(select(ServiceAtLocation.location_id).where(
        ServiceAtLocation.service_id == service_id).order_by(ServiceAtLocation.location_id)).scalars())
    location_id = location_ids[0] if location_ids else None
    placed = values["latitude"] is not None
    if placed or values["address"] or values["postcode"]:
        row = {"name": values["location_name"] or values["name"], "latitude": values["latitude"],
               "longitude": values["longitude"], "location_type": "physical", "organization_id": org_id}
        from assetmap.io.write import point_expression

        geom = point_expression(conn, values["longitude"], values["latitude"]) if placed else None
        if location_id is None:
            location_id = str(uuid.uuid4())
            conn.execute(Location.__table__.insert().values(id=location_id, geom=geom, **row))
            conn.execute(ServiceAtLocation.__table__.insert().values(
                id=str(uuid.uuid4()), service_id=service_id, location_id=location_id))
        else:
            conn.execute(update(Location).where(Location.id == location_id).values(geom=geom, **row))
        _keep_one(conn, Address, Address.location_id == location_id,
                  {"address_1": values["address"], "postal_code": values["postcode"]} if values["address"]
                  or values["postcode"] else None,
                  {"location_id": location_id, "country": "GB", "address_type": "physical"})
    _keep_one(conn, Schedule, Schedule.service_id == service_id, {
        "freq": "WEEKLY" if values["days"] else None, "byday": ",".join(values["days"]) or None,
        "opens_at": values["opens_at"], "closes_at": values["closes_at"], "description": values["when"],
        "attending_type": ",".join(values["attending"]) or None,
    } if values["days"] or values["when"] or values["attending"] else None, {"service_id": service_id})
    _keep_one(conn, Phone, Phone.service_id == service_id,
              {"number": values["phone"]} if values["phone"] else None, {"service_id": service_id})
    cost = values["cost"]
    _keep_one(conn, CostOption, CostOption.service_id == service_id, {
        "amount": cost, "currency": "GBP", "option": "Free" if cost == 0 else None,
    } if isinstance(cost, float) else None, {"service_id": service_id})
    if location_id is not None:
        _write_access(conn, location_id, values["access"])
    vocabulary = taxonomy.load()
    groups = {g.slug: g for g in taxonomy.aliss_lists().groups}
    if values["who"] and conn.execute(select(TaxonomyTerm.id).where(
            TaxonomyTerm.id == taxonomy.aliss_group_id(values["who"][0]))).first() is None:
        taxonomy.install_aliss(conn)  # the first "who it is for" in a directory that never imported ALISS
    # Only the tags the form shows are replaced, each kept by id where it stays: a source's own
    # categories stay as they came, and a sync can tell what the editor changed.
    wanted: dict[str, dict[str, Any]] = {}
    for term in (t for t in (vocabulary.term(slug) for slug in values["needs"]) if t is not None):
        wanted[term.id] = {"link_type": term.kind, "label": None}
    for slug in values["who"]:
        wanted[taxonomy.aliss_group_id(slug)] = {"link_type": "who_it_is_for", "label": groups[slug].name}
    shown = [t.id for t in vocabulary.terms] + [taxonomy.aliss_group_id(slug) for slug in groups]
    had = dict(conn.execute(select(Attribute.taxonomy_term_id, Attribute.id).where(
        Attribute.link_id == service_id, Attribute.taxonomy_term_id.in_(shown))).all())
    gone = [attribute for term_id, attribute in had.items() if term_id not in wanted]
    if gone:
        conn.execute(delete(Attribute).where(Attribute.id.in_(gone)))
    for term_id, extra in wanted.items():
        if term_id not in had:
            conn.execute(Attribute.__table__.insert().values(
                id=str(uuid.uuid4()), link_id=service_id, link_entity="service", taxonomy_term_id=term_id,
                **{k: v for k, v in extra.items() if v is not None}))


def _keep_one(conn: Connection, model: Any, where: Any, values: dict[str, Any] | None,
              new: dict[str, Any]) -> None:
    """The form holds one of these (one phone, one schedule): update the first row, drop the
    rest; add one if there was none; with ``values`` None, drop them all."""
    ids = list(conn.execute(select(model.id).where(where).order_by(model.id)).scalars())
    keep = ids[0] if ids and values is not None else None
    extra = [i for i in ids if i != keep]
    if extra:
        conn.execute(delete(model).where(model.id.in_(extra)))
    if values is None:
        return
    if keep is None:
        conn.execute(model.__table__.insert().values(id=str(uuid.uuid4()), **new, **values))
    else:
        changed = {k: v for k, v in values.items()}
        current = conn.execute(select(*[model.__table__.c[k] for k in changed]).where(model.id == keep)).one()
        if tuple(current) != tuple(changed.values()):
            conn.execute(update(model).where(model.id == keep).values(**changed))


def _write_access(conn: Connection, location_id: str, chosen: list[str]) -> None:
    """The venue's features as ticked; a feature kept keeps its details, other accessibility text stays."""
    features = {f.slug: f.name for f in taxonomy.aliss_venue_features()}
    held = _venue_features(conn, location_id)
    dropped = [features[slug] for slug in held if slug not in chosen]
    if dropped:
        conn.execute(delete(Accessibility).where(Accessibility.location_id == location_id,
                                                 Accessibility.description.in_(dropped)))
    for slug in chosen:
        if slug not in held:
            conn.execute(Accessibility.__table__.insert().values(
                id=str(uuid.uuid4()), location_id=location_id, description=features[slug]))


def _audit(conn: Connection, at: dt.datetime, user: str, action: str, service_id: str,
           before: dict[str, Any], after: dict[str, Any]) -> None:
    entries = []
    for key in FIELDS:
        old, new = _text(before.get(key)), _text(after.get(key))
        if old != new:
            entries.append({"at": at, "user": user, "action": action, "record_type": "service",
                            "record_id": service_id, "field": key, "old_value": old or None, "new_value": new or None})
    if entries:
        conn.execute(AuditEntry.__table__.insert(), entries)


def verify(engine: Engine, service_id: str, user: str, today: dt.date | None = None) -> int:
    """Someone checked the record today and it is right: its open problem reports are dealt
    with too. Returns how many reports that resolved."""
    day = today or dt.date.today()
    now = dt.datetime.now(dt.timezone.utc)
    with writing(engine) as conn:
        old = conn.execute(select(Service.assured_date).where(Service.id == service_id)).first()
        if old is None:
            raise EditError({"service": f"no service has the id {service_id}"})
        conn.execute(update(Service).where(Service.id == service_id).values(
            assured_date=day, assurer_email=user if _EMAIL.match(user) else None, last_modified=now))
        conn.execute(AuditEntry.__table__.insert().values(
            at=now, user=user, action="verify", record_type="service",
            record_id=service_id, field="assured_date", old_value=_text(old.assured_date) or None,
            new_value=day.isoformat()))
        resolved = reports.resolve_open(conn, service_id, user, "verify", now, "verified")
        changes.bump(conn, changes.DIRECTORY, services={service_id})
    return resolved


def set_status(engine: Engine, service_id: str, status: str, user: str) -> int:
    """A new status (closed, back open): the open problem reports are dealt with by it; returns how many."""
    if status not in ("active", "inactive", "defunct", "temporarily closed"):
        raise EditError({"status": f"{status!r} is not a status"})
    now = dt.datetime.now(dt.timezone.utc)
    with writing(engine) as conn:
        old = conn.execute(select(Service.status).where(Service.id == service_id)).scalar()
        if old is None:
            raise EditError({"service": f"no service has the id {service_id}"})
        conn.execute(update(Service).where(Service.id == service_id).values(status=status, last_modified=now))
        conn.execute(AuditEntry.__table__.insert().values(
            at=now, user=user, action="status", record_type="service",
            record_id=service_id, field="status", old_value=old, new_value=status))
        resolved = reports.resolve_open(conn, service_id, user, "status", now, "status changed")
        changes.bump(conn, changes.DIRECTORY, services={service_id})
    return resolved


@dataclass
class Queue:
    """What editors check, most urgent first: services people reported, then the long unverified."""

    reported: list[dict[str, Any]]
    stale: list[dict[str, Any]]


def review_queue(engine: Engine, today: dt.date | None = None, limit: int = 500) -> Queue:
    """Services with open problem reports (most reports first, then the longest waiting), each
    with its reports; then active services not verified for 12 months (or never), the longest
    unchecked first, leaving out those already listed as reported."""
    cutoff = (today or dt.date.today()) - STALE_AFTER
    columns = (Service.id, Service.name, Service.status, Service.assured_date,
               Organization.name.label("organization"))
    with engine.connect() as conn:
        held = reports.open_reports(conn)
        rows = conn.execute(select(*columns).outerjoin(Organization, Organization.id == Service.organization_id)
                            .where(Service.id.in_(sorted(held)))).all() if held else []
        reported = [{**r._mapping, "reports": held[r.id]} for r in rows]
        reported.sort(key=lambda s: (-len(s["reports"]), s["reports"][0].reported_at, s["name"]))
        stale = conn.execute(
            select(*columns).outerjoin(Organization, Organization.id == Service.organization_id)
            .where(Service.status == "active", Service.assured_date.is_(None) | (Service.assured_date < cutoff))
            .order_by(Service.assured_date.is_not(None), Service.assured_date, Service.name)
            .limit(limit + len(held))
        ).all()
    return Queue(reported, [dict(r._mapping) for r in stale if r.id not in held][:limit])


def audit_log(engine: Engine, record_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The changes, newest first, one entry per save (its field rows share the moment, the
    person and the record), each naming the service it changed and listing its fields."""
    keys = (AuditEntry.at, AuditEntry.user, AuditEntry.record_type, AuditEntry.record_id)
    saves = select(*keys).group_by(*keys).order_by(AuditEntry.at.desc()).limit(limit)
    if record_id:
        saves = saves.where(AuditEntry.record_id == record_id)
    with engine.connect() as conn:
        wanted = conn.execute(saves).all()
        if not wanted:
            return []
        rows = conn.execute(
            select(AuditEntry.__table__, Service.name.label("service_name"))
            .outerjoin(Service, (AuditEntry.record_type == "service") & (Service.id == AuditEntry.record_id))
            .where(AuditEntry.at >= min(w.at for w in wanted),
                   *([AuditEntry.record_id == record_id] if record_id else []))
            .order_by(AuditEntry.at.desc(), AuditEntry.id)).all()
    chosen = {tuple(w) for w in wanted}
    entries: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row.at, row.user, row.record_type, row.record_id)
        if key not in chosen:
            continue
        entry = entries.setdefault(key, {
            "at": row.at, "user": row.user, "record_type": row.record_type, "record_id": row.record_id,
            "name": row.service_name, "actions": [], "changes": []})
        if row.action not in entry["actions"]:
            entry["actions"].append(row.action)
        entry["changes"].append({"field": row.field, "old_value": row.old_value, "new_value": row.new_value,
                                 "action": row.action})
    return list(entries.values())
