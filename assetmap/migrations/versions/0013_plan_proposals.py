"""Plan proposals: the new sites a locality team proposed for a need, with the question asked
and the directory as it was, so a later analysis can show what changed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('plan_proposal',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('need', sa.String(length=60), nullable=False),
    sa.Column('locality', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('sites', sa.JSON(), nullable=False),
    sa.Column('directory', sa.JSON(), nullable=False),
    sa.Column('people_reached', sa.Integer(), nullable=False),
    sa.Column('made_by', sa.Text(), nullable=False),
    sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('plan_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_proposal_need'), ['need'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_proposal_locality'), ['locality'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_proposal_made_at'), ['made_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('plan_proposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_proposal_made_at'))
        batch_op.drop_index(batch_op.f('ix_plan_proposal_locality'))
        batch_op.drop_index(batch_op.f('ix_plan_proposal_need'))

    op.drop_table('plan_proposal')
