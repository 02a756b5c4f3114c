"""What the patrol modules share: text as typed, the people who handle patrols and reports, and the
row lock a scheduled job takes so two workers never pick the same rows."""
from sqlalchemy import and_, select

from civic.accounts.models import User
from civic.communities.models import MemberRole, Membership
from civic.core.errors import Invalid
from civic.core.i18n import N_
from civic.extensions import db


def clean_text(value, limit, message=None):
    """The text stripped; Invalid(`message`) when empty and a message is given, Invalid when over `limit`."""
    value = (value or "").strip()
    if message and not value:
        raise Invalid(message)
    if len(value) > limit:
        raise Invalid(N_("Please keep it under %(n)s characters."), n=limit)
    return value


def handlers_of(community_id):
    """Coordinators and committee members: they schedule, review and handle reports."""
    return db.session.scalars(
        select(User).join(MemberRole, MemberRole.user_id == User.id).join(
            Membership, and_(Membership.user_id == User.id, Membership.community_id == MemberRole.community_id)
        ).where(MemberRole.community_id == community_id, MemberRole.role.in_(("coordinator", "committee")),
                Membership.status == "active")
        .distinct().order_by(User.id)
    ).all()


def skip_locked(query):
    """The query locking its rows and skipping rows another worker holds (PostgreSQL; SQLite has one writer)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query
