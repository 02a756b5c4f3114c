"""API: shifts and sign-ups, patrols and their GPS points, review, problem reports, stats."""
from datetime import UTC

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import community_access
from civic.api.idempotency import idempotent
from civic.core.clock import to_utc
from civic.extensions import db
from civic.patrols import reports as problem_reports
from civic.patrols import review as patrol_review
from civic.patrols import shifts as patrol_shifts
from civic.patrols import stats as patrol_stats
from civic.patrols import tracking
from civic.patrols.schemas import (
    PatrolReviewSchema,
    PatrolSchema,
    PatrolShiftCreateSchema,
    PatrolShiftSchema,
    PatrolStartSchema,
    PatrolStatsSchema,
    ProblemReportActionSchema,
    ProblemReportCreateSchema,
    ProblemReportSchema,
    ReportCategorySchema,
    ShiftSignupSchema,
    TrackPointBatchResultSchema,
    TrackPointBatchSchema,
)

blp = Blueprint("api_patrols", __name__, url_prefix="/api/v1/communities",
                description="Volunteer patrols: shifts, tracking, review, problem reports")


def _utc(value):
    """An aware datetime as naive UTC; a naive one is China time."""
    if value.tzinfo is None:
        return to_utc(value)
    return value.astimezone(UTC).replace(tzinfo=None)


@blp.route("/<int:community_id>/shifts")
class Shifts(MethodView):
    @community_access("patrol.join")
    @blp.response(200, PatrolShiftSchema(many=True))
    def get(self, community_id):
        """Shifts that are not over yet, soonest first."""
        return patrol_shifts.upcoming_shifts(community_id)

    @community_access("patrol.coordinate")
    @idempotent
    @blp.arguments(PatrolShiftCreateSchema)
    @blp.response(201, PatrolShiftSchema(many=True))
    def post(self, data, community_id):
        """Schedule a one-off shift, or a weekly one when `weekdays` is given (coordinators)."""
        common = {k: data[k] for k in ("title", "capacity", "route_id", "meeting_point", "notes")}
        if data.get("weekdays"):
            shifts = patrol_shifts.create_weekly_shifts(
                current_user, community_id, weekdays=data["weekdays"], local_start=data["local_start"],
                minutes=data["minutes"], first_date=data["first_date"], last_date=data["last_date"], **common)
        else:
            shifts = [patrol_shifts.create_shift(current_user, community_id, starts_at=_utc(data["starts_at"]),
                                                 ends_at=_utc(data["ends_at"]), **common)]
        return shifts


@blp.route("/<int:community_id>/shifts/<int:shift_id>/signup")
class ShiftSignup(MethodView):
    @community_access("patrol.join")
    @idempotent
    @blp.response(201, ShiftSignupSchema)
    def post(self, community_id, shift_id):
        """Take a place on a shift (409 when it is full)."""
        signup = patrol_shifts.sign_up(current_user, community_id, shift_id)
        return signup

    @community_access("patrol.join")
    @blp.response(200, ShiftSignupSchema)
    def delete(self, community_id, shift_id):
        """Give the place back before the shift starts."""
        signup = patrol_shifts.withdraw(current_user, community_id, shift_id)
        db.session.commit()
        return signup


@blp.route("/<int:community_id>/patrols")
class Patrols(MethodView):
    @community_access("patrol.join")
    @blp.response(200, PatrolSchema(many=True))
    def get(self, community_id):
        """My patrols, latest first."""
        return tracking.my_patrols(current_user, community_id)

    @community_access("patrol.join")
    @idempotent
    @blp.arguments(PatrolStartSchema)
    @blp.response(201, PatrolSchema)
    def post(self, data, community_id):
        """Start a patrol (in a shift I signed up for, or free); returns the one under way if any."""
        patrol = tracking.start_patrol(current_user, community_id, shift_id=data["shift_id"])
        return patrol


@blp.route("/<int:community_id>/patrols/<int:patrol_id>")
class PatrolOne(MethodView):
    @community_access("patrol.join")
    @blp.response(200, PatrolSchema)
    def get(self, community_id, patrol_id):
        """One patrol (its volunteer or a coordinator)."""
        return tracking.visible_patrol(current_user, community_id, patrol_id)


@blp.route("/<int:community_id>/patrols/<int:patrol_id>/points")
class PatrolPoints(MethodView):
    @community_access("patrol.join")
    @blp.arguments(TrackPointBatchSchema)
    @blp.response(200, TrackPointBatchResultSchema)
    def post(self, data, community_id, patrol_id):
        """Add a batch of GPS fixes; ids are made on the phone, so resending a batch adds nothing.

        Fixes outside the patrol's own start..end (a small clock skew allowed) are dropped and counted.
        The answer carries the patrol's distance and moving time so far, measured as the saved patrol is."""
        patrol, added, duplicates, dropped = tracking.add_batch(current_user, community_id, patrol_id, data["points"])
        live = tracking.live_summary(patrol)
        db.session.commit()
        return {"accepted": added, "duplicates": duplicates, "dropped": dropped, **live}


@blp.route("/<int:community_id>/patrols/<int:patrol_id>/end")
class PatrolEnd(MethodView):
    @community_access("patrol.join")
    @blp.response(200, PatrolSchema)
    def post(self, community_id, patrol_id):
        """End my patrol; it is measured and waits for a coordinator."""
        patrol = tracking.end_patrol(current_user, community_id, patrol_id)
        db.session.commit()
        return patrol


@blp.route("/<int:community_id>/patrols/<int:patrol_id>/review")
class PatrolReview(MethodView):
    @community_access("patrol.coordinate")
    @blp.arguments(PatrolReviewSchema)
    @blp.response(200, PatrolSchema)
    def post(self, data, community_id, patrol_id):
        """Approve (points and service hours) or reject an ended patrol; flagged ones need a note."""
        patrol = patrol_review.review_patrol(current_user, community_id, patrol_id, approve=data["approve"],
                                             note=data["note"])
        db.session.commit()
        return patrol


@blp.route("/<int:community_id>/report-categories")
class ReportCategories(MethodView):
    @community_access("patrol.join")
    @blp.response(200, ReportCategorySchema(many=True))
    def get(self, community_id):
        """The kinds of problem one can report."""
        categories = problem_reports.report_categories(community_id)
        db.session.commit()
        return categories


@blp.route("/<int:community_id>/reports")
class Reports(MethodView):
    @community_access("patrol.join")
    @blp.response(200, ProblemReportSchema(many=True))
    def get(self, community_id):
        """My reports, latest first."""
        return problem_reports.reports_for(current_user, community_id, scope="mine")

    @community_access("patrol.join")
    @idempotent
    @blp.arguments(ProblemReportCreateSchema)
    @blp.response(201, ProblemReportSchema)
    def post(self, data, community_id):
        """Report a problem (category, description, location)."""
        report = problem_reports.submit_report(current_user, community_id, **data)
        return report


@blp.route("/<int:community_id>/reports/<int:report_id>")
class ReportOne(MethodView):
    @community_access("patrol.join")
    @blp.response(200, ProblemReportSchema)
    def get(self, community_id, report_id):
        """One report (its reporter, assignee or a handler)."""
        return problem_reports.visible_report(current_user, community_id, report_id)

    @community_access("patrol.join")
    @blp.arguments(ProblemReportActionSchema)
    @blp.response(200, ProblemReportSchema)
    def post(self, data, community_id, report_id):
        """Move a report on: accept, assign, close, merge (handlers); confirm or reopen (the reporter)."""
        report = problem_reports.act(current_user, community_id, report_id, **data)
        db.session.commit()
        return report


@blp.route("/<int:community_id>/patrol-stats")
class Stats(MethodView):
    @community_access("patrol.join")
    @blp.response(200, PatrolStatsSchema)
    def get(self, community_id):
        """Community totals and this month, my numbers, and star volunteers by service hours."""
        stats = patrol_stats.community_stats(community_id)
        stats["me"] = patrol_stats.volunteer_stats(community_id, current_user.id)
        stats["stars"] = patrol_stats.star_volunteers(community_id)
        return stats
