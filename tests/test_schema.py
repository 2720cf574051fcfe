"""`assetmap init` creates, keeps and upgrades the schema on both backends."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from assetmap.db import connect, current_revision, head_revision, init_database
from assetmap.models import Organization, Service

# The Open Referral UK tables a directory needs, named as the standard names them.
ORUK_TABLES = {
    "organization", "service", "location", "service_at_location", "taxonomy",
    "taxonomy_term", "attribute", "schedule", "cost_option", "accessibility",
    "phone", "contact", "service_area", "address", "language", "funding",
    "program", "required_document", "organization_identifier", "metadata",
}
GEOGRAPHY_TABLES = {"postcode", "area", "deprivation", "unmet_need", "term_synonym", "change_counter",
                    "meta_table_description"}


def schema_of(engine: Engine) -> dict[str, tuple[list[str], list[str]]]:
    """Every assetmap table with its columns and index names."""
    inspector = inspect(engine)
    wanted = ORUK_TABLES | GEOGRAPHY_TABLES
    return {
        name: (
            sorted(c["name"] for c in inspector.get_columns(name)),
            sorted(str(i["name"]) for i in inspector.get_indexes(name)),
        )
        for name in inspector.get_table_names()
        if name in wanted
    }


def test_init_creates_every_table_on_an_empty_database(empty_db_url: str) -> None:
    engine = connect(empty_db_url)
    before, after = init_database(engine)
    assert (before, after) == (None, head_revision())
    schema = schema_of(engine)
    assert set(schema) == ORUK_TABLES | GEOGRAPHY_TABLES
    service_columns = schema["service"][0]
    for field in ("id", "organization_id", "name", "status", "minimum_age", "maximum_age", "assured_date"):
        assert field in service_columns
    assert {"latitude", "longitude", "geom"} <= set(schema["location"][0])


def test_init_twice_changes_nothing(empty_db_url: str) -> None:
    engine = connect(empty_db_url)
    init_database(engine)
    with Session(engine) as session, session.begin():
        session.add(Organization(id="org-1", name="Parkhead Community Garden"))
    first = schema_of(engine)
    before, after = init_database(engine)
    assert before == after == head_revision()
    assert schema_of(engine) == first
    with Session(engine) as session:
        assert session.scalars(select(Organization.name)).all() == ["Parkhead Community Garden"]


def test_a_database_from_an_older_migration_is_upgraded_keeping_its_records(empty_db_url: str) -> None:
    engine = connect(empty_db_url)
    init_database(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "unmet_need" not in inspect(engine).get_table_names()
    with Session(engine) as session, session.begin():
        session.add(Organization(id="org-1", name="Dennistoun Food Bank"))
        session.add(Service(id="svc-1", organization_id="org-1", name="Food parcels", status="active"))

    before, after = init_database(engine)

    assert (before, after) == ("0001", head_revision())
    assert "unmet_need" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM service")).scalars().all() == ["Food parcels"]


def test_location_points_are_spatially_indexed(engine: Engine, backend_name: str) -> None:
    with engine.connect() as conn:
        if backend_name == "spatialite":
            enabled = conn.execute(text(
                "SELECT spatial_index_enabled FROM geometry_columns "
                "WHERE f_table_name = 'location' AND f_geometry_column = 'geom'"
            )).scalar_one()
            assert enabled == 1
        else:
            indexes = conn.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'location'"
            )).scalars().all()
            assert any("gist" in i and "geography" in i for i in indexes)
            assert any("gist" in i and "geography" not in i for i in indexes)


def test_the_migrations_build_exactly_the_models(engine: Engine) -> None:
    """A model changed without a migration would show up here as a difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from geoalchemy2 import alembic_helpers

    from assetmap.models import Base

    def ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        if type_ == "table" and reflected and compare_to is None:
            return False
        if type_ == "index" and reflected and compare_to is None and str(name).endswith("_geog"):
            return False  # PostGIS-only expression indexes, made by hand in 0001
        if type_ == "index" and reflected and compare_to is None and name in ("ix_service_text", "ix_organization_text"):
            return False  # PostgreSQL's full-text indexes, made by hand in 0012 (SQLite's is a table, skipped above)
        return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": ours})
        assert compare_metadata(context, Base.metadata) == []
