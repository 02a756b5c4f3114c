"""Tenancy in the schema: every table can be placed on a distributed (Citus) database.

These are the rules that made a Citus 13 cluster refuse the schema (issue 16), checked without a
cluster: a community-owned table carries a non-null `community_id` (its distribution column), its
primary key and every unique constraint include it, every foreign key to another community-owned table
includes it, and it has no trigger except the row-local ones listed in civic.core.tenancy. Tables whose
`community_id` is optional are distributed by another non-null column, and reference tables (the global
tables replicated to every node) carry no `community_id` and point at no distributed table.
"""
from sqlalchemy import inspect, text

from civic.core.tenancy import (
    DISTRIBUTED_BY,
    REFERENCE_TABLES,
    ROW_LOCAL_TRIGGERS,
    SHARD_LOCAL_TRIGGERS,
    UNPLACED_TABLES,
    WRITTEN_THROUGH_THE_OUTBOX,
)
from civic.extensions import db
from tests.sql import recorded

GLOBAL_TABLES = REFERENCE_TABLES | set(DISTRIBUTED_BY)


def _community_tables():
    return [t for t in db.metadata.sorted_tables if t.name not in GLOBAL_TABLES]


def test_every_community_owned_table_has_an_indexed_community_id(app):
    """A community-owned table without community_id cannot be sharded by community."""
    problems = []
    for table in _community_tables():
        column = table.columns.get("community_id")
        if column is None:
            problems.append(f"{table.name}: no community_id")
            continue
        if column.nullable:
            problems.append(f"{table.name}: community_id is nullable")
        indexed = any(list(ix.columns)[0].name == "community_id" for ix in table.indexes) or any(
            list(uc.columns)[0].name == "community_id" for uc in table.constraints if hasattr(uc, "columns")
            and uc.__class__.__name__ == "UniqueConstraint")
        if not indexed:
            problems.append(f"{table.name}: community_id is not indexed")
    assert problems == []


def test_unique_constraints_include_community_id(app):
    """Every unique constraint (and unique index) of a community-owned table includes community_id."""
    problems = []
    for table in _community_tables():
        for constraint in table.constraints:
            if constraint.__class__.__name__ == "UniqueConstraint":
                names = {c.name for c in constraint.columns}
                if "community_id" not in names:
                    problems.append(f"{table.name}: unique {sorted(names)}")
        for index in table.indexes:
            if index.unique and "community_id" not in {c.name for c in index.columns}:
                problems.append(f"{table.name}: unique index {index.name}")
        for column in table.columns:
            if column.unique and column.name != "community_id":
                problems.append(f"{table.name}: unique column {column.name}")
    assert problems == []


def test_foreign_keys_between_community_tables_include_community_id(app):
    """A foreign key from one community-owned table to another is composite with community_id."""
    community_tables = {t.name for t in _community_tables()}
    problems = []
    for table in _community_tables():
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name in community_tables:
                local = [c.name for c in fk.columns]
                remote = [e.column.name for e in fk.elements]
                if "community_id" not in local or remote[local.index("community_id")] != "community_id":
                    problems.append(f"{table.name} -> {fk.referred_table.name} on {local}")
    assert problems == []


def test_primary_keys_of_community_tables_include_community_id(app):
    """Citus refuses a distributed table whose primary key leaves out the distribution column."""
    problems = [f"{t.name}: primary key {[c.name for c in t.primary_key.columns]}" for t in _community_tables()
                if "community_id" not in {c.name for c in t.primary_key.columns}]
    assert problems == []


def test_primary_keys_in_the_migrated_database_include_community_id(app, is_postgres):
    """The migrations give the database the same keys (on SQLite `id` stays the rowid key, with a
    unique (community_id, id) beside it: SQLite numbers only a one-column INTEGER PRIMARY KEY)."""
    with app.app_context():
        inspector = inspect(db.engine)
        problems = []
        for table in _community_tables():
            keys = inspector.get_pk_constraint(table.name)["constrained_columns"]
            uniques = [u["column_names"] for u in inspector.get_unique_constraints(table.name)]
            if is_postgres and "community_id" not in keys:
                problems.append(f"{table.name}: primary key {keys}")
            if not is_postgres and "community_id" not in keys and ["community_id", "id"] not in uniques:
                problems.append(f"{table.name}: neither key nor unique (community_id, id)")
    assert problems == []


def test_tables_with_an_optional_community_are_distributed_by_another_column(app):
    """A nullable community_id cannot be a distribution column: such a table says how it is placed, by a
    non-null column that is in its primary key and in every unique key, and it points only at reference
    tables (it is not co-located with the communities), and no table points at it."""
    problems = []
    for table in db.metadata.sorted_tables:
        column = table.columns.get("community_id")
        if column is not None and column.nullable and table.name not in DISTRIBUTED_BY:
            problems.append(f"{table.name}: optional community_id, but no placement in DISTRIBUTED_BY")
    for name, key in DISTRIBUTED_BY.items():
        table = db.metadata.tables[name]
        if key not in table.c or table.c[key].nullable:
            problems.append(f"{name}: distribution column {key} missing or nullable")
        if key not in {c.name for c in table.primary_key.columns}:
            problems.append(f"{name}: primary key leaves out {key}")
        for constraint in table.constraints:
            if constraint.__class__.__name__ == "UniqueConstraint" and key not in {c.name for c in constraint.columns}:
                problems.append(f"{name}: unique without {key}")
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name not in REFERENCE_TABLES:
                problems.append(f"{name} -> {fk.referred_table.name}: not a reference table")
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name in DISTRIBUTED_BY and fk.referred_table is not table:
                problems.append(f"{table.name} -> {fk.referred_table.name}: points at a table placed apart")
    assert problems == []


def test_reference_tables_are_global(app):
    """A reference table is copied to every node: it has no community_id, and Citus refuses a foreign key
    from a reference table to a distributed one."""
    problems = []
    for name in REFERENCE_TABLES:
        table = db.metadata.tables[name]
        if "community_id" in table.c:
            problems.append(f"{name}: has community_id")
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name not in REFERENCE_TABLES:
                problems.append(f"{name} -> {fk.referred_table.name}: reference table points at a distributed one")
    assert problems == []


def test_every_table_is_placed(app):
    """Each table of the migrated database is a model's table (so the rules above saw it)."""
    with app.app_context():
        names = set(inspect(db.engine).get_table_names())
    unknown = names - set(db.metadata.tables) - UNPLACED_TABLES
    assert {n for n in unknown if not n.startswith("patrol_track_point_")} == set()


def test_no_trigger_citus_refuses(app, is_postgres):
    """Citus refuses to distribute a table with triggers unless told they are safe; only the row-local
    append-only triggers of the ledger are (they raise, and read nothing else), and on PostgreSQL its
    deferred balance check (it reads only its own community's postings, on the same shard)."""
    with app.app_context(), db.engine.connect() as conn:
        if is_postgres:
            rows = conn.execute(text(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = current_schema()")).all()
        else:
            rows = conn.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")).all()
    allowed = {table: ROW_LOCAL_TRIGGERS.get(table, set()) | (SHARD_LOCAL_TRIGGERS.get(table, set()) if is_postgres
                                                              else set())
               for table in set(ROW_LOCAL_TRIGGERS) | set(SHARD_LOCAL_TRIGGERS)}
    unexpected = [(table, name) for table, name in rows if name not in allowed.get(table, set())]
    assert unexpected == []
    assert {name for _, name in rows} == set().union(*allowed.values())


def test_stored_files_live_on_their_communitys_shard(app):
    """Every web node must read a photo (issue 16): its bytes are a column of a community-owned table, so
    they sit on the owning community's shard and in every database backup. A binary column in a reference
    table would be copied to every node; one in a table distributed by another column would put a
    resident's photo on another node than the rows that cite it."""
    from sqlalchemy import LargeBinary

    binary = {(t.name, c.name) for t in db.metadata.sorted_tables for c in t.columns
              if isinstance(c.type, LargeBinary)}
    assert ("upload", "data") in binary
    community = {t.name for t in _community_tables()}
    assert {(table, column) for table, column in binary if table not in community} == set()
    upload = db.metadata.tables["upload"]
    assert [c.name for c in upload.primary_key.columns][0] == "community_id"


def test_a_reload_after_a_commit_names_the_community(app_ctx):
    """The ORM identifies rows by id; reloading an object after a commit (and loading a deferred column)
    also names its community, so Citus sends it to one shard instead of every shard (civic.core.tenancy)."""
    from sqlalchemy import select

    from civic.core.uploads import Upload
    from tests import factories

    community = factories.make_community()
    user = factories.make_member(community)
    name = factories.make_upload(community, user, data=b"\xff\xd8")
    upload = db.session.scalar(select(Upload).where(Upload.community_id == community.id, Upload.name == name))
    db.session.commit()
    with recorded() as statements:
        assert upload.size == 2 and upload.data == b"\xff\xd8"  # the reload, then the deferred column
    reloads = [(" ".join(s.split()), s.params) for s in statements if "FROM upload" in s]
    assert len(reloads) == 2
    for statement, params in reloads:
        where = statement.split(" WHERE ", 1)[1]
        assert "upload.id" in where and "upload.community_id" in where, statement
        assert community.id in (params.values() if isinstance(params, dict) else params)


def test_the_outbox_is_community_owned_and_its_targets_are_placed_apart(app):
    """A resident's notices and audit entries go to the outbox, which must live on the community's shard
    (distributed by a non-null community_id, first in its key); what it delivers to is placed apart."""
    outbox = db.metadata.tables["outbox"]
    assert outbox.name not in GLOBAL_TABLES
    assert not outbox.c.community_id.nullable
    assert [c.name for c in outbox.primary_key.columns] == ["community_id", "id"]
    assert WRITTEN_THROUGH_THE_OUTBOX <= set(DISTRIBUTED_BY)
