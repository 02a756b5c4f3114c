"""Privacy rules: GPS point retention, a resident's data download, account closure, community export.

- Raw patrol GPS points are kept for the days the community sets (default 180), then deleted in
  batches by a scheduled job; each patrol keeps its measured summary (distance, time, flags, point count).
- A resident downloads everything held about them as one JSON document.
- A resident closes their account: pending vouchers are refunded through the shop, upcoming shift
  sign-ups withdrawn, memberships left, roles removed, tokens revoked and the person anonymised.
  The ledger keeps every posting (append-only) pointing at the same account, so balances and
  `verify()` are unchanged.
- A community's own rows (every table carrying community_id) are exported as JSON.
"""
import json
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, delete, exists, func, or_, select, update

from civic.core import audit
from civic.core.clock import resolve
from civic.core.db import get_or_create
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.permissions import COMMITTEE, require
from civic.extensions import db
from civic.privacy.models import (
    DEFAULT_GPS_RETENTION_DAYS,
    MAX_GPS_RETENTION_DAYS,
    MIN_GPS_RETENTION_DAYS,
    PrivacySettings,
)

EXPORT_FORMAT = "civic-user-data/1"
COMMUNITY_EXPORT_FORMAT = "civic-community-export/1"
CLOSED_NAME = "已注销居民 #%s"
PURGE_BATCH = 100  # patrols per batch

# Columns that say "this row is about this person" (not "this person handled it").
OWNER_COLUMNS = ("user_id", "owner_id", "resident_id", "proposer_id", "reporter_id", "author_id", "subject_id")
EXTRA_OWNER_COLUMNS = {"audit_entry": ("actor_id",)}
# Never part of a download or an export.
SECRET_COLUMNS = {"password_hash", "token_hash", "key_hash"}
SKIP_TABLES = {"user", "alembic_version", "login_throttle"}


# --- settings -------------------------------------------------------------------------------------

def settings_for(community_id):
    """The community's privacy settings (an unsaved default row when never set)."""
    row = db.session.scalar(select(PrivacySettings).where(PrivacySettings.community_id == community_id))
    return row or PrivacySettings(community_id=community_id, gps_retention_days=DEFAULT_GPS_RETENTION_DAYS)


def update_settings(actor, community_id, *, gps_retention_days, now=None):
    """The committee sets how many days raw GPS points of finished patrols are kept."""
    require(actor, "privacy.configure", community_id)
    now = resolve(now)
    try:
        days = int(gps_retention_days)
    except (TypeError, ValueError):
        raise Invalid(N_("Please enter a number of days.")) from None
    if not MIN_GPS_RETENTION_DAYS <= days <= MAX_GPS_RETENTION_DAYS:
        raise Invalid(N_("Keep GPS points between %(low)s and %(high)s days."),
                      low=MIN_GPS_RETENTION_DAYS, high=MAX_GPS_RETENTION_DAYS)
    row = get_or_create(PrivacySettings, lock=True, community_id=community_id)[0]
    before = row.gps_retention_days
    row.gps_retention_days, row.updated_by_id, row.updated_at = days, actor.id, now
    db.session.flush()
    audit.record("privacy.retention_changed", actor=actor, community_id=community_id,
                 detail={"from": before, "to": days}, now=now)
    return row


# --- GPS retention --------------------------------------------------------------------------------

def _retention_groups():
    """[(days, community ids or None for "every community without its own setting")]."""
    configured = db.session.execute(select(PrivacySettings.community_id, PrivacySettings.gps_retention_days)).all()
    by_days = {}
    for community_id, days in configured:
        by_days.setdefault(days, []).append(community_id)
    groups = [(days, ids) for days, ids in sorted(by_days.items())]
    groups.append((DEFAULT_GPS_RETENTION_DAYS, None))
    return groups, [c for c, _ in configured]


def longest_gps_retention_days():
    """The longest GPS retention of any community (the default for those without their own)."""
    longest = db.session.scalar(select(func.max(PrivacySettings.gps_retention_days)))
    return max(longest or 0, DEFAULT_GPS_RETENTION_DAYS)


def _due_patrols(days, community_ids, configured, now, limit):
    """Finished patrols past the retention period that still have raw points (locked, skipping locked rows)."""
    from civic.patrols.models import Patrol, TrackPoint

    query = (
        select(Patrol.community_id, Patrol.id)
        .where(Patrol.status != "active", Patrol.ended_at.is_not(None), Patrol.ended_at < now - timedelta(days=days),
               exists().where(TrackPoint.community_id == Patrol.community_id, TrackPoint.patrol_id == Patrol.id))
        .order_by(Patrol.id).limit(limit)
    )
    if community_ids is not None:
        query = query.where(Patrol.community_id.in_(community_ids))
    elif configured:
        query = query.where(Patrol.community_id.not_in(configured))
    if db.session.get_bind().dialect.name == "postgresql":
        # Two workers take different patrols; a patrol being reviewed right now waits for the next run.
        query = query.with_for_update(of=Patrol, skip_locked=True)
    return db.session.execute(query).all()


def purge_batch(*, now=None, limit=None):
    """Delete the raw GPS points of up to `limit` patrols past their community's retention period.

    The patrol row keeps its summary (distance, moving time, flags, point count) and is marked with
    `track_deleted_at` in its summary, so it is never measured again. Returns (patrols, points) deleted.
    """
    from civic.patrols.models import Patrol

    now = resolve(now)
    limit = limit or PURGE_BATCH
    groups, configured = _retention_groups()
    patrols = points = 0
    for days, community_ids in groups:
        if patrols >= limit:
            break
        for _community_id, patrol_id in _due_patrols(days, community_ids, configured, now, limit - patrols):
            points += _forget_track(db.session.get(Patrol, patrol_id), now)
            patrols += 1
    db.session.flush()
    return patrols, points


#: Places kept in a patrol's summary; they go with the raw points.
SUMMARY_PLACES = ("start", "end", "bbox")


def _forget_track(patrol, now):
    """Delete one patrol's raw points and the places in its summary; keep distance, time, flags and
    the point count. Returns the number of points deleted."""
    from civic.patrols.models import TrackPoint

    summary = {k: v for k, v in (patrol.summary or {}).items() if k not in SUMMARY_PLACES}
    summary.setdefault("track_deleted_at", now.isoformat(timespec="seconds"))
    summary.setdefault("track_points", patrol.point_count)
    patrol.summary = summary
    result = db.session.execute(delete(TrackPoint).where(
        TrackPoint.community_id == patrol.community_id, TrackPoint.patrol_id == patrol.id))
    return result.rowcount or 0


def track_deleted(patrol):
    """True when the patrol's raw points were deleted under the retention rule."""
    return bool((patrol.summary or {}).get("track_deleted_at"))


# --- serialising rows -----------------------------------------------------------------------------

def _value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def row_dict(table, row):
    """One database row as a JSON-ready dict, without secrets."""
    return {key: _value(value) for key, value in row._mapping.items() if key not in SECRET_COLUMNS}


def _rows(table, condition):
    order = [c for c in table.primary_key.columns] or list(table.columns)[:1]
    return [row_dict(table, r) for r in db.session.execute(select(table).where(condition).order_by(*order))]


# --- a resident's data download -------------------------------------------------------------------

def user_data(user, *, now=None):
    """Everything held about `user`, as one JSON-ready dict.

    Tables are walked from the metadata: every row whose owner column (user_id, resident_id,
    reporter_id …) names the person, then rows that hang off those rows (ledger postings of their
    accounts, GPS points of their patrols, the timeline of their reports) and the ledger
    transactions behind their postings.
    """
    from civic.accounts.models import User

    now = resolve(now)
    metadata = db.metadata
    tables = {}
    owned_ids = {}
    for table in metadata.sorted_tables:
        if table.name in SKIP_TABLES:
            continue
        columns = [c for c in (*OWNER_COLUMNS, *EXTRA_OWNER_COLUMNS.get(table.name, ())) if c in table.c]
        if not columns:
            continue
        rows = _rows(table, or_(*[table.c[c] == user.id for c in columns]))
        if rows:
            tables[table.name] = rows
            if "id" in table.c:
                owned_ids[table.name] = {r["id"] for r in rows}
    # Rows that belong to rows of theirs (only tables without an owner column of their own).
    for table in metadata.sorted_tables:
        if table.name in tables or table.name in SKIP_TABLES or any(c in table.c for c in OWNER_COLUMNS):
            continue
        for fk in table.foreign_key_constraints:
            target = fk.referred_table.name
            if target not in owned_ids or not owned_ids[target]:
                continue
            local = [c for c, el in zip(fk.column_keys, fk.elements, strict=True) if el.column.name == "id"]
            if len(local) != 1:
                continue
            rows = _rows(table, table.c[local[0]].in_(sorted(owned_ids[target])))
            if rows:
                tables.setdefault(table.name, []).extend(rows)
    # The transactions behind their postings (memo, kind, when).
    postings = tables.get("ledger_posting", [])
    if postings:
        transaction = metadata.tables["ledger_transaction"]
        tables["ledger_transaction"] = _rows(transaction, transaction.c.id.in_(
            sorted({p["transaction_id"] for p in postings})))
    profile_table = User.__table__
    profile = row_dict(profile_table, db.session.execute(
        select(profile_table).where(profile_table.c.id == user.id)).one())
    photos = sorted({name for rows in tables.values() for row in rows for name in _photo_names(row)})
    return {
        "format": EXPORT_FORMAT,
        "generated_at": now.isoformat(timespec="seconds"),
        "profile": profile,
        "tables": {name: tables[name] for name in sorted(tables)},
        "photos": photos,
    }


def user_data_zip(user, out, *, now=None):
    """The download with the person's photos: data.json and photos/<name> in a ZIP written to `out`."""
    import os
    import zipfile

    from civic.core.uploads import upload_dir

    data = user_data(user, now=now)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=1, default=str))
        for name in data["photos"]:
            path = os.path.join(upload_dir(), name)
            if "/" not in name and os.path.isfile(path):
                archive.write(path, f"photos/{name}")
    return data


def user_data_json(user, *, now=None):
    """The download as a JSON text (UTF-8, Chinese kept readable)."""
    return json.dumps(user_data(user, now=now), ensure_ascii=False, indent=1, default=str)


# --- closing an account ---------------------------------------------------------------------------

def _committee_blocks(user):
    """Communities where the user is the last active committee member."""
    from civic.communities.models import Community, MemberRole, Membership

    mine = db.session.scalars(
        select(MemberRole.community_id).join(Membership, and_(
            Membership.community_id == MemberRole.community_id, Membership.user_id == MemberRole.user_id))
        .where(MemberRole.user_id == user.id, MemberRole.role == COMMITTEE, Membership.status == "active")
    ).all()
    blocked = []
    for community_id in mine:
        others = db.session.scalar(
            select(MemberRole.id).join(Membership, and_(
                Membership.community_id == MemberRole.community_id, Membership.user_id == MemberRole.user_id))
            .where(MemberRole.community_id == community_id, MemberRole.role == COMMITTEE,
                   MemberRole.user_id != user.id, Membership.status == "active").limit(1))
        if others is None:
            blocked.append(db.session.get(Community, community_id))
    return blocked


def closure_blockers(user):
    """Names of the communities where the user is the last committee member (empty when closing is allowed)."""
    return [c.name for c in _committee_blocks(user)]


def _cancel_pending_orders(user, now):
    """Cancel every held voucher of the user with a refund (through the shop). Returns how many."""
    from civic.core.permissions import can
    from civic.shop import service as shop
    from civic.shop.models import Order

    orders = db.session.execute(select(Order.community_id, Order.id).where(
        Order.user_id == user.id, Order.status == "held").order_by(Order.id)).all()
    count = 0
    for community_id, order_id in orders:
        if can(user, "shop.browse", community_id):
            shop.cancel_order(user, community_id, order_id, now=now)
        else:  # no longer a resident there: the same refund under the same locks
            shop._lock_resident(community_id, user.id)
            order = shop.get_order(community_id, order_id, lock=True)
            if order.status != "held":
                continue
            shop._close_with_refund(order, "cancelled", user, now)
        count += 1
    return count


def _withdraw_signups(user, now):
    """Give back the user's places on shifts that have not started. Returns how many."""
    from civic.patrols import service as patrols
    from civic.patrols.models import Shift, Signup

    rows = db.session.execute(
        select(Signup.community_id, Signup.shift_id)
        .join(Shift, and_(Shift.id == Signup.shift_id, Shift.community_id == Signup.community_id))
        .where(Signup.user_id == user.id, Signup.status == "signed_up", Shift.starts_at > now)
        .order_by(Signup.id)).all()
    for community_id, shift_id in rows:
        patrols.withdraw(user, community_id, shift_id, now=now)
    return len(rows)


def _end_active_patrols(user, now):
    from civic.patrols import service as patrols
    from civic.patrols.models import Patrol

    rows = db.session.execute(select(Patrol.community_id, Patrol.id).where(
        Patrol.user_id == user.id, Patrol.status == "active")).all()
    for community_id, patrol_id in rows:
        patrols.end_patrol(user, community_id, patrol_id, now=now)
    return len(rows)


def close_account(user, password, *, address=None, now=None):
    """The resident closes their own account after confirming with their password.

    Points history stays in the ledger: postings are append-only and keep pointing at the same
    account, so balances and the ledger's verify() are unchanged. Returns a summary dict.
    """
    from civic.accounts.models import User
    from civic.accounts.service import end_sign_ins
    from civic.communities.models import MemberRole, Membership

    now = resolve(now)
    if user is None or not getattr(user, "id", None):
        raise PermissionDenied()
    user = db.session.get(User, user.id, with_for_update=True, populate_existing=True)
    if user is None or not user.active:
        raise NotFound(N_("This account has already been closed."))
    if user.is_managed:
        raise PermissionDenied(N_("This account is looked after by the committee and cannot be closed here."))
    if not password or not user.check_password(password):
        raise Invalid(N_("That password is not right."), reason="wrong_password")
    blocked = _committee_blocks(user)
    if blocked:
        raise Conflict(
            N_("You are the last committee member of %(names)s. Ask the street office to appoint another "
               "committee member before you close your account."),
            reason="last_committee_member", names="、".join(c.name for c in blocked))

    orders = _cancel_pending_orders(user, now)
    signups = _withdraw_signups(user, now)
    patrols_ended = _end_active_patrols(user, now)

    communities = db.session.scalars(select(Membership.community_id).where(
        Membership.user_id == user.id, Membership.status.in_(("active", "pending")))).all()
    roles = db.session.execute(delete(MemberRole).where(MemberRole.user_id == user.id)).rowcount or 0
    try:
        from civic.shop.models import ShopKeeper
    except ImportError:  # pragma: no cover - the shop is part of the product
        ShopKeeper = None
    if ShopKeeper is not None:
        roles += db.session.execute(delete(ShopKeeper).where(ShopKeeper.user_id == user.id)).rowcount or 0
    db.session.execute(
        update(Membership).where(Membership.user_id == user.id)
        .values(status="left", address="", note="", household_id=None, decided_at=now))
    tokens = end_sign_ins(user, now=now)  # every session and API token ends

    removed = _forget_personal_details(user, now)

    user.display_name = CLOSED_NAME % user.id
    user.phone = f"closed-{user.id}"  # the schema needs a unique value; it is not a phone number
    user.email = None
    user.email_verified_at = None
    user.password_hash = None
    user.locale = None
    user.is_admin = False
    user.active = False
    user.auth_version = (user.auth_version or 0) + 1  # every session ends
    db.session.flush()
    summary = {"communities": sorted(communities), "orders_cancelled": orders, "signups_withdrawn": signups,
               "patrols_ended": patrols_ended, "roles_removed": roles, "tokens_revoked": tokens, **removed}
    audit.record("account.closed", actor=user, subject=user, address=address, detail=summary, now=now)
    return summary


def _forget_personal_details(user, now):
    """What closure removes besides the profile (docs/privacy.md): the text, photos and places of the
    person's problem reports, their claims' photos, their patrols' raw GPS points and places, their failed
    sign-ins, and the network addresses in the audit entries about them. Returns counts."""
    from civic.accounts.service import forget_sign_in_failures
    from civic.core.audit import AuditEntry
    from civic.core.uploads import forget_uploads
    from civic.merit.models import Claim
    from civic.patrols.models import Patrol, Report

    photos = []
    reports = db.session.scalars(select(Report).where(Report.reporter_id == user.id)).all()
    for report in reports:
        photos += [report.photo] if report.photo else []
        report.description, report.photo, report.lat, report.lon = "", None, None, None
    tracks = 0
    for patrol in db.session.scalars(select(Patrol).where(Patrol.user_id == user.id, Patrol.status != "active")):
        tracks += _forget_track(patrol, now) and 1
    for claim in db.session.scalars(select(Claim).where(Claim.resident_id == user.id)):
        if claim.photos:
            photos += list(claim.photos)
            claim.photos = []
    failures = forget_sign_in_failures(phone=user.phone)
    addresses = db.session.execute(update(AuditEntry).where(
        or_(AuditEntry.actor_id == user.id, AuditEntry.subject_id == user.id), AuditEntry.address.is_not(None))
        .values(address=None)).rowcount or 0
    db.session.flush()
    forget_uploads(photos)
    return {"reports_cleared": len(reports), "photos_removed": len(photos), "login_failures_removed": failures,
            "audit_addresses_removed": addresses, "tracks_removed": tracks}


# --- retention ------------------------------------------------------------------------------------

LOGIN_FAILURE_DAYS = 30
AUDIT_ADDRESS_DAYS = 180
READ_NOTIFICATION_DAYS = 365
NOTIFICATION_DAYS = 730


def prune_personal_data(*, now=None):
    """Retention (docs/privacy.md): failed sign-ins after 30 days (sessions 30 days after they ended or
    expired), network addresses in the audit log after 180 days, read notifications after a year and all
    notifications after two."""
    from datetime import timedelta

    from civic.accounts.service import forget_sign_in_failures, prune_sessions
    from civic.core.audit import AuditEntry
    from civic.notifications.models import Notification

    now = resolve(now)
    failures = forget_sign_in_failures(before=now - timedelta(days=LOGIN_FAILURE_DAYS))
    prune_sessions(before=now - timedelta(days=LOGIN_FAILURE_DAYS))
    addresses = db.session.execute(update(AuditEntry).where(
        AuditEntry.at < now - timedelta(days=AUDIT_ADDRESS_DAYS), AuditEntry.address.is_not(None))
        .values(address=None)).rowcount or 0
    notes = db.session.execute(delete(Notification).where(or_(
        Notification.read_at < now - timedelta(days=READ_NOTIFICATION_DAYS),
        Notification.created_at < now - timedelta(days=NOTIFICATION_DAYS)))).rowcount or 0
    return {"login_failures": failures, "audit_addresses": addresses, "notifications": notes}


# --- one community's export -----------------------------------------------------------------------

def community_tables():
    """Every table that belongs to a community (it carries community_id), in dependency order."""
    return [t for t in db.metadata.sorted_tables if "community_id" in t.c]


def _user_columns(table):
    """Columns of `table` that hold a user id (a foreign key to user.id)."""
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table.name == "user"]


def _photo_names(row):
    """Stored photo names in a row: columns named like *photo (a name) or *photos (a list of names)."""
    names = []
    for key, value in row.items():
        if key.endswith("photo") and isinstance(value, str) and value:
            names.append(value)
        elif key.endswith("photos") and isinstance(value, list):
            names += [v for v in value if isinstance(v, str) and v]
    return names


def write_community_export(community_id, out, *, now=None, chunk=2000, photos=None):
    """Write one community to the text stream `out` as JSON: its street and district, every
    community-owned table's rows, the people those rows name (without password or token hashes), and
    the schema revision it was made at. Rows are streamed table by table, so a community with millions
    of GPS points fits in memory. When `photos` is a set, the names of the photos the rows refer to are
    added to it. Returns {table: row count}.
    """
    from civic.accounts.models import User
    from civic.communities.models import Community, District, Street
    from civic.operations.service import database_revisions

    now = resolve(now)
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound(N_("No such community."))

    def one(model, key):
        table = model.__table__
        return row_dict(table, db.session.execute(select(table).where(table.c.id == key)).one())

    head = one(Community, community_id)
    place = {"district": one(District, community.street.district_id), "street": one(Street, community.street_id)}
    header = {"format": COMMUNITY_EXPORT_FORMAT, "schema_revision": sorted(database_revisions()),
              "generated_at": now.isoformat(timespec="seconds"), "community": head, "place": place}
    out.write(json.dumps(header, ensure_ascii=False, default=str)[:-1] + ', "tables": {')  # left open for the tables
    counts, user_ids = {}, set()
    for n, table in enumerate(community_tables()):
        out.write(f'{"," if n else ""}\n{json.dumps(table.name)}: [')
        order = list(table.primary_key.columns) or list(table.columns)[:1]
        user_columns = _user_columns(table)
        result = db.session.execute(
            select(table).where(table.c.community_id == community_id).order_by(*order)
            .execution_options(yield_per=chunk))
        count = 0
        for row in result:
            data = row_dict(table, row)
            user_ids.update(data[c] for c in user_columns if data.get(c) is not None)
            if photos is not None:
                photos.update(_photo_names(data))
            out.write(("," if count else "") + "\n  " + json.dumps(data, ensure_ascii=False, default=str))
            count += 1
        out.write("]")
        counts[table.name] = count
    users = User.__table__
    out.write('\n}, "users": [')
    for n, user_id in enumerate(sorted(user_ids)):
        row = db.session.execute(select(users).where(users.c.id == user_id)).one()
        out.write(("," if n else "") + "\n  " + json.dumps(row_dict(users, row), ensure_ascii=False, default=str))
    references = json.dumps(_referenced_rows(community_id), ensure_ascii=False, default=str)
    out.write(f'\n], "references": {references}}}\n')
    return counts


def _shared_targets(table):
    """(column, target table) of `table`'s foreign keys to rows shared above the community (e.g. the street's
    departments a case was sent to): neither people, the place, nor another community's rows."""
    place = {"user", "community", "street", "district"}
    return [(fk.parent, fk.column.table) for fk in table.foreign_keys
            if fk.column.table.name not in place and "community_id" not in fk.column.table.c]


def _referenced_rows(community_id):
    """{table: [rows]} of the shared rows the community's rows point at, so an import can satisfy its keys."""
    wanted = {}
    for table in community_tables():
        for column, target in _shared_targets(table):
            ids = db.session.scalars(select(column).where(table.c.community_id == community_id,
                                                           column.is_not(None)).distinct())
            wanted.setdefault(target, set()).update(ids)
    return {target.name: [row_dict(target, row) for row in db.session.execute(
                select(target).where(target.c.id.in_(sorted(ids))).order_by(target.c.id))]
            for target, ids in wanted.items() if ids}


def _column_value(column, value):
    """A value from an export back into the column's Python type."""
    from sqlalchemy import Date, DateTime, LargeBinary

    if value is None:
        return None
    if isinstance(column.type, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(column.type, Date):
        return date.fromisoformat(value)
    if isinstance(column.type, LargeBinary):
        return bytes.fromhex(value)
    return value


def _insert(table, rows):
    if rows:
        db.session.execute(table.insert(), [
            {c.name: _column_value(c, row.get(c.name)) for c in table.columns if c.name in row} for row in rows])


def import_community(data):
    """Load an export made by write_community_export into this database (at the same schema revision).

    The community's id and every row id are kept; a community or person with the same id already here
    is refused, so it is meant for an empty database or a new site. People come without passwords:
    an administrator sets one with `reset-password`. Returns {table: row count}.
    """
    from civic.accounts.models import User
    from civic.communities.models import Community, District, Street
    from civic.operations.service import database_revisions

    if data.get("format") != COMMUNITY_EXPORT_FORMAT:
        raise Invalid(N_("This file is not a community export."))
    if sorted(data.get("schema_revision") or []) != sorted(database_revisions()):
        raise Conflict(N_("The export was made at schema %(theirs)s, this database is at %(ours)s. "
                          "Bring both to the same version first."),
                       theirs=", ".join(data.get("schema_revision") or []),
                       ours=", ".join(sorted(database_revisions())))
    community = data["community"]
    if db.session.get(Community, community["id"]) is not None:
        raise Conflict(N_("A community with this id already exists here."))
    user_ids = [u["id"] for u in data["users"]]
    if user_ids and db.session.scalar(select(User.id).where(User.id.in_(user_ids)).limit(1)) is not None:
        raise Conflict(N_("People with the same ids already exist here; import into an empty database."))
    place = data["place"]
    if db.session.get(District, place["district"]["id"]) is None:
        _insert(District.__table__, [place["district"]])
    if db.session.get(Street, place["street"]["id"]) is None:
        _insert(Street.__table__, [place["street"]])
    _insert(Community.__table__, [community])
    _insert(User.__table__, data["users"])
    references = data.get("references") or {}
    for table in db.metadata.sorted_tables:  # shared rows (a street's departments) that are not here yet
        rows = references.get(table.name) or []
        have = set(db.session.scalars(select(table.c.id).where(table.c.id.in_([r["id"] for r in rows])))) \
            if rows else set()
        _insert(table, [r for r in rows if r["id"] not in have])
    counts = {}
    for table in community_tables():
        rows = data["tables"].get(table.name, [])
        _insert(table, rows)
        counts[table.name] = len(rows)
    db.session.flush()
    _advance_sequences()
    return counts


def _advance_sequences():
    """On PostgreSQL, move every id sequence past the ids just inserted."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    from sqlalchemy import text

    for table in db.metadata.sorted_tables:
        if "id" not in table.c or not table.c.id.primary_key:
            continue
        quoted = f'"{table.name}"'
        db.session.execute(text(
            "SELECT CASE WHEN pg_get_serial_sequence(:t, 'id') IS NULL THEN NULL ELSE "
            f"setval(pg_get_serial_sequence(:t, 'id'), GREATEST((SELECT COALESCE(max(id), 0) FROM {quoted}), 1)) END"
        ), {"t": quoted})
