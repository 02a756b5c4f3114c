"""The JSON API: tokens, /me, error shape, validation, OpenAPI and docs."""
import re

import pytest

from tests import factories


def test_token_then_me(api_token, client, world):
    """A mobile number and password give a bearer token that identifies the person."""
    response = client.get("/api/v1/me", headers=api_token())
    assert response.status_code == 200
    body = response.json
    assert body["display_name"] == "王主任"
    assert body["memberships"][0]["roles"] == ["committee", "resident"]


def test_revoked_token_stops_working(api_token, client, world):
    """A revoked token is refused afterwards."""
    headers = api_token()
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert set(response.json) >= {"code", "status", "message"}


def test_wrong_password_gives_401_json(client, world):
    """Bad credentials answer 401 in the standard error shape."""
    response = client.post("/api/v1/auth/token", json={"phone": factories.DEFAULT_PHONE, "password": "nope-nope"})
    assert response.status_code == 401
    assert response.json["code"] == 401 and response.json["message"]


def test_validation_errors_name_the_fields(client):
    """A malformed body is a 422 naming each bad field."""
    response = client.post("/api/v1/auth/token", json={"phone": 12})
    assert response.status_code == 422
    body = response.json
    assert body["code"] == 422 and body["message"]
    assert set(body["errors"]["json"]) == {"phone", "password"}


@pytest.mark.parametrize("payload", ["not json", "[]", "null", '{"phone": null}', "{" * 50])
def test_garbage_bodies_never_500(client, payload):
    """Garbage in a request body gets a 4xx JSON answer, never a 500."""
    response = client.post("/api/v1/auth/token", data=payload, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert response.is_json and "code" in response.json


def test_unknown_api_path_is_json_404(client):
    """Unknown API paths and methods answer JSON too."""
    response = client.get("/api/v1/nope")
    assert response.status_code == 404 and response.json["code"] == 404
    response = client.put("/api/v1/me")
    assert response.status_code == 405 and response.json["code"] == 405


def test_api_needs_a_token(client):
    """Without a token the API answers 401 JSON, not a redirect."""
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.is_json


def test_throttling_applies_to_the_api(client, world):
    """The token endpoint is throttled like the sign-in page."""
    for _ in range(5):
        client.post("/api/v1/auth/token", json={"phone": factories.DEFAULT_PHONE, "password": "nope-nope"})
    response = client.post("/api/v1/auth/token",
                           json={"phone": factories.DEFAULT_PHONE, "password": factories.DEFAULT_PASSWORD})
    assert response.status_code == 429 and response.json["reason"] == "too_many_attempts"


def test_join_and_review_through_the_api(api_token, client, world):
    """A person asks to join and the committee confirms, through the API."""
    outsider = api_token(world.outsider)
    response = client.post(f"/api/v1/communities/{world.a.id}/join", json={"address": "6号楼"},
                           headers=outsider)
    assert response.status_code == 201
    membership_id = response.json["id"]
    committee = api_token()
    response = client.post(f"/api/v1/communities/{world.a.id}/requests/{membership_id}", json={"approve": True},
                           headers=committee)
    assert response.status_code == 200 and response.json["status"] == "active"
    other = api_token(world.b_committee)
    response = client.get(f"/api/v1/communities/{world.a.id}/requests", headers=other)
    assert response.status_code == 403 and response.json["reason"] == "forbidden"


def test_cookie_sessions_need_csrf_on_the_api(app, client, auth, world):
    """A browser session calling the API must send the CSRF token (bearer calls need not)."""
    auth.login()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post("/api/v1/notifications/read", json={})
        assert response.status_code == 400 and response.is_json
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_openapi_document_and_docs_page(client):
    """The OpenAPI document lists the endpoints; the docs page loads local assets only."""
    spec = client.get("/api/openapi.json").json
    assert "/api/v1/auth/token" in spec["paths"] and "/api/v1/me" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = client.get("/api/docs").get_data(as_text=True)
    bundle = re.search(r"/static/vendor/swagger-ui/swagger-ui-bundle\.[0-9a-f]{12}\.js", page)
    assert bundle, "the docs page links the content-hashed bundle"
    assert client.get(bundle.group(0)).status_code == 200


def test_notifications_api(api_token, client, app, world):
    """The inbox lists notifications in the caller's language and marks them read."""
    from civic.core.i18n import N_
    from civic.extensions import db
    from civic.notifications.service import notify

    with app.app_context():
        notify(world.committee.id, "test", N_("Welcome to %(community)s"), params={"community": "芙蓉社区"})
        db.session.commit()
    headers = api_token()
    items = client.get("/api/v1/notifications", headers=headers).json
    assert items[0]["title"] == "欢迎加入芙蓉社区" and items[0]["read"] is False
    assert client.post("/api/v1/notifications/read", json={}, headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).json["unread_notifications"] == 0
