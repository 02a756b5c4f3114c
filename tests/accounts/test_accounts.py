"""Sign-up, sign-in, throttling, passwords, sessions, CSRF and managed residents."""

import pytest
from sqlalchemy import select

from civic.accounts import service
from civic.accounts.models import User
from civic.core.audit import AuditEntry
from civic.core.errors import Conflict, Invalid
from civic.extensions import db
from tests import factories


def test_sign_up_stores_a_hash_and_signs_in(client, app):
    """Signing up creates an account whose password is hashed, and signs the person in."""
    response = client.post("/signup", data={
        "phone": "139 0000 1234", "display_name": "刘阿姨", "password": "longenough1", "confirm": "longenough1"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.phone == "13900001234"))
        assert user is not None and user.password_hash != "longenough1"
        assert user.check_password("longenough1")
    assert "刘阿姨" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("data, message", [
    ({"phone": "12345", "display_name": "a", "password": "longenough1", "confirm": "longenough1"}, "11 位手机号"),
    ({"phone": "13900001234", "display_name": "a", "password": "short", "confirm": "short"}, "8"),
    ({"phone": "13900001234", "display_name": "a", "password": "longenough1", "confirm": "different1"}, "两次"),
    ({"phone": "13900001234", "display_name": "", "password": "longenough1", "confirm": "longenough1"}, ""),
])
def test_sign_up_rejects_bad_input_clearly(client, app, data, message):
    """Bad sign-up input re-shows the form with a message and creates nothing."""
    response = client.post("/signup", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.phone == "13900001234")) is None


def test_duplicate_phone_is_refused(app_ctx):
    """A mobile number can be registered once."""
    service.sign_up("13900001234", "甲", "longenough1")
    with pytest.raises(Conflict):
        service.sign_up("+86 139-0000-1234", "乙", "longenough1")


def test_weak_passwords_are_refused(app_ctx):
    """Short, trivially repeated or common passwords are refused."""
    for weak in ("1234567", "11111111", "12121212", "12345678", "password"):
        with pytest.raises(Invalid):
            service.sign_up("13900001234", "甲", weak)


def test_sign_in_and_out(client, auth, world):
    """A resident signs in with phone and password and signs out again."""
    response = auth.login()
    assert response.status_code == 302
    assert client.get("/me").status_code == 200
    auth.logout()
    assert client.get("/me").status_code == 302


def test_wrong_password_is_refused_with_a_message(client, auth, world):
    """A wrong password gets a clear message and no session."""
    response = auth.login(password="wrong-password")
    assert response.status_code == 403
    assert "手机号或密码不正确" in response.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client, auth, world):
    """The session cookie cannot be read by scripts and is not sent cross-site."""
    response = auth.login()
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# Throttling per number and address, delays, concurrency: tests/accounts/test_sign_in_security.py


def test_throttled_sign_in_page_says_so(client, auth, world):
    """The sign-in page tells the resident to wait, with status 429."""
    for _ in range(5):
        auth.login(password="wrong-password")
    response = auth.login()
    assert response.status_code == 429
    assert "请等待" in response.get_data(as_text=True)


def test_change_password_signs_out_other_sessions(app, client, auth, world):
    """Changing the password keeps this session and ends every other one."""
    other = app.test_client()
    other.post("/login", data={"phone": factories.DEFAULT_PHONE, "password": factories.DEFAULT_PASSWORD})
    auth.login()
    response = client.post("/me/password", data={
        "current": factories.DEFAULT_PASSWORD, "password": "brand-new-pass", "confirm": "brand-new-pass"})
    assert response.status_code == 302
    assert client.get("/me").status_code == 200
    assert other.get("/me").status_code == 302
    auth.logout()
    assert auth.login(password="brand-new-pass").status_code == 302


def test_change_password_needs_the_current_one(client, auth, world):
    """A wrong current password changes nothing."""
    auth.login()
    response = client.post("/me/password",
                           data={"current": "wrong", "password": "brand-new-pass", "confirm": "brand-new-pass"})
    assert response.status_code == 200
    auth.logout()
    assert auth.login().status_code == 302


def test_forms_need_a_csrf_token(app, client, world):
    """With CSRF on (as in production), a form post without the token is refused."""
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post("/login",
                               data={"phone": factories.DEFAULT_PHONE, "password": factories.DEFAULT_PASSWORD})
        assert response.status_code in (200, 400)
        assert client.get("/me").status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_open_redirect_after_login_is_refused(client, world):
    """?next= only ever leads back into the site."""
    response = client.post("/login?next=//evil.example/x",
                           data={"phone": factories.DEFAULT_PHONE, "password": factories.DEFAULT_PASSWORD})
    assert response.headers["Location"] == "/"


def test_managed_resident_cannot_sign_in_but_committee_acts_for_them(app, client, auth, world):
    """A committee member registers a resident without a phone and acts for them; each action is audited."""
    auth.login()
    response = client.post(f"/c/{world.a.id}/managed", data={"display_name": "孙奶奶", "address": "芙蓉街12号"})
    assert response.status_code == 302
    with app.app_context():
        elder = db.session.scalar(select(User).where(User.display_name == "孙奶奶"))
        assert elder.is_managed and elder.phone is None and not elder.is_active
        elder_id = elder.id
    assert client.post(f"/act-for/{elder_id}").status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "代办" in page and "孙奶奶" in page
    client.post("/language", data={"locale": "zh_CN"})  # an action while acting
    client.post("/act-for/stop")
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == elder_id).order_by(AuditEntry.id)).all()
    assert actions == ["resident.managed_created", "resident.act_for_started", "resident.acted_for",
                       "resident.act_for_stopped"]


def test_only_committee_may_act_for_a_managed_resident(app, client, auth, world):
    """A resident, or another community's committee, cannot act for a managed resident."""
    with app.app_context():
        elder = service.create_managed_resident(db.session.merge(world.committee), world.a.id, "孙奶奶")
        db.session.commit()
        elder_id = elder.id
    auth.login(phone=world.b_committee.phone)
    assert client.post(f"/act-for/{elder_id}").status_code == 403
    auth.logout()
    auth.login(phone=world.resident.phone)
    assert client.post(f"/act-for/{elder_id}").status_code == 403


def test_sign_in_is_audited(app, auth, world):
    """Sign-in and failed sign-in are in the audit log with the address."""
    auth.login(password="bad-password")
    auth.login()
    with app.app_context():
        rows = db.session.execute(select(AuditEntry.action, AuditEntry.address).where(
            AuditEntry.action.like("account.sign_in%")).order_by(AuditEntry.id)).all()
    assert [r.action for r in rows] == ["account.sign_in_failed", "account.sign_in"]
    assert all(r.address for r in rows)
