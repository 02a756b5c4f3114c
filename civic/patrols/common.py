"""What the patrol modules share: text as typed, the people who handle patrols and reports, and the
row lock a scheduled job takes so two workers never pick the same rows."""
from sqlalchemy import and_, select

from civic.accounts.models import User
from civic.communities.models import MemberRole, Membership
from civic.core.text import clean_text  # noqa: F401  (the patrol modules import it from here)
from civic.extensions import db


def handlers_of(community_id):
    """Coordinators and committee members: they schedule, review and handle reports."""
    return db.session.scalars(
        select(User).join(MemberRole, MemberRole.user_id == User.id).join(
            Membership, and_(Membership.user_id == User.id, Membership.community_id == MemberRole.community_id)
        ).where(MemberRole.community_id == community_id, MemberRole.role.in_(("coordinator", "committee")),
                Membership.status == "active")
        .distinct().order_by(User.id)
    ).all()
