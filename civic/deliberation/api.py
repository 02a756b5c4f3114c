"""API: deliberation topics, sessions, QR check-in, votes, residents' evaluation and implementation."""
from urllib.parse import parse_qs, urlparse

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import auth_required, community_access
from civic.api.idempotency import idempotent
from civic.core.clock import resolve
from civic.deliberation import service
from civic.deliberation.schemas import (
    DelibAttendanceInSchema,
    DelibAttendanceSchema,
    DelibCheckinResultSchema,
    DelibCheckinSchema,
    DelibCodeSchema,
    DelibItemInSchema,
    DelibItemSchema,
    DelibMeetingDetailSchema,
    DelibMeetingInSchema,
    DelibMeetingSchema,
    DelibMinutesSchema,
    DelibObjectionSchema,
    DelibProgressInSchema,
    DelibProgressSchema,
    DelibRatingInSchema,
    DelibRatingSchema,
    DelibResponsibleSchema,
    DelibReviewSchema,
    DelibSettingsSchema,
    DelibTopicInSchema,
    DelibTopicSchema,
    DelibVoteSchema,
    DelibVotingSchema,
)
from civic.extensions import db
from civic.web import acting_user, public_url

blp = Blueprint("api_deliberation", __name__, url_prefix="/api/v1/deliberation",
                description="Neighbourhood deliberation: topics, sessions, check-in, votes, veto, implementation")

C = "/communities/<int:community_id>"


def _meeting_detail(meeting):
    expected, present = service.attendance_counts(meeting)
    data = {name: getattr(meeting, name) for name in DelibMeetingSchema().fields}
    data.update(expected=expected, present=present, items=list(meeting.items))
    return data


def _checkin_result(result):
    expected, present = service.attendance_counts(result.meeting)
    return {
        "community_id": result.meeting.community_id, "meeting_id": result.meeting.id,
        "meeting_title": result.meeting.title, "user_id": result.user.id, "name": result.user.display_name,
        "already": result.already, "checked_in_at": result.attendance.checked_in_at,
        "message": _("You have already checked in.") if result.already else _("Checked in. Welcome!"),
        "expected": expected, "present": present,
    }


# --- topics -------------------------------------------------------------------------------------

@blp.route(C + "/topics")
class Topics(MethodView):
    @community_access("deliberation.view")
    @blp.response(200, DelibTopicSchema(many=True))
    def get(self, community_id):
        """Topics of the community, newest first."""
        return service.list_topics(community_id)

    @community_access("deliberation.participate")
    @idempotent
    @blp.arguments(DelibTopicInSchema)
    @blp.response(201, DelibTopicSchema)
    def post(self, data, community_id):
        """Propose a topic (photos are added through the web page)."""
        topic = service.propose_topic(acting_user(), community_id, data["title"], data["description"])
        return topic


@blp.route(C + "/topics/<int:topic_id>")
class TopicOne(MethodView):
    @community_access("deliberation.view")
    @blp.response(200, DelibTopicSchema)
    def get(self, community_id, topic_id):
        """One topic."""
        return service.get_topic(community_id, topic_id)


@blp.route(C + "/topics/<int:topic_id>/support")
class Support(MethodView):
    @community_access("deliberation.participate")
    @blp.response(200, DelibTopicSchema)
    def post(self, community_id, topic_id):
        """Support a topic (once); at the threshold it goes to the committee."""
        topic = service.support_topic(acting_user(), community_id, topic_id)
        db.session.commit()
        return topic


@blp.route(C + "/topics/<int:topic_id>/review")
class Review(MethodView):
    @community_access("deliberation.manage")
    @blp.arguments(DelibReviewSchema)
    @blp.response(200, DelibTopicSchema)
    def post(self, data, community_id, topic_id):
        """Committee: put a topic on an agenda, merge it into another, or decline it with a reason."""
        topic = service.review_topic(current_user, community_id, topic_id, **data)
        db.session.commit()
        return topic


# --- sessions -----------------------------------------------------------------------------------

@blp.route(C + "/meetings")
class Meetings(MethodView):
    @community_access("deliberation.view")
    @blp.response(200, DelibMeetingSchema(many=True))
    def get(self, community_id):
        """Sessions of the community, latest first."""
        return service.list_meetings(community_id)

    @community_access("deliberation.manage")
    @idempotent
    @blp.arguments(DelibMeetingInSchema)
    @blp.response(201, DelibMeetingDetailSchema)
    def post(self, data, community_id):
        """Committee: plan a session (invitations are sent by the worker)."""
        meeting = service.create_meeting(current_user, community_id, **data)
        return _meeting_detail(meeting)


@blp.route(C + "/meetings/<int:meeting_id>")
class MeetingOne(MethodView):
    @community_access("deliberation.view")
    @blp.response(200, DelibMeetingDetailSchema)
    def get(self, community_id, meeting_id):
        """A session with its agenda and 应到/实到."""
        return _meeting_detail(service.get_meeting(community_id, meeting_id))


@blp.route(C + "/meetings/<int:meeting_id>/items")
class Items(MethodView):
    @community_access("deliberation.manage")
    @idempotent
    @blp.arguments(DelibItemInSchema)
    @blp.response(201, DelibItemSchema)
    def post(self, data, community_id, meeting_id):
        """Committee: add an agenda item."""
        item = service.add_agenda_item(current_user, community_id, meeting_id, data["title"], data["description"],
                                       is_major=data["is_major"])
        return item


@blp.route(C + "/meetings/<int:meeting_id>/minutes")
class Minutes(MethodView):
    @community_access("deliberation.manage")
    @blp.arguments(DelibMinutesSchema)
    @blp.response(200, DelibMeetingSchema)
    def post(self, data, community_id, meeting_id):
        """Committee: record the minutes."""
        meeting = service.record_minutes(current_user, community_id, meeting_id, data["minutes"])
        db.session.commit()
        return meeting


@blp.route(C + "/meetings/<int:meeting_id>/close")
class Close(MethodView):
    @community_access("deliberation.manage")
    @blp.response(200, DelibMeetingDetailSchema)
    def post(self, community_id, meeting_id):
        """Committee: close the session and publish results and minutes."""
        meeting = service.close_meeting(current_user, community_id, meeting_id)
        db.session.commit()
        return _meeting_detail(meeting)


@blp.route(C + "/meetings/<int:meeting_id>/code")
class Code(MethodView):
    @community_access("deliberation.manage")
    @blp.response(200, DelibCodeSchema)
    def get(self, community_id, meeting_id):
        """Organiser: the current rotating check-in code (valid in its 30-second window and the next)."""
        meeting = service.get_meeting(community_id, meeting_id)
        service.checkin_open(meeting, resolve(None))
        token, refresh_in = service.checkin_token(meeting)
        expected, present = service.attendance_counts(meeting)
        return {"token": token, "url": public_url("deliberation.checkin", t=token),
                "refresh_in": refresh_in, "expected": expected, "present": present}


@blp.route(C + "/meetings/<int:meeting_id>/attendance")
class AttendanceView(MethodView):
    @community_access("deliberation.manage")
    @blp.response(200, DelibAttendanceSchema(many=True))
    def get(self, community_id, meeting_id):
        """Organiser: everyone expected, with their check-in."""
        meeting = service.get_meeting(community_id, meeting_id)
        return [{"user_id": u.id, "name": u.display_name, "grid": m.grid.name if m.grid else "",
                 "present": a is not None, "method": a.method if a else "",
                 "checked_in_at": a.checked_in_at if a else None}
                for u, m, a in service.attendance_list(meeting)]

    @community_access("deliberation.manage")
    @idempotent
    @blp.arguments(DelibAttendanceInSchema)
    @blp.response(200, DelibCheckinResultSchema)
    def post(self, data, community_id, meeting_id):
        """Organiser: check someone in by name (user_id) or by their scanned personal card (card_token)."""
        if data.get("card_token"):
            result = service.check_in_by_card(current_user, community_id, meeting_id, data["card_token"])
        else:
            result = service.check_in_by_name(current_user, community_id, meeting_id, data["user_id"])
        return _checkin_result(result)


@blp.route("/checkin")
class Checkin(MethodView):
    @idempotent
    @blp.arguments(DelibCheckinSchema)
    @blp.response(200, DelibCheckinResultSchema)
    @auth_required
    def post(self, data):
        """Resident: check in with the scanned rotating code (the token, or the whole /checkin?t=… URL)."""
        token = data["token"].strip()
        if "?" in token:
            token = (parse_qs(urlparse(token).query).get("t") or [""])[0]
        result = service.check_in_by_scan(acting_user(), token)
        return _checkin_result(result)


# --- decision -----------------------------------------------------------------------------------

@blp.route(C + "/items/<int:item_id>")
class ItemOne(MethodView):
    @community_access("deliberation.view")
    @blp.response(200, DelibItemSchema)
    def get(self, community_id, item_id):
        """An agenda item with its result, evaluation and implementation state."""
        return service.get_item(community_id, item_id)


@blp.route(C + "/items/<int:item_id>/voting")
class Voting(MethodView):
    @community_access("deliberation.manage")
    @blp.arguments(DelibVotingSchema)
    @blp.response(200, DelibItemSchema)
    def post(self, data, community_id, item_id):
        """Committee: open or close the vote on an item; closing fixes the result."""
        item = service.open_or_close_vote(current_user, community_id, item_id, data["open"])
        db.session.commit()
        return item


@blp.route(C + "/items/<int:item_id>/vote")
class VoteView(MethodView):
    @community_access("deliberation.participate")
    @idempotent
    @blp.arguments(DelibVoteSchema)
    @blp.response(201, DelibItemSchema)
    def post(self, data, community_id, item_id):
        """Checked-in participant: vote for, against or abstain (once)."""
        item = service.cast_vote(acting_user(), community_id, item_id, data["choice"])
        return item


@blp.route(C + "/items/<int:item_id>/objection")
class ObjectionView(MethodView):
    @community_access("deliberation.participate")
    @idempotent
    @blp.arguments(DelibObjectionSchema)
    @blp.response(201, DelibItemSchema)
    def post(self, data, community_id, item_id):
        """Resident: object to a major decision during its evaluation (一票否决 at the threshold)."""
        item = service.object_to_item(acting_user(), community_id, item_id, data["reason"])
        return item


# --- implementation -----------------------------------------------------------------------------

@blp.route(C + "/items/<int:item_id>/responsible")
class Responsible(MethodView):
    @community_access("deliberation.manage")
    @blp.arguments(DelibResponsibleSchema)
    @blp.response(200, DelibItemSchema)
    def post(self, data, community_id, item_id):
        """Committee: name the person responsible for an adopted item."""
        item = service.assign_responsible(current_user, community_id, item_id, data["user_id"])
        db.session.commit()
        return item


@blp.route(C + "/items/<int:item_id>/progress")
class Progress(MethodView):
    @community_access("deliberation.view")
    @blp.response(200, DelibProgressSchema(many=True))
    def get(self, community_id, item_id):
        """Progress updates of an item."""
        return service.progress_of(service.get_item(community_id, item_id))

    @community_access("deliberation.participate")
    @idempotent
    @blp.arguments(DelibProgressInSchema)
    @blp.response(201, DelibProgressSchema)
    def post(self, data, community_id, item_id):
        """Responsible person or committee: post progress (photos through the web page)."""
        update = service.add_progress(acting_user(), community_id, item_id, data["text"])
        return update


@blp.route(C + "/items/<int:item_id>/complete")
class Complete(MethodView):
    @community_access("deliberation.participate")
    @blp.response(200, DelibItemSchema)
    def post(self, community_id, item_id):
        """Responsible person or committee: mark the item completed."""
        item = service.complete_item(acting_user(), community_id, item_id)
        db.session.commit()
        return item


@blp.route(C + "/items/<int:item_id>/rating")
class RatingView(MethodView):
    @community_access("deliberation.participate")
    @idempotent
    @blp.arguments(DelibRatingInSchema)
    @blp.response(201, DelibRatingSchema)
    def post(self, data, community_id, item_id):
        """Resident: rate a completed item 1–5 (once)."""
        rating = service.rate_item(acting_user(), community_id, item_id, data["score"], data["comment"])
        average, count = service.rating_summary(service.get_item(community_id, item_id))
        return {"item_id": item_id, "score": rating.score, "average": average, "count": count}


@blp.route(C + "/settings")
class Settings(MethodView):
    @community_access("deliberation.view")
    @blp.response(200, DelibSettingsSchema)
    def get(self, community_id):
        """The community's deliberation settings."""
        return service.settings_for(community_id)

    @community_access("deliberation.manage")
    @blp.arguments(DelibSettingsSchema)
    @blp.response(200, DelibSettingsSchema)
    def put(self, data, community_id):
        """Committee: change the support threshold, attendance points, veto threshold and evaluation days."""
        settings = service.update_settings(current_user, community_id, **data)
        db.session.commit()
        return settings
