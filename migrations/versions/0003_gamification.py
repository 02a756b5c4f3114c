"""gamification: badges (defined as data) and badge awards

Revision ID: 0003_gamification
Revises: 0003_merit
Create Date: 2026-11-23 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003_gamification'
down_revision = "0003_merit"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ledger_badge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=True),
    sa.Column('sort', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("kind IN ('first_award', 'category', 'milestone', 'manual')", name=op.f('ck_ledger_badge_kind')),
    sa.CheckConstraint('threshold >= 0', name=op.f('ck_ledger_badge_threshold_not_negative')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_ledger_badge_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_badge')),
    sa.UniqueConstraint('community_id', 'code', name=op.f('uq_ledger_badge_community_id_code')),
    sa.UniqueConstraint('community_id', 'id', name=op.f('uq_ledger_badge_community_id_id'))
    )
    with op.batch_alter_table('ledger_badge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_badge_community_id'), ['community_id'], unique=False)

    op.create_table('ledger_badge_award',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('badge_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('awarded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id', 'badge_id'], ['ledger_badge.community_id', 'ledger_badge.id'], name=op.f('fk_ledger_badge_award_community_id_badge_id_ledger_badge')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_ledger_badge_award_community_id_community')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_ledger_badge_award_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_badge_award')),
    sa.UniqueConstraint('community_id', 'badge_id', 'user_id', name=op.f('uq_ledger_badge_award_community_id_badge_id_user_id'))
    )
    with op.batch_alter_table('ledger_badge_award', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_badge_award_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_badge_award_user_id'), ['user_id'], unique=False)

    # Leaderboards: the board index in the leaderboard's own order (points DESC), so a top 50 is an
    # index walk without a sort, whatever the number of tied residents.
    op.drop_index('ix_ledger_tally_board', table_name='ledger_tally')
    op.create_index('ix_ledger_tally_board', 'ledger_tally',
                    ['community_id', 'period', 'category', sa.text('points DESC'), 'reached_at', 'user_id'])


def downgrade():
    op.drop_index('ix_ledger_tally_board', table_name='ledger_tally')
    op.create_index('ix_ledger_tally_board', 'ledger_tally',
                    ['community_id', 'period', 'category', 'points', 'reached_at', 'user_id'])
    with op.batch_alter_table('ledger_badge_award', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_badge_award_user_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_badge_award_community_id'))

    op.drop_table('ledger_badge_award')
    with op.batch_alter_table('ledger_badge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_badge_community_id'))

    op.drop_table('ledger_badge')
