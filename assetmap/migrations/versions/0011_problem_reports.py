"""Problem reports: a signed-in person says a service is closed, has moved or has the wrong
times or contact; each lands in the review queue with who reported it, until an editor deals
with it. Nothing about the person they were seeing is kept.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 18:17:17
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('problem_report',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('service_id', sa.String(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('reporter', sa.Text(), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.Text(), nullable=True),
    sa.Column('resolution', sa.String(length=20), nullable=True),
    sa.CheckConstraint("reason IN ('closed', 'moved', 'wrong-times', 'wrong-contact', 'other')", name='problem_report_reason_known'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('problem_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_report_resolved_at'), ['resolved_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_report_service_id'), ['service_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('problem_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problem_report_service_id'))
        batch_op.drop_index(batch_op.f('ix_problem_report_resolved_at'))

    op.drop_table('problem_report')
