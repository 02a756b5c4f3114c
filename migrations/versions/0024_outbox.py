"""outbox: a resident's notices and audit entries are written on the community's shard (issue 16)

`outbox` holds the notifications and audit entries of a community's transactions until they are moved
into `notification` (placed by person) and `audit_entry` (placed by id) in transactions of their own
(civic.core.outbox), so a resident's commit stays on one shard. A community-owned table: `0021_citus`
gives it the primary key `(community_id, id)` on PostgreSQL like every other one.

Revision ID: 0024_outbox
Revises: 0024_ledger_posting_index
"""
import sqlalchemy as sa
from alembic import op

revision = "0024_outbox"
down_revision = "0024_ledger_posting_index"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_outbox_community_id_community")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(op.f("ix_outbox_community_id"), "outbox", ["community_id"])
    op.create_index(op.f("ix_outbox_at"), "outbox", ["at"])


def downgrade():
    op.drop_index(op.f("ix_outbox_at"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_community_id"), table_name="outbox")
    op.drop_table("outbox")
