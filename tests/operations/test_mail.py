"""E-mail against a real SMTP server on loopback (aiosmtpd): addresses are added and confirmed, notifications
go out with Date, Message-ID and a SITE_URL link, the old backlog is not flooded, STARTTLS works,
and `send-test-mail` proves the settings."""
import email
import re
import ssl
import subprocess
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from civic.accounts.models import User
from civic.core.clock import utcnow
from civic.extensions import db
from civic.notifications.service import deliver_email, notify
from tests.operations.proxy import free_port


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(app):
    """A real SMTP server on 127.0.0.1, and the app's MAIL_* settings pointed at it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    saved = {k: app.config.get(k) for k in ("MAIL_SERVER", "MAIL_PORT", "SITE_URL", "MAIL_USE_TLS", "MAIL_CA_FILE")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, SITE_URL="https://civic.example.org")
    try:
        yield inbox
    finally:
        app.config.update(saved)
        controller.stop()


def _body(msg):
    return msg.get_payload(decode=True).decode()


def test_resident_adds_and_confirms_an_email_then_gets_notifications(app, client, auth, world, smtp):
    """The page sends a confirmation link; the button confirms it; from then on new notifications are
    e-mailed with Date, Message-ID and a link on SITE_URL — older ones are not."""
    with app.app_context():
        notify(world.resident.id, "test", "An old message")
        db.session.commit()
    auth.login(phone=world.resident.phone)
    response = client.post("/me/email", data={"email": "liu@example.org"})
    assert response.status_code == 302
    assert len(smtp.messages) == 1
    link = re.search(r"https://civic\.example\.org(/me/email/verify\?t=\S+)", _body(smtp.messages[0])).group(1)
    assert client.get(link).status_code == 200
    assert client.post(link).status_code == 302
    with app.app_context():
        user = db.session.get(User, world.resident.id)
        assert user.email == "liu@example.org" and user.email_verified_at is not None
        assert deliver_email(app.config) == 0  # the message from before the address was confirmed stays in the inbox
        notify(user, "test", "Your claim was approved", link="/notifications")
        db.session.commit()
        assert deliver_email(app.config) == 1
        db.session.commit()
    sent = smtp.messages[-1]
    assert sent["Date"] and re.match(r"<.+@.+>", sent["Message-ID"])
    assert sent["To"] == "liu@example.org"
    assert "https://civic.example.org/notifications" in _body(sent)


def test_no_flood_when_mail_is_first_configured(app, world, smtp):
    """Notifications older than MAIL_MAX_AGE_HOURS are never mailed, even for a confirmed address."""
    now = utcnow()
    with app.app_context():
        user = db.session.get(User, world.resident.id)
        user.email, user.email_verified_at = "liu@example.org", now - timedelta(days=30)
        for day in range(1, 20):
            notify(user, "test", "Old news", now=now - timedelta(days=day))
        notify(user, "test", "Fresh news", now=now - timedelta(minutes=5))
        db.session.commit()
        assert deliver_email(app.config, now=now) == 1
        db.session.commit()
    assert [m["Subject"] for m in smtp.messages] == ["Fresh news"]


def test_email_api_sets_and_verifies(app, client, world, smtp, api_token):
    """PUT /api/v1/me/email sends the link; POST /api/v1/me/email/verify with its token confirms it."""
    headers = api_token(world.resident)
    response = client.put("/api/v1/me/email", json={"email": "not-an-address"}, headers=headers)
    assert response.status_code == 422
    response = client.put("/api/v1/me/email", json={"email": "liu@example.org"}, headers=headers)
    assert response.status_code == 202 and response.json == {"email": "liu@example.org", "verified": False}
    secret = re.search(r"verify\?t=(\S+)", _body(smtp.messages[-1])).group(1)
    assert client.post("/api/v1/me/email/verify", json={"token": secret + "x"}).status_code == 422
    assert client.post("/api/v1/me/email/verify", json={"token": secret}).json["verified"] is True
    assert client.get("/api/v1/me/email", headers=headers).json["verified"] is True


def test_send_test_mail_with_starttls(app, runner, tmp_path):
    """`send-test-mail ADDRESS` sends over STARTTLS to a server with a certificate the settings trust."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True)
    controller.start()
    saved = {k: app.config.get(k) for k in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_CA_FILE")}
    try:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, MAIL_USE_TLS=False)
        refused = runner.invoke(args=["send-test-mail", "ops@example.org"])
        assert refused.exit_code == 1 and not inbox.messages  # the server demands STARTTLS
        app.config.update(MAIL_USE_TLS=True, MAIL_CA_FILE=str(cert))
        result = runner.invoke(args=["send-test-mail", "ops@example.org"])
        assert result.exit_code == 0, result.output
    finally:
        app.config.update(saved)
        controller.stop()
    assert len(inbox.messages) == 1 and inbox.messages[0]["To"] == "ops@example.org"
    assert inbox.messages[0]["Date"] and inbox.messages[0]["Message-ID"]


def test_send_test_mail_without_settings(app, runner):
    """Without MAIL_SERVER the command says what to set."""
    result = runner.invoke(args=["send-test-mail", "ops@example.org"])
    assert result.exit_code == 1 and "MAIL_SERVER" in result.output
