"""Signing in and resetting a password with a one-time code sent by text message."""
import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from civic.accounts import codes
from civic.accounts.models import SmsCode, User
from civic.accounts.sms import HttpSender, LogSender, SmsNotSent, sender_for
from civic.config import check_production
from civic.core.clock import utcnow
from civic.core.errors import Invalid, TooManyAttempts
from civic.extensions import db
from tests import factories

ADDRESS = "203.0.113.9"


def _code(outbox):
    """The six digits of the newest message."""
    return re.search(r"(?<!\d)\d{6}(?!\d)", outbox.sent()[0][1]).group(0)


@pytest.fixture
def person(app_ctx):
    return factories.make_user(phone="13912340000", name="刘阿姨")


def _ask(app, phone, outbox, *, now, purpose="sign_in", address=ADDRESS):
    return codes.request_code(phone, purpose, address=address, config=app.config, sender=outbox, now=now)


def test_a_code_signs_in_once_and_only_its_hash_is_stored(app, person):
    """The code texted to the number signs its account in once; the table never holds the code itself."""
    outbox, now = LogSender(), utcnow()
    _ask(app, "139 1234 0000", outbox, now=now)
    code = _code(outbox)
    assert outbox.sent()[0][0] == "13912340000"
    row = db.session.scalar(select(SmsCode))
    assert code not in (row.code_hash, row.phone, row.address) and len(row.code_hash) == 64
    user = codes.sign_in_with_code("13912340000", code, address=ADDRESS, config=app.config,
                                   now=now + timedelta(seconds=30))
    assert user.id == person.id and user.last_login_at == now + timedelta(seconds=30)
    with pytest.raises(Invalid):
        codes.sign_in_with_code("13912340000", code, address=ADDRESS, config=app.config,
                                now=now + timedelta(seconds=40))


def test_a_code_expires(app, person):
    """A code works until SMS_CODE_SECONDS have passed, and not after."""
    outbox, now = LogSender(), utcnow()
    _ask(app, person.phone, outbox, now=now)
    late = now + timedelta(seconds=app.config["SMS_CODE_SECONDS"])
    with pytest.raises(Invalid):
        codes.sign_in_with_code(person.phone, _code(outbox), address=ADDRESS, config=app.config, now=late)
    _ask(app, person.phone, outbox, now=late + timedelta(seconds=1))
    assert codes.sign_in_with_code(person.phone, _code(outbox), address=ADDRESS, config=app.config,
                                   now=late + timedelta(seconds=app.config["SMS_CODE_SECONDS"] - 1)).id == person.id


def test_too_many_wrong_tries_burn_the_code(app, person):
    """After SMS_MAX_ATTEMPTS wrong codes even the right one is refused: guessing six digits does not pay."""
    outbox, now = LogSender(), utcnow()
    _ask(app, person.phone, outbox, now=now)
    right = _code(outbox)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(app.config["SMS_MAX_ATTEMPTS"]):
        with pytest.raises(Invalid):
            codes.sign_in_with_code(person.phone, wrong, address=ADDRESS, config=app.config, now=now)
    with pytest.raises(Invalid):
        codes.sign_in_with_code(person.phone, right, address=ADDRESS, config=app.config, now=now)


def test_asking_is_throttled_per_number(app, person):
    """One code a minute per number, and at most SMS_MAX_PER_PHONE within the window."""
    outbox, now = LogSender(), utcnow()
    _ask(app, person.phone, outbox, now=now)
    with pytest.raises(TooManyAttempts, match="seconds"):
        _ask(app, person.phone, outbox, now=now + timedelta(seconds=30))
    step = timedelta(seconds=app.config["SMS_RESEND_SECONDS"])
    for n in range(1, app.config["SMS_MAX_PER_PHONE"]):
        _ask(app, person.phone, outbox, now=now + n * step)
    with pytest.raises(TooManyAttempts):
        _ask(app, person.phone, outbox, now=now + app.config["SMS_MAX_PER_PHONE"] * step)
    assert len(outbox.sent()) == app.config["SMS_MAX_PER_PHONE"]
    _ask(app, person.phone, outbox, now=now + timedelta(seconds=app.config["SMS_WINDOW_SECONDS"] + 1))


def test_asking_is_throttled_per_address(app, app_ctx):
    """One address cannot spray codes over many numbers."""
    outbox, now = LogSender(), utcnow()
    for n in range(app.config["SMS_MAX_PER_ADDRESS"]):
        _ask(app, f"1390000{n:04d}", outbox, now=now)
    with pytest.raises(TooManyAttempts):
        _ask(app, "13911112222", outbox, now=now)
    _ask(app, "13911112222", outbox, now=now, address="198.51.100.1")


def test_an_unknown_number_gets_no_message_and_learns_nothing(app, app_ctx):
    """Asking for a number with no account looks the same, sends nothing, and still counts for throttling."""
    outbox, now = LogSender(), utcnow()
    assert _ask(app, "13955556666", outbox, now=now) is None
    assert outbox.sent() == []
    with pytest.raises(TooManyAttempts):
        _ask(app, "13955556666", outbox, now=now + timedelta(seconds=1))
    with pytest.raises(Invalid):
        codes.sign_in_with_code("13955556666", "123456", address=ADDRESS, config=app.config, now=now)


def test_a_reset_code_sets_a_new_password_and_ends_other_sessions(app, person):
    """A reset code sets the new password and bumps the session version; a sign-in code cannot reset."""
    outbox, now = LogSender(), utcnow()
    _ask(app, person.phone, outbox, now=now)
    with pytest.raises(Invalid):
        codes.reset_password_with_code(person.phone, _code(outbox), "new-secret-9", address=ADDRESS,
                                       config=app.config, now=now)
    version = person.auth_version
    _ask(app, person.phone, outbox, now=now + timedelta(minutes=2), purpose="reset")
    with pytest.raises(Invalid, match="at least"):
        codes.reset_password_with_code(person.phone, _code(outbox), "short", address=ADDRESS, config=app.config,
                                       now=now + timedelta(minutes=3))
    codes.reset_password_with_code(person.phone, _code(outbox), "new-secret-9", address=ADDRESS,
                                   config=app.config, now=now + timedelta(minutes=3))
    assert person.check_password("new-secret-9") and person.auth_version > version


class _Provider(BaseHTTPRequestHandler):
    received = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_http_backend_posts_to_the_provider_and_reports_failure(app):
    """SMS_BACKEND=http posts the number and text with the token to a real HTTP endpoint; a 5xx is SmsNotSent."""
    server = HTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/send"
        sender = sender_for({"SMS_BACKEND": "http", "SMS_HTTP_URL": url, "SMS_HTTP_TOKEN": "t0k",
                             "SMS_HTTP_TIMEOUT": 5})
        assert isinstance(sender, HttpSender)
        sender.send("13912340000", "您的验证码是 123456")
        assert _Provider.received[-1] == ("Bearer t0k", {"phone": "13912340000", "text": "您的验证码是 123456"})
        _Provider.status = 500
        with pytest.raises(SmsNotSent):
            sender.send("13912340000", "x")
    finally:
        _Provider.status = 200
        server.shutdown()
    with pytest.raises(SmsNotSent):
        HttpSender("http://127.0.0.1:9/nothing", timeout=1).send("13912340000", "x")


def _code_on_the_demo_page(client):
    """The code in the latest text message on the demo page (the message's own words, not any six digits on
    the page: a hashed static file name can hold six digits in a row)."""
    return re.search(r"验证码是 (\d{6})", client.get("/dev/sms").get_data(as_text=True)).group(1)  # newest first


def test_sign_in_with_a_code_through_the_pages(app, client, world):
    """Ask for a code, read it on the demo page, type it: signed in. The demo page is off when configured so."""
    response = client.post("/login/code/send", data={"phone": world.resident.phone})
    assert response.status_code == 302
    code = _code_on_the_demo_page(client)
    wrong = client.post("/login/code",
                        data={"phone": world.resident.phone, "code": "999999" if code != "999999" else "888888"})
    assert wrong.status_code == 422 and "验证码不对或已过期" in wrong.get_data(as_text=True)
    response = client.post("/login/code", data={"phone": world.resident.phone, "code": code})
    assert response.status_code == 302
    assert "刘阿姨" in client.get("/").get_data(as_text=True)
    app.config["SMS_SHOW_CODES"] = False
    try:
        assert client.get("/dev/sms").status_code == 404
    finally:
        app.config["SMS_SHOW_CODES"] = True


def test_forgot_password_through_the_pages(app, client, world):
    """Forgot the password: a reset code and a new password sign the person in; the old password stops working."""
    client.post("/password/reset/send", data={"phone": world.resident.phone})
    code = _code_on_the_demo_page(client)
    response = client.post("/password/reset", data={"phone": world.resident.phone, "code": code,
                                                    "password": "brand-new-pw", "confirm": "brand-new-pw"})
    assert response.status_code == 302
    client.post("/logout")
    assert client.post("/login", data={"phone": world.resident.phone, "password": "correct-horse-1"}).status_code != 302
    assert client.post("/login", data={"phone": world.resident.phone, "password": "brand-new-pw"}).status_code == 302


def test_production_refuses_to_show_codes(app):
    """A production server never shows sign-in codes on a page, and needs a provider URL for the http backend."""
    class Prod:
        config = {**app.config, "SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": "postgresql://db/civic",
                  "SMS_SHOW_CODES": True, "SMS_BACKEND": "http", "SMS_HTTP_URL": ""}
        debug = False
    with pytest.raises(RuntimeError, match="SMS_SHOW_CODES.*|SMS_HTTP_URL"):
        check_production(Prod)


def test_a_code_for_another_number_does_not_work(app, person):
    """A code is bound to the number it was sent to."""
    other = factories.make_user(phone="13912349999")
    outbox, now = LogSender(), utcnow()
    _ask(app, person.phone, outbox, now=now)
    with pytest.raises(Invalid):
        codes.sign_in_with_code(other.phone, _code(outbox), address=ADDRESS, config=app.config, now=now)
    assert db.session.scalar(select(User.last_login_at).where(User.id == other.id)) is None
