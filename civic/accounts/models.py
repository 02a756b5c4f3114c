"""Account models."""
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from civic.core.clock import utcnow
from civic.extensions import db


class User(UserMixin, db.Model):
    """A person: a resident with a phone, a staff member, or a managed resident without one."""

    __tablename__ = "user"
    __table_args__ = (
        CheckConstraint("is_managed OR phone IS NOT NULL", name="phone_unless_managed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    display_name: Mapped[str] = mapped_column(String(40))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(120))
    # Set when the person opened the link sent to `email`; notifications are mailed only after that.
    email_verified_at: Mapped[datetime | None]
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_managed: Mapped[bool] = mapped_column(default=False)
    managed_by_community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    elder_mode: Mapped[bool] = mapped_column(default=False)
    auth_version: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    def set_password(self, password):
        """Store a salted hash of `password`; bumping auth_version ends other sessions."""
        self.password_hash = generate_password_hash(password)
        self.auth_version = (self.auth_version or 0) + 1

    def check_password(self, password):
        """True when `password` matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self):
        return self.active and not self.is_managed

    # The key of the signed-in session this object was loaded for (civic.web.sign_in / _load_user).
    session_key = None

    def get_id(self):
        # Flask-Login stores this in the session and the remember-me cookie: the key of a `UserSession` row,
        # which sign-out, a password change or closing the account ends on the server.
        if not self.session_key:
            raise RuntimeError("sign in through civic.web.sign_in(), which opens a server-side session")
        return self.session_key

    # One person is one row, whatever session they were loaded for (UserMixin would compare get_id()).
    def __eq__(self, other):
        return isinstance(other, User) and other.id is not None and self.id == other.id

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<User {self.id} {self.display_name}>"


class ApiToken(db.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = db.relationship()


class UserSession(db.Model):
    """A signed-in browser. The session cookie and the remember-me cookie carry its key (only the key's
    SHA-256 is stored); signing out, a new password or closing the account ends it here, so a copied or
    replayed cookie stops working."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The user's auth_version when signed in: anything that bumps it (a new password, losing the
    # administrator right, closing the account) ends the session even if nothing else did.
    auth_version: Mapped[int]
    method: Mapped[str] = mapped_column(String(10))  # password, sms, reset, sign_up
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class LoginThrottle(db.Model):
    """Failed sign-ins for one number from one address (`phone` = "" counts one address over every number).

    The row is locked while a guess is evaluated, so concurrent guesses are counted one after another; past
    the free failures each new one doubles a waiting time for that pair only, so a stranger cannot lock the
    owner of a number out from elsewhere."""

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("phone", "address"),
                      CheckConstraint("failures >= 0", name="failures_not_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(index=True)
    blocked_until: Mapped[datetime | None]


class SmsCode(db.Model):
    """A one-time code sent by text message to sign in or to set a new password.

    Only a keyed hash of the code is stored; it expires, is used at most once and allows a few wrong tries.
    """

    __tablename__ = "sms_code"
    __table_args__ = (
        CheckConstraint("purpose IN ('sign_in', 'reset')", name="purpose"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_sms_code_phone_created_at", "phone", "created_at"),
        Index("ix_sms_code_address_created_at", "address", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(10))
    code_hash: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
