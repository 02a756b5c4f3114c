"""Request plumbing shared by the HTML pages and the API: who is signed in, in which
language, in which community, acting for whom; plus small view helpers."""
from functools import cache, wraps

from babel import Locale
from flask import (
    abort,
    current_app,
    flash,
    g,
    has_app_context,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import validate_csrf
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter
from wtforms import ValidationError

from civic.accounts.models import User
from civic.core.errors import Invalid
from civic.core.lookup import MAX_ID
from civic.core.permissions import get_community_or_404, require, roles_in
from civic.extensions import db, login_manager

# The page each bottom-bar section opens; an area registers a blueprint with that endpoint.
SECTION_ENDPOINTS = {
    "points": "ledger.passbook",
    "patrols": "patrols.index",
    "deliberation": "deliberation.index",
}


# The same sections' pages inside a community: the bar links straight there (no redirect per tap).
COMMUNITY_SECTION_ENDPOINTS = {
    "patrols": "patrols.home",
    "deliberation": "deliberation.home",
}


# Which bottom-bar section a blueprint's pages belong to.
BLUEPRINT_SECTIONS = {
    "home": "home", "ledger": "points", "merit": "points", "shop": "points",
    "patrols": "patrols", "deliberation": "deliberation", "notifications": "home",
}


class IdConverter(IntegerConverter):
    """`<int:...>` in every URL: a database id, so at most a 32-bit signed integer. A larger number
    is simply no such page (404); it never reaches the database, which would refuse it with an error."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def public_url(endpoint, **values):
    """An absolute URL for QR codes and e-mails: on SITE_URL when it is set (behind a proxy the
    request's own host may be an internal address), else on the request's host."""
    site = current_app.config.get("SITE_URL")
    if site:
        return site + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def client_address():
    """The client's address. Behind a proxy, PROXY_HOPS (ProxyFix) has already taken it from the
    proxy's X-Forwarded-For; a header sent by the client itself is never read here."""
    return request.remote_addr or "unknown"


@login_manager.user_loader
def _load_user(session_key):
    # The session and remember-me cookies carry the key of a server-side session (civic.web.sign_in);
    # an ended, expired or superseded one signs nobody in, however the cookie was kept.
    from civic.accounts.service import user_for_session

    return user_for_session(session_key)


def sign_in(user, *, method, remember=False, token_name=None):
    """The one way in, after a password, a code or a reset was checked: a new server-side session behind
    the session cookie (and the remember-me cookie with `remember`), or, with `token_name`, an API bearer
    token instead. Commits. Returns the token row and secret for the API, else None."""
    from civic.accounts.service import issue_api_token, start_session

    if token_name is not None:
        row, secret = issue_api_token(user, days=current_app.config["API_TOKEN_DAYS"], name=token_name)
        db.session.commit()
        return row, secret
    _, key = start_session(user, method=method, days=current_app.config["SESSION_DAYS"])
    db.session.commit()
    session.pop("acting_for", None)
    user.session_key = key
    login_user(user, remember=remember)
    return None


def sign_out():
    """The one way out: the bearer token of this request is revoked, or the cookie session is ended on the
    server and its cookies (remember-me included) are cleared. Commits."""
    from civic.accounts.service import end_session, revoke_api_token

    if g.get("token_auth"):
        revoke_api_token(current_user, request.headers.get("Authorization", "")[7:].strip())
    elif session.get("_user_id"):
        end_session(session["_user_id"])
    db.session.commit()
    session.pop("acting_for", None)
    session.pop("community_id", None)
    logout_user()


@login_manager.request_loader
def _load_user_from_token(req):
    header = req.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    from civic.accounts.service import user_for_token

    secret = header[7:].strip()
    cached = g.get("token_user")
    if cached is not None and cached[0] == secret:
        return cached[1]  # one token lookup per request, however often the loader is asked
    user = user_for_token(secret)
    g.token_user = (secret, user)
    if user is not None:
        g.token_auth = True
    return user


@login_manager.unauthorized_handler
def _unauthorized():
    from flask_babel import gettext

    if request.path.startswith("/api/"):
        abort(401)
    flash(gettext("Please sign in first."), "info")
    return redirect(url_for("accounts.login", next=request.full_path if request.query_string else request.path))


def chosen_locale():
    """The person's saved language, else the session's, else Chinese: its identifier ("zh_CN", "en")."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    if session.get("locale") in languages:
        return session["locale"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


@cache
def _parsed_locale(identifier):
    # Babel's Locale.parse() searches its data for "zh_CN" (about 0.1 ms); flask_babel parses what the selector
    # returns on every request, unless it is a Locale already. Locales are immutable: one per process.
    return Locale.parse(identifier)


def select_locale():
    """Flask-Babel's locale selector: chosen_locale(), as a babel Locale parsed once per process."""
    return _parsed_locale(chosen_locale())


def select_timezone():
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def elder_mode():
    """Elder mode (长辈模式): larger text and buttons, fewer items."""
    if getattr(current_user, "is_authenticated", False):
        return current_user.elder_mode
    return bool(session.get("elder_mode"))


def acting_user():
    """The person a page acts as: a managed resident while a committee member acts for them."""
    return g.get("acting_for") or current_user


def current_community_id():
    """The community the person is looking at: chosen in the session, else their first."""
    from civic.communities.service import memberships_of

    if not getattr(current_user, "is_authenticated", False):
        return None
    active = [m.community_id for m in memberships_of(acting_user(), status="active")]
    chosen = session.get("community_id")
    if chosen in active or (chosen and current_user.is_admin):
        return chosen
    return active[0] if active else None


# Figures about the signed-in person that every page shows (the bell's unread count) or the home page does
# (links to the street's command view): each area registers a function (user_id, is_admin) -> {name: scalar
# column}, and a page reads them all with one statement, built once per process (user_id is a bound parameter).
_VIEWER_FIGURES = []
_FIGURES_KEY = "_civic_viewer_figures"
_figures_statements = {}


def register_viewer_figures(columns):
    """Register `columns(user_id, is_admin) -> {name: scalar select or EXISTS}`, read by viewer_figures()."""
    if columns not in _VIEWER_FIGURES:
        _VIEWER_FIGURES.append(columns)
        _figures_statements.clear()


def _figures_statement(is_admin):
    statement = _figures_statements.get(is_admin)
    if statement is None:
        user_id = bindparam("user_id")
        columns = {name: column for figures in _VIEWER_FIGURES for name, column in figures(user_id, is_admin).items()}
        statement = _figures_statements[is_admin] = select(*(column.label(name) for name, column in columns.items()))
    return statement


def viewer_figures():
    """{name: value} of every registered figure of the signed-in person: one statement, once per request (read
    again after the session flushes, commits or rolls back). Empty for a visitor."""
    if not getattr(current_user, "is_authenticated", False):
        return {}
    found = g.get(_FIGURES_KEY)
    if found is None or found[0] != current_user.id:
        row = db.session.connection().execute(_figures_statement(bool(current_user.is_admin)),
                                              {"user_id": current_user.id}).one()
        found = (current_user.id, row._asdict())
        setattr(g, _FIGURES_KEY, found)
    return found[1]


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_viewer_figures(*_args):
    if has_app_context():
        g.pop(_FIGURES_KEY, None)


def community_view(action):
    """Decorate a view taking `community_id`: sign-in, the community exists, permission."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(community_id, *args, **kwargs):
            community = get_community_or_404(community_id)
            require(current_user, action, community_id)
            g.community = community
            return view(community, *args, **kwargs)

        return wrapper

    return decorator


def submitted(form, message=None, *, first_error=False, **params):
    """`form`, when this POST sent it valid (its CSRF token included); else Invalid, which the error handler
    flashes before sending the person back: `message` (a msgid with `params`), or with `first_error` the
    form's own first message, or Invalid's default."""
    if not form.validate_on_submit():
        if first_error:
            message = next((errors[0] for errors in form.errors.values() if errors), None)
        raise Invalid(message, **params)
    return form


def commit_and_redirect(message, endpoint, **values):
    """The end of a page's successful POST: commit its one transaction, say what was done, go to `endpoint`."""
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(endpoint, **values))


def _page_translations():
    """The catalogue of the request's language, as flask_babel.get_translations() finds it, looked up once per
    request for the templates (a list page calls `_()` hundreds of times). Kept with the locale object it was
    found for: flask_babel.refresh() and force_locale() replace that object, and the catalogue is found again."""
    from flask_babel import get_translations

    ctx = g.get("_flask_babel") if has_app_context() else None
    cached = getattr(ctx, "civic_translations", None)
    if cached is not None and cached[0] is getattr(ctx, "babel_locale", None):
        return cached[1]
    translations = get_translations()
    ctx = g.get("_flask_babel") if has_app_context() else None
    if ctx is not None and getattr(ctx, "babel_locale", None) is not None:
        ctx.civic_translations = (ctx.babel_locale, translations)
    return translations


def init_app(app):
    """Register the request hooks and template helpers."""
    # The templates' gettext callables, as flask_babel installs them, with the catalogue looked up once.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _page_translations().ugettext(s),
        ngettext=lambda s, p, n: _page_translations().ungettext(s, p, n),
        pgettext=lambda c, s: _page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _page_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )

    @app.before_request
    def _resolve_acting_for():
        resident_id = session.get("acting_for")
        g.acting_for = None
        if not resident_id or not getattr(current_user, "is_authenticated", False):
            return
        resident = db.session.get(User, resident_id)
        from civic.core.permissions import can

        if resident is None or not resident.is_managed or not can(
            current_user, "resident.act_for", resident.managed_by_community_id
        ):
            session.pop("acting_for", None)
            return
        g.acting_for = resident
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.endpoint != "accounts.stop_acting":
            from civic.core import audit

            # Recorded in the view's own transaction: kept when the action is.
            audit.record(
                "resident.acted_for", actor=current_user, subject=resident,
                community_id=resident.managed_by_community_id, address=client_address(),
                detail={"endpoint": request.endpoint, "path": request.path, "method": request.method},
            )

    @app.before_request
    def _refuse_unstorable_input():
        # No text a person types contains NUL, and PostgreSQL cannot store it (an error, not a refusal):
        # refuse it in query strings and form fields before any view sees it. A JSON body is checked
        # whole by civic.core.json_input (NUL, lone surrogates, deep nesting, huge numbers): 400.
        from flask_babel import gettext

        from civic.core.json_input import HostileJSON, check_json_body

        def has_nul(values):
            return any("\x00" in key or any("\x00" in v for v in items) for key, items in values.items())

        if has_nul(dict(request.args.lists())):
            abort(400)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if request.is_json:
            try:
                body = check_json_body(request.get_data(cache=True))
            except HostileJSON as error:
                abort(400, gettext(error.message))
            if body is not None:  # parsed once: get_json() (the API's schemas, the views) reuses it
                request._cached_json = (body, body)
        elif has_nul(dict(request.form.lists())):
            abort(400)

    @app.before_request
    def _api_csrf_for_cookies():
        # The API is CSRF-exempt for bearer tokens; a browser using its session cookie
        # must send the CSRF token in X-CSRFToken for anything that changes state.
        if not request.path.startswith("/api/") or request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return
        # However the person was restored (the session, or the remember-me cookie alone), a cookie is a
        # cookie: loading current_user here also restores from the remember-me cookie.
        if not current_app.config.get("WTF_CSRF_ENABLED", True) or not current_user.is_authenticated:
            return
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except ValidationError:
            abort(400, "CSRF token missing or invalid.")

    @app.after_request
    def _security_headers(response):
        csp = current_app.config.get("CONTENT_SECURITY_POLICY") or (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob: " + current_app.config.get("MAP_TILE_ORIGIN", "") + "; "
            "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'"
        )
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_app.config.get("HSTS_SECONDS"):
            response.headers.setdefault("Strict-Transport-Security",
                                        f"max-age={current_app.config['HSTS_SECONDS']}; includeSubDomains")
        if response.mimetype == "text/html":
            # Pages are personal and name the current hashed static URLs: never shared, always revalidated.
            response.headers.setdefault("Cache-Control", "private, no-cache")
        return response

    @app.template_filter("translated")
    def _translated(msgid):
        """`{{ name|translated }}`: a msgid stored as data (category, level, badge names) in the reader's
        language. Never `{{ _(name) }}` for data: Jinja marks what `_()` returns as safe HTML, and a
        committee can type a category name, so that would put their text into the page unescaped."""
        return str(_page_translations().ugettext(msgid)) if msgid else msgid

    @app.template_global()
    def section_url(section, community_id=None):
        """Where a bottom-bar section lives: the community's own page when the section has one and the
        community is known, else its area's index page once that area exists."""
        direct = COMMUNITY_SECTION_ENDPOINTS.get(section)
        if community_id and direct in current_app.view_functions:
            return url_for(direct, community_id=community_id)
        endpoint = SECTION_ENDPOINTS[section]
        if endpoint in current_app.view_functions:
            return url_for(endpoint)
        return url_for("home.section", name=section)

    @app.context_processor
    def _template_globals():
        authenticated = getattr(current_user, "is_authenticated", False)
        community_id = current_community_id() if authenticated else None
        return {
            "elder_mode": elder_mode(),
            "current_locale": chosen_locale(),
            "languages": current_app.config["LANGUAGES"],
            "unread_count": viewer_figures()["unread_count"] if authenticated else 0,
            "acting_for": g.get("acting_for"),
            "current_community_id": community_id,
            "my_roles": roles_in(current_user, community_id) if community_id else frozenset(),
            "nav_active": BLUEPRINT_SECTIONS.get(request.blueprint, request.blueprint),
        }
