"""API: the notification inbox."""
import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import auth_required
from civic.core.lookup import MAX_ID
from civic.extensions import db
from civic.notifications import service

blp = Blueprint("api_notifications", __name__, url_prefix="/api/v1/notifications", description="Notification inbox")


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    title = ma.fields.String()
    body = ma.fields.String()
    link = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    read = ma.fields.Boolean()


class InboxQuerySchema(ma.Schema):
    before_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=MAX_ID))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=100))


class ReadSchema(ma.Schema):
    id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=MAX_ID),
                           metadata={"description": "Leave out to mark everything read"})


@blp.route("")
class Inbox(MethodView):
    @blp.arguments(InboxQuerySchema, location="query")
    @blp.response(200, NotificationSchema(many=True))
    @auth_required
    def get(self, query):
        """My notifications, newest first, translated into my language."""
        result = []
        for note in service.inbox(current_user, limit=query["limit"], before_id=query["before_id"]):
            title, body = service.render(note)
            result.append({"id": note.id, "kind": note.kind, "title": title, "body": body, "link": note.link,
                           "created_at": note.created_at, "read": note.read_at is not None})
        return result


@blp.route("/read")
class Read(MethodView):
    @blp.arguments(ReadSchema)
    @blp.response(204)
    @auth_required
    def post(self, data):
        """Mark one notification, or all of them, read."""
        service.mark_read(current_user, data["id"])
        db.session.commit()
