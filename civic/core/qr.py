"""Signed tokens and QR codes (vouchers, check-in codes, personal cards).

A token is `<base64url(json payload)>.<base64url(hmac-sha256)[:22]>`, signed with the app's
SECRET_KEY and a purpose string, so a token made for one use is refused for another. Payloads
carry their own expiry ("exp", unix seconds) when they have one; `read_token` takes `now` so
time rules are tested with a clock, not with sleep.
"""
import base64
import hashlib
import hmac
import io
import json
from datetime import UTC

import qrcode
import qrcode.image.svg
from flask import current_app

from civic.core.clock import resolve
from civic.core.errors import Invalid
from civic.core.i18n import N_


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(purpose, body):
    key = hashlib.sha256(("civic-qr:" + current_app.config["SECRET_KEY"]).encode()).digest()
    return _b64(hmac.new(key, f"{purpose}:{body}".encode("utf-8", "replace"), hashlib.sha256).digest()[:16])


def make_token(purpose, payload, *, ttl_seconds=None, now=None):
    """Sign `payload` (a JSON-able dict) for `purpose`, optionally expiring after `ttl_seconds`."""
    data = dict(payload)
    if ttl_seconds is not None:
        data["exp"] = int(unix_seconds(resolve(now)) + ttl_seconds)
    body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(purpose, body)}"


def read_token(purpose, token, *, now=None, ignore_expiry=False):
    """Verify a token for `purpose` and return its payload; raise Invalid when forged, altered or expired
    (with `ignore_expiry`, a genuine but old token is accepted: to show the way back, never to act on)."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 2000:
        raise Invalid(N_("This code is not valid."), reason="bad_token")
    body, mac = token.strip().split(".")
    # compare_digest refuses (TypeError) a str holding non-ASCII characters: compare bytes instead.
    if not hmac.compare_digest(mac.encode("utf-8", "replace"), _mac(purpose, body).encode()):
        raise Invalid(N_("This code is not valid."), reason="bad_token")
    try:
        data = json.loads(_unb64(body))
    except ValueError:
        raise Invalid(N_("This code is not valid."), reason="bad_token") from None
    if "exp" in data and not ignore_expiry and unix_seconds(resolve(now)) > data["exp"]:
        raise Invalid(N_("This code has expired. Please scan the current one."), reason="expired_token")
    return data


def unix_seconds(naive_utc):
    """Unix time of a naive UTC datetime."""
    return naive_utc.replace(tzinfo=UTC).timestamp()


def qr_png(text, *, box_size=8, border=4):
    """A PNG image (bytes) of a QR code for `text`."""
    image = qrcode.make(text, box_size=box_size, border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def qr_svg(text):
    """An SVG document (str) of a QR code for `text`, for pages and print."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=4)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()
