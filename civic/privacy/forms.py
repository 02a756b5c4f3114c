"""Privacy forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField
from wtforms.validators import DataRequired, InputRequired, NumberRange

from civic.privacy.models import MAX_GPS_RETENTION_DAYS, MIN_GPS_RETENTION_DAYS


class RetentionForm(FlaskForm):
    gps_retention_days = IntegerField(
        _l("Keep patrol GPS points for (days)"),
        validators=[InputRequired(), NumberRange(min=MIN_GPS_RETENTION_DAYS, max=MAX_GPS_RETENTION_DAYS)])


class CloseAccountForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired()])
    confirm = BooleanField(_l("I understand that my account will be closed and cannot be used again"),
                           validators=[DataRequired()])
