"""The inbox page."""
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from civic.extensions import db
from civic.notifications import service
from civic.web import register_viewer_figures

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

# The bell's count on every page, read with the signed-in person's other figures in one statement.
register_viewer_figures(lambda user_id, _is_admin: {"unread_count": service.unread_select(user_id).scalar_subquery()})


@bp.route("/")
@login_required
def inbox():
    """My notifications, newest first. Opening the inbox reads what it shows: the new ones are marked
    on this visit, and the 消息 badge clears."""
    notes = service.inbox(current_user)
    fresh = {n.id for n in notes if n.read_at is None}
    if fresh:
        service.mark_read(current_user, ids=fresh)
        db.session.commit()
    return render_template(
        "notifications/inbox.html", notes=[(n, *service.render(n)) for n in notes], fresh=fresh, form=FlaskForm()
    )


@bp.route("/<int:notification_id>", methods=["POST"])
@login_required
def open_one(notification_id):
    """Mark one read and go where it points."""
    service.mark_read(current_user, notification_id)
    db.session.commit()
    note = service.own_notification(current_user, notification_id)
    link = note.link if note.link and note.link.startswith("/") and not note.link.startswith("//") else None
    return redirect(link or url_for("notifications.inbox"))


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    """Mark everything read."""
    service.mark_read(current_user)
    db.session.commit()
    return redirect(url_for("notifications.inbox"))
