"""Posting to inboxes, reading them, and e-mail delivery."""

from flask_babel import force_locale, gettext
from sqlalchemy import func, select, update

from civic.core.clock import resolve
from civic.core.errors import NotFound
from civic.extensions import db
from civic.notifications.models import Notification


def notify(user, kind, title, body="", *, params=None, community_id=None, link=None, now=None):
    """Post a notification to a person's inbox. `title`/`body` are msgids (mark them with N_).

    With a community it goes through the outbox (civic.core.outbox): written on the community's shard in the
    caller's transaction and moved into the inbox right after the commit. Without one it is written directly."""
    if community_id is not None:
        from civic.core.outbox import NOTIFICATION, enqueue

        return enqueue(NOTIFICATION, community_id, now, {
            "user_id": getattr(user, "id", user), "kind": kind, "title": title, "body": body,
            "params": params or {}, "link": link})
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


def unread_select(user_id):
    """The select of how many unread notifications a person has (pages read it with other figures of the
    signed-in person in one statement: civic.web.viewer_figures)."""
    return select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))


def unread_count(user):
    """How many unread notifications a person has."""
    return db.session.scalar(unread_select(user.id))


def inbox(user, *, limit=50, before_id=None):
    """The newest notifications first."""
    query = select(Notification).where(Notification.user_id == user.id)
    if before_id:
        query = query.where(Notification.id < before_id)
    return db.session.scalars(query.order_by(Notification.id.desc()).limit(limit)).all()


def own_notification(user, notification_id):
    """`user`'s notification by id, or None (named by person too: on Citus one shard, not all)."""
    return db.session.scalar(select(Notification).where(Notification.user_id == user.id,
                                                        Notification.id == notification_id))


def mark_read(user, notification_id=None, *, ids=None, now=None):
    """Mark one notification, those with the given ids (the ones just shown), or all of them read."""
    now = resolve(now)
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids) or [0]))
    if notification_id is not None:
        if own_notification(user, notification_id) is None:
            raise NotFound("No such notification.")
        query = query.where(Notification.id == notification_id)
    db.session.execute(query.values(read_at=now))


def deliver_email(config, *, now=None, limit=100):
    """Send unsent notifications by e-mail to people with a verified address. Returns the count sent.

    Only notifications made after the address was verified, and at most MAIL_MAX_AGE_HOURS old, are
    sent: configuring mail (or verifying an address) never floods anyone with the old backlog. Each
    e-mail carries a link to the site (SITE_URL + the notification's page)."""
    from datetime import timedelta

    from civic.accounts.models import User
    from civic.notifications.mail import build_message, mail_configured, send

    if not mail_configured(config):
        return 0
    now = resolve(now)
    oldest = now - timedelta(hours=config.get("MAIL_MAX_AGE_HOURS", 24))
    rows = db.session.execute(
        select(Notification, User).join(User, User.id == Notification.user_id).where(
            Notification.emailed_at.is_(None), User.email.is_not(None), User.email_verified_at.is_not(None),
            Notification.created_at >= User.email_verified_at, Notification.created_at > oldest,
        ).order_by(Notification.id).limit(limit).with_for_update(skip_locked=True, of=Notification)
    ).all()
    if not rows:
        return 0
    site = (config.get("SITE_URL") or "").rstrip("/")
    messages = []
    for note, user in rows:
        with force_locale(user.locale or config["BABEL_DEFAULT_LOCALE"]):
            title, body = render(note)
            link = site + (note.link or "/notifications") if site else ""
            text = (body or title) + ("\n\n" + gettext("Open: %(url)s", url=link) if link else "")
        messages.append(build_message(config, user.email, title, text))
        note.emailed_at = now
    send(config, messages)
    return len(rows)
