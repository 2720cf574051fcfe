"""Every service has a last_modified: imports now stamp it (assetmap.io.oruk.stamp_last_modified);
services imported before are given the moment the directory last wrote them (their latest
sync from a source), or, never synced, the moment of this upgrade. Open Referral's
``modified_after`` reads it, so a directory syncing from this feed fetches them once more.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 02:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE service SET last_modified = COALESCE("
        "(SELECT MAX(record_source.last_synced) FROM record_source "
        "WHERE record_source.record_type = 'service' AND record_source.record_id = service.id), "
        "CURRENT_TIMESTAMP) WHERE last_modified IS NULL")


def downgrade() -> None:
    pass  # the dates stay: they were true when written
