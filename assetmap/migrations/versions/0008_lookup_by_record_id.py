"""Attributes and metadata indexed by the record they describe first.

The indexes led with link_entity / resource_type, which a lookup by record id
alone cannot use: building a handout or an API page of a few services scanned
every attribute (170,000 rows at 100,000 services). Leading with the id serves
both kinds of lookup.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 17:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('attribute', schema=None) as batch_op:
        batch_op.drop_index('ix_attribute_link')
        batch_op.create_index('ix_attribute_link', ['link_id', 'link_entity'], unique=False)
    with op.batch_alter_table('metadata', schema=None) as batch_op:
        batch_op.drop_index('ix_metadata_resource')
        batch_op.create_index('ix_metadata_resource', ['resource_id', 'resource_type'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('metadata', schema=None) as batch_op:
        batch_op.drop_index('ix_metadata_resource')
        batch_op.create_index('ix_metadata_resource', ['resource_type', 'resource_id'], unique=False)
    with op.batch_alter_table('attribute', schema=None) as batch_op:
        batch_op.drop_index('ix_attribute_link')
        batch_op.create_index('ix_attribute_link', ['link_entity', 'link_id'], unique=False)
