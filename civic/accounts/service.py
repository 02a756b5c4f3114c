"""Account rules: sign-up, sign-in with throttling, passwords, managed residents, API tokens."""
import hashlib
import ipaddress
import re
import secrets
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from civic.accounts.models import ApiToken, LoginThrottle, User, UserSession
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


def check_new_password(password, *, user_inputs=()):
    """Raise Invalid when a password is too weak to protect points.

    Strength is estimated by zxcvbn (Dropbox's estimator: dictionaries of common passwords, names and
    words, keyboard patterns, sequences, repeats and dates); a score under MIN_STRENGTH, or one of the
    common pinyin passwords its English dictionaries miss, is refused. `user_inputs` (the person's number and
    name) count as words an attacker would try first."""
    from zxcvbn import zxcvbn

    if len(password or "") < MIN_PASSWORD:
        raise Invalid("A password needs at least %(n)s letters, digits or signs.", n=MIN_PASSWORD)
    # zxcvbn refuses over 72 characters (its running time grows with length); the start decides the score.
    score = zxcvbn(password[:72], user_inputs=[str(word) for word in user_inputs if word])["score"]
    if score < MIN_STRENGTH or password.lower() in PINYIN_PASSWORDS:
        raise Invalid("That password is too easy to guess. Try three or four words, or a short sentence, "
                      "with a number.", reason="weak_password")


# zxcvbn scores: 0 too guessable, 1 very guessable, 2 somewhat guessable (under 10^8 guesses, which the
# sign-in throttle makes out of reach online), 3 safely unguessable, 4 very unguessable.
MIN_STRENGTH = 2

# Chinese passwords from the published leak rankings that zxcvbn (English dictionaries) scores 2 or more.
PINYIN_PASSWORDS = {"woaini520", "woaini1314", "woaini521", "5201314a", "a5201314", "iloveyou1314"}


def sign_up(phone, display_name, password, *, now=None):
    """Create an account for a resident with their own phone."""
    phone = normalize_phone(phone)
    if not PHONE_RE.match(phone):
        raise Invalid("Please enter an 11-digit mobile number.")
    display_name = (display_name or "").strip()
    if not display_name:
        raise Invalid("Please enter your name.")
    check_new_password(password, user_inputs=(phone, display_name))
    if db.session.scalar(select(User.id).where(User.phone == phone)):
        raise Conflict("This mobile number is already registered. Please sign in.")
    user = User(phone=phone, display_name=display_name, created_at=resolve(now))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("account.sign_up", actor=user, subject=user, now=now)
    return user


# --- sign-in throttling ----------------------------------------------------------------------------

def address_key(address):
    """The address a throttle counts: an IPv4 address as it is, an IPv6 one by its /64 (one household or
    phone gets a whole /64, so single addresses would cost an attacker nothing)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "unknown")[:64]
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _throttle_row(phone, address):
    """The counter row for (phone, address), created when missing and locked until the transaction ends:
    SELECT … FOR UPDATE on PostgreSQL; on SQLite the INSERT already holds the database's write lock."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(LoginThrottle).values(phone=phone, address=address, failures=0)
                       .on_conflict_do_nothing(index_elements=["phone", "address"]))
    return db.session.scalar(
        select(LoginThrottle).where(LoginThrottle.phone == phone, LoginThrottle.address == address)
        .with_for_update().execution_options(populate_existing=True))


def _wait_seconds(row, now):
    """Seconds until this row lets another guess through (0: now)."""
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return 0
    return (row.blocked_until - now).total_seconds()


def _count_failure(row, free, config, now):
    """One more failure: past `free` failures, wait LOGIN_DELAY_SECONDS, doubling with each further one
    (at most LOGIN_MAX_DELAY_SECONDS). Failures are forgotten after LOGIN_FORGET_SECONDS without one."""
    if row.last_failure_at and (now - row.last_failure_at).total_seconds() > config["LOGIN_FORGET_SECONDS"]:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= free:
        delay = min(config["LOGIN_DELAY_SECONDS"] * 2 ** min(row.failures - free, 30),
                    config["LOGIN_MAX_DELAY_SECONDS"])
        row.blocked_until = now + timedelta(seconds=delay)


@lru_cache(maxsize=1)
def _dummy_hash():
    """A hash made with the same method and cost as real ones, checked when a number has no password,
    so that an unknown number takes as long as a known one (nothing tells which numbers are registered)."""
    return generate_password_hash(secrets.token_urlsafe(16))


def _password_matches(user, password):
    """Check `password` against the user's hash, or against the dummy hash (same time) when there is none."""
    stored = user.password_hash if user is not None and user.password_hash else None
    matches = check_password_hash(stored or _dummy_hash(), password or "")
    return bool(stored) and matches


def authenticate(phone, password, *, address, config, now=None):
    """Return the user for a correct phone and password, or raise.

    Failures are counted per number *and* address on a locked row, so concurrent guesses are evaluated one
    after another and at most LOGIN_MAX_FAILURES_PER_PHONE are evaluated before delays begin. Delays double
    with each further failure and hold only for that number from that address: the owner signing in from
    their own phone is never locked out by a stranger. One address guessing many numbers is slowed down
    after LOGIN_MAX_FAILURES_PER_ADDRESS failures in the same way.
    """
    now = resolve(now)
    phone = normalize_phone(phone)[:64]
    address = address_key(address)
    pair = _throttle_row(phone, address)
    wide = db.session.scalar(select(LoginThrottle).where(LoginThrottle.phone == "", LoginThrottle.address == address))
    wait = max(_wait_seconds(pair, now), _wait_seconds(wide, now))
    if wait:
        audit.record("account.sign_in_throttled", address=address, detail={"phone": phone}, now=now)
        raise TooManyAttempts(
            "Too many failed sign-ins. Please wait %(minutes)s minutes and try again.", minutes=-(-int(wait) // 60)
        )
    user = db.session.scalar(select(User).where(User.phone == phone)) if phone else None
    if not _password_matches(user, password) or not user.is_active:
        _count_failure(pair, config["LOGIN_MAX_FAILURES_PER_PHONE"], config, now)
        _count_failure(_throttle_row("", address), config["LOGIN_MAX_FAILURES_PER_ADDRESS"], config, now)
        audit.record(
            "account.sign_in_failed", subject=user, address=address, detail={"phone": phone}, now=now
        )
        raise PermissionDenied("Wrong mobile number or password.", reason="bad_credentials")
    db.session.delete(pair)
    user.last_login_at = now
    audit.record("account.sign_in", actor=user, subject=user, address=address, now=now)
    return user


def forget_sign_in_failures(*, phone=None, before=None):
    """Delete throttle rows: those of a number (closing the account), or those without a failure since
    `before` and no longer delaying anyone (retention). Returns how many."""
    query = delete(LoginThrottle)
    if phone is not None:
        query = query.where(LoginThrottle.phone == phone)
    if before is not None:
        query = query.where(func.coalesce(LoginThrottle.last_failure_at, before) < before,
                            func.coalesce(LoginThrottle.blocked_until, before) < before)
    return db.session.execute(query).rowcount or 0


# --- sessions and tokens -------------------------------------------------------------------------------

def start_session(user, *, method, days, now=None):
    """Open a server-side session for a person who just proved who they are; returns (row, key). Only the
    key's SHA-256 is stored; the key goes into the session and remember-me cookies (civic.web.sign_in)."""
    now = resolve(now)
    key = secrets.token_urlsafe(32)
    row = UserSession(user_id=user.id, key_hash=_hash_token(key), auth_version=user.auth_version, method=method,
                      created_at=now, expires_at=now + timedelta(days=days))
    db.session.add(row)
    db.session.flush()
    return row, key


# Every signed-in page looks its person up: the statement is built once, with the key's hash bound.
_SESSION_USER = (select(UserSession, User).join(User, User.id == UserSession.user_id)
                 .where(UserSession.key_hash == bindparam("key_hash")))


def user_for_session(key, *, now=None):
    """The person behind a live session key, or None (ended, expired, the password changed since, closed)."""
    if not key:
        return None
    row = db.session.execute(_SESSION_USER, {"key_hash": _hash_token(key)}).first()
    if row is None:
        return None
    session_row, user = row
    if (session_row.ended_at is not None or session_row.expires_at <= resolve(now)
            or session_row.auth_version != user.auth_version or not user.is_active):
        return None
    user.session_key = key
    return user


def end_session(key, *, now=None):
    """End one session (signing out); a cookie that carries its key no longer signs anyone in."""
    if key:
        db.session.execute(update(UserSession).where(UserSession.key_hash == _hash_token(key),
                                                     UserSession.ended_at.is_(None)).values(ended_at=resolve(now)))


def end_sign_ins(user, *, now=None):
    """End every session and revoke every API token of a person (new password, account closed).
    Returns the number of tokens revoked."""
    now = resolve(now)
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
                       .values(ended_at=now))
    return db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                              .values(revoked_at=now)).rowcount or 0


def prune_sessions(*, before):
    """Delete sessions that ended or expired before `before` (retention). Returns how many."""
    return db.session.execute(delete(UserSession).where(
        func.coalesce(UserSession.ended_at, UserSession.expires_at) < before)).rowcount or 0


def change_password(user, current, new, *, now=None):
    """Change a password after checking the current one; every session and API token ends (the edge
    opens a new session for the device the change was made on)."""
    if not user.check_password(current):
        raise Invalid("The current password is wrong.")
    check_new_password(new, user_inputs=(user.phone, user.display_name))
    user.set_password(new)
    end_sign_ins(user, now=now)
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
    check_new_password(new_password, user_inputs=(user.phone, user.display_name))
    user.set_password(new_password)
    end_sign_ins(user, now=now)
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
