"""uploads: the upload table (who uploaded which photo in which community, what cites it), backfilled
for every photo existing rows already cite, so that an existing install keeps serving them

Revision ID: 0018_uploads
Revises: 0017_auth_security
"""
import os
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0018_uploads"
down_revision = "0017_auth_security"
branch_labels = None
depends_on = None

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def _uploads_dir():
    try:
        from flask import current_app

        return current_app.config["UPLOADS_DIR"]
    except (ImportError, RuntimeError, KeyError):
        return os.environ.get("UPLOADS_DIR", "")


def _size(folder, name):
    try:
        return os.path.getsize(os.path.join(folder, name)) if folder else 0
    except OSError:
        return 0


def _cited_photos(conn):
    """(community_id, name, uploader_id, created_at, kind, object_id) for every photo a row cites."""
    def table(name, *columns):
        types = {"photos": sa.JSON, "created_at": sa.DateTime, "at": sa.DateTime}
        return sa.table(name, *[sa.column(c, types.get(c)) for c in columns])

    claim = table("merit_claim", "id", "community_id", "created_by_id", "created_at", "photos")
    for row in conn.execute(sa.select(claim)):
        for name in row.photos or []:
            yield row.community_id, name, row.created_by_id, row.created_at, "claim", row.id
    report = table("patrol_report", "id", "community_id", "reporter_id", "created_at", "photo", "resolution_photo")
    for row in conn.execute(sa.select(report)):
        if row.photo:
            yield row.community_id, row.photo, row.reporter_id, row.created_at, "report", row.id
    event = table("patrol_report_event", "report_id", "community_id", "actor_id", "at", "photo")
    for row in conn.execute(sa.select(event).where(event.c.photo.isnot(None))):
        yield row.community_id, row.photo, row.actor_id, row.at, "report", row.report_id
    for row in conn.execute(sa.select(report).where(report.c.resolution_photo.isnot(None))):
        yield row.community_id, row.resolution_photo, None, row.created_at, "report", row.id
    item = table("shop_item", "id", "community_id", "photo")
    for row in conn.execute(sa.select(item).where(item.c.photo.isnot(None))):
        yield row.community_id, row.photo, None, None, "shop_item", row.id
    topic = table("delib_topic", "id", "community_id", "proposer_id", "created_at", "photos")
    for row in conn.execute(sa.select(topic)):
        for name in row.photos or []:
            yield row.community_id, name, row.proposer_id, row.created_at, "topic", row.id
    progress = table("delib_progress", "id", "community_id", "author_id", "created_at", "photos")
    for row in conn.execute(sa.select(progress)):
        for name in row.photos or []:
            yield row.community_id, name, row.author_id, row.created_at, "progress", row.id


def upgrade():
    upload = op.create_table(
        "upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("uploader_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attached_kind", sa.String(length=30), nullable=True),
        sa.Column("attached_id", sa.Integer(), nullable=True),
        sa.Column("attached_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_upload_community_id_community")),
        sa.ForeignKeyConstraint(["uploader_id"], ["user.id"], name=op.f("fk_upload_uploader_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload")),
        sa.UniqueConstraint("community_id", "name", name="uq_upload_community_id_name"),
    )
    op.create_index("ix_upload_name", "upload", ["name"], unique=False)
    op.create_index("ix_upload_uploader_id_created_at", "upload", ["uploader_id", "created_at"], unique=False)
    op.create_index("ix_upload_attached_at_created_at", "upload", ["attached_at", "created_at"], unique=False)

    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    folder, seen, rows = _uploads_dir(), set(), []
    for community_id, name, uploader_id, created_at, kind, object_id in _cited_photos(conn):
        if not isinstance(name, str) or not name or (community_id, name) in seen:
            continue
        seen.add((community_id, name))
        rows.append({"community_id": community_id, "uploader_id": uploader_id, "name": name[:64],
                     "size": _size(folder, name), "content_type": CONTENT_TYPES.get(name.rpartition(".")[2], "image/jpeg"),
                     "created_at": created_at or now, "attached_kind": kind, "attached_id": object_id,
                     "attached_at": created_at or now})
    for start in range(0, len(rows), 1000):
        op.bulk_insert(upload, rows[start:start + 1000])


def downgrade():
    op.drop_index("ix_upload_attached_at_created_at", table_name="upload")
    op.drop_index("ix_upload_uploader_id_created_at", table_name="upload")
    op.drop_index("ix_upload_name", table_name="upload")
    op.drop_table("upload")
