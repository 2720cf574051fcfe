"""Deprivation ranks indexed by area.

A postcode lookup joins its area's ranks by area code alone, which the primary key (index,
edition, area) cannot serve: every lookup read the whole table. With SIMD only that was
6,976 rows; with England's IMD beside it (a UK directory), 40,000 rows, 7 ms a lookup.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deprivation', schema=None) as batch_op:
        batch_op.create_index('ix_deprivation_area_code', ['area_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deprivation', schema=None) as batch_op:
        batch_op.drop_index('ix_deprivation_area_code')
