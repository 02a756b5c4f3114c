"""upload data: every photo's bytes move into its `upload` row, so that every web node serves it, it
lives on its community's shard, and a database backup holds it (issue 16)

Each upload row takes the bytes of its file in UPLOADS_DIR (the app's setting, else the environment;
default instance/uploads) and the file's size. The files are left where they are (archive and remove
the folder once the upgrade is checked); a row whose file is missing keeps `data` empty and is not
served. Downgrade writes the bytes back into UPLOADS_DIR, then drops the column.

Revision ID: 0022_upload_data
Revises: 0022_visit_points
"""
import os

import sqlalchemy as sa
from alembic import op

revision = "0022_upload_data"
down_revision = "0022_visit_points"
branch_labels = None
depends_on = None

BATCH = 200


def _uploads_dir():
    try:
        from flask import current_app

        return current_app.config["UPLOADS_DIR"]
    except (ImportError, RuntimeError, KeyError):
        here = os.path.dirname(os.path.abspath(__file__))
        return os.environ.get("UPLOADS_DIR") or os.path.join(here, "..", "..", "instance", "uploads")


def _safe(name):
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


upload = sa.table("upload", sa.column("id", sa.Integer), sa.column("name", sa.String),
                  sa.column("size", sa.Integer), sa.column("data", sa.LargeBinary))


def upgrade():
    op.add_column("upload", sa.Column("data", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    folder = _uploads_dir()
    if not folder or not os.path.isdir(folder):
        return
    last = 0
    while True:  # in batches, so that only one batch of photos is in memory
        rows = conn.execute(sa.select(upload.c.id, upload.c.name).where(upload.c.id > last)
                            .order_by(upload.c.id).limit(BATCH)).all()
        if not rows:
            break
        for row in rows:
            path = os.path.join(folder, row.name or "")
            if _safe(row.name) and os.path.isfile(path):
                with open(path, "rb") as f:
                    data = f.read()
                conn.execute(sa.update(upload).where(upload.c.id == row.id).values(data=data, size=len(data)))
        last = rows[-1].id


def downgrade():
    conn = op.get_bind()
    folder = _uploads_dir()
    os.makedirs(folder, exist_ok=True)
    for row in conn.execute(sa.select(upload.c.name, upload.c.data).where(upload.c.data.isnot(None))):
        path = os.path.join(folder, row.name)
        if _safe(row.name) and not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(row.data)
    op.drop_column("upload", "data")
