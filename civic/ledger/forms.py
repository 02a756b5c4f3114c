"""Forms of the passbook pages (query-string filters; they change nothing, so no CSRF token)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
from wtforms.validators import NumberRange, Optional


class PassbookFilterForm(FlaskForm):
    """Which entries to show: a category, and the cursor of the page."""

    class Meta:
        csrf = False

    category = SelectField(_l("Category"), validators=[Optional()], default="")
    before = IntegerField(validators=[Optional(), NumberRange(min=1)])


class PrintForm(FlaskForm):
    """Which year to print."""

    class Meta:
        csrf = False

    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(min=2000, max=2100)])
    category = SelectField(_l("Category"), validators=[Optional()], default="")


class BoardForm(FlaskForm):
    """Which leaderboard: period and category."""

    class Meta:
        csrf = False

    period = SelectField(_l("Period"), default="month", validators=[Optional()],
                         choices=[("month", _l("This month")), ("year", _l("This year")), ("all", _l("All time"))])
    category = SelectField(_l("Category"), validators=[Optional()], default="")
