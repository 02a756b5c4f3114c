"""Where each table lives on a distributed (Citus) database, and the rules that make that possible.

Three placements (docs/scaling.md says why, with what was measured on a cluster):

- **reference tables** (`REFERENCE_TABLES`): small, global, rarely written; copied to every node so any
  shard can join them. They carry no `community_id` and no foreign key to a distributed table.
- **community-owned tables** (every other table): distributed by `community_id`, all co-located, so a
  resident's transaction (claim, posting, order, check-in) touches one shard. Their primary key and
  every unique key include `community_id`, and a foreign key to another community-owned table is
  composite with it.
- **distributed by another column** (`DISTRIBUTED_BY`): tables whose `community_id` is optional (a
  notification or an audit entry need not belong to a community), so it cannot be the distribution
  column. A notification is read per person, so it is distributed by `user_id`; an audit entry is only
  ever appended and searched by administrators, so it is spread by its own `id`.

`tests/core/test_tenancy.py` walks the models and the migrated database with these rules, so a table
that Citus would refuse fails the build without a cluster.
"""
from sqlalchemy import PrimaryKeyConstraint

REFERENCE_TABLES = {
    "user", "api_token", "user_session", "login_throttle", "sms_code", "district", "street", "community",
    "job_run",
    # above the communities: a street's or district's administrators and the ceilings they set
    "area_admin", "setting_ceiling",
    # street-owned (civic.grid): departments, their staff, deadlines by category
    "department", "department_staff", "category_deadline",
}

DISTRIBUTED_BY = {
    "notification": "user_id",
    # a person's Idempotency-Key answers (civic.api.idempotency): keys are per person, across communities
    "api_request_key": "user_id",
    "audit_entry": "id",
    # a street's weekly and monthly summaries (one per street, community or grid of the street)
    "grid_summary": "street_id",
}

# Tables placed apart that a community's transaction writes only through its outbox (civic.core.outbox): the
# `outbox` table is community-owned, so the resident's commit stays on the community's shard and the rows
# move to these tables in transactions of their own.
WRITTEN_THROUGH_THE_OUTBOX = {"notification", "audit_entry"}

# Row triggers that only look at the row they guard (they raise, nothing else), so they are safe on
# shards; `citus distribute` turns on `citus.enable_unsafe_triggers` for the distribution of their tables.
ROW_LOCAL_TRIGGERS = {
    "ledger_posting": {"ledger_posting_append_only"},
    "ledger_transaction": {"ledger_transaction_append_only"},
}

# PostgreSQL only: triggers that read other rows, but only rows of their own row's community, which are on
# the same shard (co-located by community_id); safe there as well. The ledger's deferred balance check
# (migration 0022_ledger_balanced) sums the postings of its row's transaction at COMMIT.
SHARD_LOCAL_TRIGGERS = {
    "ledger_posting": {"ledger_posting_balanced"},
}

# Tables that are not part of the application's schema (Alembic's own bookkeeping).
UNPLACED_TABLES = {"alembic_version"}


def community_tables(metadata):
    """The community-owned tables of `metadata`, parents before children."""
    return [t for t in metadata.sorted_tables
            if t.name not in REFERENCE_TABLES and t.name not in DISTRIBUTED_BY and t.name not in UNPLACED_TABLES]


def distribution_key(table):
    """Give a distributed table a primary key that starts with its distribution column.

    Called for every model's table as it is declared (civic.extensions.Model.__table_cls__), so new
    tables follow without a line in their model. The ORM keeps identifying rows by their old key (`id`,
    unique on its own: one sequence per table), so `db.session.get(Model, id)` stays as it is; the
    table's declared key, which the migrations, `citus distribute` and the tenancy test read, becomes
    `(community_id, id)`. Returns the columns the mapper identifies rows by, or None when unchanged.

    On SQLite the database keeps `id INTEGER PRIMARY KEY` (its rowid, the only column SQLite numbers
    by itself) next to a unique `(community_id, id)`; `id` keeps `autoincrement=True` so an insert
    still reads the new id back there and on PostgreSQL.
    """
    if table.name in REFERENCE_TABLES or table.name in UNPLACED_TABLES:
        return None
    key = DISTRIBUTED_BY.get(table.name, "community_id")
    keys = [c.name for c in table.primary_key.columns]
    if key not in table.c or key in keys or "id" not in keys:
        return None
    identity = [table.c[name] for name in keys]
    columns = [table.c[key]] + identity
    table.c.id.autoincrement = True
    for column in columns:
        column.primary_key = True
    name = table.primary_key.name
    table.constraints.discard(table.primary_key)
    PrimaryKeyConstraint(*columns, name=name)._set_parent(table)
    return identity


def distribution_columns(metadata):
    """[(table, its distribution column)] for every distributed table, parents before children."""
    return [(t, DISTRIBUTED_BY.get(t.name, "community_id")) for t in metadata.sorted_tables
            if t.name not in REFERENCE_TABLES and t.name not in UNPLACED_TABLES]


# --- reloads that name their community ------------------------------------------------------------
#
# The ORM identifies a row by `id` alone (above), so reloading an expired object (after every commit)
# or loading a deferred column was `SELECT … WHERE id = :id`: on Citus a query to every shard of the
# table. The two session hooks below make such a reload name the object's community as well
# (`… WHERE id = :id AND community_id = :c`), which Citus routes to the one shard that holds it.

_COMMUNITY_OF = "civic.community_of"  # session.info key: {identity key: community_id}


def _is_community_owned(mapper):
    table = mapper.local_table
    return (table.name not in REFERENCE_TABLES and table.name not in DISTRIBUTED_BY
            and table.name not in UNPLACED_TABLES and "community_id" in table.c)


def remember_communities(session):
    """Before a commit expires every object, note each loaded community-owned object's community."""
    known = session.info.get(_COMMUNITY_OF, {})
    kept = {}
    for state in session.identity_map.all_states():
        if state.key is None or not _is_community_owned(state.mapper):
            continue
        value = state.dict.get("community_id", known.get(state.key))
        if value is not None:
            kept[state.key] = value
    session.info[_COMMUNITY_OF] = kept


def route_reloads(execute_state):
    """Add the object's community to the SELECT that reloads it (refresh, expired or deferred column)."""
    if not execute_state.is_select or not execute_state.is_column_load:
        return
    state = execute_state.load_options._refresh_state
    if state is None or state.key is None or not _is_community_owned(state.mapper):
        return
    value = state.dict.get("community_id")
    if value is None:
        value = execute_state.session.info.get(_COMMUNITY_OF, {}).get(state.key)
    if value is not None:
        execute_state.statement = execute_state.statement.where(
            state.mapper.local_table.c.community_id == value)


def install_reload_routing(session_class):
    """Register the hooks above on a Session class (civic.extensions does it for the app's sessions)."""
    from sqlalchemy import event

    if not event.contains(session_class, "after_commit", remember_communities):
        event.listen(session_class, "after_commit", remember_communities)
        event.listen(session_class, "do_orm_execute", route_reloads)
