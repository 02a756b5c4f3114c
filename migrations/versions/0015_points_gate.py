"""points gate: every award (patrols, confirmed reports, meeting attendance) is a merit claim on the notice
board before it posts: merit_claim.rule_id nullable, source_kind and source_id naming the cause.

Revision ID: 0015_points_gate
Revises: 0014_operations
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_points_gate"
down_revision = "0014_operations"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("merit_claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_kind", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("source_id", sa.Integer(), nullable=True))
        batch_op.alter_column("rule_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(op.f("uq_merit_claim_community_id_source_kind_source_id_resident_id"),
                                          ["community_id", "source_kind", "source_id", "resident_id"])
        batch_op.create_check_constraint(
            op.f("ck_merit_claim_source"),
            "source_kind IS NULL OR (source_kind IN ('patrol', 'report', 'meeting') "
            "AND source_id IS NOT NULL AND kind = 'award')")
        batch_op.create_check_constraint(op.f("ck_merit_claim_rule_or_source"),
                                         "rule_id IS NOT NULL OR source_kind IS NOT NULL")


def downgrade():
    op.execute("DELETE FROM merit_objection WHERE claim_id IN (SELECT id FROM merit_claim WHERE rule_id IS NULL)")
    op.execute("DELETE FROM merit_claim WHERE rule_id IS NULL")
    with op.batch_alter_table("merit_claim", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_merit_claim_rule_or_source"), type_="check")
        batch_op.drop_constraint(op.f("ck_merit_claim_source"), type_="check")
        batch_op.drop_constraint(op.f("uq_merit_claim_community_id_source_kind_source_id_resident_id"),
                                 type_="unique")
        batch_op.alter_column("rule_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("source_id")
        batch_op.drop_column("source_kind")
