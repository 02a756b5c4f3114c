"""Points shop forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from civic.core.lookup import MAX_ID


class OrderForm(FlaskForm):
    quantity = IntegerField(_l("How many"), default=1, validators=[DataRequired(), NumberRange(min=1, max=20)])
    # A fresh key per rendered form: a double tap or a resent form makes one order, not two.
    request_key = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_.:-]{8,64}$")])


class PlainForm(FlaskForm):
    """A form with only the CSRF token (cancel, confirm)."""


class ShopForm(FlaskForm):
    name = StringField(_l("Shop name"), validators=[DataRequired(), Length(max=60)])
    address = StringField(_l("Where it is"), validators=[Optional(), Length(max=120)])


class KeeperForm(FlaskForm):
    user_id = SelectField(_l("Shopkeeper"), coerce=int, validate_choice=False,
                          validators=[NumberRange(min=1, max=MAX_ID)])
    action = HiddenField(default="assign")


class SettingsForm(FlaskForm):
    voucher_days = IntegerField(_l("Days a voucher stays valid"),
                                validators=[DataRequired(), NumberRange(min=1, max=90)])


class ItemForm(FlaskForm):
    name = StringField(_l("Name of the goods"), validators=[DataRequired(), Length(max=60)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=500)])
    price = IntegerField(_l("Price in points"), validators=[DataRequired(), NumberRange(min=1, max=1_000_000)])
    stock = IntegerField(_l("Stock"), default=0, validators=[Optional(), NumberRange(min=0, max=1_000_000)])
    monthly_limit = IntegerField(_l("Limit per resident per month (empty: no limit)"),
                                 validators=[Optional(), NumberRange(min=1, max=1000)])
    low_stock_at = IntegerField(_l("Alert me when stock falls to"), default=3,
                                validators=[Optional(), NumberRange(min=0, max=100_000)])
    available_from = DateField(_l("On offer from (optional)"), validators=[Optional()])
    available_until = DateField(_l("On offer until (optional)"), validators=[Optional()])
    photo = FileField(_l("Photo"),
                      validators=[FileAllowed(["jpg", "jpeg", "png", "webp"], _l("Only JPEG, PNG or WebP photos."))])
    active = BooleanField(_l("On offer"), default=True)


class StockForm(FlaskForm):
    change = IntegerField(_l("Add to stock (negative to remove)"),
                          validators=[DataRequired(), NumberRange(min=-1_000_000, max=1_000_000)])


class CodeForm(FlaskForm):
    code = StringField(_l("Voucher code"), validators=[DataRequired(), Length(max=600)])
