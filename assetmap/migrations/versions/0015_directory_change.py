"""Which services each change to the directory touched, so a server catches up by re-reading them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('directory_change',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_directory_change_generation', 'directory_change', ['generation'])


def downgrade() -> None:
    op.drop_index('ix_directory_change_generation', table_name='directory_change')
    op.drop_table('directory_change')
