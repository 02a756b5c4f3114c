"""Upload ownership (issue 10, item 8): a photo belongs to the community it was uploaded in; it is served
to that community's members and its uploader only; a claim cites only its author's own, unused photos;
a person's uploads per day are limited; photos nothing cites are removed after a day."""
import io
import os
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from civic.accounts.models import User
from civic.core import uploads
from civic.core.clock import utcnow
from civic.core.errors import Invalid, TooManyAttempts
from civic.core.uploads import Upload, photo_bytes, save_photo
from civic.extensions import db
from civic.merit.models import Claim
from civic.worker import run_job
from tests import factories
from tests.merit.conftest import make_rules
from tests.sites import second_site


def jpeg():
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def _upload_api(client, headers, community_id):
    response = client.post(f"/api/v1/communities/{community_id}/merit/photos", headers=headers,
                           data={"photo": (io.BytesIO(jpeg()), "tree.jpg")}, content_type="multipart/form-data")
    return response


@pytest.fixture
def photo_rule(app, world):
    """Community A's catalogue; returns the id of the item that needs a photo as evidence."""
    with app.app_context():
        rules = make_rules(world.a.id, db.session.merge(world.committee), db.session.merge(world.committee2))
        db.session.commit()
        db.session.remove()
    return rules.photo


def test_a_photo_is_served_only_to_its_community_and_uploader(app, client, auth, api_token, world):
    """A resident of A uploads a photo (it exists: A's members get it); B's committee and residents, and a
    signed-in person of no community, get 404; the uploader still gets it after leaving nothing behind."""
    up = _upload_api(client, api_token(world.resident), world.a.id)
    assert up.status_code == 201, up.json
    url = up.json["url"]
    for person in (world.resident, world.resident2, world.committee):
        auth.login(phone=person.phone)
        served = client.get(url)
        assert served.status_code == 200 and served.data[:2] == b"\xff\xd8", person.display_name
        assert "private" in served.headers["Cache-Control"] and "public" not in served.headers["Cache-Control"]
        auth.logout()
    for person in (world.b_committee, world.b_resident, world.outsider):
        auth.login(phone=person.phone)
        assert client.get(url).status_code == 404, person.display_name
        auth.logout()
    assert client.get(url).status_code in (302, 401)  # not signed in: to the sign-in page


def test_uploader_sees_own_photo_even_without_membership(app, client, auth, world):
    """The uploader keeps access to their photo (e.g. after their membership ended)."""
    with app.app_context():
        name = save_photo(FileStorage(io.BytesIO(jpeg()), filename="a.jpg"),
                          uploader=db.session.get(User, world.outsider.id), community_id=world.a.id)
        db.session.commit()
    auth.login(phone=world.outsider.phone)
    assert client.get(f"/uploads/{name}").status_code == 200
    auth.logout()
    auth.login(phone=world.b_resident.phone)
    assert client.get(f"/uploads/{name}").status_code == 404


def test_a_photo_without_an_upload_row_or_bytes_is_not_served(app, client, auth, world):
    """A file in the old uploads folder that no upload row owns is served to nobody, and neither is a row
    whose bytes are missing (a file lost before the move into the database)."""
    name, lost = "c" * 32 + ".jpg", "d" * 32 + ".jpg"
    os.makedirs(app.config["UPLOADS_DIR"], exist_ok=True)
    with open(os.path.join(app.config["UPLOADS_DIR"], name), "wb") as f:
        f.write(jpeg())
    with app.app_context():
        factories.make_upload(world.a, world.resident, lost)
        db.session.commit()
    auth.login()
    assert client.get(f"/uploads/{name}").status_code == 404
    assert client.get(f"/uploads/{lost}").status_code == 404


def test_a_claim_cites_only_the_claimants_own_photo_of_that_community(app, client, api_token, world, photo_rule):
    """Evidence that does not exist, that another resident uploaded, that was uploaded in another community,
    or that another claim already cites is refused with 422; the claimant's own fresh photo is accepted."""
    resident, neighbour = api_token(world.resident), api_token(world.resident2)
    base = f"/api/v1/communities/{world.a.id}/merit"
    with app.app_context():  # the resident also belongs to B and uploads a photo there
        factories.make_member(world.b, user=db.session.get(User, world.resident.id))
        db.session.commit()
    theirs = _upload_api(client, neighbour, world.a.id).json["name"]
    elsewhere = _upload_api(client, resident, world.b.id).json["name"]
    mine = _upload_api(client, resident, world.a.id).json["name"]

    def claim(photos):
        return client.post(f"{base}/claims",
                           json={"rule_id": photo_rule, "description": "种了两棵树", "photos": photos},
                           headers=resident)

    for photos in (["d" * 32 + ".jpg"], [theirs], [elsewhere], [mine, theirs]):
        refused = claim(photos)
        assert refused.status_code == 422, (photos, refused.json)
        assert refused.json["message"] == "找不到照片，请重新上传。" or "照片" in refused.json["message"]
    accepted = claim([mine])
    assert accepted.status_code == 201, accepted.json
    again = claim([mine])
    assert again.status_code == 422 and "只能用一次" in again.json["message"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Claim.id))) == 1
        upload = db.session.scalar(select(Upload).where(Upload.name == mine))
        assert (upload.attached_kind, upload.attached_id) == ("claim", accepted.json["id"])
        assert db.session.scalar(select(Upload.attached_at).where(Upload.name == theirs)) is None


def test_daily_upload_quota(app, client, api_token, world):
    """Past UPLOAD_DAILY_LIMIT photos in 24 hours a person gets a clear 429; a day later they may again."""
    headers = api_token(world.resident)
    limit, app.config["UPLOAD_DAILY_LIMIT"] = app.config["UPLOAD_DAILY_LIMIT"], 2
    try:
        assert _upload_api(client, headers, world.a.id).status_code == 201
        assert _upload_api(client, headers, world.a.id).status_code == 201
        third = _upload_api(client, headers, world.a.id)
        assert third.status_code == 429 and "24小时内已上传2张照片" in third.json["message"]
        assert _upload_api(client, api_token(world.resident2), world.a.id).status_code == 201  # per person
        with app.app_context():
            user = db.session.get(User, world.resident.id)
            with pytest.raises(TooManyAttempts):
                save_photo(FileStorage(io.BytesIO(jpeg()), filename="a.jpg"), uploader=user, community_id=world.a.id)
            tomorrow = utcnow() + timedelta(hours=24, minutes=1)
            assert save_photo(FileStorage(io.BytesIO(jpeg()), filename="a.jpg"), uploader=user,
                              community_id=world.a.id, now=tomorrow)
            db.session.rollback()
    finally:
        app.config["UPLOAD_DAILY_LIMIT"] = limit


def test_cleanup_job_removes_uploads_never_attached_after_a_day(app, world):
    """The uploads_cleanup job removes an upload nothing cites once it is a day old (row and bytes), and keeps
    younger ones and attached ones."""
    t0 = utcnow() - timedelta(days=3)
    with app.app_context():
        user = db.session.get(User, world.resident.id)
        stray = save_photo(FileStorage(io.BytesIO(jpeg()), filename="a.jpg"), uploader=user,
                           community_id=world.a.id, now=t0)
        used = save_photo(FileStorage(io.BytesIO(jpeg()), filename="b.jpg"), uploader=user,
                          community_id=world.a.id, now=t0)
        uploads.attach(user, world.a.id, [used], "topic", 1, now=t0)
        db.session.commit()
    assert run_job(app, "uploads_cleanup", now=t0 + timedelta(hours=23)) == {"removed": 0}
    with app.app_context():
        assert photo_bytes(stray)[:2] == b"\xff\xd8"
    assert run_job(app, "uploads_cleanup", now=t0 + timedelta(hours=25)) == {"removed": 1}
    with app.app_context():
        assert photo_bytes(stray) is None and photo_bytes(used)[:2] == b"\xff\xd8"
        assert db.session.scalars(select(Upload.name)).all() == [used]


def test_attach_refuses_what_is_not_mine(app_ctx, world):
    """The service check behind every photo a row cites: same message for missing, foreign and another's."""
    mine = factories.make_upload(world.a, world.resident)
    other_community = factories.make_upload(world.b, world.resident)
    neighbours = factories.make_upload(world.a, world.resident2)
    uploads.check_own(world.resident, world.a.id, [mine])
    for names in (["e" * 32 + ".jpg"], [other_community], [neighbours], [None, 5]):
        with pytest.raises(Invalid):
            uploads.check_own(world.resident, world.a.id, names)


@pytest.fixture
def database_at_0014(app, tmp_path):
    """A new database built by the migrations up to 0014_operations (before uploads were recorded), and an app
    on it; SQLite file or a fresh PostgreSQL database, like the test database."""
    with second_site(app, tmp_path, "0014_operations", "old", UPLOADS_DIR=str(tmp_path / "uploads"),
                     WTF_CSRF_ENABLED=False) as site:
        yield site


def test_migration_backfills_uploads_for_photos_rows_already_cite(database_at_0014):
    """An install from before 0018_uploads whose topics and reports cite photos: after the upgrade every cited
    photo has an upload row (owned by the row's community, by its author, attached) holding the file's bytes
    (0022_upload_data), so its members still see it once the folder is gone and another community's member
    does not."""
    from flask_migrate import upgrade
    from sqlalchemy import text
    from werkzeug.security import generate_password_hash

    site = database_at_0014
    topic_photo, report_photo, fixed_photo = ("1" * 32 + ".jpg"), ("2" * 32 + ".png"), ("3" * 32 + ".jpg")
    os.makedirs(site.config["UPLOADS_DIR"], exist_ok=True)
    for name in (topic_photo, report_photo, fixed_photo):
        with open(os.path.join(site.config["UPLOADS_DIR"], name), "wb") as f:
            f.write(jpeg())
    now, hashed = utcnow(), generate_password_hash("correct-horse-1")
    with site.app_context():
        sql = [
            "INSERT INTO district (id, name) VALUES (1, '历下区')",
            "INSERT INTO street (id, district_id, name) VALUES (1, 1, '泉城路街道')",
            "INSERT INTO community (id, street_id, name, kind, created_at)"
            " VALUES (1, 1, '芙蓉社区', 'community', :now), (2, 1, '曲水亭村', 'village', :now)",
            'INSERT INTO "user" (id, phone, display_name, password_hash, is_admin, is_managed, elder_mode,'
            " auth_version, active, created_at)"
            " VALUES (1, '13900000001', '刘阿姨', :pw, false, false, false, 1, true, :now),"
            " (2, '13900000002', '陈大爷', :pw, false, false, false, 1, true, :now),"
            " (3, '13900000003', '吴师傅', :pw, false, false, false, 1, true, :now)",
            "INSERT INTO membership (id, community_id, user_id, status, address, note, requested_at) VALUES"
            " (1, 1, 1, 'active', '', '', :now), (2, 1, 2, 'active', '', '', :now), (3, 2, 3, 'active', '', '', :now)",
            "INSERT INTO delib_topic (id, community_id, title, description, photos, proposer_id, status,"
            " support_count, decline_reason, created_at)"
            f" VALUES (1, 1, '垃圾点', '', '[\"{topic_photo}\"]', 1, 'proposed', 0, '', :now)",
            "INSERT INTO patrol_report_category (id, community_id, name, sort, active)"
            " VALUES (1, 1, '不安全', 1, true)",
            "INSERT INTO patrol_report (id, community_id, reporter_id, category_id, description, photo, status,"
            " department, resolution_photo, points_awarded, created_at, updated_at)"
            " VALUES (1, 1, 2, 1, '井盖坏了', :report, 'resolved', '', :fixed, 0, :now, :now)",
        ]
        for statement in sql:
            db.session.execute(text(statement),
                               {"now": now, "pw": hashed, "report": report_photo, "fixed": fixed_photo})
        db.session.commit()
        upgrade(revision="heads")
        rows = db.session.execute(select(Upload.name, Upload.community_id, Upload.uploader_id, Upload.attached_kind,
                                         Upload.attached_id, Upload.size).order_by(Upload.name)).all()
        db.session.remove()
    assert [tuple(r) for r in rows] == [
        (topic_photo, 1, 1, "topic", 1, len(jpeg())),
        (report_photo, 1, 2, "report", 1, len(jpeg())),
        (fixed_photo, 1, None, "report", 1, len(jpeg())),
    ]
    # 0022_upload_data moved the files' bytes into the rows: with the folder gone, every web node serves them.
    import shutil

    shutil.rmtree(site.config["UPLOADS_DIR"])
    client = site.test_client()
    client.post("/login", data={"phone": "13900000002", "password": "correct-horse-1"})
    for name in (topic_photo, report_photo, fixed_photo):
        served = client.get(f"/uploads/{name}")
        assert served.status_code == 200 and served.data == jpeg()
    client.post("/logout")
    client.post("/login", data={"phone": "13900000003", "password": "correct-horse-1"})
    assert client.get(f"/uploads/{topic_photo}").status_code == 404
