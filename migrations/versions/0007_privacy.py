"""privacy: per-community retention of raw patrol GPS points

Revision ID: 0007_privacy
Revises: 0006_deliberation
Create Date: 2026-11-22 18:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_privacy'
down_revision = "0006_deliberation"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('privacy_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('gps_retention_days', sa.Integer(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('gps_retention_days BETWEEN 7 AND 3650', name=op.f('ck_privacy_settings_retention_range')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_privacy_settings_community_id_community')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_privacy_settings_updated_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_settings'))
    )
    with op.batch_alter_table('privacy_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_settings_community_id'), ['community_id'], unique=True)


def downgrade():
    with op.batch_alter_table('privacy_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_settings_community_id'))

    op.drop_table('privacy_settings')
