"""ledger_posting_index: the postings of a ledger transaction found by (community_id, transaction_id)

The deferred balance check (migration 0022_ledger_balanced) sums a transaction's postings at COMMIT, once per
posting. It named both columns, but the only indexes were one on `transaction_id` and one on `community_id`:
PostgreSQL combined the two (a BitmapAnd that reads every posting of the community), so the check grew with
the ledger: 3,000 transactions of two postings inserted in one go took 3.2 s, then 4.5 s and 6.0 s as the table
grew; with this index 0.20 s, against 0.17 s with no check at all. One index on (community_id, transaction_id)
finds them directly, serves every join from a transaction to its postings (all of them name both columns)
and the foreign key to ledger_transaction, and leads with the distribution column as Citus prefers. It
replaces both single-column indexes (the primary key (community_id, id) already leads with community_id),
so a posting now updates three indexes instead of four. Plain index changes: no table rebuild on SQLite,
so the append-only triggers stay.

The check stays one per posting. Checking once per ledger transaction (a deferred trigger on
ledger_transaction) would save at most the 10 microseconds a transaction measured above, and needs a guard on
every posting anyway (no posting added to a transaction of an earlier database transaction: a trigger per row
again, comparing xids); and it would be weaker: after `SET CONSTRAINTS ... IMMEDIATE` has run a
transaction's check, a later posting to it would never be checked, where the per-posting check refuses it at
the end of its statement.

Revision ID: 0024_ledger_posting_index
Revises: 0023_ledger_resolves
"""
from alembic import op

revision = "0024_ledger_posting_index"
down_revision = "0023_ledger_resolves"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_ledger_posting_community_id_transaction_id", "ledger_posting",
                    ["community_id", "transaction_id"])
    op.drop_index("ix_ledger_posting_transaction_id", table_name="ledger_posting")
    op.drop_index("ix_ledger_posting_community_id", table_name="ledger_posting")


def downgrade():
    op.create_index("ix_ledger_posting_community_id", "ledger_posting", ["community_id"])
    op.create_index("ix_ledger_posting_transaction_id", "ledger_posting", ["transaction_id"])
    op.drop_index("ix_ledger_posting_community_id_transaction_id", table_name="ledger_posting")
