"""Structured logs: one JSON object per line, with a request id."""
import json
import logging
import sys
import time
import uuid

from flask import g, has_request_context, request


class JsonFormatter(logging.Formatter):
    """Format records as JSON lines."""

    def format(self, record):
        data = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "method", "path", "status", "duration_ms", "user_id"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Give every record logged during a request that request's id (when it has none of its own)."""

    def filter(self, record):
        if not hasattr(record, "request_id") and has_request_context() and g.get("request_id"):
            record.request_id = g.request_id
        return True


def gunicorn_logconfig():
    """logging.dictConfig for gunicorn (gunicorn.conf.py): its own lines and tracebacks as JSON too."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "civic.logging.JsonFormatter"}},
        "filters": {"request_id": {"()": "civic.logging.RequestIdFilter"}},
        "handlers": {"stderr": handler},
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        },
    }


class PlainFormatter(logging.Formatter):
    """Readable lines for development: `INFO civic request GET / 200 3.1ms`."""

    def format(self, record):
        line = super().format(record)
        if hasattr(record, "status"):
            line += f" {record.method} {record.path} {record.status} {record.duration_ms}ms"
        return line


def init_app(app):
    """Configure the 'civic' logger and log each request once."""
    logger = logging.getLogger("civic")
    logger.setLevel(app.config["LOG_LEVEL"])
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if app.config["LOG_JSON"]
                             else PlainFormatter("%(levelname)s %(name)s %(message)s"))
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
        logger.propagate = False

    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex

    @app.after_request
    def _log_request(response):
        started = g.get("request_started")
        if started is not None and not request.path.startswith("/static/"):
            logger.info(
                "request",
                extra={
                    "request_id": g.request_id,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": _logged_in_user_id(),
                },
            )
        if g.get("request_id"):
            response.headers["X-Request-ID"] = g.request_id
        return response


def _logged_in_user_id():
    """The signed-in user's id, read without touching the database: after the view's commit the user's
    attributes are expired, and reloading them here (with the connection lost, say) would turn a
    request that succeeded into a 500."""
    from sqlalchemy import inspect

    user = g.get("_login_user")  # loaded by Flask-Login during this request, if at all
    state = inspect(user, raiseerr=False) if user is not None else None
    return state.identity[0] if state is not None and state.identity else None
