"""ledger_balanced: PostgreSQL refuses, at COMMIT, a ledger transaction whose postings do not sum to zero

A deferred constraint trigger (as django-hordak does) on ledger_posting: when the database transaction
commits, each ledger transaction that received postings must have two or more of them, summing to zero.
It reads only the postings of the same community and ledger transaction, which Citus keeps on the
community's shard (co-located by community_id), so it stays shard-local: `citus distribute` declares it
safe with the append-only triggers (civic.core.tenancy.ROW_LOCAL_TRIGGERS). SQLite has no deferred
triggers: there the code and `flask ledger verify` guard the rule.

Revision ID: 0022_ledger_balanced
Revises: 0022_upload_data
"""
from alembic import op

revision = "0022_ledger_balanced"
down_revision = "0022_upload_data"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION ledger_balanced() RETURNS trigger AS $$
        DECLARE
            total bigint;
            legs integer;
        BEGIN
            SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, legs FROM ledger_posting
             WHERE community_id = NEW.community_id AND transaction_id = NEW.transaction_id;
            IF total <> 0 OR legs < 2 THEN
                RAISE EXCEPTION 'ledger transaction % is unbalanced: % postings summing to %',
                    NEW.transaction_id, legs, total USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
    """)
    op.execute("CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_balanced()")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting")
    op.execute("DROP FUNCTION IF EXISTS ledger_balanced()")
