"""Photo uploads: JPEG, PNG or WebP only, at most 5 MB, re-encoded so that EXIF and location
data are dropped, stored in the database with an unguessable name.

Every stored photo is an `upload` row: the community it was uploaded in (which owns it), who uploaded
it, its size and type, its bytes (`data`, so every web node serves it, it sits on its community's
shard, and a database backup holds it), and what it is attached to (a claim, a report, a topic …). A photo is served
only to members of that community and to its uploader; a claim, report, topic, progress post or item
may cite only its author's own photos of that community, each once (`attach`); a person may upload at
most UPLOAD_DAILY_LIMIT photos in 24 hours; photos never attached are removed after a day
(`remove_unattached`, the `uploads_cleanup` job).
"""
import io
import secrets
from datetime import datetime, timedelta

from flask import Blueprint, abort, current_app, send_file
from flask_login import current_user, login_required
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from civic.core.clock import resolve
from civic.core.errors import Invalid, TooManyAttempts
from civic.core.i18n import N_
from civic.extensions import db

MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 2048
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
Image.MAX_IMAGE_PIXELS = 40_000_000  # refuse decompression bombs

UNATTACHED_FOR = timedelta(days=1)  # an upload nothing cites is removed after this long
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

bp = Blueprint("uploads", __name__)


class Upload(db.Model):
    """A stored photo: the community that owns it, who uploaded it, and what cites it."""

    __tablename__ = "upload"
    __table_args__ = (
        UniqueConstraint("community_id", "name", name="uq_upload_community_id_name"),
        Index("ix_upload_name", "name"),
        Index("ix_upload_uploader_id_created_at", "uploader_id", "created_at"),
        Index("ix_upload_attached_at_created_at", "attached_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    # None only for photos stored before uploads were recorded (migration 0018) whose author is unknown.
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    name: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(default=0)
    content_type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column()
    attached_kind: Mapped[str | None] = mapped_column(String(30))
    attached_id: Mapped[int | None] = mapped_column()
    attached_at: Mapped[datetime | None] = mapped_column()
    # The photo's bytes; loaded only when asked for. None only for a photo whose file was missing when
    # migration 0022 moved the files into the database (or an import without its photos).
    data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


def photo_bytes(name, community_id=None):
    """The stored bytes of photo `name` (in `community_id` when given), or None."""
    query = select(Upload.data).where(Upload.name == name, Upload.data.is_not(None))
    if community_id is not None:
        query = query.where(Upload.community_id == community_id)
    return db.session.scalar(query.limit(1))


def _check_quota(uploader_id, now):
    limit = current_app.config["UPLOAD_DAILY_LIMIT"]
    used = db.session.scalar(select(func.count(Upload.id)).where(
        Upload.uploader_id == uploader_id, Upload.created_at > now - timedelta(days=1)))
    if used >= limit:
        raise TooManyAttempts(N_("You have uploaded %(n)s photos in the last 24 hours, the most allowed. "
                                 "Please try again tomorrow."), n=limit)


def save_photo(file_storage, *, uploader, community_id, now=None):
    """Validate and re-encode a photo `uploader` sends in a community; returns its stored name
    (e.g. 'a1b2….jpg') and records it as an unattached upload owned by that community.

    Raises Invalid with a message a resident understands for anything that is not a real,
    reasonably sized JPEG, PNG or WebP image, and TooManyAttempts past the daily quota.
    """
    now = resolve(now)
    if file_storage is None or not getattr(file_storage, "filename", ""):
        raise Invalid(N_("Please choose a photo."))
    _check_quota(uploader.id, now)
    data = file_storage.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Invalid(N_("The photo is larger than 5 MB."))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse the whole band.
            if probe.width * probe.height > Image.MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            probe.verify()
        if kind not in FORMATS:
            raise Invalid(N_("Only JPEG, PNG or WebP photos are accepted."))
        with Image.open(io.BytesIO(data)) as image:
            image = ImageOps.exif_transpose(image)  # keep the orientation, then drop all metadata
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            if kind == "JPEG":
                image.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
            elif kind == "PNG":
                # Saving without pnginfo drops text chunks and eXIf.
                (image.convert("RGBA") if image.mode == "P" else image).save(out, "PNG", optimize=True)
            else:
                image.save(out, "WEBP", quality=85)
    except Invalid:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise Invalid(N_("That file is not a photo we can read.")) from None
    name = f"{secrets.token_hex(16)}.{FORMATS[kind]}"
    data = out.getvalue()
    db.session.add(Upload(community_id=community_id, uploader_id=uploader.id, name=name, size=len(data),
                          content_type=CONTENT_TYPES[FORMATS[kind]], created_at=now, data=data))
    db.session.flush()
    return name


def save_photos(files, *, uploader, community_id, now=None):
    """Save every chosen file of a form field (empty ones skipped) as `uploader`'s; returns their names."""
    return [save_photo(f, uploader=uploader, community_id=community_id, now=now)
            for f in (files or []) if f and getattr(f, "filename", "")]


def _own_uploads(actor, community_id, names, kind=None, object_id=None, *, lock=False):
    if any(not isinstance(n, str) for n in names):
        raise Invalid(N_("A photo could not be found. Please upload it again."))
    query = select(Upload).where(Upload.community_id == community_id, Upload.name.in_(names))
    rows = {u.name: u for u in db.session.scalars(query.with_for_update() if lock else query)}
    for name in names:
        upload = rows.get(name)
        if upload is None or upload.uploader_id != getattr(actor, "id", actor):
            raise Invalid(N_("A photo could not be found. Please upload it again."))
        if upload.attached_at is not None and (upload.attached_kind, upload.attached_id) != (kind, object_id):
            raise Invalid(N_("Each photo can be used only once."))
    return rows


def check_own(actor, community_id, names):
    """Refuse (Invalid) unless every name is `actor`'s own upload in this community that nothing cites yet.
    The message is the same whether the photo does not exist, is someone else's or another community's."""
    names = [n for n in (names or []) if n]
    if names:
        _own_uploads(actor, community_id, names)


def attach(actor, community_id, names, kind, object_id, *, now=None):
    """Mark `names` (checked as in check_own) as cited by (kind, object_id), e.g. ("claim", 12)."""
    names = [n for n in (names or []) if n]
    if not names:
        return
    now = resolve(now)
    for upload in _own_uploads(actor, community_id, names, kind, object_id, lock=True).values():
        upload.attached_kind, upload.attached_id = kind, object_id
        upload.attached_at = upload.attached_at or now
    db.session.flush()


def forget_uploads(names):
    """Delete the photos (their upload rows and bytes; account closure); returns how many rows were removed."""
    names = [n for n in names if n]
    if not names:
        return 0
    return db.session.execute(delete(Upload).where(Upload.name.in_(names))).rowcount or 0


def remove_unattached(*, now=None, limit=500):
    """Remove uploads (rows with their bytes) that nothing cited within a day of their upload; returns the count."""
    now = resolve(now)
    from civic.core.db import lock_due

    stale = lock_due(Upload, Upload.attached_at.is_(None), Upload.created_at < now - UNATTACHED_FOR, limit=limit)
    for upload in stale:
        db.session.delete(upload)
    db.session.flush()
    return len(stale)


def may_see(user, upload):
    """A photo is for the members of the community that owns it, and for whoever uploaded it."""
    from civic.core.permissions import can

    return upload.uploader_id == user.id or can(user, "community.view", upload.community_id)


def photo_url(name):
    """The URL of a stored photo."""
    from flask import url_for

    return url_for("uploads.photo", name=name) if name else None


@bp.route("/uploads/<name>")
@login_required
def photo(name):
    """Serve a stored photo to members of the community that owns it and to its uploader; 404 to others."""
    stem, _, ext = name.partition(".")
    if len(stem) != 32 or not all(c in "0123456789abcdef" for c in stem) or ext not in FORMATS.values():
        abort(404)
    owners = db.session.scalars(select(Upload).where(Upload.name == name)).all()
    seen = [upload for upload in owners if may_see(current_user, upload)]
    data = photo_bytes(name, seen[0].community_id) if seen else None
    if data is None:
        abort(404)
    response = send_file(io.BytesIO(data), mimetype=seen[0].content_type, max_age=86400, etag=name,
                         last_modified=seen[0].created_at, download_name=name, conditional=True)
    response.cache_control.public = False  # who may see it depends on who asks: no shared caches
    response.cache_control.private = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
