"""Deliberation forms (HTML pages). Times are entered in local time (Asia/Shanghai)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from civic.core.clock import LOCAL_TZ, to_local, to_utc  # noqa: F401 - re-exported
from civic.core.lookup import MAX_ID


def _ids_in_range(_form, field):
    """Every id of a multiple choice fits the database (a larger one is no row, and an error there)."""
    if any(not 0 <= value <= MAX_ID for value in field.data or []):
        raise ValidationError(field.gettext("Not a valid choice."))


class ButtonForm(FlaskForm):
    """Only the CSRF token: for buttons that need no input."""


class TopicForm(FlaskForm):
    title = StringField(_l("Topic"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("What is the problem, and what do you suggest?"),
                                validators=[Optional(), Length(max=5000)])
    photos = MultipleFileField(_l("Photos (up to 6)"))


class ReviewForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])
    meeting_id = SelectField(_l("Meeting"), coerce=int, validate_choice=False,
                             validators=[Optional(), NumberRange(0, MAX_ID)])
    is_major = BooleanField(_l("Major matter (residents may veto it)"))
    into_topic_id = SelectField(_l("Merge into"), coerce=int, validate_choice=False,
                                validators=[Optional(), NumberRange(0, MAX_ID)])
    reason = TextAreaField(_l("Reason for declining (published)"), validators=[Optional(), Length(max=500)])


class MeetingForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    kind = SelectField(_l("Kind of meeting"), choices=[
        ("council", _l("Democratic deliberation council")), ("hall", _l("Residents' deliberation hall")),
        ("chat", _l("Building heads' chat")), ("custom", _l("Other meeting"))])
    custom_kind = StringField(_l("Name of the kind (for other meetings)"), validators=[Optional(), Length(max=40)])
    place = StringField(_l("Place"), validators=[DataRequired(), Length(max=120)])
    starts_at = DateTimeLocalField(_l("Starts at"), format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    ends_at = DateTimeLocalField(_l("Ends at"), format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    scope = SelectField(_l("Who is expected"), choices=[
        ("community", _l("All residents")), ("grid", _l("Residents of one grid")), ("invited", _l("Invited people"))])
    grid_id = SelectField(_l("Grid"), coerce=int, validate_choice=False,
                          validators=[Optional(), NumberRange(0, MAX_ID)])
    invitees = SelectMultipleField(_l("Invited people"), coerce=int, validate_choice=False,
                                   validators=[Optional(), _ids_in_range])
    quorum_count = IntegerField(_l("At least this many present"), default=0,
                                validators=[InputRequired(), NumberRange(min=0, max=100000)])
    quorum_percent = IntegerField(_l("And at least this percentage of those expected"), default=50,
                                  validators=[InputRequired(), NumberRange(min=0, max=100)])
    majority = SelectField(_l("Majority needed"), choices=[
        ("simple", _l("More than half of the votes cast")), ("two_thirds", _l("Two thirds of the votes cast"))])


class ItemForm(FlaskForm):
    title = StringField(_l("Agenda item"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("Details"), validators=[Optional(), Length(max=5000)])
    is_major = BooleanField(_l("Major matter (residents may veto it)"))


class MinutesForm(FlaskForm):
    minutes = TextAreaField(_l("Minutes"), validators=[Optional(), Length(max=20000)])


class VoteForm(FlaskForm):
    choice = HiddenField(validators=[DataRequired()])


class CheckinForm(FlaskForm):
    t = HiddenField(validators=[DataRequired()])


class NameCheckinForm(FlaskForm):
    user_id = IntegerField(validators=[DataRequired(), NumberRange(0, MAX_ID)])


class CardForm(FlaskForm):
    token = StringField(_l("Code on the card"), validators=[DataRequired(), Length(max=2000)])


class ObjectionForm(FlaskForm):
    reason = TextAreaField(_l("Why do you object? (optional)"), validators=[Optional(), Length(max=500)])


class ResponsibleForm(FlaskForm):
    user_id = SelectField(_l("Responsible person"), coerce=int, validate_choice=False,
                          validators=[DataRequired(), NumberRange(0, MAX_ID)])


class ProgressForm(FlaskForm):
    text = TextAreaField(_l("Progress"), validators=[DataRequired(), Length(max=2000)])
    photos = MultipleFileField(_l("Photos (up to 6)"))


class RatingForm(FlaskForm):
    score = SelectField(_l("How satisfied are you?"), coerce=int, choices=[
        (5, _l("5 – very satisfied")), (4, _l("4 – satisfied")), (3, _l("3 – so-so")),
        (2, _l("2 – not satisfied")), (1, _l("1 – very unsatisfied"))])
    comment = StringField(_l("Comment (optional)"), validators=[Optional(), Length(max=300)])


class SettingsForm(FlaskForm):
    support_threshold = IntegerField(_l("Supporters needed to send a topic to the committee"),
                                     validators=[InputRequired(), NumberRange(min=1, max=10000)])
    points_per_attendance = IntegerField(_l("Points for attending a meeting"),
                                         validators=[InputRequired(), NumberRange(min=0, max=1000)])
    veto_percent = IntegerField(_l("Objections that veto a major decision (percentage of residents)"),
                                validators=[InputRequired(), NumberRange(min=1, max=100)])
    evaluation_days = IntegerField(_l("Days residents have to evaluate a major decision"),
                                   validators=[InputRequired(), NumberRange(min=1, max=60)])
