"""Photo uploads: JPEG, PNG or WebP only, at most 5 MB, re-encoded so that EXIF and location
data are dropped, stored under UPLOADS_DIR (default instance/uploads) with an unguessable name."""
import io
import os
import secrets

from flask import Blueprint, abort, current_app, send_from_directory
from flask_login import login_required
from PIL import Image, ImageOps, UnidentifiedImageError

from civic.core.errors import Invalid
from civic.core.i18n import N_

MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 2048
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
Image.MAX_IMAGE_PIXELS = 40_000_000  # refuse decompression bombs

bp = Blueprint("uploads", __name__)


def upload_dir():
    path = current_app.config["UPLOADS_DIR"]
    os.makedirs(path, exist_ok=True)
    return path


def delete_photos(names):
    """Delete stored photos by name (missing files are fine); returns how many files were removed."""
    removed = 0
    for name in names:
        if not name or "/" in name or name.startswith("."):
            continue
        try:
            os.remove(os.path.join(upload_dir(), name))
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def save_photo(file_storage):
    """Validate and re-encode an uploaded photo; returns its stored name (e.g. 'a1b2….jpg').

    Raises Invalid with a message a resident understands for anything that is not a real,
    reasonably sized JPEG, PNG or WebP image.
    """
    if file_storage is None or not getattr(file_storage, "filename", ""):
        raise Invalid(N_("Please choose a photo."))
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
    with open(os.path.join(upload_dir(), name), "wb") as f:
        f.write(out.getvalue())
    return name


def photo_url(name):
    """The URL of a stored photo."""
    from flask import url_for

    return url_for("uploads.photo", name=name) if name else None


@bp.route("/uploads/<name>")
@login_required
def photo(name):
    """Serve a stored photo to signed-in people (names are unguessable)."""
    stem, _, ext = name.partition(".")
    if len(stem) != 32 or not all(c in "0123456789abcdef" for c in stem) or ext not in FORMATS.values():
        abort(404)
    response = send_from_directory(upload_dir(), name, max_age=86400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
