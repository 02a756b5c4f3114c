"""API of the passbook: balance and star level, passbook pages, leaderboards, badges, daily ledger digests."""
from datetime import date

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from civic.api import community_access
from civic.core.permissions import can
from civic.extensions import db
from civic.ledger import digest, gamification, passbook
from civic.ledger.schemas import (
    BadgeSchema,
    BalanceSchema,
    BoardQuerySchema,
    BoardSchema,
    DigestDaySchema,
    DigestPageSchema,
    DigestQuerySchema,
    PassbookPageSchema,
    PassbookQuerySchema,
    PersonQuerySchema,
)

blp = Blueprint("api_ledger", __name__, url_prefix="/api/v1/communities",
                description="Merit bank: passbook, star levels, badges and leaderboards")


@blp.route("/<int:community_id>/points")
class Balance(MethodView):
    @community_access("passbook.view")
    @blp.arguments(PersonQuerySchema, location="query")
    @blp.response(200, BalanceSchema)
    def get(self, args, community_id):
        """Balance, lifetime merit and star level (mine, or a resident's for the committee)."""
        return passbook.summary(current_user, community_id, args["user_id"] or current_user.id)


@blp.route("/<int:community_id>/points/passbook")
class Passbook(MethodView):
    @community_access("passbook.view")
    @blp.arguments(PassbookQuerySchema, location="query")
    @blp.response(200, PassbookPageSchema)
    def get(self, args, community_id):
        """One page of the passbook, newest first; pass next_cursor as cursor for the next page."""
        page = passbook.entries(current_user, community_id, args["user_id"] or current_user.id,
                                category=args["category"], before=args["cursor"], limit=args["limit"])
        db.session.commit()  # the default categories, when this read created them
        return page


@blp.route("/<int:community_id>/points/leaderboard")
class Leaderboard(MethodView):
    @community_access("leaderboard.view")
    @blp.arguments(BoardQuerySchema, location="query")
    @blp.response(200, BoardSchema)
    def get(self, args, community_id):
        """Leaderboard for this month, this year or all time, overall or for one category."""
        rows = gamification.leaderboard(current_user, community_id, args["period"], args["category"],
                                        limit=args["limit"])
        db.session.commit()
        return {"period": args["period"], "category": args["category"], "rows": rows}


@blp.route("/<int:community_id>/people/<int:user_id>/badges")
class Badges(MethodView):
    @community_access("leaderboard.view")
    @blp.response(200, BadgeSchema(many=True))
    def get(self, community_id, user_id):
        """A resident's badges: every badge of the community, earned ones first."""
        rows = gamification.person_badges(current_user, community_id, user_id)
        result = [{"code": b.code, "name": b.name, "kind": b.kind, "threshold": b.threshold, "category": b.category,
                   "earned": award is not None, "awarded_at": award.awarded_at if award else None}
                  for b, award in rows]
        db.session.commit()  # the default badges, when this read created them
        return result


@blp.route("/<int:community_id>/ledger/digests")
class Digests(MethodView):
    @community_access("merit.view")
    @blp.arguments(DigestQuerySchema, location="query")
    @blp.response(200, DigestPageSchema)
    def get(self, args, community_id):
        """The community's daily ledger digests, newest first, each chained to the day before
        (docs/ledger-digest.md)."""
        rows = digest.digests(community_id, before=args["before"], limit=args["limit"] + 1)
        more = len(rows) > args["limit"]
        rows = rows[:args["limit"]]
        return {"digests": rows, "next_before": rows[-1].day if more else None}


@blp.route("/<int:community_id>/ledger/digests/<day>")
class DigestDay(MethodView):
    @community_access("merit.view")
    @blp.response(200, DigestDaySchema)
    def get(self, community_id, day):
        """One day's digest with its transactions' leaves in id order, to recompute the digest with sha256sum."""
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            abort(400, message="The day must be written YYYY-MM-DD.")
        row = digest.digest_of(community_id, wanted)
        if row is None:
            abort(404, message="No digest for this day (yet).")
        keys = None if can(current_user, "merit.review", community_id) else {f"resident:{current_user.id}"}
        return {"day": row.day, "tx_count": row.tx_count, "digest": row.digest, "prev_digest": row.prev_digest,
                "created_at": row.created_at,
                "transactions": digest.day_listing(community_id, row.day, reader_keys=keys)}
