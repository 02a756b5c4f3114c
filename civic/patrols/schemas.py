"""Marshmallow schemas for the patrols API."""
import marshmallow as ma
from flask_babel import gettext

from civic.core.lookup import MAX_ID
from civic.patrols.service import to_local

ID_RANGE = ma.validate.Range(min=0, max=MAX_ID)  # ids are 32-bit in the database


class LocalDateTime(ma.fields.DateTime):
    """A stored naive UTC datetime shown as China time with its offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return to_local(value).isoformat() + "+08:00"


class PatrolShiftSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    route_id = ma.fields.Integer(allow_none=True)
    series_id = ma.fields.Integer(allow_none=True)
    starts_at = LocalDateTime()
    ends_at = LocalDateTime()
    capacity = ma.fields.Integer()
    taken = ma.fields.Integer()
    places_left = ma.fields.Integer()
    meeting_point = ma.fields.String()
    notes = ma.fields.String()
    status = ma.fields.String()
    cancel_reason = ma.fields.String()


class PatrolShiftCreateSchema(ma.Schema):
    """A one-off shift (starts_at/ends_at with an offset, or naive China time) or a weekly one (weekdays set)."""

    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    capacity = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=500))
    route_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)
    meeting_point = ma.fields.String(load_default="", validate=ma.validate.Length(max=120))
    notes = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    starts_at = ma.fields.DateTime(load_default=None)
    ends_at = ma.fields.DateTime(load_default=None)
    weekdays = ma.fields.List(ma.fields.Integer(validate=ma.validate.Range(min=0, max=6)), load_default=None)
    local_start = ma.fields.Time(load_default=None)
    minutes = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=15, max=720))
    first_date = ma.fields.Date(load_default=None)
    last_date = ma.fields.Date(load_default=None)

    @ma.validates_schema
    def _one_or_weekly(self, data, **kwargs):
        if data.get("weekdays"):
            missing = [k for k in ("local_start", "minutes", "first_date", "last_date") if data.get(k) is None]
        else:
            missing = [k for k in ("starts_at", "ends_at") if data.get(k) is None]
        if missing:
            raise ma.ValidationError({k: ["Missing data for required field."] for k in missing})


class ShiftSignupSchema(ma.Schema):
    id = ma.fields.Integer()
    shift_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    status = ma.fields.String()
    signed_up_at = LocalDateTime()


class PatrolStartSchema(ma.Schema):
    shift_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)


class PatrolSchema(ma.Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    shift_id = ma.fields.Integer(allow_none=True)
    status = ma.fields.String()
    started_at = LocalDateTime()
    ended_at = LocalDateTime(allow_none=True)
    ended_by = ma.fields.String()
    point_count = ma.fields.Integer()
    distance_m = ma.fields.Float()
    moving_seconds = ma.fields.Float()
    flags = ma.fields.List(ma.fields.String(), attribute="flag_list")
    review_note = ma.fields.String()
    points_awarded = ma.fields.Integer()
    dropped_points = ma.fields.Integer()


class TrackPointSchema(ma.Schema):
    id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    t = ma.fields.Float(required=True, allow_nan=False)
    lat = ma.fields.Float(required=True, allow_nan=False, validate=ma.validate.Range(min=-90, max=90))
    lon = ma.fields.Float(required=True, allow_nan=False, validate=ma.validate.Range(min=-180, max=180))
    accuracy = ma.fields.Float(load_default=None, allow_none=True, allow_nan=False,
                               validate=ma.validate.Range(min=0, max=100000))


class TrackPointBatchSchema(ma.Schema):
    points = ma.fields.List(ma.fields.Nested(TrackPointSchema), required=True,
                            validate=ma.validate.Length(min=1, max=500))


class TrackPointBatchResultSchema(ma.Schema):
    accepted = ma.fields.Integer()
    duplicates = ma.fields.Integer()
    dropped = ma.fields.Integer(metadata={"description": "fixes outside the patrol's start..end in this batch"})
    point_count = ma.fields.Integer()
    distance_m = ma.fields.Float(metadata={"description": "the patrol's distance so far, from the saved engine"})
    moving_seconds = ma.fields.Float()
    dropped_points = ma.fields.Integer(metadata={"description": "all fixes of this patrol dropped so far"})
    flags = ma.fields.List(ma.fields.String())


class PatrolReviewSchema(ma.Schema):
    approve = ma.fields.Boolean(required=True)
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class ProblemReportSchema(ma.Schema):
    id = ma.fields.Integer()
    reporter_id = ma.fields.Integer()
    category_id = ma.fields.Integer()
    category = ma.fields.Function(lambda r: gettext(r.category.name))
    patrol_id = ma.fields.Integer(allow_none=True)
    description = ma.fields.String()
    lat = ma.fields.Float(allow_none=True)
    lon = ma.fields.Float(allow_none=True)
    status = ma.fields.String()
    assignee_id = ma.fields.Integer(allow_none=True)
    department = ma.fields.String()
    merged_into_id = ma.fields.Integer(allow_none=True)
    points_awarded = ma.fields.Integer()
    created_at = LocalDateTime()


class ProblemReportCreateSchema(ma.Schema):
    """A report without a photo (photos are added through the page, which takes a file)."""

    category_id = ma.fields.Integer(validate=ID_RANGE, required=True)
    description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))
    lat = ma.fields.Float(load_default=None, allow_none=True, allow_nan=False,
                          validate=ma.validate.Range(min=-90, max=90))
    lon = ma.fields.Float(load_default=None, allow_none=True, allow_nan=False,
                          validate=ma.validate.Range(min=-180, max=180))
    patrol_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)


class ProblemReportActionSchema(ma.Schema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ["accept", "assign", "confirm", "reopen", "close", "merge"]))
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    assignee_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)
    department = ma.fields.String(load_default="", validate=ma.validate.Length(max=80))
    into_id = ma.fields.Integer(validate=ID_RANGE, load_default=None, allow_none=True)


class ReportCategorySchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.Function(lambda c: gettext(c.name))


class PatrolStatsBlockSchema(ma.Schema):
    km = ma.fields.Float()
    hours = ma.fields.Float()
    patrols = ma.fields.Integer()
    volunteers = ma.fields.Integer()
    reports = ma.fields.Integer()
    reports_fixed = ma.fields.Integer()


class PatrolStatsSchema(ma.Schema):
    total = ma.fields.Nested(PatrolStatsBlockSchema)
    month = ma.fields.Nested(PatrolStatsBlockSchema)
    me = ma.fields.Dict()
    stars = ma.fields.List(ma.fields.Dict())
