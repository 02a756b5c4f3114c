"""A database that cannot be reached for a moment is answered with 503 and Retry-After, never a 500."""
from sqlalchemy.exc import OperationalError

import civic.accounts.service


def _loses_its_connection_once():
    """user_for_token whose first call finds its connection closed (the pool reconnects after that)."""
    calls = []

    def user_for_token(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        return None

    return user_for_token


def test_a_lost_database_connection_is_a_503_with_retry_after(client, monkeypatch):
    """The API answers its JSON error shape with code 503 and Retry-After; a page answers the error page."""
    headers = {"Authorization": "Bearer some-token"}

    monkeypatch.setattr(civic.accounts.service, "user_for_token", _loses_its_connection_once())
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["reason"] == "database_unavailable"

    monkeypatch.setattr(civic.accounts.service, "user_for_token", _loses_its_connection_once())
    page = client.get("/", headers=headers)
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "1"
    assert "text/html" in page.content_type


def test_a_connection_lost_after_the_response_does_not_turn_it_into_an_error(client, monkeypatch):
    """When ending the request's session fails because the connection died (its ROLLBACK raises),
    the finished response is still sent, and the next request works."""
    from sqlalchemy.orm import Session

    real_close, calls = Session.close, []

    def close_on_a_dead_connection(self):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("ROLLBACK", {}, Exception("terminating connection due to administrator command"))
        return real_close(self)

    monkeypatch.setattr(Session, "close", close_on_a_dead_connection)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert calls, "the session was not ended"
    assert client.get("/healthz").status_code == 200
