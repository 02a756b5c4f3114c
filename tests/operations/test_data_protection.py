"""What closure and retention remove, as docs/privacy.md says; the community export names its schema."""
import io
import json
import os
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.accounts.models import LoginThrottle, User, UserSession
from civic.core.audit import AuditEntry, record
from civic.core.clock import utcnow
from civic.extensions import db
from civic.notifications.models import Notification
from civic.notifications.service import notify
from civic.patrols.models import Report
from civic.privacy import service
from tests.factories import DEFAULT_PASSWORD


def _report(user, community_id, photo):
    """A problem report with text, a photo and a place (made directly: only its columns matter here)."""
    from civic.patrols.models import ReportCategory

    category = ReportCategory(community_id=community_id, name="不安全")
    db.session.add(category)
    db.session.flush()
    report = Report(community_id=community_id, reporter_id=user.id, category_id=category.id,
                    description="3号楼门口的井盖坏了，我住302", photo=photo, lat=36.66, lon=117.02)
    db.session.add(report)
    db.session.flush()
    return report


@pytest.fixture
def uploads(app, tmp_path):
    """UPLOADS_DIR pointed at an empty folder for the test."""
    from civic.config import TestingConfig

    folder = tmp_path / "uploads"
    folder.mkdir()
    app.config["UPLOADS_DIR"] = str(folder)
    yield folder
    app.config["UPLOADS_DIR"] = TestingConfig.UPLOADS_DIR


def test_closure_removes_what_the_inventory_says(app, world, uploads):
    """Closing removes the report's text, photo file and place, failed sign-ins for the number, audit
    addresses, and the administrator right."""
    photo = "a" * 32 + ".jpg"
    (uploads / photo).write_bytes(b"\xff\xd8")
    with app.app_context():
        user = db.session.get(User, world.resident.id)
        user.is_admin = True
        phone = user.phone
        report = _report(user, world.a.id, photo)
        db.session.add(LoginThrottle(phone=phone, address="198.51.100.7", failures=2, last_failure_at=utcnow()))
        record("account.sign_in", actor=user, subject=user, address="198.51.100.7")
        db.session.commit()
        # another admin, so that demoting is not the question here
        summary = service.close_account(user, DEFAULT_PASSWORD, address="198.51.100.8")
        db.session.commit()
        report = db.session.get(Report, report.id)
        assert (report.description, report.photo, report.lat, report.lon) == ("", None, None, None)
        assert not (uploads / photo).exists()
        assert db.session.scalar(
            select(func.count()).select_from(LoginThrottle).where(LoginThrottle.phone == phone)) == 0
        addresses = db.session.scalars(select(AuditEntry.address).where(
            AuditEntry.subject_id == user.id, AuditEntry.action != "account.closed")).all()
        assert set(addresses) == {None}
        assert db.session.get(User, user.id).is_admin is False
        assert summary["photos_removed"] == 1 and summary["login_failures_removed"] == 1


def test_retention_prunes_failures_addresses_and_old_notifications(app, world):
    """The privacy_retention job removes old failed sign-ins, old audit addresses and old notifications,
    and keeps the recent ones."""
    from civic.worker import run_job

    now = utcnow()
    with app.app_context():
        user = db.session.get(User, world.resident.id)
        db.session.add_all([LoginThrottle(phone="13900000099", address="10.0.0.1", failures=3,
                                          last_failure_at=now - timedelta(days=40),
                                          blocked_until=now - timedelta(days=40)),
                            LoginThrottle(phone="13900000099", address="10.0.0.2", failures=3,
                                          last_failure_at=now - timedelta(days=1)),
                            UserSession(user_id=user.id, key_hash="a" * 64, auth_version=1, method="password",
                                        created_at=now - timedelta(days=200), expires_at=now - timedelta(days=110)),
                            UserSession(user_id=user.id, key_hash="b" * 64, auth_version=1, method="password",
                                        created_at=now - timedelta(days=2), expires_at=now + timedelta(days=88))])
        record("account.sign_in", actor=user, subject=user, address="198.51.100.1", now=now - timedelta(days=200))
        record("account.sign_in", actor=user, subject=user, address="198.51.100.2", now=now - timedelta(days=2))
        old = notify(user, "test", "old", now=now - timedelta(days=800))
        read = notify(user, "test", "read long ago", now=now - timedelta(days=400))
        read.read_at = now - timedelta(days=399)
        fresh = notify(user, "test", "fresh", now=now - timedelta(days=3))
        db.session.commit()
        ids = (old.id, read.id, fresh.id)
    result = run_job(app, "privacy_retention", now=now)
    assert result == {"login_failures": 1, "audit_addresses": 1, "notifications": 2}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginThrottle)) == 1
        assert db.session.scalars(select(UserSession.key_hash)).all() == ["b" * 64]
        assert set(db.session.scalars(
            select(AuditEntry.address).where(AuditEntry.address.is_not(None)))) == {"198.51.100.2"}
        assert [n.id for n in db.session.scalars(select(Notification).where(Notification.id.in_(ids)))] == [ids[2]]


def test_community_export_names_its_schema_and_leaves_nothing_for_an_unknown_id(app, world, runner, tmp_path):
    """The export carries the schema revision; an unknown id leaves no FILE.part behind."""
    with app.app_context():
        out = io.StringIO()
        service.write_community_export(world.a.id, out)
        data = json.loads(out.getvalue())
        (revision,) = db.session.execute(db.text("SELECT version_num FROM alembic_version")).one()
    assert data["schema_revision"] == [revision]
    target = tmp_path / "x.json"
    result = runner.invoke(args=["export-community", "999999", "--out", str(target)])
    assert result.exit_code != 0
    assert not target.exists() and not os.path.exists(str(target) + ".part")


def test_data_download_includes_my_photos(app, client, auth, world, uploads):
    """The ZIP download has data.json and the photos of my reports; the JSON lists them."""
    import zipfile

    photo = "b" * 32 + ".jpg"
    (uploads / photo).write_bytes(b"\xff\xd8photo")
    with app.app_context():
        _report(db.session.get(User, world.resident.id), world.a.id, photo)
        db.session.commit()
    auth.login(phone=world.resident.phone)
    assert "/me/privacy/download.zip" in client.get("/me/privacy").get_data(as_text=True)
    response = client.get("/me/privacy/download.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.read(f"photos/{photo}") == b"\xff\xd8photo"
    assert json.loads(archive.read("data.json"))["photos"] == [photo]
