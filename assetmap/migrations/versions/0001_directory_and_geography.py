"""Open Referral UK directory and geography tables.

The first schema: every HSDS 3.0 / ORUK 3.0 table, plus postcode, area and
deprivation. On PostGIS, locations and postcodes also get a GiST index on their
``geography`` cast, so metre-based KNN and radius queries use an index.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 21:10:51.915022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table('area',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('area_type', sa.String(length=30), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('intermediate_zone', sa.Text(), nullable=True),
    sa.Column('council_area', sa.Text(), nullable=True),
    sa.Column('boundary', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('centroid', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_area_boundary', ['boundary'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_geospatial_index('idx_area_centroid', ['centroid'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_area_area_type'), ['area_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_area_council_area'), ['council_area'], unique=False)
        batch_op.create_index(batch_op.f('ix_area_intermediate_zone'), ['intermediate_zone'], unique=False)

    op.create_table('deprivation',
    sa.Column('index_name', sa.String(length=20), nullable=False),
    sa.Column('index_year', sa.String(length=10), nullable=False),
    sa.Column('area_code', sa.String(length=12), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('decile', sa.Integer(), nullable=True),
    sa.Column('quintile', sa.Integer(), nullable=True),
    sa.Column('vigintile', sa.Integer(), nullable=True),
    sa.Column('domain_ranks', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('index_name', 'index_year', 'area_code')
    )
    op.create_geospatial_table('location',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('location_type', sa.String(length=10), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('organization_id', sa.String(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('alternate_name', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('transportation', sa.Text(), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('external_identifier', sa.Text(), nullable=True),
    sa.Column('external_identifier_type', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.CheckConstraint("location_type IN ('physical', 'postal', 'virtual')", name='location_type_known'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_location_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_location_organization_id'), ['organization_id'], unique=False)

    op.create_table('metadata',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('resource_id', sa.String(), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('last_action_date', sa.Date(), nullable=False),
    sa.Column('last_action_type', sa.String(length=20), nullable=False),
    sa.Column('field_name', sa.Text(), nullable=True),
    sa.Column('previous_value', sa.Text(), nullable=True),
    sa.Column('replacement_value', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('metadata', schema=None) as batch_op:
        batch_op.create_index('ix_metadata_resource', ['resource_type', 'resource_id'], unique=False)

    op.create_table('organization',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('alternate_name', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('website', sa.Text(), nullable=True),
    sa.Column('tax_status', sa.Text(), nullable=True),
    sa.Column('tax_id', sa.Text(), nullable=True),
    sa.Column('year_incorporated', sa.Integer(), nullable=True),
    sa.Column('legal_status', sa.Text(), nullable=True),
    sa.Column('logo', sa.Text(), nullable=True),
    sa.Column('uri', sa.Text(), nullable=True),
    sa.Column('parent_organization_id', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('organization_identifier',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('organization_id', sa.String(), nullable=True),
    sa.Column('identifier_scheme', sa.Text(), nullable=True),
    sa.Column('identifier_type', sa.Text(), nullable=True),
    sa.Column('identifier', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('organization_identifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_identifier_organization_id'), ['organization_id'], unique=False)

    op.create_geospatial_table('postcode',
    sa.Column('postcode', sa.String(length=8), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('easting', sa.Float(), nullable=True),
    sa.Column('northing', sa.Float(), nullable=True),
    sa.Column('positional_quality', sa.Integer(), nullable=True),
    sa.Column('country_code', sa.String(length=9), nullable=True),
    sa.Column('district_code', sa.String(length=9), nullable=True),
    sa.Column('area_code', sa.String(length=12), nullable=True),
    sa.Column('area_source', sa.String(length=20), nullable=True),
    sa.Column('introduced', sa.Date(), nullable=True),
    sa.Column('terminated', sa.Date(), nullable=True),
    sa.Column('split', sa.Boolean(), nullable=True),
    sa.Column('linked_postcode', sa.String(length=8), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('postcode')
    )
    with op.batch_alter_table('postcode', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_postcode_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_postcode_area_code'), ['area_code'], unique=False)

    op.create_table('program',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('organization_id', sa.String(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('alternate_name', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('program', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_program_organization_id'), ['organization_id'], unique=False)

    op.create_table('taxonomy',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('uri', sa.Text(), nullable=True),
    sa.Column('version', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('taxonomy_term',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('code', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('parent_id', sa.String(), nullable=True),
    sa.Column('taxonomy', sa.Text(), nullable=True),
    sa.Column('taxonomy_id', sa.String(), nullable=True),
    sa.Column('language', sa.Text(), nullable=True),
    sa.Column('term_uri', sa.Text(), nullable=True),
    sa.Column('term', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('taxonomy_term', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_taxonomy_term_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_taxonomy_term_taxonomy_id'), ['taxonomy_id'], unique=False)

    op.create_table('accessibility',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('location_id', sa.String(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('accessibility', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('accessibility', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accessibility_location_id'), ['location_id'], unique=False)

    op.create_table('address',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('location_id', sa.String(), nullable=True),
    sa.Column('attention', sa.Text(), nullable=True),
    sa.Column('address_1', sa.Text(), nullable=True),
    sa.Column('address_2', sa.Text(), nullable=True),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('region', sa.Text(), nullable=True),
    sa.Column('state_province', sa.Text(), nullable=True),
    sa.Column('postal_code', sa.Text(), nullable=True),
    sa.Column('country', sa.Text(), nullable=True),
    sa.Column('address_type', sa.String(length=10), nullable=True),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('address', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_address_location_id'), ['location_id'], unique=False)

    op.create_table('attribute',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('link_id', sa.String(), nullable=False),
    sa.Column('link_type', sa.Text(), nullable=True),
    sa.Column('link_entity', sa.String(length=40), nullable=True),
    sa.Column('taxonomy_term_id', sa.String(), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('label', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['taxonomy_term_id'], ['taxonomy_term.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('attribute', schema=None) as batch_op:
        batch_op.create_index('ix_attribute_link', ['link_entity', 'link_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attribute_taxonomy_term_id'), ['taxonomy_term_id'], unique=False)

    op.create_table('service',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('organization_id', sa.String(), nullable=True),
    sa.Column('program_id', sa.String(), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('alternate_name', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('interpretation_services', sa.Text(), nullable=True),
    sa.Column('application_process', sa.Text(), nullable=True),
    sa.Column('fees', sa.Text(), nullable=True),
    sa.Column('fees_description', sa.Text(), nullable=True),
    sa.Column('wait_time', sa.Text(), nullable=True),
    sa.Column('accreditations', sa.Text(), nullable=True),
    sa.Column('licenses', sa.Text(), nullable=True),
    sa.Column('eligibility_description', sa.Text(), nullable=True),
    sa.Column('minimum_age', sa.Float(), nullable=True),
    sa.Column('maximum_age', sa.Float(), nullable=True),
    sa.Column('assured_date', sa.Date(), nullable=True),
    sa.Column('assurer_email', sa.Text(), nullable=True),
    sa.Column('alert', sa.Text(), nullable=True),
    sa.Column('last_modified', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'inactive', 'defunct', 'temporarily closed')", name='service_status_known'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_assured_date'), ['assured_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_status'), ['status'], unique=False)

    op.create_table('contact',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('organization_id', sa.String(), nullable=True),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('service_at_location_id', sa.String(), nullable=True),
    sa.Column('location_id', sa.String(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('department', sa.Text(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_location_id'), ['location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_service_at_location_id'), ['service_at_location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_service_id'), ['service_id'], unique=False)

    op.create_table('cost_option',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('option', sa.Text(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('amount', sa.Float(), nullable=True),
    sa.Column('amount_description', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cost_option', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cost_option_service_id'), ['service_id'], unique=False)

    op.create_table('funding',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('organization_id', sa.String(), nullable=True),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('funding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_funding_service_id'), ['service_id'], unique=False)

    op.create_table('language',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('location_id', sa.String(), nullable=True),
    sa.Column('phone_id', sa.String(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('code', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('language', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_language_location_id'), ['location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_language_phone_id'), ['phone_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_language_service_id'), ['service_id'], unique=False)

    op.create_table('phone',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('location_id', sa.String(), nullable=True),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('organization_id', sa.String(), nullable=True),
    sa.Column('contact_id', sa.String(), nullable=True),
    sa.Column('service_at_location_id', sa.String(), nullable=True),
    sa.Column('number', sa.Text(), nullable=False),
    sa.Column('extension', sa.Float(), nullable=True),
    sa.Column('type', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('phone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_location_id'), ['location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_service_at_location_id'), ['service_at_location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_service_id'), ['service_id'], unique=False)

    op.create_table('required_document',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('document', sa.Text(), nullable=True),
    sa.Column('uri', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('required_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_required_document_service_id'), ['service_id'], unique=False)

    op.create_table('schedule',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('location_id', sa.String(), nullable=True),
    sa.Column('service_at_location_id', sa.String(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('dtstart', sa.Date(), nullable=True),
    sa.Column('timezone', sa.Float(), nullable=True),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=True),
    sa.Column('wkst', sa.String(length=2), nullable=True),
    sa.Column('freq', sa.String(length=10), nullable=True),
    sa.Column('interval', sa.Integer(), nullable=True),
    sa.Column('byday', sa.Text(), nullable=True),
    sa.Column('byweekno', sa.Text(), nullable=True),
    sa.Column('bymonthday', sa.Text(), nullable=True),
    sa.Column('byyearday', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('opens_at', sa.String(length=20), nullable=True),
    sa.Column('closes_at', sa.String(length=20), nullable=True),
    sa.Column('schedule_link', sa.Text(), nullable=True),
    sa.Column('attending_type', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedule_location_id'), ['location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedule_service_at_location_id'), ['service_at_location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedule_service_id'), ['service_id'], unique=False)

    op.create_geospatial_table('service_area',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('service_id', sa.String(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('extent', sa.Text(), nullable=True),
    sa.Column('extent_type', sa.Text(), nullable=True),
    sa.Column('uri', sa.Text(), nullable=True),
    sa.Column('service_area', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('service_area', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_service_area_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_service_area_service_id'), ['service_id'], unique=False)

    op.create_table('service_at_location',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('service_id', sa.String(), nullable=False),
    sa.Column('location_id', sa.String(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('service_at_location', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_at_location_location_id'), ['location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_at_location_service_id'), ['service_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for table in ("location", "postcode"):
            op.execute(f"CREATE INDEX ix_{table}_geog ON {table} USING gist ((geom::geography))")


def downgrade() -> None:
    with op.batch_alter_table('service_at_location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_at_location_service_id'))
        batch_op.drop_index(batch_op.f('ix_service_at_location_location_id'))

    op.drop_table('service_at_location')
    with op.batch_alter_table('service_area', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_area_service_id'))
        batch_op.drop_geospatial_index('idx_service_area_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('service_area')
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedule_service_id'))
        batch_op.drop_index(batch_op.f('ix_schedule_service_at_location_id'))
        batch_op.drop_index(batch_op.f('ix_schedule_location_id'))

    op.drop_table('schedule')
    with op.batch_alter_table('required_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_required_document_service_id'))

    op.drop_table('required_document')
    with op.batch_alter_table('phone', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_service_id'))
        batch_op.drop_index(batch_op.f('ix_phone_service_at_location_id'))
        batch_op.drop_index(batch_op.f('ix_phone_organization_id'))
        batch_op.drop_index(batch_op.f('ix_phone_location_id'))
        batch_op.drop_index(batch_op.f('ix_phone_contact_id'))

    op.drop_table('phone')
    with op.batch_alter_table('language', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_language_service_id'))
        batch_op.drop_index(batch_op.f('ix_language_phone_id'))
        batch_op.drop_index(batch_op.f('ix_language_location_id'))

    op.drop_table('language')
    with op.batch_alter_table('funding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funding_service_id'))
        batch_op.drop_index(batch_op.f('ix_funding_organization_id'))

    op.drop_table('funding')
    with op.batch_alter_table('cost_option', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cost_option_service_id'))

    op.drop_table('cost_option')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_service_id'))
        batch_op.drop_index(batch_op.f('ix_contact_service_at_location_id'))
        batch_op.drop_index(batch_op.f('ix_contact_organization_id'))
        batch_op.drop_index(batch_op.f('ix_contact_location_id'))

    op.drop_table('contact')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_status'))
        batch_op.drop_index(batch_op.f('ix_service_organization_id'))
        batch_op.drop_index(batch_op.f('ix_service_assured_date'))

    op.drop_table('service')
    with op.batch_alter_table('attribute', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attribute_taxonomy_term_id'))
        batch_op.drop_index('ix_attribute_link')

    op.drop_table('attribute')
    with op.batch_alter_table('address', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_address_location_id'))

    op.drop_table('address')
    with op.batch_alter_table('accessibility', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accessibility_location_id'))

    op.drop_table('accessibility')
    with op.batch_alter_table('taxonomy_term', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_taxonomy_term_taxonomy_id'))
        batch_op.drop_index(batch_op.f('ix_taxonomy_term_code'))

    op.drop_table('taxonomy_term')
    op.drop_table('taxonomy')
    with op.batch_alter_table('program', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_program_organization_id'))

    op.drop_table('program')
    with op.batch_alter_table('postcode', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_postcode_area_code'))
        batch_op.drop_geospatial_index('idx_postcode_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('postcode')
    with op.batch_alter_table('organization_identifier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_identifier_organization_id'))

    op.drop_table('organization_identifier')
    op.drop_table('organization')
    with op.batch_alter_table('metadata', schema=None) as batch_op:
        batch_op.drop_index('ix_metadata_resource')

    op.drop_table('metadata')
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_organization_id'))
        batch_op.drop_geospatial_index('idx_location_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('location')
    op.drop_table('deprivation')
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_area_intermediate_zone'))
        batch_op.drop_index(batch_op.f('ix_area_council_area'))
        batch_op.drop_index(batch_op.f('ix_area_area_type'))
        batch_op.drop_geospatial_index('idx_area_centroid', postgresql_using='gist', column_name='centroid')
        batch_op.drop_geospatial_index('idx_area_boundary', postgresql_using='gist', column_name='boundary')

    op.drop_geospatial_table('area')
