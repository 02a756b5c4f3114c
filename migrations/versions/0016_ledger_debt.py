"""ledger: debts (the unpaid part of a deduction) and daily chained digests

Revision ID: 0016_ledger_debt
Revises: 0015_points_gate
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_ledger_debt"
down_revision = "0015_points_gate"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ledger_debt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("memo", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("amount_outstanding", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_debt_amount_positive")),
        sa.CheckConstraint("amount_outstanding >= 0 AND amount_outstanding <= amount",
                           name=op.f("ck_ledger_debt_outstanding_in_range")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_ledger_debt_community_id_community")),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_ledger_debt_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_debt")),
        sa.UniqueConstraint("community_id", "id", name=op.f("uq_ledger_debt_community_id_id")),
        sa.UniqueConstraint("community_id", "key", name=op.f("uq_ledger_debt_community_id_key")),
    )
    with op.batch_alter_table("ledger_debt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_debt_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_debt_user_id"), ["user_id"], unique=False)
        batch_op.create_index("ix_ledger_debt_open", ["community_id", "user_id", "amount_outstanding"], unique=False)

    op.create_table(
        "ledger_digest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tx_count", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prev_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_ledger_digest_community_id_community")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_digest")),
        sa.UniqueConstraint("community_id", "id", name=op.f("uq_ledger_digest_community_id_id")),
        sa.UniqueConstraint("community_id", "day", name=op.f("uq_ledger_digest_community_id_day")),
    )
    with op.batch_alter_table("ledger_digest", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_digest_community_id"), ["community_id"], unique=False)


def downgrade():
    op.drop_table("ledger_digest")
    op.drop_table("ledger_debt")
