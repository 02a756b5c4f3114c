"""Account models."""
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String
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

    def get_id(self):
        # Sessions carry the auth version, so a password change signs out other sessions.
        return f"{self.id}.{self.auth_version}"

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


class LoginFailure(db.Model):
    """A failed sign-in, counted per phone number and per address for throttling."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_kind_key_at", "kind", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "phone" or "address"
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


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
