"""citus: keys that a distributed database accepts, GPS fixes partitioned by month (issue 16)

- Every community-owned table (found generically: a non-null `community_id` and a primary key `(id)`)
  gets the primary key `(community_id, id)` on PostgreSQL. On SQLite `id` stays the INTEGER PRIMARY
  KEY (the rowid: SQLite numbers no other key by itself) and a unique `(community_id, id)` is added
  where it was missing; the models declare `(community_id, id)` (civic.core.tenancy).
- `notification` is distributed by `user_id` and `grid_summary` by `street_id`: their keys become
  `(user_id, id)` and `(street_id, id)` on PostgreSQL.
- `patrol_track_point`: the resend key becomes `(community_id, patrol_id, client_id, t)`; on PostgreSQL
  the table is rebuilt as a table partitioned by range on `t` (one partition a month and a default one,
  data kept, the id
  sequence kept), primary key `(community_id, id, t)`.
- The ledger's append-only triggers stay: they are row-local, and `citus distribute` declares them safe.

Revision ID: 0021_citus
Revises: 0024_outbox
"""
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0021_citus"
down_revision = "0024_outbox"
branch_labels = None
depends_on = None

TRACK = "patrol_track_point"
TRACK_COLUMNS = "id, community_id, patrol_id, client_id, t, lat, lon, accuracy"


def _community_tables(inspector):
    """Tables whose non-null community_id makes them community-owned and whose key is still `id` alone."""
    found = []
    for name in inspector.get_table_names():
        if name == TRACK or name == "alembic_version":
            continue
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        if "community_id" not in columns or columns["community_id"]["nullable"] or "id" not in columns:
            continue
        if inspector.get_pk_constraint(name)["constrained_columns"] == ["id"]:
            found.append(name)
    return sorted(found)


def _month(moment):
    return datetime(moment.year, moment.month, 1)


def _next_month(start):
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1)


def _partition_track_points(bind):
    """Rebuild patrol_track_point as a monthly range-partitioned table, keeping rows and ids."""
    op.execute(f"ALTER TABLE {TRACK} RENAME TO {TRACK}_unpartitioned")
    old = sa.inspect(bind)
    for fk in old.get_foreign_keys(f"{TRACK}_unpartitioned"):
        op.execute(f'ALTER TABLE {TRACK}_unpartitioned DROP CONSTRAINT "{fk["name"]}"')
    for uq in old.get_unique_constraints(f"{TRACK}_unpartitioned"):
        op.execute(f'ALTER TABLE {TRACK}_unpartitioned DROP CONSTRAINT "{uq["name"]}"')
    for ck in old.get_check_constraints(f"{TRACK}_unpartitioned"):
        op.execute(f'ALTER TABLE {TRACK}_unpartitioned DROP CONSTRAINT "{ck["name"]}"')
    pk = old.get_pk_constraint(f"{TRACK}_unpartitioned")["name"]
    op.execute(f'ALTER TABLE {TRACK}_unpartitioned DROP CONSTRAINT "{pk}"')
    for ix in old.get_indexes(f"{TRACK}_unpartitioned"):
        op.execute(f'DROP INDEX "{ix["name"]}"')
    sequence = bind.execute(sa.text(f"SELECT pg_get_serial_sequence('{TRACK}_unpartitioned', 'id')")).scalar()
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute(f"""
        CREATE TABLE {TRACK} (
            id BIGINT NOT NULL DEFAULT nextval('{sequence}'),
            community_id INTEGER NOT NULL,
            patrol_id INTEGER NOT NULL,
            client_id VARCHAR(40) NOT NULL,
            t TIMESTAMP WITHOUT TIME ZONE NOT NULL,
            lat FLOAT NOT NULL,
            lon FLOAT NOT NULL,
            accuracy FLOAT,
            CONSTRAINT pk_{TRACK} PRIMARY KEY (community_id, id, t),
            CONSTRAINT uq_{TRACK}_community_id_patrol_id_client_id_t UNIQUE (community_id, patrol_id, client_id, t),
            CONSTRAINT ck_{TRACK}_in_range CHECK (lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180),
            CONSTRAINT fk_{TRACK}_community_id_community FOREIGN KEY (community_id) REFERENCES community (id),
            CONSTRAINT fk_{TRACK}_community_id_patrol_id_patrol FOREIGN KEY (community_id, patrol_id)
                REFERENCES patrol (community_id, id)
        ) PARTITION BY RANGE (t)
    """)
    op.execute(f"CREATE INDEX ix_{TRACK}_community_id ON {TRACK} (community_id)")
    op.execute(f"CREATE INDEX ix_{TRACK}_patrol_id_t ON {TRACK} (patrol_id, t)")
    first, last = bind.execute(sa.text(f"SELECT min(t), max(t) FROM {TRACK}_unpartitioned")).one()
    now = datetime.utcnow()
    start = _month(min(first or now, now))
    end = _next_month(_next_month(_next_month(_month(max(last or now, now)))))  # two months ahead
    while start < end:
        op.execute(f"CREATE TABLE {TRACK}_{start:%Y%m} PARTITION OF {TRACK} "
                   f"FOR VALUES FROM ('{start:%Y-%m-%d}') TO ('{_next_month(start):%Y-%m-%d}')")
        start = _next_month(start)
    op.execute(f"CREATE TABLE {TRACK}_default PARTITION OF {TRACK} DEFAULT")
    op.execute(f"INSERT INTO {TRACK} ({TRACK_COLUMNS}) SELECT {TRACK_COLUMNS} FROM {TRACK}_unpartitioned")
    op.execute(f"DROP TABLE {TRACK}_unpartitioned")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {TRACK}.id")


@contextmanager
def _triggers_kept(bind, table):
    """SQLite's batch mode rebuilds a table and loses its triggers (the ledger's append-only ones): put
    them back as they were."""
    triggers = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                            {"t": table}).scalars().all()
    yield
    for sql in triggers:
        op.execute(sql)


def upgrade():
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = _community_tables(inspector)
    if bind.dialect.name == "postgresql":
        for name in tables:
            pk = inspector.get_pk_constraint(name)["name"]
            op.execute(f'ALTER TABLE "{name}" DROP CONSTRAINT "{pk}", '
                       f'ADD CONSTRAINT "{pk}" PRIMARY KEY (community_id, id)')
        for name, column in (("notification", "user_id"), ("grid_summary", "street_id")):
            pk = inspector.get_pk_constraint(name)["name"]
            op.execute(f'ALTER TABLE {name} DROP CONSTRAINT "{pk}", ADD CONSTRAINT "{pk}" PRIMARY KEY ({column}, id)')
        _partition_track_points(bind)
    else:
        for name in tables + [TRACK]:
            uniques = [u["column_names"] for u in inspector.get_unique_constraints(name)]
            if ["community_id", "id"] not in uniques:
                with _triggers_kept(bind, name), op.batch_alter_table(name) as batch_op:
                    batch_op.create_unique_constraint(f"uq_{name}_community_id_id", ["community_id", "id"])
        with _triggers_kept(bind, TRACK), op.batch_alter_table(TRACK) as batch_op:
            batch_op.drop_constraint(f"uq_{TRACK}_community_id_patrol_id_client_id", type_="unique")
            batch_op.create_unique_constraint(f"uq_{TRACK}_community_id_patrol_id_client_id_t",
                                              ["community_id", "patrol_id", "client_id", "t"])


def downgrade():
    raise NotImplementedError("0021_citus is not reversible: restore the backup taken before upgrading")
