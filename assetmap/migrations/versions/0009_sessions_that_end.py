"""Sessions that end, accounts an admin can disable, unmet searches counted once a day.

``app_user.session_generation`` is carried by every session cookie: bumping it ends
every session of the account. ``disabled_at`` keeps an account (and its audit trail)
while refusing it. ``unmet_search_seen`` lets each searcher add at most one to a
need's unmet count per area and day.

The sign-in brake's rows were keyed under the session key that the repository once
published; they are deleted here, and new ones are keyed under each deployment's own.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('unmet_search_seen',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('unmet_search_seen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unmet_search_seen_day'), ['day'], unique=False)
    op.execute(sa.text("DELETE FROM failed_sign_in"))


def downgrade() -> None:
    with op.batch_alter_table('unmet_search_seen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unmet_search_seen_day'))
    op.drop_table('unmet_search_seen')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('disabled_at')
        batch_op.drop_column('session_generation')
