"""API: bearer tokens and the signed-in person."""
from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from civic.accounts import service
from civic.accounts.schemas import (
    EmailInSchema,
    EmailSchema,
    EmailVerifySchema,
    MeSchema,
    TokenRequestSchema,
    TokenSchema,
)
from civic.api import auth_required
from civic.core.errors import DomainError, PermissionDenied
from civic.extensions import db
from civic.web import client_address, sign_in, sign_out

blp = Blueprint("api_auth", __name__, url_prefix="/api/v1", description="Sign-in tokens and the signed-in person")


@blp.route("/auth/token")
class Token(MethodView):
    @blp.arguments(TokenRequestSchema)
    @blp.response(201, TokenSchema)
    @blp.doc(security=[])
    def post(self, data):
        """Exchange a mobile number and password for a bearer token."""
        try:
            user = service.authenticate(
                data["phone"], data["password"], address=client_address(), config=current_app.config
            )
        except PermissionDenied as error:
            db.session.commit()  # keep the failure count
            abort(401, message=error.message)
        except DomainError:
            db.session.commit()
            raise
        row, secret = sign_in(user, method="password", token_name=data["name"])
        return {"token": secret, "expires_at": row.expires_at, "user": user}

    @blp.response(204)
    @auth_required
    def delete(self):
        """Revoke the bearer token this request was made with."""
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            abort(400, message="Send the token to revoke in the Authorization header.")
        sign_out()


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    @auth_required
    def get(self):
        """The signed-in person, their communities and roles, and unread notifications."""
        from civic.communities.service import memberships_of
        from civic.core.permissions import roles_in
        from civic.notifications.service import unread_count

        memberships = []
        for m in memberships_of(current_user):
            roles = sorted(roles_in(current_user, m.community_id))
            memberships.append({"community_id": m.community_id, "community": m.community, "status": m.status,
                                "grid_id": m.grid_id, "roles": roles})
        db.session.commit()  # token last-used time
        return {
            **{k: getattr(current_user, k)
               for k in ("id", "display_name", "phone", "is_admin", "locale", "elder_mode")},
            "memberships": memberships,
            "unread_notifications": unread_count(current_user),
        }


def _email_state(user):
    return {"email": user.email, "verified": user.email_verified_at is not None}


@blp.route("/me/email")
class MyEmail(MethodView):
    @blp.response(200, EmailSchema)
    @auth_required
    def get(self):
        """My e-mail address and whether it is confirmed."""
        return _email_state(current_user)

    @blp.arguments(EmailInSchema)
    @blp.response(202, EmailSchema)
    @auth_required
    def put(self, data):
        """Set my e-mail address; a confirmation link is e-mailed to it (notifications follow once confirmed)."""
        from civic.accounts.views import send_email_confirmation

        token = service.set_email(current_user, data["email"])
        try:
            send_email_confirmation(current_user, token)
        except OSError:
            db.session.rollback()
            abort(503, message="The e-mail could not be sent. Please try again later.")
        db.session.commit()
        return _email_state(current_user)

    @blp.response(204)
    @auth_required
    def delete(self):
        """Remove my e-mail address."""
        service.remove_email(current_user)
        db.session.commit()


@blp.route("/me/email/verify")
class MyEmailVerify(MethodView):
    @blp.arguments(EmailVerifySchema)
    @blp.response(200, EmailSchema)
    def post(self, data):
        """Confirm an e-mail address with the token from the confirmation link."""
        user = service.verify_email(data["token"])
        db.session.commit()
        return _email_state(user)
