"""Community forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from civic.core.lookup import MAX_ID


class JoinForm(FlaskForm):
    address = StringField(_l("Your address in the community"), validators=[DataRequired(), Length(max=120)])
    note = StringField(_l("Note for the committee"), validators=[Optional(), Length(max=200)])


class ReviewForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])
    grid_id = SelectField(_l("Grid"), coerce=int, validators=[Optional(), NumberRange(0, MAX_ID)],
                          validate_choice=False)


class RoleForm(FlaskForm):
    user_id = IntegerField(validators=[DataRequired(), NumberRange(0, MAX_ID)])
    role = SelectField(
        _l("Role"),
        choices=[("committee", _l("Committee member")), ("coordinator", _l("Coordinator")),
                 ("shopkeeper", _l("Shopkeeper"))],
    )
    action = HiddenField(default="grant")


class NameForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])


class CommunityForm(FlaskForm):
    district = StringField(_l("District"), validators=[DataRequired(), Length(max=60)])
    street = StringField(_l("Street or township"), validators=[DataRequired(), Length(max=60)])
    name = StringField(_l("Community or village"), validators=[DataRequired(), Length(max=60)])
    kind = SelectField(_l("Kind"), choices=[("community", _l("Community")), ("village", _l("Village"))])


class AppointForm(FlaskForm):
    phone = StringField(_l("Mobile number of the committee member"), validators=[DataRequired(), Length(max=20)])
