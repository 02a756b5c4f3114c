"""Turn a migrated database on a Citus coordinator into the distributed layout (`flask --app wsgi citus
distribute`, docs/scaling.md).

- the global tables (civic.core.tenancy.REFERENCE_TABLES) become reference tables, copied to every node;
- every community-owned table is distributed by `community_id`, all co-located with the first one, so
  the rows of one community (and every transaction of its residents) live on one shard;
- `notification` and `audit_entry` are distributed by their own column (civic.core.tenancy.DISTRIBUTED_BY);
  a community's transaction writes them through `outbox`, a community-owned table placed with the others;
- tables go in foreign-key order (a referenced table is placed before the tables that point at it).

Idempotent: a table already placed is left as it is, so the command can run after every migration (a
table added later is placed then). The ledger's append-only triggers only look at their own row, so
they are declared safe for the distribution (`citus.enable_unsafe_triggers`, for this session only):
Citus then creates them on every shard, where they go on refusing UPDATE and DELETE. So is the ledger's
deferred balance check (civic.core.tenancy.SHARD_LOCAL_TRIGGERS): it reads only the postings of its own
row's community and transaction, which are on the same shard.
"""
from sqlalchemy import text

from civic.core.tenancy import DISTRIBUTED_BY, REFERENCE_TABLES, UNPLACED_TABLES


class NotCitus(Exception):
    """The database is not a Citus coordinator."""


def placed_tables(conn):
    """{table: (method, distribution column or None, co-location group)} of the tables Citus knows."""
    rows = conn.execute(text(
        "SELECT logicalrelid::regclass::text, partmethod, "
        "column_to_column_name(logicalrelid, partkey), colocationid FROM pg_dist_partition")).all()
    return {name.strip('"'): (method, column, group) for name, method, column, group in rows}


def plan(metadata, existing):
    """[(table, 'reference' | distribution column, colocate_with)] in foreign-key order."""
    steps, anchor = [], None
    for table in metadata.sorted_tables:
        if table.name not in existing or table.name in UNPLACED_TABLES:
            continue
        if table.name in REFERENCE_TABLES:
            steps.append((table.name, "reference", None))
        elif table.name in DISTRIBUTED_BY:
            steps.append((table.name, DISTRIBUTED_BY[table.name], "none"))
        else:
            steps.append((table.name, "community_id", anchor or "none"))
            anchor = anchor or table.name
    # reference tables first: distributed tables point at them
    return sorted(steps, key=lambda step: step[1] != "reference")


def distribute(conn, metadata, echo=print):
    """Place every table; returns the number of tables placed by this run."""
    if not conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).scalar():
        raise NotCitus("this database has no citus extension: run CREATE EXTENSION citus on the coordinator")
    workers = conn.execute(text("SELECT count(*) FROM citus_get_active_worker_nodes()")).scalar()
    echo(f"Citus coordinator with {workers} active worker node(s).")
    existing = set(conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
    placed = placed_tables(conn)
    conn.execute(text("SET citus.enable_unsafe_triggers = on"))  # the row-local append-only triggers
    # place tables one by one, in foreign-key order: no temporary "Citus local" conversion of the rest
    conn.execute(text("SET citus.enable_local_reference_table_foreign_keys = off"))
    done = 0
    for name, column, colocate in plan(metadata, existing):
        if name in placed:
            method, have, _group = placed[name]
            want = "n" if column == "reference" else "h"
            if method != want or (want == "h" and have != column):
                raise RuntimeError(f"{name} is already placed differently ({method}, {have}): undistribute it first")
            echo(f"  {name}: already {'a reference table' if want == 'n' else 'distributed by ' + column}")
            continue
        if column == "reference":
            conn.execute(text("SELECT create_reference_table(:t)"), {"t": name})
            echo(f"  {name}: reference table")
        else:
            conn.execute(text("SELECT create_distributed_table(:t, :c, colocate_with => :w)"),
                         {"t": name, "c": column, "w": colocate})
            echo(f"  {name}: distributed by {column}" + (f", co-located with {colocate}" if colocate != "none" else ""))
        done += 1
    conn.execute(text("RESET citus.enable_unsafe_triggers"))
    return done
