"""ledger_resolves: a settle or release names the hold it closes, and closes it at most once

`ledger_transaction.resolves_id` (the hold transaction's id) with a unique index on
(community_id, resolves_id): a second settle or release of one hold is refused by the database, whatever
the calling code does (as TigerBeetle's post and void name their pending_id). The index includes
community_id, as Citus requires of a unique index on a table distributed by it. Added as a column and an
index (no table rebuild on SQLite, so the append-only triggers stay).

Revision ID: 0023_ledger_resolves
Revises: 0022_ledger_balanced
"""
import sqlalchemy as sa
from alembic import op

revision = "0023_ledger_resolves"
down_revision = "0022_ledger_balanced"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("ledger_transaction", sa.Column("resolves_id", sa.Integer(), nullable=True))
    op.create_index("uq_ledger_transaction_resolves", "ledger_transaction", ["community_id", "resolves_id"],
                    unique=True)


def downgrade():
    op.drop_index("uq_ledger_transaction_resolves", table_name="ledger_transaction")
    with op.batch_alter_table("ledger_transaction") as batch_op:
        batch_op.drop_column("resolves_id")
