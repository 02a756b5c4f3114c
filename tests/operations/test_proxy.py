"""The shipped deploy/nginx.conf in front of gunicorn, on loopback: what a resident's phone sees
at https://civic.example.org."""
import base64
import io
import json
import random
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from civic.accounts.service import issue_api_token
from civic.core.audit import AuditEntry
from civic.core.clock import utcnow
from civic.deliberation import service as delib
from civic.extensions import db
from tests.factories import DEFAULT_PASSWORD
from tests.operations.proxy import SITE, Browserless, production_env, start_gunicorn, start_nginx, stop

PUBLIC = f"https://{SITE}"


@pytest.fixture
def proxied(app, tmp_path):
    """gunicorn (production settings, PROXY_HOPS=1) behind nginx with deploy/nginx.conf."""
    gunicorn = nginx = None
    try:
        gunicorn, app_port = start_gunicorn(production_env(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path), tmp_path)
        nginx, tls_port, plain_port = start_nginx(tmp_path, app_port=app_port)
        yield Browserless(tls_port), plain_port, tmp_path / "gunicorn.log"
    finally:
        stop(nginx)
        stop(gunicorn)


def _noise_jpeg(side, rng):
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(out, "JPEG", quality=95)
    return out.getvalue()


def photo_of_about(size):
    """A JPEG of noise just under `size` bytes (noise does not compress, like a phone photo's detail)."""
    rng = random.Random(7)
    per_pixel = len(_noise_jpeg(400, rng)) / 400 ** 2
    side = int((size * 0.985 / per_pixel) ** 0.5)
    while len(data := _noise_jpeg(side, rng)) > size:
        side -= 20
    return data


def test_nginx_in_front_of_gunicorn(app, world, proxied):
    """Over deploy/nginx.conf: form sign-in works, the check-in QR decodes to the public URL, a 5 MB
    photo uploads and comes back, HSTS and CSP are on every response, static files are cached long,
    /metrics stays private, and a forged X-Forwarded-For does not reach the audit log."""
    browser, plain_port, server_log = proxied
    with app.app_context():
        meeting = delib.create_meeting(
            db.session.merge(world.committee), world.a.id, title="十二月议事会", kind="council", place="活动室",
            starts_at=utcnow() - timedelta(minutes=5), ends_at=utcnow() + timedelta(hours=2),
            quorum_count=0, quorum_percent=0)
        _row, token = issue_api_token(db.session.merge(world.resident), days=1)
        db.session.commit()
        meeting_id = meeting.id

    # Form sign-in through the proxy, with a forged X-Forwarded-For from the "client".
    response = browser.sign_in(world.committee.phone, DEFAULT_PASSWORD, headers={"X-Forwarded-For": "203.0.113.66"})
    assert response.status_code == 302, response.text[:500]
    assert response.headers["Location"] in ("/", f"{PUBLIC}/")
    assert "Secure" in response.headers["Set-Cookie"]
    assert browser.get("/me").status_code == 200
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "account.sign_in")
                                   .order_by(AuditEntry.id.desc())).first()
        assert entry.address == "127.0.0.1"

    # The check-in QR on the organiser's screen decodes to the public address.
    code = browser.get(f"/c/{world.a.id}/deliberation/meetings/{meeting_id}/code.json").json()
    png = base64.b64decode(code["png"].split(",", 1)[1])
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert decoded and decoded[0].text.startswith(f"{PUBLIC}/checkin?t="), decoded and decoded[0].text

    # A 5 MB phone photo passes nginx and the app; it is served back to a signed-in person.
    photo = photo_of_about(5 * 1024 * 1024 - 2048)
    assert len(photo) > 4_800_000
    upload = browser.post(f"/api/v1/communities/{world.a.id}/merit/photos",
                          headers={"Authorization": f"Bearer {token}"},
                          files={"photo": ("big.jpg", photo, "image/jpeg")})
    assert upload.status_code == 201, upload.text[:300]
    assert browser.get(upload.json()["url"]).headers["Content-Type"].startswith("image/")

    # Static files: served by nginx, cached for a long time, with the same headers.
    css = browser.get("/static/css/app.css")
    assert css.status_code == 200 and "max-age=2592000" in css.headers["Cache-Control"]
    # Responses nginx makes itself: the public never sees /metrics; a too-large body is refused.
    assert browser.get("/metrics").status_code == 404
    assert browser.post("/login", data=b"x" * (21 * 1024 * 1024)).status_code == 413
    assert browser.get("/healthz").json()["status"] == "ok"
    assert browser.get("/no-such-page").status_code == 404

    for method, path, seen in browser.responses:
        assert seen.headers.get("Strict-Transport-Security", "").startswith("max-age="), (method, path)
        assert seen.headers.get("Content-Security-Policy"), (method, path)
        assert seen.headers.get("X-Content-Type-Options") == "nosniff", (method, path)
        assert "," not in seen.headers["Strict-Transport-Security"], "HSTS sent twice"

    # Plain HTTP moves to HTTPS.
    import requests

    plain = requests.get(f"http://127.0.0.1:{plain_port}/login", headers={"Host": SITE}, allow_redirects=False,
                         timeout=5)
    assert plain.status_code == 301 and plain.headers["Location"] == f"{PUBLIC}/login"

    # Every line gunicorn and the app wrote is one JSON object; request lines carry nginx's request id.
    lines = [json.loads(line) for line in server_log.read_text().splitlines() if line.strip()]
    assert any(line["logger"].startswith("gunicorn") for line in lines)
    requests_logged = [line for line in lines if line.get("msg") == "request"]
    assert requests_logged and all(len(line["request_id"]) == 32 for line in requests_logged)
