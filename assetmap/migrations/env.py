"""Alembic environment: always run on a connection handed over by assetmap.db.

``assetmap.db.init_database`` opens the connection (with SpatiaLite loaded or
PostGIS checked) and passes it in ``config.attributes``, so migrations never open
their own and never need an alembic.ini.

The migrations keep their own dialect checks rather than asking
:mod:`assetmap.backends`: they are frozen history, and must build the same schema
they always did whatever the backends become (tests/test_backends.py exempts them).
"""

from alembic import context
from geoalchemy2 import alembic_helpers

from assetmap.models import Base


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]  # Alembic's hook; migrations are not type-checked
    """Manage only assetmap's own tables, never SpatiaLite's or PostGIS's system tables."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    if type_ == "index" and name in TEXT_SEARCH_INDEXES:
        return False  # expression indexes for text search (0012): no model can declare them
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


# PostgreSQL's GIN indexes on name and description as tsvectors, made by migration 0012.
TEXT_SEARCH_INDEXES = {"ix_service_text", "ix_organization_text"}

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise SystemExit("run migrations with `assetmap init`, which configures the database")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    process_revision_directives=alembic_helpers.writer,
    render_item=alembic_helpers.render_item,
    render_as_batch=connection.dialect.name == "sqlite",
)
context.run_migrations()
