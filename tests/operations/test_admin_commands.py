"""Administrator commands at the server and settings that must be chosen on purpose."""
import subprocess
import sys

import pytest
from sqlalchemy import select

from civic import create_app
from civic.accounts.models import User
from civic.config import BASE_DIR as ROOT_FOR_TESTS
from civic.config import ProductionConfig, env_bool
from civic.extensions import db
from tests.factories import make_user


def _user(phone):
    return db.session.scalar(select(User).where(User.phone == phone))


def test_create_admin_refuses_an_existing_number_without_promote(app, runner):
    """create-admin for a number that has an account changes nothing and says to use --promote."""
    with app.app_context():
        make_user(phone="13911110001", name="老张", password="correct-horse-1")
        db.session.commit()
    result = runner.invoke(args=["create-admin", "--phone", "13911110001", "--name", "别人",
                                 "--password", "another-long-pw"])
    assert result.exit_code == 1
    assert "--promote" in result.output
    with app.app_context():
        user = _user("13911110001")
        assert user.is_admin is False and user.display_name == "老张" and user.check_password("correct-horse-1")


def test_create_admin_promote_says_what_it_did(app, runner):
    """--promote makes the existing account an administrator and says its name and password stay."""
    with app.app_context():
        make_user(phone="13911110002", name="老李", password="correct-horse-1")
        db.session.commit()
    result = runner.invoke(args=["create-admin", "--phone", "13911110002", "--promote"])
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.output
    with app.app_context():
        user = _user("13911110002")
        assert user.is_admin is True and user.check_password("correct-horse-1")


@pytest.mark.parametrize("weak", ["12345678", "87654321", "abcdefgh", "password", "11111111"])
def test_create_admin_enforces_the_password_rules(app, runner, weak):
    """An easily guessed password is refused for a new administrator."""
    result = runner.invoke(args=["create-admin", "--phone", "13911110003", "--name", "管理员", "--password", weak])
    assert result.exit_code == 1
    with app.app_context():
        assert _user("13911110003") is None


def test_reset_password_and_demote_admin(app, runner):
    """reset-password sets a checked password and ends sessions; demote-admin refuses the last administrator."""
    assert runner.invoke(args=["create-admin", "--phone", "13911110004", "--name", "甲",
                               "--password", "first-admin-pw"]).exit_code == 0
    assert runner.invoke(args=["create-admin", "--phone", "13911110005", "--name", "乙",
                               "--password", "second-admin-pw"]).exit_code == 0
    with app.app_context():
        version = _user("13911110004").auth_version
    assert runner.invoke(args=["reset-password", "--phone", "13911110004", "--password", "12345678"]).exit_code == 1
    result = runner.invoke(args=["reset-password", "--phone", "13911110004", "--password", "a-new-long-pw"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = _user("13911110004")
        assert user.check_password("a-new-long-pw") and user.auth_version > version
    assert runner.invoke(args=["reset-password", "--phone", "13900000000",
                               "--password", "a-new-long-pw"]).exit_code == 1
    assert runner.invoke(args=["demote-admin", "--phone", "13911110004"]).exit_code == 0
    result = runner.invoke(args=["demote-admin", "--phone", "13911110005"])
    assert result.exit_code == 1  # the last administrator stays
    with app.app_context():
        assert _user("13911110004").is_admin is False and _user("13911110005").is_admin is True


def test_seed_demo_refuses_production(monkeypatch):
    """seed-demo will not create the demo administrator (published password) under production settings."""
    monkeypatch.setenv("CIVIC_ALLOW_SQLITE", "1")

    class Prod(ProductionConfig):
        SECRET_KEY = "k" * 48
        SITE_URL = "https://civic.example.org"
        SQLALCHEMY_DATABASE_URI = "sqlite:////tmp/civic-ops-seed-refused.db"

    result = create_app(Prod).test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 1 and "production" in result.output


@pytest.mark.parametrize("raw, value", [("1", True), ("true", True), ("YES", True), ("on", True),
                                        ("0", False), ("false", False), ("No", False), ("off", False)])
def test_boolean_settings_accept_the_usual_words(monkeypatch, raw, value):
    """SESSION_COOKIE_SECURE=true turns secure cookies on (it used to turn them off)."""
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env_bool("SOME_FLAG", not value) is value


def test_boolean_settings_refuse_anything_else(monkeypatch):
    """A typo in a yes/no setting stops the start instead of silently meaning 'no'."""
    monkeypatch.setenv("SOME_FLAG", "ture")
    with pytest.raises(RuntimeError, match="SOME_FLAG"):
        env_bool("SOME_FLAG", True)


def test_session_cookie_secure_true_means_secure():
    """The setting as written in an environment file reaches the production config."""
    code = "from civic.config import ProductionConfig as P; print(P.SESSION_COOKIE_SECURE)"
    env = {"SESSION_COOKIE_SECURE": "true", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT_FOR_TESTS, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


def test_production_needs_site_url(monkeypatch):
    """Production refuses to start without SITE_URL (QR codes and e-mail links need the public address)."""
    monkeypatch.setenv("CIVIC_ALLOW_SQLITE", "1")

    class NoSite(ProductionConfig):
        SECRET_KEY = "k" * 48
        SITE_URL = ""

    with pytest.raises(RuntimeError, match="SITE_URL"):
        create_app(NoSite)
