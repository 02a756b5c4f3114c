"""Error handling: JSON of one shape under /api, friendly pages elsewhere. Always roll back."""
import logging

from flask import flash, jsonify, redirect, render_template, request
from flask_babel import gettext
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from civic.core.errors import DomainError
from civic.extensions import db

log = logging.getLogger("civic")


def wants_json():
    return request.path.startswith("/api/")


def json_error(status, message, errors=None, reason=None):
    """The one error shape of the API."""
    from http import HTTPStatus

    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    if errors:
        body["errors"] = errors
    if reason:
        body["reason"] = reason
    return jsonify(body), status


def init_app(app):
    """Install handlers after flask-smorest, which otherwise answers JSON everywhere."""

    @app.errorhandler(DomainError)
    def _domain_error(error):
        db.session.rollback()
        if wants_json():
            return json_error(error.status, error.message, reason=error.reason)
        if request.method == "POST" and error.status not in (403, 404):
            flash(error.message, "error")
            return redirect(request.referrer or request.path)
        return render_template("error.html", status=error.status, message=error.message), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error):
        db.session.rollback()
        if wants_json():
            data = getattr(error, "data", None) or {}
            default = gettext("Some fields are invalid.") if error.code == 422 else (error.description or error.name)
            response = json_error(error.code, data.get("message") or default,
                                  data.get("errors") or data.get("messages"))
            response[0].headers.extend(data.get("headers") or {})
            if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
                response[0].headers["Allow"] = ", ".join(error.valid_methods)
            return response
        messages = {
            400: gettext("The request could not be understood. Please go back and try again."),
            401: gettext("Please sign in first."),
            403: gettext("You do not have permission to do that."),
            404: gettext("This page does not exist."),
            413: gettext("The file is too large."),
            429: gettext("Too many attempts. Please wait and try again."),
        }
        message = messages.get(error.code, error.name)
        return render_template("error.html", status=error.code, message=message), error.code

    @app.errorhandler(OperationalError)
    def _database_unavailable(error):
        # The connection was lost (a database restart, a failover) or the database aborted the transaction
        # (deadlock, serialization): a passing condition, so 503 with Retry-After rather than 500. Every
        # write is idempotent (request keys, point ids), so a client that retries cannot post twice.
        db.session.rollback()
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    type(getattr(error, "orig", error)).__name__)
        if wants_json():
            body, status = json_error(503, "The database is briefly unavailable; please try again.",
                                      reason="database_unavailable")
        else:
            body, status = render_template("error.html", status=503,
                                           message=gettext("Something went wrong. Please try again.")), 503
        return body, status, {"Retry-After": "1"}

    @app.teardown_appcontext
    def _end_session_after_lost_connection(exc):
        # Registered after Flask-SQLAlchemy's teardown, so it runs first. That one ends the session with
        # a ROLLBACK, which raises when the connection died after the response was made: the finished
        # (perhaps committed) request would become a 500. Here a dead connection is dropped instead.
        try:
            db.session.remove()
        except OperationalError as error:
            log.warning("database connection lost at the end of a request: %s",
                        type(getattr(error, "orig", error)).__name__)
            db.session().invalidate()
            db.session.remove()

    @app.errorhandler(Exception)
    def _unexpected(error):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "Internal error; it has been logged.")
        message = gettext("Something went wrong. Please try again.")
        return render_template("error.html", status=500, message=message), 500

    app.register_error_handler(InternalServerError, _unexpected)
