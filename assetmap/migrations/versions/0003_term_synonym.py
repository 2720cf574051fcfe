"""Synonyms of taxonomy terms, for search.

The words a CLW types ("lonely", "benefits") for the needs and activity types of
the taxonomy; filled from assetmap/data/taxonomy.toml by `assetmap init`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 21:06:36.971035
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('term_synonym',
    sa.Column('term_id', sa.String(), nullable=False),
    sa.Column('synonym', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['term_id'], ['taxonomy_term.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('term_id', 'synonym')
    )


def downgrade() -> None:
    op.drop_table('term_synonym')
