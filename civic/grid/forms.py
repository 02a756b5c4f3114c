"""Grid forms (HTML pages)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

ROLE_CHOICES = [("grid_worker", _l("Grid worker")), ("grid_leader", _l("Grid leader")),
                ("building_head", _l("Building head"))]


class VisitForm(FlaskForm):
    met = StringField(_l("Who you met"), validators=[Optional(), Length(max=80)])
    notes = TextAreaField(_l("What you found"), validators=[Optional(), Length(max=2000)])
    minutes = IntegerField(_l("Minutes spent"), default=15, validators=[InputRequired(), NumberRange(min=0, max=480)])
    photo = FileField(_l("Photo (optional)"))
    follow_up = BooleanField(_l("Needs a follow-up visit"))
    raise_problem = BooleanField(_l("Report a problem found on this visit"))
    category_id = SelectField(_l("Kind of problem"), coerce=int, validators=[Optional()], validate_choice=False)
    problem = TextAreaField(_l("What is the problem?"), validators=[Optional(), Length(max=1000)])


class RoleForm(FlaskForm):
    grid_id = SelectField(_l("Grid"), coerce=int, validators=[DataRequired()])
    user_id = SelectField(_l("Person"), coerce=int, validators=[DataRequired()])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])


class CycleForm(FlaskForm):
    grid_id = SelectField(_l("Grid"), coerce=int, validators=[DataRequired()])
    days = IntegerField(_l("Visit every household every (days)"), default=30,
                        validators=[InputRequired(), NumberRange(min=1, max=366)])


class NoteForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])


class DispatchForm(FlaskForm):
    department_id = SelectField(_l("Department"), coerce=int, validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])


class ResolveForm(FlaskForm):
    photo = FileField(_l("Photo of the fixed problem"))
    note = TextAreaField(_l("What was done"), validators=[Optional(), Length(max=500)])


class DepartmentForm(FlaskForm):
    area = SelectField(_l("Street or district"), validators=[DataRequired()])
    name = StringField(_l("Department name"), validators=[DataRequired(), Length(max=60)])


class StaffForm(FlaskForm):
    department_id = SelectField(_l("Department"), coerce=int, validators=[DataRequired()])
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=20)])


class DeadlineForm(FlaskForm):
    street_id = SelectField(_l("Street"), coerce=int, validators=[DataRequired()])
    category = SelectField(_l("Kind of problem"), validators=[DataRequired(), Length(max=40)])
    hours = IntegerField(_l("Hours to fix"), default=72, validators=[InputRequired(), NumberRange(min=1, max=2160)])


class DisputeForm(FlaskForm):
    title = StringField(_l("What is the dispute about?"), validators=[DataRequired(), Length(max=120)])
    parties = StringField(_l("The parties"), validators=[DataRequired(), Length(max=300)])
    mediator_id = SelectField(_l("Mediator"), coerce=int, validators=[DataRequired()])


class SessionForm(FlaskForm):
    attendees = StringField(_l("Who came"), validators=[Optional(), Length(max=300)])
    notes = TextAreaField(_l("What was said"), validators=[DataRequired(), Length(max=4000)])


class OutcomeForm(FlaskForm):
    agreement = TextAreaField(_l("The agreement"), validators=[Optional(), Length(max=4000)])
    follow_up_days = IntegerField(_l("Follow-up visit in (days)"), default=30,
                                  validators=[InputRequired(), NumberRange(min=1, max=365)])


class FollowUpForm(FlaskForm):
    note = TextAreaField(_l("What the follow-up visit found"), validators=[DataRequired(), Length(max=500)])
