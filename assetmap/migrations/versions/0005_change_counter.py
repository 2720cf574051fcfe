"""Change counters for in-memory indexes.

Bumped by every import and edit, read by the search before each query so its
in-memory copy of the directory and the postcodes is never stale.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 21:23:18.550847
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('change_counter',
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('change_counter')
