"""Merit claim forms: claiming, recording, reviewing, objecting, and the committee's rules and settings."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from civic.merit.service import MAX_PHOTOS

PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "application/octet-stream", "")


class ClaimForm(FlaskForm):
    """A resident claims an item: what they did and up to three photos."""

    description = TextAreaField(_l("What did you do? (when, where, for whom)"),
                                validators=[DataRequired(), Length(min=2, max=500)])
    photos = MultipleFileField(_l("Photos (up to 3, JPEG, PNG or WebP)"))
    request_key = HiddenField()

    def chosen_photos(self):
        """The files actually chosen (browsers send one empty part when none is)."""
        return [f for f in (self.photos.data or []) if f and getattr(f, "filename", "")]

    def validate_photos(self, field):
        files = self.chosen_photos()
        if len(files) > MAX_PHOTOS:
            raise ValidationError(_l("At most 3 photos."))
        for f in files:
            if (f.mimetype or "").lower() not in PHOTO_TYPES:
                raise ValidationError(_l("Only JPEG, PNG or WebP photos are accepted."))


class RecordForm(ClaimForm):
    """A committee member or grid leader records an item (or a deduction) for a resident."""

    resident_id = SelectField(_l("Resident"), coerce=int, validators=[InputRequired()])
    rule_id = SelectField(_l("Item"), coerce=int, validators=[InputRequired()])
    description = TextAreaField(_l("What happened? (when, where)"), validators=[DataRequired(), Length(min=2, max=500)])


class ApproveForm(FlaskForm):
    points = IntegerField(_l("Points"), validators=[Optional(), NumberRange(min=1, max=10000)])


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason (the resident will see it)"), validators=[DataRequired(), Length(min=2, max=500)])


class ObjectionForm(FlaskForm):
    reason = TextAreaField(_l("Why do you object?"), validators=[DataRequired(), Length(min=2, max=500)])


class DecisionForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])
    note = TextAreaField(_l("Reason for the decision (it is published)"),
                         validators=[DataRequired(), Length(min=2, max=500)])


class RuleForm(FlaskForm):
    category_id = SelectField(_l("Category"), coerce=int, validators=[InputRequired()])
    kind = SelectField(_l("Kind"), choices=[("award", _l("Award")), ("deduction", _l("Deduction (negative list)"))])
    name = StringField(_l("Item"), validators=[DataRequired(), Length(max=80)])
    description = TextAreaField(_l("Explanation"), validators=[Optional(), Length(max=500)])
    points_min = IntegerField(_l("Points (lowest)"), validators=[InputRequired(), NumberRange(min=1, max=10000)])
    points_max = IntegerField(_l("Points (highest; empty for a fixed number)"),
                              validators=[Optional(), NumberRange(min=1, max=10000)])
    cap_period = SelectField(_l("Limit per resident"), choices=[
        ("none", _l("No limit")), ("month", _l("Per month")), ("year", _l("Per year"))])
    cap_times = IntegerField(_l("At most how many times"), validators=[Optional(), NumberRange(min=1, max=1000)])
    cap_points = IntegerField(_l("At most how many points"), validators=[Optional(), NumberRange(min=1, max=100000)])
    evidence_required = BooleanField(_l("A photo is required"))
    active = BooleanField(_l("Offered now"), default=True)

    def rule_data(self):
        """The validated fields as the service takes them."""
        return {name: getattr(self, name).data for name in (
            "category_id", "kind", "name", "description", "points_min", "points_max", "cap_period",
            "cap_times", "cap_points", "evidence_required", "active")}


class CategoryForm(FlaskForm):
    category_id = HiddenField()
    name = StringField(_l("Category name"), validators=[DataRequired(), Length(max=60)])


class SettingsForm(FlaskForm):
    notice_days = IntegerField(_l("Days on the notice board"), validators=[InputRequired(), NumberRange(min=1, max=30)])
    second_approval_above = IntegerField(_l("A second committee member must approve items above (points)"),
                                         validators=[InputRequired(), NumberRange(min=0, max=100000)])
