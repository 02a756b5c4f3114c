"""Sign-in and sessions against a hostile caller (issue 10, item 6): tokens and sessions end on a new
password and on closing the account; a cookie replayed after sign-out signs nobody in; throttling per
number and address holds under concurrency, trusts no forged X-Forwarded-For and cannot lock the owner
out; an unknown number costs as much time as a known one; weak passwords are refused; CSRF holds for a
person restored from the remember-me cookie alone; HSTS in production."""
import statistics
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.accounts import codes, service
from civic.accounts.models import LoginThrottle, User, UserSession
from civic.core.audit import AuditEntry
from civic.core.clock import utcnow
from civic.core.errors import Invalid, PermissionDenied, TooManyAttempts
from civic.extensions import db
from tests import factories

PHONE, PASSWORD = factories.DEFAULT_PHONE, factories.DEFAULT_PASSWORD
TOPICS = "/api/v1/deliberation/communities/{a}/topics"


def _token(client, phone=PHONE, password=PASSWORD):
    response = client.post("/api/v1/auth/token", json={"phone": phone, "password": password})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def _login(client, phone=PHONE, password=PASSWORD, remember=False):
    data = {"phone": phone, "password": password}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response


def _cookies(client):
    return {name: client.get_cookie(name).value for name in ("session", "remember_token") if client.get_cookie(name)}


def _client_with(app, cookies):
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


# --- tokens and sessions end ------------------------------------------------------------------------

def test_a_new_password_ends_api_tokens_and_other_sessions(app, client, world):
    """Changing the password on the page revokes every API token and ends every other session;
    the device it was changed on stays signed in."""
    token = _token(app.test_client())
    other = app.test_client()
    _login(other)
    assert client.get("/api/v1/me", headers=token).status_code == 200
    _login(client)
    response = client.post("/me/password", data={"current": PASSWORD, "password": "brand-new-pass",
                                                 "confirm": "brand-new-pass"})
    assert response.status_code == 302
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 401
    assert other.get("/me").status_code == 302
    assert client.get("/me").status_code == 200
    assert _token(app.test_client(), password="brand-new-pass")


def test_a_password_reset_by_code_or_at_the_server_ends_api_tokens(app, world):
    """A new password set with a text-message code, or by an administrator at the server, revokes tokens."""
    token = _token(app.test_client())
    with app.app_context():
        codes.request_code(PHONE, "reset", address="10.0.0.1", config=app.config, sender=_Sender())
        codes.reset_password_with_code(PHONE, _Sender.last, "another-long-pw", address="10.0.0.1", config=app.config)
        db.session.commit()
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 401

    token = _token(app.test_client(), password="another-long-pw")
    with app.app_context():
        service.reset_password(PHONE, "yet-another-long-pw")
        db.session.commit()
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 401


class _Sender:
    last = None

    def send(self, phone, text):
        _Sender.last = "".join(ch for ch in text if ch.isdigit())[:6]


def test_closing_the_account_ends_tokens_and_sessions(app, client, world):
    """Closing the account (through the API with one token) revokes every other token and ends every
    browser session, remember-me cookies included."""
    phone = world.resident.phone
    keep, other = _token(app.test_client(), phone), _token(app.test_client(), phone)
    browser = app.test_client()
    _login(browser, phone, remember=True)
    remembered = {"remember_token": browser.get_cookie("remember_token").value}
    response = client.post("/api/v1/me/close", json={"password": PASSWORD, "confirm": True}, headers=keep)
    assert response.status_code == 200, response.json
    assert app.test_client().get("/api/v1/me", headers=other).status_code == 401
    assert browser.get("/me").status_code == 302
    assert _client_with(app, remembered).get("/me").status_code == 302


def test_a_cookie_replayed_after_sign_out_signs_nobody_in(app, client, world):
    """The session cookie and the remember-me cookie, copied before signing out, work before (so the
    test can fail) and no longer work after: sign-out ended the session on the server."""
    _login(client, remember=True)
    saved = _cookies(client)
    assert set(saved) == {"session", "remember_token"}
    assert _client_with(app, saved).get("/me").status_code == 200
    assert _client_with(app, {"remember_token": saved["remember_token"]}).get("/me").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/me").status_code == 302
    assert _client_with(app, saved).get("/me").status_code == 302
    assert _client_with(app, {"remember_token": saved["remember_token"]}).get("/me").status_code == 302
    assert _client_with(app, {"session": saved["session"]}).get("/api/v1/me").status_code == 401
    with app.app_context():
        rows = db.session.scalars(select(UserSession)).all()
        assert len(rows) == 1 and rows[0].ended_at is not None and rows[0].method == "password"


def test_sms_code_sign_in_opens_a_server_side_session_too(app, client, world):
    """Signing in with a text-message code goes through the same sign_in(): sign-out ends that session."""
    client.post("/login/code/send", data={"phone": PHONE})
    response = client.post("/login/code", data={"phone": PHONE, "code": _code_from_demo_page(client)})
    assert response.status_code == 302
    saved = _cookies(client)
    client.post("/logout")
    assert _client_with(app, saved).get("/me").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(UserSession.method)).all() == ["sms"]


def _code_from_demo_page(client):
    import re

    page = client.get("/dev/sms").get_data(as_text=True)
    return re.findall(r"\b(\d{6})\b", page)[-1]


def test_revoking_the_api_token_is_sign_out(app, client, world):
    """DELETE /api/v1/auth/token (the API's sign-out) ends the token it was sent with."""
    token = _token(client)
    assert client.delete("/api/v1/auth/token", headers=token).status_code == 204
    assert client.get("/api/v1/me", headers=token).status_code == 401


# --- throttling -------------------------------------------------------------------------------------

def _fail(app, phone, address, now, password="wrong-password"):
    with pytest.raises(PermissionDenied):
        service.authenticate(phone, password, address=address, config=app.config, now=now)


def test_wrong_guesses_delay_that_number_from_that_address_only(app, app_ctx):
    """Five wrong passwords for one number from one address delay that number *from that address*; the
    owner signing in from their own phone (another address) is never locked out."""
    user = factories.make_user(phone="13900001234")
    db.session.commit()
    now = utcnow()
    for _ in range(5):
        _fail(app, "13900001234", "198.51.100.66", now)
        db.session.commit()
    with pytest.raises(TooManyAttempts):
        service.authenticate("13900001234", PASSWORD, address="198.51.100.66", config=app.config, now=now)
    assert service.authenticate("13900001234", PASSWORD, address="10.0.0.9", config=app.config, now=now) == user


def test_delays_double_and_a_correct_sign_in_clears_them(app, app_ctx):
    """Past the free failures each new one doubles the wait (60 s, 120 s, 240 s …, at most an hour);
    after the wait one more guess is evaluated; a correct one clears the count."""
    user = factories.make_user(phone="13900001234")
    db.session.commit()
    now, address = utcnow(), "198.51.100.7"
    for _ in range(5):
        _fail(app, "13900001234", address, now)
    waits = []
    for _ in range(4):
        row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.phone == "13900001234"))
        waits.append(round((row.blocked_until - now).total_seconds()))
        with pytest.raises(TooManyAttempts):
            service.authenticate("13900001234", "wrong-password", address=address, config=app.config,
                                 now=now + timedelta(seconds=waits[-1] - 1))
        now += timedelta(seconds=waits[-1])
        _fail(app, "13900001234", address, now)
    assert waits == [60, 120, 240, 480]
    now += timedelta(seconds=960)
    assert service.authenticate("13900001234", PASSWORD, address=address, config=app.config, now=now) == user
    assert db.session.scalar(select(LoginThrottle).where(LoginThrottle.phone == "13900001234")) is None


def test_the_delay_stops_growing_at_an_hour(app, app_ctx):
    """However many failures, the wait is at most LOGIN_MAX_DELAY_SECONDS (an hour)."""
    now, address = utcnow(), "198.51.100.8"
    for i in range(12):
        _fail(app, "13900001234", address, now + timedelta(hours=i))
    row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.phone == "13900001234"))
    assert row.failures == 12
    assert row.blocked_until - row.last_failure_at == timedelta(seconds=app.config["LOGIN_MAX_DELAY_SECONDS"])


def test_one_address_guessing_many_numbers_is_slowed(app, app_ctx):
    """Twenty failures from one address over many numbers delay that address for every number."""
    factories.make_user(phone="13900001234")
    now = utcnow()
    for i in range(app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]):
        _fail(app, f"1390000{i:04d}", "10.9.9.9", now)
    with pytest.raises(TooManyAttempts):
        service.authenticate("13900001234", PASSWORD, address="10.9.9.9", config=app.config, now=now)
    assert service.authenticate("13900001234", PASSWORD, address="10.1.1.1", config=app.config, now=now)


def test_ipv6_addresses_count_by_their_64(app, app_ctx):
    """An IPv6 client owns a whole /64: changing the last bits does not escape the delay."""
    factories.make_user(phone="13900001234")
    now = utcnow()
    for i in range(5):
        _fail(app, "13900001234", f"2001:db8:1:2::{i + 1:x}", now)
    with pytest.raises(TooManyAttempts):
        service.authenticate("13900001234", PASSWORD, address="2001:db8:1:2:ffff::9", config=app.config, now=now)


def test_a_forged_x_forwarded_for_does_not_change_the_throttle_key(app, client, world):
    """Without a trusted proxy (PROXY_HOPS=0, the default) X-Forwarded-For is ignored: five wrong guesses,
    each claiming another address, delay the sixth. Behind one trusted proxy only the address that proxy
    wrote counts: entries the client put in front of it do not."""
    for i in range(5):
        response = client.post("/api/v1/auth/token", json={"phone": PHONE, "password": "wrong-password"},
                               headers={"X-Forwarded-For": f"203.0.113.{i}"})
        assert response.status_code == 401
    response = client.post("/api/v1/auth/token", json={"phone": PHONE, "password": PASSWORD},
                           headers={"X-Forwarded-For": "203.0.113.200"})
    assert response.status_code == 429 and response.json["code"] == 429
    with app.app_context():
        addresses = set(db.session.scalars(
            select(AuditEntry.address).where(AuditEntry.action.like("account.sign_in%"))))
    assert addresses == {"127.0.0.1"}

    from civic import _trust_proxy

    original = app.wsgi_app
    app.config["PROXY_HOPS"] = 1
    try:
        _trust_proxy(app)
        for i in range(5):
            response = client.post("/api/v1/auth/token", json={"phone": PHONE, "password": "wrong-password"},
                                   headers={"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.10"})
            assert response.status_code == 401
        response = client.post("/api/v1/auth/token", json={"phone": PHONE, "password": PASSWORD},
                               headers={"X-Forwarded-For": "198.51.100.99, 192.0.2.10"})
        assert response.status_code == 429
        response = client.post("/api/v1/auth/token", json={"phone": PHONE, "password": PASSWORD},
                               headers={"X-Forwarded-For": "192.0.2.11"})
        assert response.status_code == 201
    finally:
        app.wsgi_app = original
        app.config["PROXY_HOPS"] = 0


@pytest.mark.postgres
def test_sixty_simultaneous_guesses_evaluate_at_most_five(app, world):
    """60 threads guess one number's password at once through HTTP (a test client each): the counter row
    is locked while a guess is evaluated, so exactly five are evaluated and the rest are told to wait."""
    start = threading.Barrier(60)
    statuses = []

    def guess(i):
        client = app.test_client()
        start.wait()
        response = client.post("/api/v1/auth/token", json={"phone": PHONE, "password": f"wrong-guess-{i}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [401, 429], statuses
    with app.app_context():
        evaluated = db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "account.sign_in_failed"))
        row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.phone == PHONE))
    assert evaluated == statuses.count(401) == 5
    assert statuses.count(429) == 55 and row.failures == 5


def test_an_unknown_number_takes_as_long_as_a_known_one(app, app_ctx):
    """A wrong password for a registered number and any password for an unknown one both check a hash
    of the same cost (a dummy one for the unknown number), so the time does not tell which exists."""
    factories.make_user(phone="13900001234")
    db.session.commit()

    def timed(phone, i):
        started = time.perf_counter()
        _fail(app, phone, f"10.20.{i}.1", utcnow())
        db.session.rollback()
        return time.perf_counter() - started

    timed("13900005678", 0)  # the dummy hash is made once, on first use
    known = statistics.median(timed("13900001234", i) for i in range(1, 8))
    unknown = statistics.median(timed("13900005678", i) for i in range(8, 15))
    assert 0.5 < unknown / known < 2, (known, unknown)


# --- weak passwords ---------------------------------------------------------------------------------

@pytest.mark.parametrize("weak", ["12345678", "password", "11111111", "qwertyuiop", "woaini1314", "13900001234"])
def test_weak_passwords_are_refused_in_plain_chinese(app, client, weak):
    """Common passwords (zxcvbn's estimate, and the person's own number) are refused at sign-up with a
    plain zh-CN message; nothing is created."""
    response = client.post("/signup", data={"phone": "13900001234", "display_name": "刘阿姨", "password": weak,
                                            "confirm": weak})
    assert response.status_code == 200
    assert "太容易被猜到" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.phone == "13900001234")) is None


def test_the_passwords_of_the_demo_and_the_tests_are_strong_enough(app_ctx):
    """The demo seed's and the test factory's passwords pass the same check (else they could not be set)."""
    from civic import demo

    for password in (demo.DEMO_PASSWORD, factories.DEFAULT_PASSWORD,
                     "brand-new-pass", "another-long-pw", "longenough1"):
        service.check_new_password(password)
    with pytest.raises(Invalid):
        service.check_new_password("password")


# --- CSRF and HSTS ----------------------------------------------------------------------------------

def test_csrf_holds_for_a_person_restored_from_the_remember_me_cookie(app, client, world):
    """With CSRF on (as in production), an API POST carrying only the remember-me cookie and no X-CSRFToken
    is refused (4xx) and stores nothing, although the same cookie does sign the person in for reading."""
    from civic.deliberation.models import Topic

    _login(client, remember=True)
    remembered = {"remember_token": client.get_cookie("remember_token").value}
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert _client_with(app, remembered).get("/api/v1/me").status_code == 200
        response = _client_with(app, remembered).post(TOPICS.format(a=world.a.id), json={"title": "伪造的议题"})
        assert 400 <= response.status_code < 500 and response.is_json, response.status_code
        session_only = _client_with(app, {"session": client.get_cookie("session").value})
        response = session_only.post(TOPICS.format(a=world.a.id), json={"title": "伪造的议题"})
        assert 400 <= response.status_code < 500
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Topic)) == 0


def test_strict_transport_security_in_production(app, client):
    """Production sends Strict-Transport-Security for a year (HSTS_SECONDS); development and tests none."""
    from civic.config import DevelopmentConfig, ProductionConfig

    assert ProductionConfig.HSTS_SECONDS == 365 * 24 * 3600 and DevelopmentConfig.HSTS_SECONDS == 0
    assert "Strict-Transport-Security" not in client.get("/login").headers
    app.config["HSTS_SECONDS"] = ProductionConfig.HSTS_SECONDS
    try:
        assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert client.get("/api/v1/me").headers["Strict-Transport-Security"].startswith("max-age=31536000")
    finally:
        app.config["HSTS_SECONDS"] = 0
