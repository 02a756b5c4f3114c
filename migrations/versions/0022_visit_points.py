"""visit points: a community's grid settings (the points a household visit earns, 0 by default, changed through
the four-eyes gate) and "visit" as a cause of a sourced award on the notice board

Revision ID: 0022_visit_points
Revises: 0019_idempotency
"""
import sqlalchemy as sa
from alembic import op

revision = "0022_visit_points"
down_revision = "0019_idempotency"
branch_labels = None
depends_on = None

SOURCES = "source_kind IS NULL OR (source_kind IN ({}) AND source_id IS NOT NULL AND kind = 'award')"


def _sources(kinds):
    with op.batch_alter_table("merit_claim", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_merit_claim_source"), type_="check")
        batch_op.create_check_constraint(op.f("ck_merit_claim_source"),
                                         SOURCES.format(", ".join(f"'{k}'" for k in kinds)))


def upgrade():
    op.create_table(
        "grid_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("visit_points", sa.Integer(), nullable=False),
        sa.CheckConstraint("visit_points BETWEEN 0 AND 10000", name=op.f("ck_grid_settings_visit_points")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_grid_settings_community_id_community")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_settings")),
        sa.UniqueConstraint("community_id", name=op.f("uq_grid_settings_community_id")),
    )
    with op.batch_alter_table("grid_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_settings_community_id"), ["community_id"], unique=False)
    _sources(("patrol", "report", "meeting", "visit"))


def downgrade():
    op.execute("DELETE FROM merit_objection WHERE claim_id IN (SELECT id FROM merit_claim WHERE source_kind = 'visit')")
    op.execute("DELETE FROM merit_claim WHERE source_kind = 'visit'")
    _sources(("patrol", "report", "meeting"))
    with op.batch_alter_table("grid_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_settings_community_id"))
    op.drop_table("grid_settings")
