"""accounts: one-time codes by text message (sign in, password reset)

Revision ID: 0013_sms_codes
Revises: 0010_honest_patrols
Create Date: 2026-12-05 14:57:09.843903

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013_sms_codes'
down_revision = '0010_honest_patrols'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sms_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('purpose', sa.String(length=10), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("purpose IN ('sign_in', 'reset')", name=op.f('ck_sms_code_purpose')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_sms_code_attempts_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_code'))
    )
    with op.batch_alter_table('sms_code', schema=None) as batch_op:
        batch_op.create_index('ix_sms_code_address_created_at', ['address', 'created_at'], unique=False)
        batch_op.create_index('ix_sms_code_phone_created_at', ['phone', 'created_at'], unique=False)



def downgrade():
    with op.batch_alter_table('sms_code', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_code_phone_created_at')
        batch_op.drop_index('ix_sms_code_address_created_at')

    op.drop_table('sms_code')
