"""honest patrols: one open patrol per person, dropped fixes counted, track fingerprints,
per-day caps and the community's patrol area

Revision ID: 0010_honest_patrols
Revises: 0009_rule_changes
Create Date: 2026-12-05 14:32:29.915299

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010_honest_patrols'
down_revision = '0009_rule_changes'
branch_labels = None
depends_on = None


def upgrade():
    # Before the one-open-patrol rule: end every open patrol of a person but their latest.
    op.execute(
        "UPDATE patrol SET status = 'ended', ended_by = 'timeout', "
        "ended_at = COALESCE(last_point_at, started_at) "
        "WHERE status = 'active' AND id NOT IN "
        "(SELECT keep_id FROM (SELECT MAX(id) AS keep_id FROM patrol WHERE status = 'active' GROUP BY community_id, user_id) AS latest)"
    )
    with op.batch_alter_table('patrol', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dropped_points', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=400), server_default='', nullable=False))
        batch_op.create_check_constraint(op.f('ck_patrol_dropped_not_negative'), 'dropped_points >= 0')
        batch_op.create_index('ux_patrol_one_active_per_user', ['community_id', 'user_id'], unique=True, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    with op.batch_alter_table('patrol_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_points_per_day', sa.Integer(), server_default='200', nullable=False))
        batch_op.add_column(sa.Column('max_hours_per_day', sa.Integer(), server_default='8', nullable=False))
        batch_op.add_column(sa.Column('area_lat', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('area_lon', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('area_radius_m', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('area_boundary', sa.JSON(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_patrol_settings_day_caps_positive'),
                                         'max_points_per_day > 0 AND max_hours_per_day > 0')
        batch_op.create_check_constraint(op.f('ck_patrol_settings_radius_positive'),
                                         'area_radius_m IS NULL OR area_radius_m > 0')


def downgrade():
    with op.batch_alter_table('patrol_settings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_patrol_settings_radius_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_patrol_settings_day_caps_positive'), type_='check')
        batch_op.drop_column('area_boundary')
        batch_op.drop_column('area_radius_m')
        batch_op.drop_column('area_lon')
        batch_op.drop_column('area_lat')
        batch_op.drop_column('max_hours_per_day')
        batch_op.drop_column('max_points_per_day')

    with op.batch_alter_table('patrol', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_patrol_dropped_not_negative'), type_='check')
        batch_op.drop_index('ux_patrol_one_active_per_user', sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))
        batch_op.drop_column('fingerprint')
        batch_op.drop_column('dropped_points')

