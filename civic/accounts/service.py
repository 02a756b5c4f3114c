"""Account rules: sign-up, sign-in with throttling, passwords, managed residents, API tokens."""
import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import joinedload

from civic.accounts.models import ApiToken, LoginFailure, User
from civic.core import audit
from civic.core.clock import resolve
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied, TooManyAttempts
from civic.core.permissions import require
from civic.extensions import db

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
MIN_PASSWORD = 8


def normalize_phone(phone):
    """Strip spaces, dashes and a +86 prefix from a mainland mobile number."""
    phone = re.sub(r"[\s-]", "", phone or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    return phone


def check_new_password(password):
    """Raise Invalid when a password is too weak to protect points."""
    if len(password or "") < MIN_PASSWORD:
        raise Invalid("A password needs at least %(n)s letters, digits or signs.", n=MIN_PASSWORD)
    if password.isdigit() and len(set(password)) <= 2 or _is_run(password) or password.lower() in COMMON_PASSWORDS:
        raise Invalid("That password is too easy to guess.")


# Passwords people pick first; all are refused whatever their length.
COMMON_PASSWORDS = {"password", "password1", "passw0rd", "qwertyui", "qwerty123", "iloveyou", "abc12345",
                    "woaini520", "woaini1314", "a1234567", "aa123456", "1qaz2wsx", "qwertyuiop", "admin123"}


def _is_run(password):
    """'12345678', '87654321', 'abcdefgh': each character one step from the last."""
    steps = {ord(b) - ord(a) for a, b in zip(password.lower(), password.lower()[1:])}
    return len(steps) == 1 and steps <= {1, -1}


def sign_up(phone, display_name, password, *, now=None):
    """Create an account for a resident with their own phone."""
    phone = normalize_phone(phone)
    if not PHONE_RE.match(phone):
        raise Invalid("Please enter an 11-digit mobile number.")
    display_name = (display_name or "").strip()
    if not display_name:
        raise Invalid("Please enter your name.")
    check_new_password(password)
    if db.session.scalar(select(User.id).where(User.phone == phone)):
        raise Conflict("This mobile number is already registered. Please sign in.")
    user = User(phone=phone, display_name=display_name, created_at=resolve(now))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("account.sign_up", actor=user, subject=user, now=now)
    return user


def _recent_failures(kind, key, since):
    return db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(
            LoginFailure.kind == kind, LoginFailure.key == key, LoginFailure.at >= since
        )
    )


def authenticate(phone, password, *, address, config, now=None):
    """Return the user for a correct phone and password, or raise.

    Failures are counted per number and per address over a sliding window;
    past the limit, sign-in is refused even with the right password.
    """
    now = resolve(now)
    phone = normalize_phone(phone)
    since = now - timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    minutes = config["LOGIN_WINDOW_SECONDS"] // 60
    if (
        _recent_failures("phone", phone, since) >= config["LOGIN_MAX_FAILURES_PER_PHONE"]
        or _recent_failures("address", address, since) >= config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    ):
        audit.record("account.sign_in_throttled", address=address, detail={"phone": phone}, now=now)
        raise TooManyAttempts(
            "Too many failed sign-ins. Please wait %(minutes)s minutes and try again.", minutes=minutes
        )
    user = db.session.scalar(select(User).where(User.phone == phone)) if phone else None
    if user is None or not user.check_password(password) or not user.is_active:
        db.session.add_all(
            [LoginFailure(kind="phone", key=phone[:64], at=now), LoginFailure(kind="address", key=address[:64], at=now)]
        )
        audit.record(
            "account.sign_in_failed", subject=user, address=address, detail={"phone": phone}, now=now
        )
        raise PermissionDenied("Wrong mobile number or password.", reason="bad_credentials")
    db.session.execute(delete(LoginFailure).where(LoginFailure.kind == "phone", LoginFailure.key == phone))
    user.last_login_at = now
    audit.record("account.sign_in", actor=user, subject=user, address=address, now=now)
    return user


def change_password(user, current, new, *, now=None):
    """Change a password after checking the current one; other sessions end."""
    if not user.check_password(current):
        raise Invalid("The current password is wrong.")
    check_new_password(new)
    user.set_password(new)
    audit.record("account.password_changed", actor=user, subject=user, now=now)
    return user


def update_preferences(user, *, locale=None, elder_mode=None):
    """Save a person's language and elder-mode choice."""
    if locale is not None:
        user.locale = locale
    if elder_mode is not None:
        user.elder_mode = bool(elder_mode)
    db.session.flush()
    return user


def create_managed_resident(actor, community_id, display_name, *, address="", household_id=None, now=None):
    """A committee member registers a resident without a phone, who joins at once."""
    from civic.communities.models import Membership

    require(actor, "resident.manage", community_id)
    display_name = (display_name or "").strip()
    if not display_name:
        raise Invalid("Please enter the resident's name.")
    now = resolve(now)
    user = User(display_name=display_name, is_managed=True, managed_by_community_id=community_id, created_at=now)
    db.session.add(user)
    db.session.flush()
    db.session.add(
        Membership(
            community_id=community_id, user_id=user.id, status="active", address=address or "",
            household_id=household_id, requested_at=now, decided_at=now, decided_by_id=actor.id,
        )
    )
    db.session.flush()
    audit.record("resident.managed_created", actor=actor, subject=user, community_id=community_id, now=now)
    return user


def start_acting_for(actor, resident_id, *, address=None, now=None):
    """Check that `actor` may act on behalf of a managed resident, and record it."""
    resident = db.session.get(User, resident_id)
    if resident is None or not resident.is_managed:
        raise NotFound("No such managed resident.")
    require(actor, "resident.act_for", resident.managed_by_community_id)
    audit.record(
        "resident.act_for_started", actor=actor, subject=resident,
        community_id=resident.managed_by_community_id, address=address, now=now,
    )
    return resident


def _hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(user, *, days, name="", now=None):
    """Create a bearer token; returns (token_row, secret). Only the hash is stored."""
    now = resolve(now)
    secret = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, token_hash=_hash_token(secret), name=name[:60], created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(row)
    db.session.flush()
    audit.record("api.token_issued", actor=user, subject=user, detail={"token_id": row.id}, now=now)
    return row, secret


TOKEN_TOUCH_INTERVAL = timedelta(hours=1)


def user_for_token(secret, *, now=None):
    """The user behind a live bearer token, or None (one query: the token with its user).

    The token's `last_used_at` is written at most once an hour, in its own short transaction, so an API
    read neither writes in the request's transaction nor holds a row lock."""
    now = resolve(now)
    if not secret:
        return None
    row = db.session.scalar(select(ApiToken).options(joinedload(ApiToken.user))
                            .where(ApiToken.token_hash == _hash_token(secret)))
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.user.is_active:
        return None
    if row.last_used_at is None or row.last_used_at <= now - TOKEN_TOUCH_INTERVAL:
        _touch_token(row.id, now)
    return row.user


def _touch_token(token_id, now):
    """Record the token's use; a concurrent request that already did so this hour wins (guarded UPDATE)."""
    table = ApiToken.__table__
    with db.engine.begin() as conn:
        conn.execute(update(table).where(
            table.c.id == token_id,
            or_(table.c.last_used_at.is_(None), table.c.last_used_at <= now - TOKEN_TOUCH_INTERVAL),
        ).values(last_used_at=now))


def revoke_api_token(user, secret, *, now=None):
    """Revoke one of the user's tokens."""
    now = resolve(now)
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(secret)))
    if row is None or row.user_id != user.id:
        raise NotFound("No such token.")
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record("api.token_revoked", actor=user, subject=user, detail={"token_id": row.id}, now=now)
    return row


def create_admin(phone, display_name, password, *, now=None):
    """Create a new account that is a site administrator; an existing number is refused (see promote_admin)."""
    phone = normalize_phone(phone)
    if db.session.scalar(select(User.id).where(User.phone == phone)):
        raise Conflict("This mobile number already has an account. To make it an administrator, "
                       "use --promote (its name and password stay as they are).")
    user = sign_up(phone, display_name, password, now=now)
    user.is_admin = True
    audit.record("account.made_admin", subject=user, now=now)
    return user


def _account_for_phone(phone):
    user = db.session.scalar(select(User).where(User.phone == normalize_phone(phone)))
    if user is None or not user.active:
        raise NotFound("No account has this mobile number.")
    return user


def promote_admin(phone, *, now=None):
    """Make an existing account a site administrator (its name and password are unchanged)."""
    user = _account_for_phone(phone)
    user.is_admin = True
    audit.record("account.made_admin", subject=user, now=now)
    db.session.flush()
    return user


def demote_admin(phone, *, now=None):
    """Take the administrator right away from an account; the last administrator cannot be demoted."""
    user = _account_for_phone(phone)
    if not user.is_admin:
        raise Invalid("This account is not an administrator.")
    others = db.session.scalar(select(func.count()).select_from(User).where(
        User.is_admin.is_(True), User.active.is_(True), User.id != user.id))
    if not others:
        raise Conflict("This is the last administrator. Create or promote another one first.")
    user.is_admin = False
    user.auth_version = (user.auth_version or 0) + 1  # end the sessions that carried the right
    audit.record("account.admin_removed", subject=user, now=now)
    db.session.flush()
    return user


def reset_password(phone, new_password, *, now=None):
    """Set a new password for an account (an administrator at the server); every session and API token ends."""
    user = _account_for_phone(phone)
    check_new_password(new_password)
    user.set_password(new_password)
    db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                       .values(revoked_at=resolve(now)))
    audit.record("account.password_reset", subject=user, now=now)
    db.session.flush()
    return user


# --- e-mail address -----------------------------------------------------------------------------

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_PURPOSE = "email-verify"
EMAIL_TOKEN_SECONDS = 3 * 24 * 3600


def set_email(user, address, *, now=None):
    """Record a new e-mail address, not yet verified; returns the token for the confirmation link."""
    from civic.core import qr

    address = (address or "").strip()
    if len(address) > 120 or not EMAIL_RE.match(address):
        raise Invalid("Please enter an e-mail address like name@example.com.")
    user.email = address
    user.email_verified_at = None
    audit.record("account.email_set", actor=user, subject=user, now=now)
    db.session.flush()
    return qr.make_token(EMAIL_PURPOSE, {"u": user.id, "e": address}, ttl_seconds=EMAIL_TOKEN_SECONDS, now=now)


def verify_email(token, *, now=None):
    """Mark the address in the link as verified; refused when the address changed since or the link expired."""
    from civic.core import qr

    data = qr.read_token(EMAIL_PURPOSE, (token or "").strip(), now=now)
    user = db.session.get(User, data.get("u"))
    if user is None or user.email != data.get("e"):
        raise Invalid("This confirmation link is no longer valid. Please enter your address again.")
    if user.email_verified_at is None:
        user.email_verified_at = resolve(now)
        audit.record("account.email_verified", actor=user, subject=user, now=now)
    db.session.flush()
    return user


def remove_email(user, *, now=None):
    """Forget the e-mail address; no more notifications by e-mail."""
    user.email = None
    user.email_verified_at = None
    audit.record("account.email_removed", actor=user, subject=user, now=now)
    db.session.flush()
    return user
