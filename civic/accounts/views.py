"""Sign-up, sign-in, sign-out, password, preferences, and acting for a managed resident."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from civic.accounts import codes, service
from civic.accounts.forms import (
    CodeRequestForm,
    CodeSignInForm,
    ConfirmForm,
    EmailForm,
    LanguageForm,
    LoginForm,
    PasswordForm,
    PreferencesForm,
    ResetPasswordForm,
    SignUpForm,
)
from civic.accounts.sms import sender_for
from civic.core import audit
from civic.core.errors import DomainError
from civic.extensions import db
from civic.web import client_address, commit_and_redirect, public_url, sign_in, sign_out

bp = Blueprint("accounts", __name__)


def _safe_next(default):
    target = request.args.get("next") or ""
    parts = urlsplit(target)
    # Browsers read a backslash as a slash and drop tabs and newlines, so "/", "\\", "evil.example"
    # or "/", TAB, "/evil.example" would leave the site: refuse backslashes and control characters.
    if any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and not parts.scheme:
        return target
    return default


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Create an account with a mobile number, a name and a password."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = service.sign_up(form.phone.data, form.display_name.data, form.password.data)
            if session.get("locale"):
                user.locale = session["locale"]
            user.elder_mode = bool(session.get("elder_mode"))
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            form.phone.errors.append(error.message)
        else:
            sign_in(user, method="sign_up", remember=True)
            flash(_("Welcome! Next, ask to join your community."), "success")
            return redirect(url_for("communities.browse"))
    return render_template("accounts/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with a mobile number and password (throttled)."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = service.authenticate(
                form.phone.data, form.password.data, address=client_address(), config=current_app.config
            )
        except DomainError as error:
            db.session.commit()  # keep the failure count and audit entry
            flash(error.message, "error")
            status = error.status
        else:
            if "elder_mode" in session:  # chosen on this phone before signing in
                service.update_preferences(user, elder_mode=session["elder_mode"])
            sign_in(user, method="password", remember=form.remember.data)
            return redirect(_safe_next(url_for("home.index")))
    return render_template("accounts/login.html", form=form), status


# --- one-time codes by text message -------------------------------------------------------------

CODE_PAGES = {"sign_in": "accounts.login_code", "reset": "accounts.reset_password"}


@bp.route("/login/code/send", methods=["POST"], defaults={"purpose": "sign_in"}, endpoint="send_sign_in_code")
@bp.route("/password/reset/send", methods=["POST"], defaults={"purpose": "reset"}, endpoint="send_reset_code")
def send_code(purpose):
    """Send a one-time code to the number typed (throttled per number and per address)."""
    form = CodeRequestForm()
    if not form.validate_on_submit():
        for error in form.phone.errors:
            flash(error, "error")
        return redirect(url_for(CODE_PAGES[purpose]))
    phone = service.normalize_phone(form.phone.data)
    session["code_phone"] = phone
    try:
        codes.request_code(phone, purpose, address=client_address(), config=current_app.config,
                           sender=sender_for(current_app.config))
    except DomainError as error:
        if error.status == 429:
            db.session.commit()  # keep the audit entry
        else:
            db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("If %(phone)s has an account, a code is on its way. It works for %(minutes)s minutes.",
                phone=codes.masked(phone), minutes=current_app.config["SMS_CODE_SECONDS"] // 60), "success")
    return redirect(url_for(CODE_PAGES[purpose]))


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """Sign in with a one-time code sent by text message."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = CodeSignInForm(phone=session.get("code_phone", ""))
    status = 200
    if form.validate_on_submit():
        try:
            user = codes.sign_in_with_code(form.phone.data, form.code.data, address=client_address(),
                                           config=current_app.config)
        except DomainError as error:
            db.session.commit()  # keep the count of wrong tries
            form.code.errors.append(error.message)
            status = error.status
        else:
            if "elder_mode" in session:
                service.update_preferences(user, elder_mode=session["elder_mode"])
            session.pop("code_phone", None)
            sign_in(user, method="sms", remember=form.remember.data)
            return redirect(_safe_next(url_for("home.index")))
    return render_template("accounts/login_code.html", form=form,
                           show_codes=current_app.config["SMS_SHOW_CODES"]), status


@bp.route("/password/reset", methods=["GET", "POST"])
def reset_password():
    """Forgot the password: set a new one with a code sent by text message, then signed in."""
    form = ResetPasswordForm(phone=session.get("code_phone", ""))
    status = 200
    if form.validate_on_submit():
        try:
            user = codes.reset_password_with_code(form.phone.data, form.code.data, form.password.data,
                                                  address=client_address(), config=current_app.config)
        except DomainError as error:
            db.session.commit()  # keep the count of wrong tries
            (form.password if error.reason != "bad_code" else form.code).errors.append(error.message)
            status = error.status
        else:
            session.pop("code_phone", None)
            sign_in(user, method="reset", remember=True)
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("home.index"))
    return render_template("accounts/reset_password.html", form=form,
                           show_codes=current_app.config["SMS_SHOW_CODES"]), status


@bp.route("/dev/sms")
def sent_messages():
    """Demo only (SMS_SHOW_CODES): the text messages the log backend would have sent."""
    if not current_app.config["SMS_SHOW_CODES"] or current_app.config["SMS_BACKEND"] != "log":
        return current_app.response_class(status=404)
    return render_template("accounts/sent_messages.html", messages=sender_for(current_app.config).sent())


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out: the session ends on the server too, so a copied cookie no longer works."""
    sign_out()
    flash(_("You have signed out."), "info")
    return redirect(url_for("home.index"))


@bp.route("/me/password", methods=["GET", "POST"])
@login_required
def password():
    """Change your password; every other device and API token is signed out."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(current_user, form.current.data, form.password.data)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            form.current.errors.append(error.message)
        else:
            # A new session for this device.
            sign_in(current_user._get_current_object(), method="password", remember=True)
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("home.me"))
    return render_template("accounts/password.html", form=form)


@bp.route("/me/preferences", methods=["POST"])
def preferences():
    """Save language and elder mode (also before signing in, in the session)."""
    form = PreferencesForm()
    if form.validate_on_submit():
        if current_user.is_authenticated:
            service.update_preferences(current_user, locale=form.locale.data, elder_mode=form.elder_mode.data)
            db.session.commit()
        session["locale"] = form.locale.data
        session["elder_mode"] = form.elder_mode.data
    return redirect(_safe_next(url_for("home.me")))


@bp.route("/language", methods=["POST"])
def language():
    """Switch the language only."""
    form = LanguageForm()
    if form.validate_on_submit():
        session["locale"] = form.locale.data
        if current_user.is_authenticated:
            service.update_preferences(current_user, locale=form.locale.data)
            db.session.commit()
    return redirect(_safe_next(url_for("home.index")))


@bp.route("/elder-mode", methods=["POST"])
def elder_mode():
    """Turn elder mode (长辈模式) on or off in one tap, also before signing in."""
    if request.form.get("elder_mode") in ("0", "1"):
        on = request.form["elder_mode"] == "1"
        session["elder_mode"] = on
        if current_user.is_authenticated:
            service.update_preferences(current_user, elder_mode=on)
            db.session.commit()
    return redirect(_safe_next(url_for("home.index")))


@bp.route("/act-for/<int:resident_id>", methods=["POST"])
@login_required
def act_for(resident_id):
    """A committee member starts acting on behalf of a managed resident."""
    resident = service.start_acting_for(current_user, resident_id, address=client_address())
    db.session.commit()
    session["acting_for"] = resident.id
    session["community_id"] = resident.managed_by_community_id
    flash(_("You are now acting for %(name)s. Everything you do is recorded.", name=resident.display_name), "info")
    return redirect(url_for("home.index"))


@bp.route("/act-for/stop", methods=["POST"])
@login_required
def stop_acting():
    """Stop acting for a managed resident."""
    resident_id = session.pop("acting_for", None)
    if resident_id:
        audit.record("resident.act_for_stopped", actor=current_user, subject=resident_id, address=client_address())
        db.session.commit()
    return redirect(url_for("home.me"))


def send_email_confirmation(user, token):
    """E-mail the confirmation link for a new address (the page and the API both use this)."""
    from civic.notifications.mail import build_message, send

    link = public_url("accounts.verify_email", t=token)
    body = _("Hello %(name)s,\n\nplease open this link to confirm your e-mail address:\n%(url)s\n\n"
             "If you did not ask for this, ignore this e-mail.", name=user.display_name, url=link)
    send(current_app.config, [build_message(current_app.config, user.email, _("Confirm your e-mail address"), body)])


@bp.route("/me/email", methods=["GET", "POST"])
@login_required
def email():
    """Add or change my e-mail address for notifications; a confirmation link is sent to it."""
    form = EmailForm(email=current_user.email)
    if form.validate_on_submit():
        try:
            token = service.set_email(current_user, form.email.data)
            send_email_confirmation(current_user, token)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            form.email.errors.append(error.message)
        except OSError:
            db.session.rollback()
            form.email.errors.append(_("The e-mail could not be sent. Please try again later."))
        else:
            flash(_("We sent a link to %(email)s. Open it to confirm the address.", email=current_user.email),
                  "success")
            return redirect(url_for("accounts.email"))
    return render_template("accounts/email.html", form=form, remove_form=ConfirmForm())


@bp.route("/me/email/remove", methods=["POST"])
@login_required
def remove_email():
    """Remove my e-mail address."""
    if ConfirmForm().validate_on_submit():
        service.remove_email(current_user)
        db.session.commit()
        flash(_("Your e-mail address was removed."), "success")
    return redirect(url_for("accounts.email"))


@bp.route("/me/email/verify", methods=["GET", "POST"])
def verify_email():
    """The link in the confirmation e-mail: a button confirms the address (opening the link changes nothing)."""
    token = request.args.get("t", "")
    form = ConfirmForm()
    if form.validate_on_submit():
        user = service.verify_email(token)
        return commit_and_redirect(_("Your e-mail address %(email)s is confirmed.", email=user.email), "home.index")
    return render_template("accounts/verify_email.html", form=form, token=token)
