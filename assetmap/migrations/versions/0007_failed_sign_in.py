"""Failed sign-ins, for a brake that every server process shares.

With several server processes, a count kept in each process's memory would
let a guesser try five passwords per process; in the database there is one
count. Rows live for the brake's window and hold only keyed hashes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('failed_sign_in',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('failed_sign_in', schema=None) as batch_op:
        batch_op.create_index('ix_failed_sign_in_key_at', ['key', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_failed_sign_in_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('failed_sign_in', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_failed_sign_in_at'))
        batch_op.drop_index('ix_failed_sign_in_key_at')
    op.drop_table('failed_sign_in')
