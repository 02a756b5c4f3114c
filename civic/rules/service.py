"""Four eyes on the rules.

Anything that decides how many points are issued is a *point-deciding setting*, registered here once as
(area, field) by the area that owns it (`register_point_setting`, or `register_settings_field` for a column
of an area's settings row). A committee member's change to one becomes a proposal (`propose_change`); it
takes effect only when a *different* committee member confirms it (`confirm_change`), and another may
decline it. The administrator of the community's street or district sets ceilings (`set_ceiling`) that no
proposal may exceed. Every proposal and its two names are public to the community's residents (`history`).
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from civic.communities.models import Community, District, Street
from civic.core import audit
from civic.core.clock import resolve
from civic.core.db import get_or_create
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.permissions import can_administer_area, require
from civic.extensions import db
from civic.rules.models import AreaAdmin, RuleChange, SettingCeiling


@dataclass(frozen=True)
class PointSetting:
    """One point-deciding setting: how to read and write it, its allowed range, the number a ceiling limits."""

    area: str
    field: str
    label: str
    read: Callable[[int], Any]
    write: Callable[[int, Any], None]
    minimum: int = 0
    maximum: int = 100000
    measure: Callable[[Any], int | None] | None = None   # the number compared with a ceiling (default: value)
    check: Callable[[int, Any], Any] | None = None       # validates/cleans a keyed value; read(community_id, value)

    def size(self, value):
        return self.measure(value) if self.measure else value

    def current(self, community_id, value):
        """Today's value; a keyed setting (one of many, e.g. a rule item) reads the one `value` names."""
        return self.read(community_id, value) if self.check else self.read(community_id)


REGISTRY: dict[tuple[str, str], PointSetting] = {}


def register_point_setting(area, field, label, *, read, write, **options):
    """Declare (area, field) point-deciding: changes to it go through proposal and confirmation."""
    REGISTRY[(area, field)] = PointSetting(area, field, label, read, write, **options)


def register_settings_field(area, field, label, *, row, minimum=0, maximum=100000):
    """One line for an integer column of an area's settings row; `row(community_id)` returns that row."""

    def write(community_id, value):
        target = row(community_id)
        setattr(target, field, value)
        db.session.add(target)

    register_point_setting(area, field, label, read=lambda community_id: getattr(row(community_id), field),
                           write=write, minimum=minimum, maximum=maximum)


def setting(area, field):
    """The registered point-deciding setting."""
    if (area, field) not in REGISTRY:
        raise Invalid(N_("That setting does not decide points."))
    return REGISTRY[(area, field)]


def is_point_setting(area, field):
    return (area, field) in REGISTRY


# --- ceilings -----------------------------------------------------------------------------------

def ceiling_for(community_id, area, field):
    """The lowest ceiling the community's street and district set on (area, field), or None."""
    community = db.session.get(Community, community_id)
    street = db.session.get(Street, community.street_id)
    return db.session.scalar(select(SettingCeiling.maximum).where(
        SettingCeiling.area == area, SettingCeiling.field == field,
        or_(SettingCeiling.street_id == street.id, SettingCeiling.district_id == street.district_id),
    ).order_by(SettingCeiling.maximum).limit(1))


def _check_ceiling(community_id, entry, value):
    limit = ceiling_for(community_id, entry.area, entry.field)
    size = entry.size(value)
    if limit is not None and size is not None and size > limit:
        raise Invalid(N_("%(setting)s cannot be more than %(limit)s: that is the ceiling set by the street or "
                         "district administrator."), setting=entry.label, limit=limit)


def set_ceiling(actor, *, area, field, maximum, street_id=None, district_id=None, now=None):
    """A street's or district's administrator sets the most its communities may set (area, field) to."""
    setting(area, field)
    if (street_id is None) == (district_id is None):
        raise Invalid(N_("Choose either a street or a district."))
    if not can_administer_area(actor, street_id=street_id, district_id=district_id):
        raise PermissionDenied()
    if not isinstance(maximum, int) or isinstance(maximum, bool) or maximum < 0:
        raise Invalid(N_("A ceiling must be a whole number of at least 0."))
    row = get_or_create(SettingCeiling, area=area, field=field, street_id=street_id, district_id=district_id,
                        defaults={"maximum": maximum, "set_by_id": actor.id, "set_at": resolve(now)})[0]
    row.maximum, row.set_by_id, row.set_at = maximum, actor.id, resolve(now)
    db.session.flush()
    audit.record("rules.ceiling_set", actor=actor, now=now, detail={
        "area": area, "field": field, "maximum": maximum, "street": street_id, "district": district_id})
    return row


def ceilings(street_id=None, district_id=None):
    """The ceilings of a street or a district."""
    query = select(SettingCeiling).order_by(SettingCeiling.area, SettingCeiling.field)
    if street_id is not None:
        return db.session.scalars(query.where(SettingCeiling.street_id == street_id)).all()
    return db.session.scalars(query.where(SettingCeiling.district_id == district_id)).all()


# --- area administrators ------------------------------------------------------------------------

def assign_area_admin(actor, user, *, street_id=None, district_id=None, now=None):
    """A site administrator makes `user` the administrator of a street or a district."""
    if not getattr(actor, "is_admin", False):
        raise PermissionDenied()
    if (street_id is None) == (district_id is None):
        raise Invalid(N_("Choose either a street or a district."))
    if street_id is not None and db.session.get(Street, street_id) is None or (
            district_id is not None and db.session.get(District, district_id) is None):
        raise NotFound(N_("No such street or district."))
    existing = db.session.scalar(select(AreaAdmin).where(
        AreaAdmin.user_id == user.id,
        AreaAdmin.street_id.is_(None) if street_id is None else AreaAdmin.street_id == street_id,
        AreaAdmin.district_id.is_(None) if district_id is None else AreaAdmin.district_id == district_id))
    if existing:
        return existing
    row = AreaAdmin(user_id=user.id, street_id=street_id, district_id=district_id, assigned_by_id=actor.id,
                    assigned_at=resolve(now))
    db.session.add(row)
    db.session.flush()
    audit.record("rules.area_admin_assigned", actor=actor, subject=user, now=now,
                 detail={"street": street_id, "district": district_id})
    return row


def area_admins():
    """Every street and district administrator."""
    return db.session.scalars(select(AreaAdmin).order_by(AreaAdmin.id)).all()


# --- proposals ----------------------------------------------------------------------------------

def _committee_except(community_id, user_id):
    from civic.communities.service import committee_of

    return [member for member in committee_of(community_id) if member.id != user_id]


def _notify(users, community_id, title, body, params):
    from civic.notifications import service as notices

    for user in users:
        notices.notify(user, "rules.change", title, body, params=params, community_id=community_id,
                       link=f"/c/{community_id}/rules")


def _clean(entry, community_id, value):
    if entry.check:
        return entry.check(community_id, value)
    if not isinstance(value, int) or isinstance(value, bool) or not entry.minimum <= value <= entry.maximum:
        raise Invalid(N_("%(setting)s must be a whole number from %(low)s to %(high)s."),
                      setting=entry.label, low=entry.minimum, high=entry.maximum)
    return value


def propose_change(actor, community_id, area, field, value, *, now=None):
    """A committee member proposes a new value; returns the RuleChange (None when nothing would change)."""
    require(actor, "rules.propose", community_id)
    entry = setting(area, field)
    value = _clean(entry, community_id, value)
    current = entry.current(community_id, value)
    if value == current:
        return None
    _check_ceiling(community_id, entry, value)
    if entry.check is None and db.session.scalar(select(RuleChange.id).where(
            RuleChange.community_id == community_id, RuleChange.area == area, RuleChange.field == field,
            RuleChange.status == "pending")):
        raise Conflict(N_("A change to %(setting)s is already waiting for confirmation."), setting=entry.label)
    now = resolve(now)
    change = RuleChange(community_id=community_id, area=area, field=field, old_value=current, new_value=value,
                        proposed_by_id=actor.id, proposed_at=now)
    db.session.add(change)
    db.session.flush()
    audit.record("rules.proposed", actor=actor, community_id=community_id, now=now,
                 detail={"change": change.id, "area": area, "field": field, "value": value})
    _notify(_committee_except(community_id, actor.id), community_id, N_("A rule change needs your confirmation"),
            N_("%(name)s proposed a change to %(setting)s."), {"name": actor.display_name, "setting": entry.label})
    return change


def propose_changes(actor, community_id, area, values, *, now=None):
    """Propose each registered field of `values` that differs from today's; returns the new proposals."""
    changes = [propose_change(actor, community_id, area, field, value, now=now)
               for field, value in values.items() if is_point_setting(area, field)]
    return [change for change in changes if change is not None]


def _change(community_id, change_id):
    change = db.session.scalar(select(RuleChange).where(
        RuleChange.community_id == community_id, RuleChange.id == change_id).with_for_update())
    if change is None:
        raise NotFound(N_("No such proposal."))
    if change.status != "pending":
        raise Conflict(N_("This proposal has already been decided."))
    return change


def confirm_change(actor, community_id, change_id, *, now=None):
    """A different committee member confirms a proposal; the new value takes effect now."""
    require(actor, "rules.confirm", community_id)
    change = _change(community_id, change_id)
    if change.proposed_by_id == actor.id:
        raise PermissionDenied(N_("You proposed this change: another committee member must confirm it."))
    entry = setting(change.area, change.field)
    _check_ceiling(community_id, entry, change.new_value)
    now = resolve(now)
    entry.write(community_id, change.new_value)
    change.status, change.decided_by_id, change.decided_at = "confirmed", actor.id, now
    db.session.flush()
    audit.record("rules.confirmed", actor=actor, subject=change.proposed_by_id, community_id=community_id, now=now,
                 detail={"change": change.id, "area": change.area, "field": change.field, "value": change.new_value})
    _notify(_committee_except(community_id, actor.id), community_id, N_("A rule change is now in effect"),
            N_("%(name)s confirmed the change to %(setting)s."), {"name": actor.display_name, "setting": entry.label})
    return change


def decline_change(actor, community_id, change_id, *, now=None):
    """Another committee member declines a proposal (the proposer withdraws it); nothing changes."""
    require(actor, "rules.confirm", community_id)
    change = _change(community_id, change_id)
    now = resolve(now)
    change.status = "withdrawn" if change.proposed_by_id == actor.id else "declined"
    change.decided_by_id, change.decided_at = actor.id, now
    db.session.flush()
    audit.record(f"rules.{change.status}", actor=actor, community_id=community_id, now=now,
                 detail={"change": change.id})
    return change


def pending(actor, community_id):
    """Proposals waiting for a second committee member."""
    require(actor, "rules.history", community_id)
    return db.session.scalars(select(RuleChange).where(
        RuleChange.community_id == community_id, RuleChange.status == "pending").order_by(RuleChange.id)).all()


def history(actor, community_id, *, limit=50, before=None):
    """Every change to the point-deciding settings, newest first, with both names (residents may read it)."""
    require(actor, "rules.history", community_id)
    query = select(RuleChange).where(RuleChange.community_id == community_id)
    if before:
        query = query.where(RuleChange.id < before)
    return db.session.scalars(query.order_by(RuleChange.id.desc()).limit(limit)).all()


def shown(value):
    """A value as the history page shows it (a rule item as its name, points and whether it is on offer)."""
    if isinstance(value, dict):
        points = value.get("points_min")
        if value.get("points_max") not in (None, points):
            points = f"{points}–{value['points_max']}"
        return f"{value.get('name', '')} {points} ({'+' if value.get('active') else '×'})"
    return "" if value is None else str(value)


def label_of(change):
    """The plain-words name of a change's setting."""
    entry = REGISTRY.get((change.area, change.field))
    return entry.label if entry else f"{change.area}.{change.field}"
