"""Backups restore whole: a new database AND a new uploads folder, with the kept SECRET_KEY, give back
working vouchers, check-in cards and photos; the scripts check before they touch anything."""
import io
import os
import time

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from civic import create_app
from civic.accounts.models import User
from civic.config import TestingConfig
from civic.core.errors import DomainError
from civic.extensions import db
from tests.privacy.test_backup import _counts, _run, fresh_database  # noqa: F401 - a fixture

pytestmark = pytest.mark.postgres


def _phone(phone):
    return db.session.scalar(select(User).where(User.phone == phone))


def _jpeg():
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def test_restore_into_a_new_database_and_uploads_folder(app, fresh_database, tmp_path):  # noqa: F811 - the fixture imported above
    """After backup.sh and restore.sh into new places, with the same SECRET_KEY: the voucher QR is accepted
    at the counter, the printed check-in card is read, and the photo is served. With another key the
    voucher is refused (why the docs say to keep SECRET_KEY)."""
    from civic.core.uploads import save_photo
    from civic.deliberation import service as delib
    from civic.demo import seed_demo
    from civic.ledger import service as ledger
    from civic.shop import service as shop
    from civic.shop.models import Item

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    app.config["UPLOADS_DIR"] = str(uploads)
    try:
        with app.test_request_context():
            seed_demo()
            resident, keeper = _phone("13800000005"), _phone("13800000004")
            item = db.session.scalars(select(Item).order_by(Item.id)).first()
            ledger.award(item.community_id, resident.id, item.price, idempotency_key="test:backup", actor=keeper)
            order = shop.place_order(resident, item.community_id, item.id, 1)
            voucher, card = shop.voucher_token(order), delib.person_token(resident)
            photo = save_photo(FileStorage(io.BytesIO(_jpeg()), filename="p.jpg"), uploader=resident,
                               community_id=item.community_id)
            community_id, shop_id, order_id, resident_id = item.community_id, item.shop_id, order.id, resident.id
            db.session.commit()
            db.session.remove()
    finally:
        app.config["UPLOADS_DIR"] = TestingConfig.UPLOADS_DIR

    backups = tmp_path / "backups"
    backup = _run(["sh", "scripts/backup.sh", str(backups)], DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                  UPLOADS_DIR=str(uploads))
    assert backup.returncode == 0, backup.stderr
    dump, tarball = backup.stdout.split()
    assert os.stat(dump).st_mode & 0o777 == 0o600 and os.stat(tarball).st_mode & 0o777 == 0o600

    # A non-empty uploads folder is refused before the database is touched.
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "old.jpg").write_bytes(b"x")
    refused = _run(["sh", "scripts/restore.sh", dump, tarball], DATABASE_URL=fresh_database, UPLOADS_DIR=str(busy))
    assert refused.returncode == 1 and "nothing was restored" in refused.stderr
    assert [t for t in _counts(fresh_database)] == []
    # So is a damaged tarball.
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(open(tarball, "rb").read()[:40])
    refused = _run(["sh", "scripts/restore.sh", dump, str(broken)], DATABASE_URL=fresh_database,
                   UPLOADS_DIR=str(tmp_path / "new-uploads"))
    assert refused.returncode == 1 and not (tmp_path / "new-uploads").exists()

    restored_uploads = tmp_path / "new-uploads"
    restore = _run(["sh", "scripts/restore.sh", dump, tarball], DATABASE_URL=fresh_database,
                   UPLOADS_DIR=str(restored_uploads))
    assert restore.returncode == 0, restore.stderr

    class Restored(TestingConfig):
        SQLALCHEMY_DATABASE_URI = fresh_database
        UPLOADS_DIR = str(restored_uploads)

    copy = create_app(Restored)
    with copy.app_context():
        found = shop.find_voucher(_phone("13800000004"), community_id, shop_id, voucher)
        assert found.id == order_id
        assert delib.read_person_token(card) == resident_id
    copy.config["WTF_CSRF_ENABLED"] = False
    client = copy.test_client()
    assert client.post("/login", data={"phone": "13800000005", "password": "civic-demo-1"}).status_code == 302
    served = client.get(f"/uploads/{photo}")
    assert served.status_code == 200 and served.data[:2] == b"\xff\xd8"

    class NewKey(Restored):
        SECRET_KEY = "a-different-secret-key"

    with create_app(NewKey).app_context():
        with pytest.raises(DomainError):
            shop.find_voucher(_phone("13800000004"), community_id, shop_id, voucher)


def test_backup_refuses_a_wrong_uploads_dir_and_prunes_old_backups(app, tmp_path):
    """A mistyped UPLOADS_DIR fails the backup (it used to skip the photos and exit 0); files older than
    BACKUP_KEEP_DAYS are deleted, dumps included (the documented find line never deleted them)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    wrong = _run(["sh", "scripts/backup.sh", str(tmp_path / "b")], DATABASE_URL=url, UPLOADS_DIR=str(tmp_path / "nope"))
    assert wrong.returncode == 1 and "UPLOADS_DIR" in wrong.stderr
    backups = tmp_path / "b"
    backups.mkdir(exist_ok=True)
    old = time.time() - 40 * 86400
    for name in ("civic-20200101T000000Z.dump", "uploads-20200101T000000Z.tar.gz", "notes.txt"):
        (backups / name).write_bytes(b"old")
        os.utime(backups / name, (old, old))
    uploads = tmp_path / "u"
    uploads.mkdir()
    done = _run(["sh", "scripts/backup.sh", str(backups)], DATABASE_URL=url, UPLOADS_DIR=str(uploads))
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in backups.iterdir())
    assert "civic-20200101T000000Z.dump" not in names and "uploads-20200101T000000Z.tar.gz" not in names
    assert "notes.txt" in names and len(names) == 3
