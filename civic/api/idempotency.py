"""The Idempotency-Key header: one scheme for every API POST that creates something.

A signed-in client may send `Idempotency-Key: <8 to 64 letters, digits or - _ . :>` with such a POST:

- the first request runs, and its answer (status and JSON body) is stored under the key, in the same
  transaction as the change it made;
- a retry with the same key and the same content (method, path and body) returns that first answer
  without running again;
- the same key with other content is refused with 409 (`reason: idempotency_conflict`);
- a malformed key is refused with 422 (`reason: bad_idempotency_key`) before anything runs.

Keys belong to the person who sent them (one namespace per user across the whole API), so a key never
answers somebody else's request. A request that fails stores nothing: it rolled back, so a retry runs
again. Two concurrent requests with one key make one change: the second waits on the key's unique
index until the first commits, then replays its answer.

Views decorated with `idempotent` do not commit: the decorator commits once the answer is stored.
"""
import hashlib
import json
import re
from datetime import datetime
from functools import wraps

from flask import jsonify, request
from flask_login import current_user
from flask_smorest import Blueprint
from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from civic.core.clock import utcnow
from civic.core.errors import Conflict, Invalid
from civic.core.i18n import N_
from civic.extensions import db

HEADER = "Idempotency-Key"
KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
REFERENCE = "IdempotencyKey"  # the component below, by name (apispec makes it a $ref)
PARAMETER = {  # registered once as a component of the OpenAPI document (civic.api.register_api)
    "in": "header", "name": HEADER, "required": False,
    "schema": {"type": "string", "pattern": KEY.pattern, "minLength": 8, "maxLength": 64},
    "description": "Send a new random key with each POST that creates something (8 to 64 letters, digits or "
                   "- _ . :). A retry with the same key and the same body returns the first answer; the same "
                   "key with a different body is refused with 409. Keys are kept per signed-in person.",
}


class RequestKey(db.Model):
    """A stored first answer under a person's Idempotency-Key (placed by user_id, civic.core.tenancy)."""

    __tablename__ = "api_request_key"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int]
    response_body: Mapped[dict | list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def request_hash():
    """What a request asked for: method, endpoint, its path arguments and its body (JSON canonically,
    a form with files by their fields and contents)."""
    body = request.get_json(silent=True) if request.is_json else None
    if body is None and request.files:
        body = {"form": sorted(request.form.items(multi=True)),
                "files": sorted((name, hashlib.sha256(_read(f)).hexdigest())
                                for name, f in request.files.items(multi=True))}
    elif body is None:
        body = request.get_data(as_text=True) or sorted(request.form.items(multi=True))
    parts = [request.method, request.endpoint, request.view_args, body]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _read(storage):
    data = storage.stream.read()
    storage.stream.seek(0)
    return data


def _key():
    key = request.headers.get(HEADER)
    if key is None or not current_user.is_authenticated:
        return None
    if not KEY.match(key):
        raise Invalid(N_("The Idempotency-Key must be 8 to 64 letters, digits or - _ . :"),
                      reason="bad_idempotency_key")
    return key


def _stored(user_id, key, digest):
    """The first answer under the key, or None; other content under the key is refused."""
    row = db.session.scalar(select(RequestKey).where(RequestKey.user_id == user_id, RequestKey.key == key))
    if row is not None and row.request_hash != digest:
        raise Conflict(N_("This request key was already used for a different request."),
                       reason="idempotency_conflict")
    if row is not None and row.response_status == 0:  # taken by a request whose answer is not stored yet
        raise Conflict(N_("This request is still being processed."), reason="in_progress")
    return row


def _replay(row):
    response = jsonify(row.response_body)
    response.status_code = row.response_status
    return response


def _claim(user_id, key, digest):
    """Take the key for this request (flushed, uncommitted): (the key's row, None). When a concurrent twin
    committed it first (its insert made this one wait on the unique index): (None, the first answer)."""
    row = RequestKey(user_id=user_id, key=key, request_hash=digest, response_status=0)
    try:
        db.session.add(row)
        db.session.flush()
        return row, None
    except IntegrityError:
        # Nothing else was done yet, so the whole transaction goes (a savepoint would not do: on SQLite,
        # releasing a savepoint opened outside a transaction commits it).
        db.session.rollback()
        first = _stored(user_id, key, digest)
        if first is None:  # gone again already (a twin's row cannot vanish otherwise): let the client retry
            raise Conflict(N_("This request is still being processed."), reason="in_progress") from None
        return None, first


def idempotent(view):
    """Give an API view the Idempotency-Key behaviour above, document the header, and commit its change.

    Put it below the access check and above `blp.arguments`/`blp.response`, so that it sees the signed-in
    person and the finished JSON answer."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = _key()
        if key is None:
            response = view(*args, **kwargs)
            db.session.commit()
            return response
        digest = request_hash()
        row, first = None, _stored(current_user.id, key, digest)
        if first is None:
            row, first = _claim(current_user.id, key, digest)
        if first is not None:
            db.session.rollback()
            return _replay(first)
        response = view(*args, **kwargs)
        row.response_status = response.status_code
        row.response_body = response.get_json(silent=True)
        db.session.commit()
        return response

    return Blueprint.doc(parameters=[REFERENCE])(wrapper)
