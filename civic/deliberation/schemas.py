"""Marshmallow schemas for the deliberation API. Times are ISO 8601; without a zone they mean UTC."""
from datetime import UTC

import marshmallow as ma
from marshmallow import validate

from civic.core.lookup import MAX_ID
from civic.deliberation.models import CHOICES, MAJORITIES, MEETING_KINDS, SCOPES

ID_RANGE = ma.validate.Range(min=0, max=MAX_ID)  # ids are 32-bit in the database


def _utc(value):
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


class DelibTopicInSchema(ma.Schema):
    title = ma.fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = ma.fields.String(load_default="", validate=validate.Length(max=5000))


class DelibTopicSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    status = ma.fields.String()
    support_count = ma.fields.Integer()
    proposer = ma.fields.String(attribute="proposer.display_name")
    merged_into_id = ma.fields.Integer(allow_none=True)
    decline_reason = ma.fields.String()
    photos = ma.fields.List(ma.fields.String())
    created_at = ma.fields.DateTime()


class DelibReviewSchema(ma.Schema):
    action = ma.fields.String(required=True, validate=validate.OneOf(["agenda", "merge", "decline"]))
    meeting_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)
    is_major = ma.fields.Boolean(load_default=False)
    into_topic_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)
    reason = ma.fields.String(load_default="", validate=validate.Length(max=500))

    @ma.validates_schema
    def _needs(self, data, **_kwargs):
        if data["action"] == "agenda" and not data.get("meeting_id"):
            raise ma.ValidationError("Required to put a topic on an agenda.", "meeting_id")
        if data["action"] == "merge" and not data.get("into_topic_id"):
            raise ma.ValidationError("Required to merge.", "into_topic_id")


class DelibMeetingInSchema(ma.Schema):
    title = ma.fields.String(required=True, validate=validate.Length(min=1, max=120))
    kind = ma.fields.String(load_default="council", validate=validate.OneOf(list(MEETING_KINDS)))
    custom_kind = ma.fields.String(load_default="", validate=validate.Length(max=40))
    place = ma.fields.String(required=True, validate=validate.Length(min=1, max=120))
    starts_at = ma.fields.DateTime(required=True)
    ends_at = ma.fields.DateTime(required=True)
    scope = ma.fields.String(load_default="community", validate=validate.OneOf(SCOPES))
    grid_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)
    invitee_ids = ma.fields.List(ma.fields.Integer(validate=ID_RANGE), load_default=list,
                                 validate=validate.Length(max=2000))
    quorum_count = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=100000))
    quorum_percent = ma.fields.Integer(load_default=50, validate=validate.Range(min=0, max=100))
    majority = ma.fields.String(load_default="simple", validate=validate.OneOf(MAJORITIES))

    @ma.post_load
    def _times(self, data, **_kwargs):
        data["starts_at"], data["ends_at"] = _utc(data["starts_at"]), _utc(data["ends_at"])
        return data


class DelibItemInSchema(ma.Schema):
    title = ma.fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = ma.fields.String(load_default="", validate=validate.Length(max=5000))
    is_major = ma.fields.Boolean(load_default=False)


class DelibItemSchema(ma.Schema):
    id = ma.fields.Integer()
    meeting_id = ma.fields.Integer()
    topic_id = ma.fields.Integer(allow_none=True)
    position = ma.fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    is_major = ma.fields.Boolean()
    status = ma.fields.String()
    votes_for = ma.fields.Integer()
    votes_against = ma.fields.Integer()
    votes_abstain = ma.fields.Integer()
    present = ma.fields.Integer()
    expected = ma.fields.Integer()
    decided_at = ma.fields.DateTime(allow_none=True)
    evaluation_ends_at = ma.fields.DateTime(allow_none=True)
    objections = ma.fields.Integer()
    veto_needed = ma.fields.Integer()
    responsible_id = ma.fields.Integer(allow_none=True)
    completed_at = ma.fields.DateTime(allow_none=True)


class DelibMeetingSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    kind = ma.fields.String()
    custom_kind = ma.fields.String()
    place = ma.fields.String()
    starts_at = ma.fields.DateTime()
    ends_at = ma.fields.DateTime()
    scope = ma.fields.String()
    grid_id = ma.fields.Integer(allow_none=True)
    quorum_count = ma.fields.Integer()
    quorum_percent = ma.fields.Integer()
    majority = ma.fields.String()
    status = ma.fields.String()
    minutes = ma.fields.String()
    closed_at = ma.fields.DateTime(allow_none=True)


class DelibMeetingDetailSchema(DelibMeetingSchema):
    expected = ma.fields.Integer()
    present = ma.fields.Integer()
    items = ma.fields.List(ma.fields.Nested(DelibItemSchema))


class DelibMinutesSchema(ma.Schema):
    minutes = ma.fields.String(required=True, validate=validate.Length(max=20000))


class DelibCodeSchema(ma.Schema):
    token = ma.fields.String()
    url = ma.fields.String()
    refresh_in = ma.fields.Float()
    expected = ma.fields.Integer()
    present = ma.fields.Integer()


class DelibCheckinSchema(ma.Schema):
    token = ma.fields.String(required=True, validate=validate.Length(min=1, max=2500),
                             metadata={"description": "The scanned code: the token or the whole /checkin?t=… URL"})


class DelibAttendanceInSchema(ma.Schema):
    user_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)
    card_token = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @ma.validates_schema
    def _one(self, data, **_kwargs):
        if bool(data.get("user_id")) == bool(data.get("card_token")):
            raise ma.ValidationError("Give either user_id (by name) or card_token (a scanned personal card).")


class DelibCheckinResultSchema(ma.Schema):
    community_id = ma.fields.Integer()
    meeting_id = ma.fields.Integer()
    meeting_title = ma.fields.String()
    user_id = ma.fields.Integer()
    name = ma.fields.String()
    already = ma.fields.Boolean()
    checked_in_at = ma.fields.DateTime()
    message = ma.fields.String()
    expected = ma.fields.Integer()
    present = ma.fields.Integer()


class DelibAttendanceSchema(ma.Schema):
    user_id = ma.fields.Integer()
    name = ma.fields.String()
    grid = ma.fields.String()
    present = ma.fields.Boolean()
    method = ma.fields.String()
    checked_in_at = ma.fields.DateTime(allow_none=True)


class DelibVotingSchema(ma.Schema):
    open = ma.fields.Boolean(required=True)


class DelibVoteSchema(ma.Schema):
    choice = ma.fields.String(required=True, validate=validate.OneOf(CHOICES))


class DelibObjectionSchema(ma.Schema):
    reason = ma.fields.String(load_default="", validate=validate.Length(max=500))


class DelibResponsibleSchema(ma.Schema):
    user_id = ma.fields.Integer(validate=ID_RANGE, required=True)


class DelibProgressInSchema(ma.Schema):
    text = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))


class DelibProgressSchema(ma.Schema):
    id = ma.fields.Integer()
    item_id = ma.fields.Integer()
    author = ma.fields.String(attribute="author.display_name")
    text = ma.fields.String()
    photos = ma.fields.List(ma.fields.String())
    created_at = ma.fields.DateTime()


class DelibRatingInSchema(ma.Schema):
    score = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = ma.fields.String(load_default="", validate=validate.Length(max=300))


class DelibRatingSchema(ma.Schema):
    item_id = ma.fields.Integer()
    score = ma.fields.Integer()
    average = ma.fields.Float(allow_none=True)
    count = ma.fields.Integer()


class DelibSettingsSchema(ma.Schema):
    support_threshold = ma.fields.Integer(required=True, validate=validate.Range(min=1, max=10000))
    points_per_attendance = ma.fields.Integer(required=True, validate=validate.Range(min=0, max=1000))
    veto_percent = ma.fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    evaluation_days = ma.fields.Integer(required=True, validate=validate.Range(min=1, max=60))
