"""Posting to inboxes, reading them, and e-mail delivery."""
import smtplib
from email.message import EmailMessage

from flask_babel import force_locale, gettext
from sqlalchemy import func, select, update

from civic.core.clock import resolve
from civic.core.errors import NotFound
from civic.extensions import db
from civic.notifications.models import Notification


def notify(user, kind, title, body="", *, params=None, community_id=None, link=None, now=None):
    """Post a notification to a person's inbox. `title`/`body` are msgids (mark them with N_)."""
    note = Notification(
        user_id=getattr(user, "id", user), kind=kind, title=title, body=body, params=params or {},
        community_id=community_id, link=link, created_at=resolve(now),
    )
    db.session.add(note)
    db.session.flush()
    return note


def render(note):
    """(title, body) in the current language."""
    params = note.params or {}
    return gettext(note.title) % params if params else gettext(note.title), (
        (gettext(note.body) % params if params else gettext(note.body)) if note.body else ""
    )


def unread_count(user):
    """How many unread notifications a person has."""
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )


def inbox(user, *, limit=50, before_id=None):
    """The newest notifications first."""
    query = select(Notification).where(Notification.user_id == user.id)
    if before_id:
        query = query.where(Notification.id < before_id)
    return db.session.scalars(query.order_by(Notification.id.desc()).limit(limit)).all()


def mark_read(user, notification_id=None, *, ids=None, now=None):
    """Mark one notification, those with the given ids (the ones just shown), or all of them read."""
    now = resolve(now)
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids) or [0]))
    if notification_id is not None:
        note = db.session.get(Notification, notification_id)
        if note is None or note.user_id != user.id:
            raise NotFound("No such notification.")
        query = query.where(Notification.id == notification_id)
    db.session.execute(query.values(read_at=now))


def deliver_email(config, *, now=None, limit=100):
    """Send unsent notifications by e-mail to people who gave an address. Returns the count sent."""
    from civic.accounts.models import User

    if not config.get("MAIL_SERVER"):
        return 0
    now = resolve(now)
    rows = db.session.execute(
        select(Notification, User).join(User, User.id == Notification.user_id).where(
            Notification.emailed_at.is_(None), User.email.is_not(None)
        ).order_by(Notification.id).limit(limit).with_for_update(skip_locked=True, of=Notification)
    ).all()
    if not rows:
        return 0
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        for note, user in rows:
            with force_locale(user.locale or config["BABEL_DEFAULT_LOCALE"]):
                title, body = render(note)
            msg = EmailMessage()
            msg["From"] = config["MAIL_FROM"]
            msg["To"] = user.email
            msg["Subject"] = title
            msg.set_content(body or title)
            smtp.send_message(msg)
            note.emailed_at = now
    return len(rows)
