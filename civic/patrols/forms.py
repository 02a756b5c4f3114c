"""Patrol forms (HTML pages); the API uses civic.patrols.schemas."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

WEEKDAYS = [("0", _l("Monday")), ("1", _l("Tuesday")), ("2", _l("Wednesday")), ("3", _l("Thursday")),
            ("4", _l("Friday")), ("5", _l("Saturday")), ("6", _l("Sunday"))]


class RouteForm(FlaskForm):
    name = StringField(_l("Route name"), validators=[DataRequired(), Length(max=80)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=500)])
    waypoints = HiddenField(validators=[Optional()])  # JSON [[lat, lon], ...] from the map
    is_area = BooleanField(_l("This is an area (a closed shape)"))
    gpx = FileField(_l("Or upload a GPX file"))


class ShiftForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=80)])
    route_id = SelectField(_l("Route"), coerce=int, validators=[Optional()], validate_choice=False)
    repeat = SelectField(_l("How often"), choices=[("once", _l("Once")), ("weekly", _l("Every week"))])
    day = DateField(_l("Date (first date for weekly)"), validators=[DataRequired()])
    last_day = DateField(_l("Last date (weekly only)"), validators=[Optional()])
    weekdays = SelectMultipleField(_l("Days of the week (weekly only)"), choices=WEEKDAYS,
                                   option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    start = TimeField(_l("Start time"), validators=[DataRequired()])
    end = TimeField(_l("End time"), validators=[DataRequired()])
    capacity = IntegerField(_l("Places"), default=10, validators=[InputRequired(), NumberRange(min=1, max=500)])
    meeting_point = StringField(_l("Meeting point"), validators=[Optional(), Length(max=120)])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=500)])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=500)])


class ReviewForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])
    note = TextAreaField(_l("Note (required if flagged or not accepted)"), validators=[Optional(), Length(max=500)])


class AttendanceForm(FlaskForm):
    user_id = IntegerField(validators=[DataRequired()])
    attended = HiddenField(validators=[DataRequired()])


class StartForm(FlaskForm):
    shift_id = IntegerField(validators=[Optional()])


class ReportForm(FlaskForm):
    category_id = SelectField(_l("What kind of problem"), coerce=int, validators=[DataRequired()],
                              validate_choice=False)
    description = TextAreaField(_l("What is wrong, and where"), validators=[DataRequired(), Length(max=1000)])
    photo = FileField(_l("Photo"))
    lat = FloatField(validators=[Optional(), NumberRange(min=-90, max=90)])
    lon = FloatField(validators=[Optional(), NumberRange(min=-180, max=180)])
    patrol_id = IntegerField(validators=[Optional()])


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Person"), coerce=int, validators=[Optional()], validate_choice=False)
    department = StringField(_l("Or department"), validators=[Optional(), Length(max=80)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ResolveForm(FlaskForm):
    photo = FileField(_l("Photo of the fixed problem"))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class NoteForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class MergeForm(FlaskForm):
    into_id = IntegerField(_l("Number of the earlier report"), validators=[InputRequired()])


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=40)])


class SettingsForm(FlaskForm):
    points_per_km = IntegerField(_l("Points per km"), validators=[InputRequired(), NumberRange(min=0, max=10000)])
    points_per_hour = IntegerField(_l("Points per hour"), validators=[InputRequired(), NumberRange(min=0, max=10000)])
    max_points_per_patrol = IntegerField(_l("Most points for one patrol"),
                                         validators=[InputRequired(), NumberRange(min=1, max=10000)])
    report_points = IntegerField(_l("Points for a confirmed report"),
                                 validators=[InputRequired(), NumberRange(min=0, max=10000)])
    max_points_per_day = IntegerField(_l("Most patrol points for one person in a day"),
                                      validators=[InputRequired(), NumberRange(min=1, max=10000)])
    max_hours_per_day = IntegerField(_l("Most patrol service hours for one person in a day"),
                                     validators=[InputRequired(), NumberRange(min=1, max=24)])
    area_route_id = SelectField(_l("Community boundary (an area drawn under Routes)"), coerce=int,
                                validators=[Optional()], validate_choice=False)
    area_lat = FloatField(_l("Centre latitude"), validators=[Optional(), NumberRange(min=-90, max=90)])
    area_lon = FloatField(_l("Centre longitude"), validators=[Optional(), NumberRange(min=-180, max=180)])
    area_radius_m = IntegerField(_l("Radius in metres"), validators=[Optional(), NumberRange(min=50, max=50000)])
