"""Anonymous counts of unmet needs per area and day.

Filled by the search when nothing fits, read by the gap analysis. Only the need,
the data zone and the day are kept: never a postcode or anything about a person.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 20:50:50.077174
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('unmet_need',
    sa.Column('need', sa.String(length=60), nullable=False),
    sa.Column('area_code', sa.String(length=12), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('searches', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('need', 'area_code', 'day')
    )


def downgrade() -> None:
    op.drop_table('unmet_need')
