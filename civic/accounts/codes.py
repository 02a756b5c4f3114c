"""Account rules for one-time codes by text message: sign in with a code, set a new password with a code.

Codes are six digits, expire after SMS_CODE_SECONDS, are used at most once, allow SMS_MAX_ATTEMPTS wrong
tries, and only a keyed hash is stored. Asking for codes is throttled per number and per address.
"""
import hashlib
import hmac
import secrets
from datetime import timedelta

from flask_babel import gettext
from sqlalchemy import func, select

from civic.accounts.models import SmsCode, User
from civic.accounts.service import PHONE_RE, check_new_password, end_sign_ins, normalize_phone
from civic.core import audit
from civic.core.clock import resolve
from civic.core.errors import Invalid, TooManyAttempts
from civic.extensions import db

PURPOSES = ("sign_in", "reset")


def _hash(config, phone, purpose, code):
    key = (config.get("SECRET_KEY") or "").encode("utf-8")
    return hmac.new(key, f"{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _count_since(column, value, since):
    return db.session.scalar(
        select(func.count()).select_from(SmsCode).where(column == value, SmsCode.created_at >= since))


def masked(phone):
    """138****0005: enough for a person to recognise their number."""
    phone = normalize_phone(phone)
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else phone


def request_code(phone, purpose, *, address, config, sender, now=None):
    """Send a one-time code to `phone` for signing in or a new password.

    Refused when the number asked less than SMS_RESEND_SECONDS ago, or when the number or the address has
    asked too often within SMS_WINDOW_SECONDS. A number with no account is treated the same on the surface
    (nothing says whether it is registered) but no message is sent to it."""
    assert purpose in PURPOSES
    now = resolve(now)
    phone = normalize_phone(phone)
    if not PHONE_RE.match(phone):
        raise Invalid("Please enter an 11-digit mobile number.")
    address = (address or "unknown")[:64]
    last = db.session.scalar(select(func.max(SmsCode.created_at)).where(SmsCode.phone == phone))
    wait = config["SMS_RESEND_SECONDS"]
    if last is not None and (now - last).total_seconds() < wait:
        raise TooManyAttempts("A code was sent just now. Please wait %(n)s seconds before asking again.",
                              n=int(wait - (now - last).total_seconds()) + 1)
    since = now - timedelta(seconds=config["SMS_WINDOW_SECONDS"])
    if (_count_since(SmsCode.phone, phone, since) >= config["SMS_MAX_PER_PHONE"]
            or _count_since(SmsCode.address, address, since) >= config["SMS_MAX_PER_ADDRESS"]):
        audit.record("account.sms_code_throttled", address=address, detail={"phone": phone}, now=now)
        raise TooManyAttempts("Too many codes asked for. Please try again in %(minutes)s minutes.",
                              minutes=config["SMS_WINDOW_SECONDS"] // 60)
    code = f"{secrets.randbelow(10**6):06d}"
    db.session.add(SmsCode(phone=phone, purpose=purpose, code_hash=_hash(config, phone, purpose, code),
                           address=address, created_at=now,
                           expires_at=now + timedelta(seconds=config["SMS_CODE_SECONDS"])))
    db.session.flush()
    user = db.session.scalar(select(User).where(User.phone == phone))
    if user is None or not user.is_active:
        return None
    text = gettext("Your Civic Home code is %(code)s. It works for %(minutes)s minutes. Never tell it to anyone.",
                   code=code, minutes=config["SMS_CODE_SECONDS"] // 60)
    sender.send(phone, (config.get("SMS_SIGNATURE") or "") + text)
    audit.record("account.sms_code_sent", subject=user, address=address, detail={"purpose": purpose}, now=now)
    return user


def _use_code(phone, code, purpose, *, config, now):
    """The account behind a correct, unexpired, unused code (now used), or Invalid."""
    phone = normalize_phone(phone)
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    wrong = Invalid("The code is wrong or has expired. Please check it, or ask for a new one.", reason="bad_code")
    latest = db.session.scalar(
        select(SmsCode).where(SmsCode.phone == phone, SmsCode.purpose == purpose)
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc()).limit(1).with_for_update()
    )
    if latest is None or latest.used_at is not None or latest.expires_at <= now:
        raise wrong
    if latest.attempts >= config["SMS_MAX_ATTEMPTS"]:
        latest.used_at = now
        raise wrong
    if not hmac.compare_digest(latest.code_hash, _hash(config, phone, purpose, code)):
        latest.attempts += 1
        if latest.attempts >= config["SMS_MAX_ATTEMPTS"]:
            latest.used_at = now  # burnt: ask for a new one
        db.session.flush()
        raise wrong
    latest.used_at = now
    user = db.session.scalar(select(User).where(User.phone == phone))
    if user is None or not user.is_active:
        raise wrong
    db.session.flush()
    return user


def sign_in_with_code(phone, code, *, address, config, now=None):
    """Return the account for a correct code sent to its number (the code is then used up)."""
    now = resolve(now)
    user = _use_code(phone, code, "sign_in", config=config, now=now)
    user.last_login_at = now
    audit.record("account.sign_in", actor=user, subject=user, address=address, detail={"method": "sms"}, now=now)
    return user


def reset_password_with_code(phone, code, password, *, address, config, now=None):
    """Set a new password with a code sent to the account's number; every session and API token ends."""
    now = resolve(now)
    check_new_password(password, user_inputs=(normalize_phone(phone),))
    user = _use_code(phone, code, "reset", config=config, now=now)
    user.set_password(password)
    end_sign_ins(user, now=now)
    user.last_login_at = now
    audit.record("account.password_reset", actor=user, subject=user, address=address, now=now)
    return user
