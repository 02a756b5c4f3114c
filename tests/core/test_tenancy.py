"""Tenancy in the schema: every community-owned table can be sharded by community_id.

These are the rules of co-located distributed tables in Citus: each community-owned table carries
`community_id`, every unique constraint includes it, and every foreign key to another community-owned
table includes it. A table is community-owned unless it is listed as global below (the reference
tables a distributed database would replicate to every node).
"""
from civic.extensions import db

GLOBAL_TABLES = {
    "user", "api_token", "user_session", "login_throttle", "sms_code", "audit_entry", "notification",
    "district", "street", "community", "job_run",
    # above the communities: a street's or district's administrators and the ceilings they set
    "area_admin", "setting_ceiling",
    # street-owned (civic.grid): departments, their staff, deadlines by category, summaries
    "department", "department_staff", "category_deadline", "grid_summary",
}


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
