"""Two web nodes on one database share everything (issue 16): a second application instance, with its own
process state and its own (empty) uploads folder, sees what the first one did — photos, sign-in
throttles, the daily upload quota and sign-outs live in the database, not in a process."""
import io

import pytest
from PIL import Image

from civic import create_app
from civic.config import TestingConfig
from civic.extensions import db


@pytest.fixture
def other_node(app, tmp_path):
    """A second web node: another app on the same database, another instance folder and uploads folder."""

    class OtherNode(TestingConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
        UPLOADS_DIR = str(tmp_path / "other-node-uploads")
        WTF_CSRF_ENABLED = False

    node = create_app(OtherNode)
    yield node
    with node.app_context():
        db.session.remove()
        db.engine.dispose()


def _login(client, phone, password):
    return client.post("/login", data={"phone": phone, "password": password})


def _jpeg():
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 120, 10)).save(out, "JPEG")
    return out.getvalue()


def test_a_photo_uploaded_on_one_node_is_served_by_the_other(app, other_node, world, api_token):
    """The photo's bytes are in its upload row: the other node serves it although its folder is empty."""
    response = app.test_client().post(f"/api/v1/communities/{world.a.id}/merit/photos",
                                      headers=api_token(world.resident), data={"photo": (io.BytesIO(_jpeg()), "p.jpg")},
                                      content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    name = response.json["name"]
    elsewhere = other_node.test_client()
    assert _login(elsewhere, world.resident2.phone, "correct-horse-1").status_code == 302
    served = elsewhere.get(f"/uploads/{name}")
    assert served.status_code == 200 and served.data[:2] == b"\xff\xd8"
    assert "private" in served.headers["Cache-Control"]
    elsewhere.post("/logout")
    assert _login(elsewhere, world.b_resident.phone, "correct-horse-1").status_code == 302
    assert elsewhere.get(f"/uploads/{name}").status_code == 404


def test_sign_in_failures_on_one_node_throttle_the_other(app, other_node, world):
    """Five wrong passwords through one node: the right one through the other is told to wait (429)."""
    first = app.test_client()
    for _ in range(5):
        assert _login(first, world.resident.phone, "wrong-password").status_code != 302
    assert _login(other_node.test_client(), world.resident.phone, "correct-horse-1").status_code == 429


def test_the_daily_upload_quota_counts_both_nodes(app, other_node, world, api_token):
    """UPLOAD_DAILY_LIMIT is one count per person however many nodes took the photos."""
    headers = api_token(world.resident)
    url = f"/api/v1/communities/{world.a.id}/merit/photos"
    app.config["UPLOAD_DAILY_LIMIT"] = other_node.config["UPLOAD_DAILY_LIMIT"] = 2
    try:
        for node in (app, other_node):
            sent = node.test_client().post(url, headers=headers, data={"photo": (io.BytesIO(_jpeg()), "p.jpg")},
                                           content_type="multipart/form-data")
            assert sent.status_code == 201, sent.json
        refused = app.test_client().post(url, headers=headers, data={"photo": (io.BytesIO(_jpeg()), "p.jpg")},
                                         content_type="multipart/form-data")
        assert refused.status_code == 429
    finally:
        app.config["UPLOAD_DAILY_LIMIT"] = TestingConfig.UPLOAD_DAILY_LIMIT


def test_signing_out_on_one_node_ends_the_session_on_the_other(app, other_node, world):
    """A session cookie works on both nodes (same key); signing out through one ends it on the other."""
    first = app.test_client()
    assert _login(first, world.resident.phone, "correct-horse-1").status_code == 302
    cookie = first.get_cookie("session")
    assert cookie is not None
    elsewhere = other_node.test_client()
    elsewhere.set_cookie("session", cookie.value, domain=cookie.domain or "localhost")
    assert elsewhere.get("/me").status_code == 200
    first.post("/logout")
    assert elsewhere.get("/me").status_code == 302
