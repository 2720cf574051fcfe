"""Full-text search of service names and descriptions, for the words a CLW types that no need knows.

SQLite: an FTS5 table ``service_text`` (service name, description, organisation name; the
service's rowid, and its id to answer with), kept in step with ``service`` and
``organization`` by triggers. PostgreSQL: GIN indexes on the same text as tsvectors, so
no table is added. Both split text into runs of letters and digits, without stemming or
dropping accents, so they find the same services for the same words.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 18:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE = [
    "CREATE VIRTUAL TABLE service_text USING fts5(service_id UNINDEXED, name, description, organization, "
    "tokenize = 'unicode61 remove_diacritics 0')",
    "INSERT INTO service_text(rowid, service_id, name, description, organization) "
    "SELECT s.rowid, s.id, s.name, s.description, o.name FROM service s "
    "LEFT JOIN organization o ON o.id = s.organization_id",
    "CREATE TRIGGER service_text_insert AFTER INSERT ON service BEGIN "
    "INSERT INTO service_text(rowid, service_id, name, description, organization) "
    "VALUES (new.rowid, new.id, new.name, new.description, "
    "(SELECT name FROM organization WHERE id = new.organization_id)); END",
    "CREATE TRIGGER service_text_update AFTER UPDATE OF id, name, description, organization_id ON service BEGIN "
    "DELETE FROM service_text WHERE rowid = old.rowid; "
    "INSERT INTO service_text(rowid, service_id, name, description, organization) "
    "VALUES (new.rowid, new.id, new.name, new.description, "
    "(SELECT name FROM organization WHERE id = new.organization_id)); END",
    "CREATE TRIGGER service_text_delete AFTER DELETE ON service BEGIN "
    "DELETE FROM service_text WHERE rowid = old.rowid; END",
    "CREATE TRIGGER service_text_organization AFTER UPDATE OF name ON organization BEGIN "
    "DELETE FROM service_text WHERE rowid IN (SELECT rowid FROM service WHERE organization_id = new.id); "
    "INSERT INTO service_text(rowid, service_id, name, description, organization) "
    "SELECT rowid, id, name, description, new.name FROM service WHERE organization_id = new.id; END",
    "CREATE TRIGGER service_text_new_organization AFTER INSERT ON organization BEGIN "
    "DELETE FROM service_text WHERE rowid IN (SELECT rowid FROM service WHERE organization_id = new.id); "
    "INSERT INTO service_text(rowid, service_id, name, description, organization) "
    "SELECT rowid, id, name, description, new.name FROM service WHERE organization_id = new.id; END",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS service_text_new_organization", "DROP TRIGGER IF EXISTS service_text_organization",
               "DROP TRIGGER IF EXISTS service_text_delete", "DROP TRIGGER IF EXISTS service_text_update",
               "DROP TRIGGER IF EXISTS service_text_insert", "DROP TABLE IF EXISTS service_text"]

POSTGRES = [
    "CREATE INDEX ix_service_text ON service USING gin (to_tsvector('simple', regexp_replace("
    "coalesce(name, '') || ' ' || coalesce(description, ''), '[^[:alnum:]]+', ' ', 'g')))",
    "CREATE INDEX ix_organization_text ON organization USING gin (to_tsvector('simple', regexp_replace("
    "coalesce(name, ''), '[^[:alnum:]]+', ' ', 'g')))",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_organization_text", "DROP INDEX IF EXISTS ix_service_text"]


def upgrade() -> None:
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN:
        op.execute(statement)
