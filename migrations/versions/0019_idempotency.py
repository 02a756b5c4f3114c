"""idempotency: one table of Idempotency-Key answers for the whole API (issue 13)

`api_request_key` keeps a person's first answer under each key (civic.api.idempotency); it is placed by
`user_id` (civic.core.tenancy.DISTRIBUTED_BY), so its primary key is `(user_id, id)` on PostgreSQL and
`id` with a unique `(user_id, id)` on SQLite. Merit's own replay table `merit_request_key` is dropped: its
answers were only kept for retries of a few seconds, and a retry after the upgrade simply runs once more
under the new table.

Revision ID: 0019_idempotency
Revises: 0020_grid
"""
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
    extra = [] if postgres else [sa.UniqueConstraint("user_id", "id", name=op.f("uq_api_request_key_user_id_id"))]
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
        *extra,
    )
    op.create_index(op.f("ix_api_request_key_user_id"), "api_request_key", ["user_id"])
    op.create_index(op.f("ix_api_request_key_created_at"), "api_request_key", ["created_at"])
    op.drop_table("merit_request_key")


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
