"""Account forms (Flask-WTF: CSRF on every one)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

# WTForms' own "Field must be between 8 and 128 characters long." is jargon; say it plainly (issue 15).
PASSWORD_LENGTH = Length(min=8, max=128, message=_l("A password needs at least 8 letters, digits or signs."))
PHONE = Regexp(r"^\s*(\+86)?[\s-]*1[3-9](\d[\s-]*){9}$", message=_l("Please enter an 11-digit mobile number."))


class SignUpForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), PHONE])
    display_name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=40)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), PASSWORD_LENGTH])
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )


class LoginForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=20)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    remember = BooleanField(_l("Keep me signed in"), default=True)


class CodeRequestForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), PHONE])


class CodeSignInForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), PHONE])
    code = StringField(_l("Code from the text message"), validators=[DataRequired(), Length(max=12)])
    remember = BooleanField(_l("Keep me signed in"), default=True)


class ResetPasswordForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), PHONE])
    code = StringField(_l("Code from the text message"), validators=[DataRequired(), Length(max=12)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(_l("New password"), validators=[DataRequired(), PASSWORD_LENGTH])
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )


class PreferencesForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=[("zh_CN", "中文"), ("en", "English")])
    elder_mode = BooleanField(_l("Elder mode (larger text and buttons)"))


class LanguageForm(FlaskForm):
    locale = SelectField(choices=[("zh_CN", "中文"), ("en", "English")])


class ManagedResidentForm(FlaskForm):
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=40)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=120)])


class EmailForm(FlaskForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=120)])


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the button carries the action."""
