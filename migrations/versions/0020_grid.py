"""grid: grid roles, visiting cycles, visits (日走访), departments and staff, deadlines by category,
cases dispatched to departments (吹哨报到), weekly/monthly summaries, disputes (矛盾纠纷) and their sessions

Revision ID: 0020_grid
Revises: 0018_uploads
Create Date: 2026-12-05 18:17:05.733939

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020_grid'
down_revision = "0018_uploads"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('category_deadline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.CheckConstraint('hours BETWEEN 1 AND 2160', name=op.f('ck_category_deadline_hours')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_category_deadline_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_category_deadline')),
    sa.UniqueConstraint('street_id', 'category', name=op.f('uq_category_deadline_street_id_category'))
    )
    with op.batch_alter_table('category_deadline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_category_deadline_street_id'), ['street_id'], unique=False)

    op.create_table('department',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('(street_id IS NULL) <> (district_id IS NULL)', name=op.f('ck_department_one_area')),
    sa.ForeignKeyConstraint(['district_id'], ['district.id'], name=op.f('fk_department_district_id_district')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_department_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_department')),
    sa.UniqueConstraint('street_id', 'district_id', 'name', name=op.f('uq_department_street_id_district_id_name'))
    )
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_department_street_id'), ['street_id'], unique=False)

    op.create_table('department_staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_department_staff_department_id_department')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_department_staff_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_department_staff')),
    sa.UniqueConstraint('department_id', 'user_id', name=op.f('uq_department_staff_department_id_user_id'))
    )
    with op.batch_alter_table('department_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_staff_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_department_staff_user_id'), ['user_id'], unique=False)

    op.create_table('grid_cycle',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.CheckConstraint('days BETWEEN 1 AND 366', name=op.f('ck_grid_cycle_days')),
    sa.ForeignKeyConstraint(['community_id', 'grid_id'], ['grid.community_id', 'grid.id'], name=op.f('fk_grid_cycle_community_id_grid_id_grid')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_grid_cycle_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_cycle')),
    sa.UniqueConstraint('community_id', 'grid_id', name=op.f('uq_grid_cycle_community_id_grid_id'))
    )
    with op.batch_alter_table('grid_cycle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_cycle_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_cycle_grid_id'), ['grid_id'], unique=False)

    op.create_table('grid_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('period', sa.String(length=5), nullable=False),
    sa.Column('starts_on', sa.DateTime(), nullable=False),
    sa.Column('ends_on', sa.DateTime(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('made_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("period IN ('week', 'month')", name=op.f('ck_grid_summary_period')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_grid_summary_community_id_community')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_grid_summary_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_summary')),
    sa.UniqueConstraint('street_id', 'community_id', 'grid_id', 'period', 'starts_on', name=op.f('uq_grid_summary_street_id_community_id_grid_id_period_starts_on'))
    )
    with op.batch_alter_table('grid_summary', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_summary_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_summary_street_id'), ['street_id'], unique=False)

    op.create_table('grid_role',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('granted_at', sa.DateTime(), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("role IN ('grid_leader', 'grid_worker', 'building_head')", name=op.f('ck_grid_role_role')),
    sa.ForeignKeyConstraint(['community_id', 'grid_id'], ['grid.community_id', 'grid.id'], name=op.f('fk_grid_role_community_id_grid_id_grid')),
    sa.ForeignKeyConstraint(['community_id', 'user_id'], ['membership.community_id', 'membership.user_id'], name=op.f('fk_grid_role_community_id_user_id_membership')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_grid_role_community_id_community')),
    sa.ForeignKeyConstraint(['granted_by_id'], ['user.id'], name=op.f('fk_grid_role_granted_by_id_user')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_grid_role_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_role')),
    sa.UniqueConstraint('community_id', 'grid_id', 'user_id', 'role', name=op.f('uq_grid_role_community_id_grid_id_user_id_role'))
    )
    with op.batch_alter_table('grid_role', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_role_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_grid_role_community_id_user_id', ['community_id', 'user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_role_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_role_user_id'), ['user_id'], unique=False)

    op.create_table('grid_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('escalated_at', sa.DateTime(), nullable=False),
    sa.Column('escalated_by_id', sa.Integer(), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(), nullable=True),
    sa.Column('deadline_at', sa.DateTime(), nullable=True),
    sa.Column('accepted_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.CheckConstraint("level IN ('community', 'street', 'district')", name=op.f('ck_grid_case_level')),
    sa.ForeignKeyConstraint(['community_id', 'report_id'], ['patrol_report.community_id', 'patrol_report.id'], name=op.f('fk_grid_case_community_id_report_id_patrol_report')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_grid_case_community_id_community')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_grid_case_department_id_department')),
    sa.ForeignKeyConstraint(['escalated_by_id'], ['user.id'], name=op.f('fk_grid_case_escalated_by_id_user')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_grid_case_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_case')),
    sa.UniqueConstraint('community_id', 'report_id', name=op.f('uq_grid_case_community_id_report_id'))
    )
    with op.batch_alter_table('grid_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_case_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_case_deadline_at'), ['deadline_at'], unique=False)
        batch_op.create_index('ix_grid_case_department_id_closed', ['department_id', 'closed'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_case_report_id'), ['report_id'], unique=False)
        batch_op.create_index('ix_grid_case_street_id_closed', ['street_id', 'closed'], unique=False)

    op.create_table('grid_dispute',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('parties', sa.String(length=300), nullable=False),
    sa.Column('mediator_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('agreement', sa.Text(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('follow_up_due_at', sa.DateTime(), nullable=True),
    sa.Column('followed_up_at', sa.DateTime(), nullable=True),
    sa.Column('follow_up_note', sa.String(length=500), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'agreed', 'failed', 'closed')", name=op.f('ck_grid_dispute_status')),
    sa.ForeignKeyConstraint(['community_id', 'mediator_id'], ['membership.community_id', 'membership.user_id'], name=op.f('fk_grid_dispute_community_id_mediator_id_membership')),
    sa.ForeignKeyConstraint(['community_id', 'report_id'], ['patrol_report.community_id', 'patrol_report.id'], name=op.f('fk_grid_dispute_community_id_report_id_patrol_report')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_grid_dispute_community_id_community')),
    sa.ForeignKeyConstraint(['mediator_id'], ['user.id'], name=op.f('fk_grid_dispute_mediator_id_user')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['user.id'], name=op.f('fk_grid_dispute_opened_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_dispute')),
    sa.UniqueConstraint('community_id', 'id', name=op.f('uq_grid_dispute_community_id_id'))
    )
    with op.batch_alter_table('grid_dispute', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_dispute_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_grid_dispute_community_id_status', ['community_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_dispute_mediator_id'), ['mediator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_dispute_opened_at'), ['opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_dispute_report_id'), ['report_id'], unique=False)

    op.create_table('grid_visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('visited_at', sa.DateTime(), nullable=False),
    sa.Column('met', sa.String(length=80), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('photo', sa.String(length=60), nullable=True),
    sa.Column('follow_up', sa.Boolean(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('minutes BETWEEN 0 AND 480', name=op.f('ck_grid_visit_minutes')),
    sa.ForeignKeyConstraint(['community_id', 'household_id'], ['household.community_id', 'household.id'], name=op.f('fk_grid_visit_community_id_household_id_household')),
    sa.ForeignKeyConstraint(['community_id', 'report_id'], ['patrol_report.community_id', 'patrol_report.id'], name=op.f('fk_grid_visit_community_id_report_id_patrol_report')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_grid_visit_community_id_community')),
    sa.ForeignKeyConstraint(['worker_id'], ['user.id'], name=op.f('fk_grid_visit_worker_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_visit')),
    sa.UniqueConstraint('community_id', 'id', name=op.f('uq_grid_visit_community_id_id'))
    )
    with op.batch_alter_table('grid_visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_visit_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_grid_visit_community_id_household_id_visited_at', ['community_id', 'household_id', 'visited_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_visit_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_visit_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_visit_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_visit_visited_at'), ['visited_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_visit_worker_id'), ['worker_id'], unique=False)

    op.create_table('grid_dispute_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('held_at', sa.DateTime(), nullable=False),
    sa.Column('attendees', sa.String(length=300), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id', 'dispute_id'], ['grid_dispute.community_id', 'grid_dispute.id'], name=op.f('fk_grid_dispute_session_community_id_dispute_id_grid_dispute')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_grid_dispute_session_community_id_community')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_grid_dispute_session_recorded_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_dispute_session'))
    )
    with op.batch_alter_table('grid_dispute_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_dispute_session_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grid_dispute_session_dispute_id'), ['dispute_id'], unique=False)



def downgrade():
    with op.batch_alter_table('grid_dispute_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_dispute_session_dispute_id'))
        batch_op.drop_index(batch_op.f('ix_grid_dispute_session_community_id'))

    op.drop_table('grid_dispute_session')
    with op.batch_alter_table('grid_visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_visit_worker_id'))
        batch_op.drop_index(batch_op.f('ix_grid_visit_visited_at'))
        batch_op.drop_index(batch_op.f('ix_grid_visit_report_id'))
        batch_op.drop_index(batch_op.f('ix_grid_visit_household_id'))
        batch_op.drop_index(batch_op.f('ix_grid_visit_grid_id'))
        batch_op.drop_index('ix_grid_visit_community_id_household_id_visited_at')
        batch_op.drop_index(batch_op.f('ix_grid_visit_community_id'))

    op.drop_table('grid_visit')
    with op.batch_alter_table('grid_dispute', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_dispute_report_id'))
        batch_op.drop_index(batch_op.f('ix_grid_dispute_opened_at'))
        batch_op.drop_index(batch_op.f('ix_grid_dispute_mediator_id'))
        batch_op.drop_index('ix_grid_dispute_community_id_status')
        batch_op.drop_index(batch_op.f('ix_grid_dispute_community_id'))

    op.drop_table('grid_dispute')
    with op.batch_alter_table('grid_case', schema=None) as batch_op:
        batch_op.drop_index('ix_grid_case_street_id_closed')
        batch_op.drop_index(batch_op.f('ix_grid_case_report_id'))
        batch_op.drop_index('ix_grid_case_department_id_closed')
        batch_op.drop_index(batch_op.f('ix_grid_case_deadline_at'))
        batch_op.drop_index(batch_op.f('ix_grid_case_community_id'))

    op.drop_table('grid_case')
    with op.batch_alter_table('grid_role', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_role_user_id'))
        batch_op.drop_index(batch_op.f('ix_grid_role_grid_id'))
        batch_op.drop_index('ix_grid_role_community_id_user_id')
        batch_op.drop_index(batch_op.f('ix_grid_role_community_id'))

    op.drop_table('grid_role')
    with op.batch_alter_table('grid_summary', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_summary_street_id'))
        batch_op.drop_index(batch_op.f('ix_grid_summary_community_id'))

    op.drop_table('grid_summary')
    with op.batch_alter_table('grid_cycle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_cycle_grid_id'))
        batch_op.drop_index(batch_op.f('ix_grid_cycle_community_id'))

    op.drop_table('grid_cycle')
    with op.batch_alter_table('department_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_staff_user_id'))
        batch_op.drop_index(batch_op.f('ix_department_staff_department_id'))

    op.drop_table('department_staff')
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_street_id'))
        batch_op.drop_index(batch_op.f('ix_department_district_id'))

    op.drop_table('department')
    with op.batch_alter_table('category_deadline', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_category_deadline_street_id'))

    op.drop_table('category_deadline')
