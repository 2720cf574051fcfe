"""HSDS meta table descriptions.

The one HSDS 3.0 table the first schema left out, so that packages such as the
official examples import without loss.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 21:11:52.518677
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('meta_table_description',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('language', sa.Text(), nullable=True),
    sa.Column('character_set', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('meta_table_description')
