"""Provenance and re-sync: where each record came from, conflicts, duplicates, area-wide services.

``data_source`` names each directory records come from (with its licence and attribution);
``record_source`` keeps each record's id and date there and its values as last synced, so a
re-sync can tell an editor's change from the source's; ``sync_conflict`` holds the fields
both changed, for an editor; ``duplicate`` the services that look like one across sources.
``service_area.area_code`` is the area a service is delivered across, as today's GSS code.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:42:33
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('data_source',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('licence', sa.Text(), nullable=True),
    sa.Column('attribution', sa.JSON(), nullable=True),
    sa.Column('last_synced', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('record_source',
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(), nullable=False),
    sa.Column('source_key', sa.String(length=80), nullable=False),
    sa.Column('source_record_id', sa.Text(), nullable=True),
    sa.Column('source_updated', sa.Date(), nullable=True),
    sa.Column('last_synced', sa.DateTime(timezone=True), nullable=False),
    sa.Column('listed', sa.Boolean(), nullable=False),
    sa.Column('synced', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['source_key'], ['data_source.key'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('record_type', 'record_id', 'source_key')
    )
    with op.batch_alter_table('record_source', schema=None) as batch_op:
        batch_op.create_index('ix_record_source_source', ['source_key', 'record_type'], unique=False)

    op.create_table('sync_conflict',
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(), nullable=False),
    sa.Column('field', sa.String(length=60), nullable=False),
    sa.Column('source_key', sa.String(length=80), nullable=False),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('local_value', sa.Text(), nullable=True),
    sa.Column('source_value', sa.Text(), nullable=True),
    sa.Column('found', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_key'], ['data_source.key'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('record_type', 'record_id', 'field', 'source_key')
    )
    with op.batch_alter_table('sync_conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_conflict_service_id'), ['service_id'], unique=False)

    op.create_table('duplicate',
    sa.Column('service_id', sa.String(), nullable=False),
    sa.Column('other_id', sa.String(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('found', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('suspected', 'merged', 'distinct')", name='duplicate_status_known'),
    sa.ForeignKeyConstraint(['other_id'], ['service.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'other_id')
    )
    with op.batch_alter_table('duplicate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_other_id'), ['other_id'], unique=False)

    with op.batch_alter_table('service_area', schema=None) as batch_op:
        batch_op.add_column(sa.Column('area_code', sa.String(length=12), nullable=True))
        batch_op.create_index(batch_op.f('ix_service_area_area_code'), ['area_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('service_area', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_area_area_code'))
        batch_op.drop_column('area_code')

    with op.batch_alter_table('duplicate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_other_id'))

    op.drop_table('duplicate')
    with op.batch_alter_table('sync_conflict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_conflict_service_id'))

    op.drop_table('sync_conflict')
    with op.batch_alter_table('record_source', schema=None) as batch_op:
        batch_op.drop_index('ix_record_source_source')

    op.drop_table('record_source')
    op.drop_table('data_source')
