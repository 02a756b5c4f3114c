"""idempotency: one table of Idempotency-Key answers for the whole API (issue 13)

`api_request_key` keeps a person's first answer under each key (civic.api.idempotency); it is placed by
`user_id` (civic.core.tenancy.DISTRIBUTED_BY), so its primary key is `(user_id, id)` on PostgreSQL; on
SQLite `id` alone, as for `notification`. Merit's own replay table `merit_request_key` is dropped: its
answers were only kept for retries of a few seconds, and a retry after the upgrade simply runs once more
under the new table.

Defaults: communities made before their areas seeded everything at creation get what `seed_community`
now gives a new one and reads no longer create: the privacy settings row and the badges.

Revision ID: 0019_idempotency
Revises: 0020_grid
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0019_idempotency"
down_revision = "0020_grid"
branch_labels = None
depends_on = None


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    key = (sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_api_request_key")) if postgres else
           sa.PrimaryKeyConstraint("id", name=op.f("pk_api_request_key")))
    op.create_table(
        "api_request_key",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_api_request_key_user_id_user")),
        key,
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_api_request_key_user_id_key")),
    )
    op.create_index(op.f("ix_api_request_key_user_id"), "api_request_key", ["user_id"])
    op.create_index(op.f("ix_api_request_key_created_at"), "api_request_key", ["created_at"])
    op.drop_table("merit_request_key")
    seed_existing_communities()


DEFAULT_GPS_RETENTION_DAYS = 180
# code, name (msgid), kind, threshold, category, sort: civic.ledger.gamification.BADGE_DEFINITIONS at this revision
BADGES = [
    ("first_award", "First points", "first_award", 1, None, 0),
    ("category:moral", "Good neighbour", "category", 50, "moral", 10),
    ("category:poverty", "Helping hand", "category", 50, "poverty", 11),
    ("category:filial", "Caring family", "category", 50, "filial", 12),
    ("category:labour", "Willing worker", "category", 50, "labour", 13),
    ("category:environment", "Clean and green", "category", 50, "environment", 14),
    ("milestone:100", "100 points", "milestone", 100, None, 30),
    ("milestone:500", "500 points", "milestone", 500, None, 31),
    ("milestone:1000", "1000 points", "milestone", 1000, None, 32),
]


def seed_existing_communities():
    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    for (community_id,) in bind.execute(sa.text("SELECT id FROM community")).all():
        if not bind.execute(sa.text("SELECT count(*) FROM privacy_settings WHERE community_id = :c"),
                            {"c": community_id}).scalar():
            bind.execute(sa.text("INSERT INTO privacy_settings (community_id, gps_retention_days, updated_at) "
                                 "VALUES (:c, :days, :now)"),
                         {"c": community_id, "days": DEFAULT_GPS_RETENTION_DAYS, "now": now})
        have = {row[0] for row in bind.execute(sa.text("SELECT code FROM ledger_badge WHERE community_id = :c"),
                                               {"c": community_id})}
        for code, name, kind, threshold, category, sort in BADGES:
            if code not in have:
                bind.execute(sa.text("INSERT INTO ledger_badge (community_id, code, name, kind, threshold, category, "
                                     "sort, active) VALUES (:c, :code, :name, :kind, :threshold, :category, :sort, "
                                     ":active)"),
                             {"c": community_id, "code": code, "name": name, "kind": kind, "threshold": threshold,
                              "category": category, "sort": sort, "active": True})


def downgrade():
    op.create_table(
        "merit_request_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_merit_request_key_community_id_community")),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_merit_request_key_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merit_request_key")),
        sa.UniqueConstraint("community_id", "user_id", "key",
                            name=op.f("uq_merit_request_key_community_id_user_id_key")),
    )
    op.create_index(op.f("ix_merit_request_key_community_id"), "merit_request_key", ["community_id"])
    op.create_index(op.f("ix_merit_request_key_user_id"), "merit_request_key", ["user_id"])
    op.drop_index(op.f("ix_api_request_key_created_at"), table_name="api_request_key")
    op.drop_index(op.f("ix_api_request_key_user_id"), table_name="api_request_key")
    op.drop_table("api_request_key")
