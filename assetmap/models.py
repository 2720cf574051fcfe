"""The database tables.

The directory tables follow Open Referral UK 3.0 (the UK profile of HSDS 3.0):
table and field names are the standard's, so import and export are mappings, not
translations. Where HSDS 3.0 and ORUK differ, both fields are kept (e.g.
``service.fees`` and ``service.fees_description``). Each location also carries a
``geom`` point (WGS84, spatially indexed) kept equal to its latitude/longitude.

The geography tables (postcode, area, deprivation) are assetmap's own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

WGS84 = 4326
SERVICE_STATUSES = ("active", "inactive", "defunct", "temporarily closed")
LOCATION_TYPES = ("physical", "postal", "virtual")


class Base(DeclarativeBase):
    # Every model here maps one Table (DeclarativeBase types it as any FromClause), so
    # ``Model.__table__`` has Table's insert() and columns for the type checker too.
    __table__: ClassVar[Table]


def _parent(target: str, **kw: Any) -> Any:
    """A foreign key to the record this one belongs to, removed with it."""
    return mapped_column(ForeignKey(target, ondelete="CASCADE"), index=True, **kw)


def _link(_target: str) -> Any:
    """An id of another record that need not be in this directory.

    Open Referral records also point at organisations, locations, contacts or
    taxonomies published elsewhere (the standard's own examples do), so these
    links are kept as given and indexed, without a foreign key.
    """
    return mapped_column(String, index=True)


# --- Open Referral UK 3.0 -------------------------------------------------


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    alternate_name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(Text)
    tax_status: Mapped[str | None] = mapped_column(Text)
    tax_id: Mapped[str | None] = mapped_column(Text)
    year_incorporated: Mapped[int | None] = mapped_column(Integer)
    legal_status: Mapped[str | None] = mapped_column(Text)
    logo: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(Text)
    # Not a foreign key: directories name parents they do not include.
    parent_organization_id: Mapped[str | None] = mapped_column(String)

    services: Mapped[list[Service]] = relationship(back_populates="organization")


class OrganizationIdentifier(Base):
    __tablename__ = "organization_identifier"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    organization_id: Mapped[str | None] = _link("organization.id")
    identifier_scheme: Mapped[str | None] = mapped_column(Text)
    identifier_type: Mapped[str | None] = mapped_column(Text)
    identifier: Mapped[str | None] = mapped_column(Text)


class Program(Base):
    __tablename__ = "program"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    organization_id: Mapped[str | None] = _link("organization.id")
    name: Mapped[str | None] = mapped_column(Text)
    alternate_name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)


class Service(Base):
    __tablename__ = "service"
    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'inactive', 'defunct', 'temporarily closed')",
            name="service_status_known",
        ),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    organization_id: Mapped[str | None] = _parent("organization.id")
    program_id: Mapped[str | None] = mapped_column(ForeignKey("program.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(Text)
    alternate_name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    interpretation_services: Mapped[str | None] = mapped_column(Text)
    application_process: Mapped[str | None] = mapped_column(Text)
    fees: Mapped[str | None] = mapped_column(Text)  # ORUK
    fees_description: Mapped[str | None] = mapped_column(Text)  # HSDS
    wait_time: Mapped[str | None] = mapped_column(Text)
    accreditations: Mapped[str | None] = mapped_column(Text)
    licenses: Mapped[str | None] = mapped_column(Text)
    eligibility_description: Mapped[str | None] = mapped_column(Text)
    minimum_age: Mapped[float | None] = mapped_column(Float)
    maximum_age: Mapped[float | None] = mapped_column(Float)
    # When someone last checked the record is true: the "last verified" date.
    assured_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    assurer_email: Mapped[str | None] = mapped_column(Text)
    alert: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    organization: Mapped[Organization | None] = relationship(back_populates="services")
    service_at_locations: Mapped[list[ServiceAtLocation]] = relationship(
        back_populates="service", cascade="all, delete-orphan", passive_deletes=True
    )
    schedules: Mapped[list[Schedule]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True,
        primaryjoin="Service.id == Schedule.service_id",
    )
    cost_options: Mapped[list[CostOption]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class Location(Base):
    __tablename__ = "location"
    __table_args__ = (
        CheckConstraint(
            "location_type IN ('physical', 'postal', 'virtual')", name="location_type_known"
        ),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    location_type: Mapped[str] = mapped_column(String(10), default="physical")
    url: Mapped[str | None] = mapped_column(Text)
    organization_id: Mapped[str | None] = _link("organization.id")
    name: Mapped[str | None] = mapped_column(Text)
    alternate_name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    transportation: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    external_identifier: Mapped[str | None] = mapped_column(Text)
    external_identifier_type: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=WGS84, spatial_index=True)
    )

    service_at_locations: Mapped[list[ServiceAtLocation]] = relationship(
        back_populates="location", cascade="all, delete-orphan", passive_deletes=True
    )
    addresses: Mapped[list[Address]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


def point_wkt(longitude: float, latitude: float) -> str:
    """Extended WKT of a WGS84 point, for inserts on either backend."""
    return f"SRID={WGS84};POINT({longitude!r} {latitude!r})"


def placeable(latitude: float | None, longitude: float | None) -> bool:
    """Coordinates that can be a point on Earth (imports refuse others unless told to keep them)."""
    return (latitude is not None and longitude is not None
            and -90 <= latitude <= 90 and -180 <= longitude <= 180)


@event.listens_for(Location, "before_insert")
@event.listens_for(Location, "before_update")
def _location_point_follows_coordinates(_mapper: Any, _conn: Any, location: Location) -> None:
    if placeable(location.latitude, location.longitude):
        location.geom = point_wkt(location.longitude, location.latitude)  # type: ignore[arg-type,assignment]  # placeable() checked both; GeoAlchemy2 takes WKT
    else:
        location.geom = None


class Address(Base):
    __tablename__ = "address"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    location_id: Mapped[str | None] = _parent("location.id")
    attention: Mapped[str | None] = mapped_column(Text)
    address_1: Mapped[str | None] = mapped_column(Text)
    address_2: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(Text)
    state_province: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(Text)
    address_type: Mapped[str | None] = mapped_column(String(10))


class ServiceAtLocation(Base):
    __tablename__ = "service_at_location"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    service_id: Mapped[str] = _parent("service.id")
    location_id: Mapped[str] = _parent("location.id")
    description: Mapped[str | None] = mapped_column(Text)

    service: Mapped[Service] = relationship(back_populates="service_at_locations")
    location: Mapped[Location] = relationship(back_populates="service_at_locations")


class Contact(Base):
    __tablename__ = "contact"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    organization_id: Mapped[str | None] = _link("organization.id")
    service_id: Mapped[str | None] = _parent("service.id")
    service_at_location_id: Mapped[str | None] = _link("service_at_location.id")
    location_id: Mapped[str | None] = _link("location.id")
    name: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)


class Phone(Base):
    __tablename__ = "phone"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    location_id: Mapped[str | None] = _link("location.id")
    service_id: Mapped[str | None] = _parent("service.id")
    organization_id: Mapped[str | None] = _link("organization.id")
    contact_id: Mapped[str | None] = _link("contact.id")
    service_at_location_id: Mapped[str | None] = _link("service_at_location.id")
    number: Mapped[str] = mapped_column(Text)
    extension: Mapped[float | None] = mapped_column(Float)
    type: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)


class Schedule(Base):
    """When a service runs, in the iCalendar terms HSDS uses (freq, byday, ...)."""

    __tablename__ = "schedule"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    service_id: Mapped[str | None] = _parent("service.id")
    location_id: Mapped[str | None] = _link("location.id")
    service_at_location_id: Mapped[str | None] = _link("service_at_location.id")
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    dtstart: Mapped[dt.date | None] = mapped_column(Date)
    timezone: Mapped[float | None] = mapped_column(Float)
    until: Mapped[dt.date | None] = mapped_column(Date)
    count: Mapped[int | None] = mapped_column(Integer)
    wkst: Mapped[str | None] = mapped_column(String(2))
    freq: Mapped[str | None] = mapped_column(String(10))
    interval: Mapped[int | None] = mapped_column(Integer)
    byday: Mapped[str | None] = mapped_column(Text)
    byweekno: Mapped[str | None] = mapped_column(Text)
    bymonthday: Mapped[str | None] = mapped_column(Text)
    byyearday: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    opens_at: Mapped[str | None] = mapped_column(String(20))
    closes_at: Mapped[str | None] = mapped_column(String(20))
    schedule_link: Mapped[str | None] = mapped_column(Text)
    attending_type: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)


class CostOption(Base):
    __tablename__ = "cost_option"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    service_id: Mapped[str | None] = _parent("service.id")
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    option: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str | None] = mapped_column(String(3))
    amount: Mapped[float | None] = mapped_column(Float)
    amount_description: Mapped[str | None] = mapped_column(Text)


class Accessibility(Base):
    __tablename__ = "accessibility"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    location_id: Mapped[str | None] = _parent("location.id")
    description: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    accessibility: Mapped[str | None] = mapped_column(Text)  # ORUK


class ServiceArea(Base):
    __tablename__ = "service_area"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    service_id: Mapped[str | None] = _parent("service.id")
    name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    extent: Mapped[str | None] = mapped_column(Text)
    extent_type: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(Text)
    service_area: Mapped[str | None] = mapped_column(Text)  # ORUK
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=WGS84, spatial_index=True)
    )
    # assetmap's own: today's GSS code of the council area, health board or country the
    # service is delivered across, resolved from the record's words (see assetmap.service_areas).
    area_code: Mapped[str | None] = mapped_column(String(12), index=True)


class Language(Base):
    __tablename__ = "language"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    service_id: Mapped[str | None] = _parent("service.id")
    location_id: Mapped[str | None] = _link("location.id")
    phone_id: Mapped[str | None] = _link("phone.id")
    name: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class Funding(Base):
    __tablename__ = "funding"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    organization_id: Mapped[str | None] = _link("organization.id")
    service_id: Mapped[str | None] = _parent("service.id")
    source: Mapped[str | None] = mapped_column(Text)


class RequiredDocument(Base):
    __tablename__ = "required_document"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    service_id: Mapped[str | None] = _parent("service.id")
    document: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(Text)


class Taxonomy(Base):
    __tablename__ = "taxonomy"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(Text)


class TaxonomyTerm(Base):
    __tablename__ = "taxonomy_term"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    code: Mapped[str | None] = mapped_column(Text, index=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(String)  # may name a term of another file
    taxonomy: Mapped[str | None] = mapped_column(Text)
    taxonomy_id: Mapped[str | None] = _link("taxonomy.id")
    language: Mapped[str | None] = mapped_column(Text)
    term_uri: Mapped[str | None] = mapped_column(Text)
    term: Mapped[str | None] = mapped_column(Text)  # ORUK


class TermSynonym(Base):
    """Words people use for a taxonomy term ("lonely" for loneliness), for search."""

    __tablename__ = "term_synonym"

    term_id: Mapped[str] = mapped_column(ForeignKey("taxonomy_term.id", ondelete="CASCADE"), primary_key=True)
    synonym: Mapped[str] = mapped_column(Text, primary_key=True)


class Attribute(Base):
    """Links a taxonomy term to any record; for services, the needs they meet."""

    __tablename__ = "attribute"
    # link_id first: records are found by the id they describe (a handout, an API page).
    __table_args__ = (Index("ix_attribute_link", "link_id", "link_entity"),)

    id: Mapped[str] = mapped_column(String, primary_key=True)
    link_id: Mapped[str] = mapped_column(String)
    link_type: Mapped[str | None] = mapped_column(Text)
    link_entity: Mapped[str | None] = mapped_column(String(40))
    taxonomy_term_id: Mapped[str] = _parent("taxonomy_term.id")
    value: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)


class Metadata(Base):
    """HSDS change records: who changed which field of which record, and when."""

    __tablename__ = "metadata"
    __table_args__ = (Index("ix_metadata_resource", "resource_id", "resource_type"),)

    id: Mapped[str] = mapped_column(String, primary_key=True)
    resource_id: Mapped[str] = mapped_column(String)
    resource_type: Mapped[str] = mapped_column(String(40))
    last_action_date: Mapped[dt.date] = mapped_column(Date)
    last_action_type: Mapped[str] = mapped_column(String(20))
    field_name: Mapped[str | None] = mapped_column(Text)
    previous_value: Mapped[str | None] = mapped_column(Text)
    replacement_value: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(Text)


class MetaTableDescription(Base):
    """HSDS's description of a published table (its language and character set)."""

    __tablename__ = "meta_table_description"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(Text)
    character_set: Mapped[str | None] = mapped_column(Text)


# --- Geography (assetmap's own) ---------------------------------------------


class Postcode(Base):
    """A postcode unit from a postcode directory, live or terminated."""

    __tablename__ = "postcode"

    # Normalised: upper case, one space before the inward code ("G1 1AB").
    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)
    # Empty where the directory has no coordinates (Code-Point positional quality 90).
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=WGS84, spatial_index=True))
    # British National Grid, kept because analyses work in projected metres.
    easting: Mapped[float | None] = mapped_column(Float)
    northing: Mapped[float | None] = mapped_column(Float)
    positional_quality: Mapped[int | None] = mapped_column(Integer)
    country_code: Mapped[str | None] = mapped_column(String(9))
    district_code: Mapped[str | None] = mapped_column(String(9))
    # The small area (data zone, LSOA) the postcode lies in.
    area_code: Mapped[str | None] = mapped_column(String(12), index=True)
    # How area_code was found: the directory's own column or point-in-polygon.
    area_source: Mapped[str | None] = mapped_column(String(20))
    introduced: Mapped[dt.date | None] = mapped_column(Date)
    terminated: Mapped[dt.date | None] = mapped_column(Date)
    # Split postcodes straddle area boundaries; the directory says which part is largest.
    split: Mapped[bool | None] = mapped_column()
    # The large-user directory's link from a business postcode to a nearby small-user one.
    linked_postcode: Mapped[str | None] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(20))


class Area(Base):
    """A statistical area (e.g. a 2011 data zone) with its population."""

    __tablename__ = "area"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    area_type: Mapped[str] = mapped_column(String(30), index=True)
    population: Mapped[int | None] = mapped_column(Integer)
    # Parents used to aggregate (Scotland: intermediate zone, council area).
    intermediate_zone: Mapped[str | None] = mapped_column(Text, index=True)
    council_area: Mapped[str | None] = mapped_column(Text, index=True)
    boundary: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=WGS84, spatial_index=True)
    )
    centroid: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=WGS84, spatial_index=True)
    )


class Deprivation(Base):
    """An area's place in a deprivation index; 1 is the most deprived rank and decile."""

    __tablename__ = "deprivation"

    index_name: Mapped[str] = mapped_column(String(20), primary_key=True)  # "SIMD"
    index_year: Mapped[str] = mapped_column(String(10), primary_key=True)  # "2020v2"
    # Indexed on its own: a lookup asks for an area's ranks in every index (migration 0016).
    area_code: Mapped[str] = mapped_column(String(12), primary_key=True, index=True)
    rank: Mapped[int] = mapped_column(Integer)
    decile: Mapped[int | None] = mapped_column(Integer)
    quintile: Mapped[int | None] = mapped_column(Integer)
    vigintile: Mapped[int | None] = mapped_column(Integer)
    # Domain name -> rank (income, employment, health, education, access, crime, housing).
    domain_ranks: Mapped[dict[str, int] | None] = mapped_column(JSON)


class UnmetNeed(Base):
    """Searches that found nothing within reach: counts only, never who or where exactly.

    The area (a data zone) and the day are as fine as it gets; no postcode,
    coordinate or free text is ever written here.
    """

    __tablename__ = "unmet_need"

    need: Mapped[str] = mapped_column(String(60), primary_key=True)
    area_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, default=0)


class UnmetSearchSeen(Base):
    """That one searcher's unmet search for one need in one area was counted today.

    It lets the count go up once per searcher, need, area and day, however often the
    search is repeated. ``key`` is a hash of those four under a keyed token for the
    searcher, so who searched cannot be read back; rows from before today are deleted.
    """

    __tablename__ = "unmet_search_seen"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)


class ChangeCounter(Base):
    """A number bumped by every write to a part of the data, so caches know when to reload.

    The search keeps the directory and the postcodes in memory for speed; one
    indexed read of this table per search tells it whether they are still current.
    """

    __tablename__ = "change_counter"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)  # "directory", "postcodes"
    generation: Mapped[int] = mapped_column(Integer, default=0)


class DirectoryChange(Base):
    """Which services one bump of the directory's counter changed: a server process whose directory is
    a few generations behind re-reads only those (search.Searcher), not a million services. A row
    without a service says "too much to list": read everything again. Kept for the last
    changes.KEEP_CHANGES generations."""

    __tablename__ = "directory_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    generation: Mapped[int] = mapped_column(Integer, index=True)
    service_id: Mapped[str | None] = mapped_column(String)


class User(Base):
    """Someone who signs in: a viewer searches, an editor keeps the directory, an admin both and users."""

    __tablename__ = "app_user"
    __table_args__ = (CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="app_user_role_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(Text)
    # A salted, memory-hard hash (werkzeug's scrypt); never the password.
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(10), default="viewer")
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_login: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Every session cookie carries the generation it was signed in under; bumping it (signing
    # out, a new password, a new role, disabling) ends every session of the account at once.
    # It starts at a random number, so a cookie of a removed account never matches the
    # account that is given its number next (SQLite reuses the highest id).
    session_generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # A disabled account cannot sign in and its sessions are over; its audit trail stays.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One change to one field of one record: who, when, what it was and what it became."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    user: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(20))  # create, update, verify, status
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String)
    field: Mapped[str | None] = mapped_column(Text)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)


class FailedSignIn(Base):
    """A failed sign-in, kept for the brake's window (15 minutes) and then deleted.

    In the database, not in memory, so that every server process and a restart
    see the same count. ``key`` is an HMAC of the client's address (or address and
    email) under the app's secret: neither is ever stored as given.
    """

    __tablename__ = "failed_sign_in"
    __table_args__ = (Index("ix_failed_sign_in_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


# --- Provenance: where each record came from, and what its sources said ------------


class DataSource(Base):
    """A directory assetmap takes records from: ALISS, Give Food, a named spreadsheet, an editor.

    ``attribution`` holds the lines a licence asks to be shown with the data (CC BY for
    ALISS), shown on every page and export that carries the records.
    """

    __tablename__ = "data_source"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # "aliss", "givefood", "sheet:gp-list"
    label: Mapped[str] = mapped_column(Text)  # "ALISS", "Give Food", "gp-list.csv"
    kind: Mapped[str] = mapped_column(String(20))  # aliss, givefood, spreadsheet, open-referral, editor
    url: Mapped[str | None] = mapped_column(Text)
    licence: Mapped[str | None] = mapped_column(Text)
    attribution: Mapped[list[str] | None] = mapped_column(JSON)
    last_synced: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RecordSource(Base):
    """One record as one source gave it: its id there, its date there, and its values then.

    ``synced`` is the row as last imported from this source. A re-sync compares the
    stored row with it to tell a local edit (stored differs from synced) from a change at
    the source (new differs from synced), so an editor's change is never overwritten.
    """

    __tablename__ = "record_source"
    __table_args__ = (Index("ix_record_source_source", "source_key", "record_type"),)

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)  # a table: service, phone, ...
    record_id: Mapped[str] = mapped_column(String, primary_key=True)
    source_key: Mapped[str] = mapped_column(
        ForeignKey("data_source.key", ondelete="CASCADE"), primary_key=True)
    source_record_id: Mapped[str | None] = mapped_column(Text)
    # The source's own "last updated" or "last reviewed": what "last verified" means here.
    source_updated: Mapped[dt.date | None] = mapped_column(Date)
    last_synced: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # False once a complete export of the source no longer holds it: kept, for review.
    listed: Mapped[bool] = mapped_column(default=True)
    synced: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SyncConflict(Base):
    """A field an editor changed locally that its source has changed too: an editor settles it."""

    __tablename__ = "sync_conflict"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    record_id: Mapped[str] = mapped_column(String, primary_key=True)
    field: Mapped[str] = mapped_column(String(60), primary_key=True)
    source_key: Mapped[str] = mapped_column(
        ForeignKey("data_source.key", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[str | None] = mapped_column(String, index=True)  # whose page shows it
    local_value: Mapped[str | None] = mapped_column(Text)
    source_value: Mapped[str | None] = mapped_column(Text)
    found: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Duplicate(Base):
    """Two services that look like one (same name, same place) from different sources.

    While ``status`` is "suspected" search shows ``service_id`` only; an editor decides
    "merged" (``other_id`` stays hidden, its source still syncs) or "distinct" (both shown).
    """

    __tablename__ = "duplicate"
    __table_args__ = (
        CheckConstraint("status IN ('suspected', 'merged', 'distinct')", name="duplicate_status_known"),
    )

    service_id: Mapped[str] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), primary_key=True)
    other_id: Mapped[str] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), primary_key=True,
                                          index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="suspected")
    found: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# --- Reports of a problem with a service, for the review queue ---------------------


class ProblemReport(Base):
    """A signed-in person says a service is wrong (closed, moved, times, contact): an editor checks it.

    ``reporter`` is the staff account's email; nothing about the person they were seeing
    is asked for or kept (the form says so). ``resolved_at`` is set when an editor deals
    with it: a verification, a status change, a saved edit, or "dealt with".
    """

    __tablename__ = "problem_report"
    __table_args__ = (
        CheckConstraint("reason IN ('closed', 'moved', 'wrong-times', 'wrong-contact', 'other')",
                        name="problem_report_reason_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = _parent("service.id")
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    reporter: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(String(20))  # verified, status, edited, dealt with


# --- Proposals for new provision, from the planning tool -----------------------------


class PlanProposal(Base):
    """New sites a locality team proposed for a need, kept with the directory as it was.

    ``sites`` holds each proposed site (label, longitude, latitude, people newly reached);
    ``settings`` the question asked (reach, target group, candidates, sites asked for);
    ``directory`` what was there then (the ids of services meeting the need in the
    locality, the people in the target group with nothing in reach), so a later analysis
    can show what changed once a new group runs. Nothing about any person is kept.
    """

    __tablename__ = "plan_proposal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    need: Mapped[str] = mapped_column(String(60), index=True)
    locality: Mapped[str | None] = mapped_column(Text, index=True)  # a council code, or a locality's label
    title: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    sites: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    directory: Mapped[dict[str, Any]] = mapped_column(JSON)
    people_reached: Mapped[int] = mapped_column(Integer)
    made_by: Mapped[str] = mapped_column(Text)  # the staff account's email
    made_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
