"""Privacy: GPS point retention keeping patrol summaries, a resident's data download, account closure
with the ledger kept whole, and one community's export."""
import json
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from civic.accounts import service as accounts
from civic.accounts.models import ApiToken, User
from civic.communities.models import MemberRole, Membership
from civic.core.audit import AuditEntry
from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.deliberation import service as deliberation
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.models import Account, Posting
from civic.patrols import review as patrol_review
from civic.patrols import settings as patrol_settings
from civic.patrols import shifts as patrol_shifts
from civic.patrols import tracking
from civic.patrols.models import Patrol, Shift, Signup, TrackPoint
from civic.privacy import service
from civic.privacy.models import PrivacySettings
from civic.shop import service as shop
from civic.shop.models import Order
from civic.worker import run_job
from tests import factories
from tests.patrols.helpers import walk
from tests.shop.conftest import stock_shop

T0 = datetime(2026, 11, 24, 10, 0)  # naive UTC


def _u(user):
    return db.session.merge(user)


def _patrol(world, user=None, *, community=None, now=T0, review=True, seconds=600, prefix="p"):
    """A walked, ended (and by default approved) patrol with its GPS points."""
    community_id = (community or world.a).id
    user = _u(user or world.resident)
    patrol = tracking.start_patrol(user, community_id, now=now)
    points = walk(tracking.unix(now), seconds=seconds, prefix=prefix)
    for i in range(0, len(points), 100):
        tracking.add_points(user, community_id, patrol.id, points[i:i + 100], now=now + timedelta(minutes=10))
    tracking.end_patrol(user, community_id, patrol.id, now=now + timedelta(minutes=11))
    if review:
        reviewer = world.coordinator if community_id == world.a.id else world.b_committee
        patrol_review.review_patrol(_u(reviewer), community_id, patrol.id, approve=True, note="ok",
                                    now=now + timedelta(minutes=20))
    db.session.flush()
    return patrol


def _points(patrol_id):
    return db.session.scalar(select(func.count()).select_from(TrackPoint).where(TrackPoint.patrol_id == patrol_id))


# --- GPS retention ------------------------------------------------------------------------------------

def test_points_are_deleted_after_the_retention_period_and_the_summary_stays(app_ctx, world):
    """After 180 days (the default) the raw points of a reviewed patrol go; distance, time, flags,
    point count and points awarded stay. A second run finds nothing to do; younger and active
    patrols keep every point."""
    old = _patrol(world)
    kept = {k: getattr(old, k) for k in ("distance_m", "moving_seconds", "flags", "point_count", "points_awarded",
                                         "status")}
    assert kept["point_count"] > 100 and kept["distance_m"] > 500 and kept["points_awarded"] > 0
    assert all(old.summary.get(place) for place in service.SUMMARY_PLACES)
    young = _patrol(world, world.resident2, now=T0 + timedelta(days=100), prefix="y")
    active = tracking.start_patrol(_u(world.coordinator), world.a.id, now=T0)
    tracking.add_points(_u(world.coordinator), world.a.id, active.id, walk(tracking.unix(T0), seconds=60, prefix="a"),
                        now=T0)
    db.session.commit()

    assert service.purge_batch(now=T0 + timedelta(days=179)) == (0, 0)
    patrols_done, points_done = service.purge_batch(now=T0 + timedelta(days=181))
    db.session.commit()
    assert (patrols_done, points_done) == (1, kept["point_count"])
    db.session.expire_all()
    old = db.session.get(Patrol, old.id)
    assert _points(old.id) == 0
    assert {k: getattr(old, k) for k in kept} == kept
    assert old.summary["track_deleted_at"].startswith("2027-05") and old.summary["track_points"] == kept["point_count"]
    assert not set(service.SUMMARY_PLACES) & set(old.summary)  # start, end and bounding box go with the points
    assert service.track_deleted(old)
    assert _points(young.id) > 0 and _points(active.id) > 0
    assert service.purge_batch(now=T0 + timedelta(days=181)) == (0, 0)  # idempotent
    assert ledger.verify()["breaches"] == []


def test_each_community_sets_its_own_retention(app_ctx, world):
    """Community A keeps points 30 days, B keeps the default: a 31-day-old patrol loses its points
    only in A. Only the committee may change the setting, within 7–3650 days."""
    with pytest.raises(PermissionDenied):
        service.update_settings(_u(world.resident), world.a.id, gps_retention_days=30, now=T0)
    with pytest.raises(PermissionDenied):
        service.update_settings(_u(world.b_committee), world.a.id, gps_retention_days=30, now=T0)
    for bad in (0, 6, 3651, "abc", None):
        with pytest.raises(Invalid):
            service.update_settings(_u(world.committee), world.a.id, gps_retention_days=bad, now=T0)
    assert service.settings_for(world.a.id).gps_retention_days == 180
    service.update_settings(_u(world.committee), world.a.id, gps_retention_days=30, now=T0)
    in_a = _patrol(world)
    in_b = _patrol(world, world.b_resident, community=world.b, prefix="b")
    db.session.commit()
    assert service.purge_batch(now=T0 + timedelta(days=31))[0] == 1
    assert _points(in_a.id) == 0 and _points(in_b.id) > 0
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy.retention_changed")) is not None


def test_an_unreviewed_patrol_keeps_its_measured_distance_when_reviewed_after_deletion(app_ctx, world):
    """A patrol still waiting for review when its points go is reviewed on its stored summary:
    it is not re-measured to zero, and it earns the same points it would have."""
    patrol = _patrol(world, review=False)
    distance, seconds = patrol.distance_m, patrol.moving_seconds
    expected = patrol_review.points_for(patrol_settings.settings_for(world.a.id), distance, seconds)
    db.session.commit()
    assert service.purge_batch(now=T0 + timedelta(days=200))[0] == 1
    later = T0 + timedelta(days=200, hours=1)
    patrol_review.review_patrol(_u(world.coordinator), world.a.id, patrol.id, approve=True, note="ok", now=later)
    db.session.commit()
    patrol = db.session.get(Patrol, patrol.id)
    assert (patrol.distance_m, patrol.moving_seconds, patrol.points_awarded) == (distance, seconds, expected)
    factories.settle_awards(later)  # the award passes through the public notice first
    assert ledger.balance_of(world.a.id, world.resident.id) == expected


def test_the_scheduled_job_deletes_in_batches(app, world, monkeypatch):
    """The worker's job walks batch by batch (each committed) until no patrol is due."""
    with app.app_context():
        for i in range(5):
            _patrol(world, now=T0 + timedelta(hours=i), seconds=60, prefix=f"j{i}")
        db.session.commit()
        db.session.remove()
    monkeypatch.setattr(service, "PURGE_BATCH", 2)
    batches = []
    purge = service.purge_batch
    monkeypatch.setattr(service, "purge_batch", lambda **kw: batches.append(purge(**kw)) or batches[-1])
    result = run_job(app, "privacy_gps_retention", now=T0 + timedelta(days=365))
    assert [b[0] for b in batches] == [2, 2, 1]
    assert result["patrols"] == 5 and result["points"] > 0
    assert run_job(app, "privacy_gps_retention", now=T0 + timedelta(days=365)) == {"patrols": 0, "points": 0}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrackPoint)) == 0
        assert db.session.scalar(select(func.count()).select_from(Patrol).where(Patrol.distance_m > 0)) == 5


@pytest.mark.postgres
def test_two_workers_purging_at_once_each_take_different_patrols(app, world):
    """Two workers run the retention job at the same moment: every point goes, every patrol is
    counted once between them, and nothing fails."""
    with app.app_context():
        for i in range(12):
            _patrol(world, now=T0 + timedelta(hours=i), seconds=120, prefix=f"w{i}")
        db.session.commit()
        db.session.remove()
    results, barrier = [], threading.Barrier(2)

    def worker():
        barrier.wait()
        results.append(run_job(app, "privacy_gps_retention", now=T0 + timedelta(days=400)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "failed" not in results
    assert sum(r["patrols"] for r in results) == 12
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrackPoint)) == 0
        assert all(p.summary.get("track_deleted_at") for p in db.session.scalars(select(Patrol)))


# --- the data download --------------------------------------------------------------------------------

def _busy_resident(world, now=T0):
    """Community A's resident with points, a held voucher, a patrol, a shift sign-up and a notification."""
    s = stock_shop(world)
    order = shop.place_order(_u(world.resident), world.a.id, s.item.id, now=now)
    patrol = _patrol(world, now=now - timedelta(days=1))
    shift = patrol_shifts.create_shift(_u(world.coordinator), world.a.id, title="晚间巡逻",
                                       starts_at=now + timedelta(days=2),
                                       ends_at=now + timedelta(days=2, hours=2), capacity=3, now=now)
    patrol_shifts.sign_up(_u(world.resident), world.a.id, shift.id, now=now)
    db.session.flush()
    return order, patrol, shift, s


def test_a_resident_downloads_everything_about_them_and_nothing_about_others(app_ctx, world):
    """The download holds the profile (no password hash), memberships, ledger postings and their
    transactions, the order, the patrol with its points, the sign-up, notifications and audit
    entries — and no row of another resident."""
    order, patrol, shift, _ = _busy_resident(world)
    db.session.commit()
    data = service.user_data(_u(world.resident), now=T0)
    assert data["format"] == "civic-user-data/1"
    assert data["profile"]["display_name"] == "刘阿姨" and "password_hash" not in data["profile"]
    tables = data["tables"]
    for name in ("membership", "ledger_account", "ledger_posting", "ledger_transaction", "shop_order", "patrol",
                 "patrol_track_point", "patrol_signup", "notification"):
        assert tables.get(name), name
    assert [o["id"] for o in tables["shop_order"]] == [order.id]
    assert {p["patrol_id"] for p in tables["patrol_track_point"]} == {patrol.id}
    assert len(tables["patrol_track_point"]) == patrol.point_count
    account_ids = {a["id"] for a in tables["ledger_account"]}
    assert account_ids and all(p["account_id"] in account_ids for p in tables["ledger_posting"])
    others = {world.resident2.id, world.committee.id, world.b_resident.id}
    assert not any(r.get("user_id") in others for r in tables["membership"])
    text = service.user_data_json(_u(world.resident), now=T0)
    assert "陈大爷" not in text and json.loads(text)["profile"]["id"] == world.resident.id


def test_download_over_http_and_the_api(client, auth, app, world):
    """我的 links to the privacy page; the download is a JSON attachment; the API gives the same with a token."""
    auth.login(phone=world.resident.phone)
    assert "/me/privacy" in client.get("/me").get_data(as_text=True)
    page = client.get("/me/privacy")
    assert page.status_code == 200
    response = client.get("/me/privacy/download")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.get_json()["profile"]["phone"] == world.resident.phone
    with app.app_context():
        _, secret = accounts.issue_api_token(_u(world.resident), days=1)
        db.session.commit()
    api = client.application.test_client()
    body = api.get("/api/v1/me/data", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert body["profile"]["id"] == world.resident.id and "api_token" in body["tables"]
    assert all("token_hash" not in t for t in body["tables"]["api_token"])
    assert api.get("/api/v1/me/data").status_code == 401


# --- closing an account ------------------------------------------------------------------------------

def test_closing_an_account_refunds_withdraws_anonymises_and_keeps_the_ledger(app_ctx, world):
    """After the password: the held voucher is cancelled with its points back, the shift place is
    given back, memberships left, roles and tokens gone, name/phone/e-mail/password removed, the
    personal QR card refused — and every posting stays on the same account with verify() clean."""
    order, patrol, shift, s = _busy_resident(world)
    resident = _u(world.resident)
    resident.email = "liu@example.com"
    _, secret = accounts.issue_api_token(resident, days=30, now=T0)
    card = deliberation.person_token(resident)
    db.session.commit()
    held_balance = ledger.balance_of(world.a.id, world.resident.id)
    account_id = db.session.scalar(select(Account.id).where(Account.owner_id == world.resident.id))
    postings_before = db.session.scalar(select(func.count()).select_from(Posting).where(
        Posting.account_id == account_id))
    taken_before = db.session.get(Shift, shift.id).taken

    with pytest.raises(Invalid):
        service.close_account(_u(world.resident), "wrong-password", now=T0)
    db.session.rollback()
    summary = service.close_account(_u(world.resident), factories.DEFAULT_PASSWORD, address="127.0.0.1", now=T0)
    db.session.commit()

    assert summary["orders_cancelled"] == 1 and summary["signups_withdrawn"] == 1
    user = db.session.get(User, world.resident.id)
    assert user.display_name == f"已注销居民 #{user.id}"
    assert user.email is None and user.password_hash is None and not user.active and not user.is_active
    assert user.phone != world.resident.phone and not user.check_password(factories.DEFAULT_PASSWORD)
    assert db.session.get(Order, order.id).status == "cancelled"
    assert ledger.balance_of(world.a.id, world.resident.id) == held_balance + order.points
    assert db.session.get(Shift, shift.id).taken == taken_before - 1
    assert db.session.scalar(select(Signup.status).where(Signup.shift_id == shift.id)) == "withdrawn"
    assert set(db.session.scalars(select(Membership.status).where(Membership.user_id == user.id))) == {"left"}
    assert db.session.scalar(select(Membership.address).where(Membership.user_id == user.id)) == ""
    assert db.session.scalar(select(ApiToken.revoked_at).where(ApiToken.user_id == user.id)) == T0
    assert accounts.user_for_token(secret, now=T0) is None
    with pytest.raises(PermissionDenied):
        deliberation.check_in_by_card(_u(world.committee), world.a.id, 1, card, now=T0)
    # The ledger: the same account, every old posting still there (plus the refund), all invariants hold.
    after = db.session.scalar(select(func.count()).select_from(Posting).where(Posting.account_id == account_id))
    assert after == postings_before + 1
    assert db.session.get(Account, account_id).owner_id == user.id
    assert ledger.verify()["breaches"] == []
    # The patrol summary stays under the anonymised name, without its places; the closure is audited.
    closed_patrol = db.session.get(Patrol, patrol.id)
    assert closed_patrol.distance_m > 0 and _points(patrol.id) == 0 and summary["tracks_removed"] == 1
    assert not set(service.SUMMARY_PLACES) & set(closed_patrol.summary) and service.track_deleted(closed_patrol)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.closed"))
    assert entry.subject_id == user.id and entry.detail["orders_cancelled"] == 1
    with pytest.raises(NotFound):
        service.close_account(user, factories.DEFAULT_PASSWORD, now=T0)


def test_the_last_committee_member_cannot_close_their_account(app_ctx, world):
    """While another committee member remains, a committee member may close their account (and loses
    the role); the last one is told to have someone appointed first."""
    with pytest.raises(Conflict) as refused:
        service.close_account(_u(world.b_committee), factories.DEFAULT_PASSWORD, now=T0)
    assert refused.value.reason == "last_committee_member"
    assert service.closure_blockers(_u(world.b_committee)) == ["曲水亭村"]
    db.session.rollback()
    service.close_account(_u(world.committee), factories.DEFAULT_PASSWORD, now=T0)
    db.session.commit()
    assert db.session.scalar(select(MemberRole.id).where(MemberRole.user_id == world.committee.id)) is None
    with pytest.raises(Conflict):
        service.close_account(_u(world.committee2), factories.DEFAULT_PASSWORD, now=T0)


def test_closing_over_http_signs_out_for_good(client, auth, app, world):
    """The form needs the password and the tick; afterwards the session is gone and signing in fails."""
    auth.login(phone=world.resident.phone)
    assert client.post("/me/privacy", data={"password": "nope", "confirm": "y"}).status_code == 422
    assert client.post("/me/privacy", data={"password": factories.DEFAULT_PASSWORD}).status_code == 422
    response = client.post("/me/privacy", data={"password": factories.DEFAULT_PASSWORD, "confirm": "y"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/me").status_code == 302
    page = auth.login(phone=world.resident.phone)
    assert page.status_code != 302
    auth.logout()
    auth.login(phone=world.b_committee.phone)
    blocked = client.get("/me/privacy").get_data(as_text=True)
    assert 'data-testid="close-blocked"' in blocked and 'data-testid="close-account"' not in blocked


def test_closing_through_the_api(client, app, world):
    """POST /api/v1/me/close with the password closes the account; the token stops working."""
    with app.app_context():
        _, secret = accounts.issue_api_token(_u(world.resident2), days=1)
        db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    wrong = client.post("/api/v1/me/close", json={"password": "bad", "confirm": True}, headers=headers)
    assert wrong.status_code == 422 and wrong.get_json()["reason"] == "wrong_password"
    assert client.post("/api/v1/me/close", json={"password": "x"}, headers=headers).status_code == 422
    response = client.post("/api/v1/me/close", json={"password": factories.DEFAULT_PASSWORD, "confirm": True},
                           headers=headers)
    assert response.status_code == 200 and response.get_json()["closed"] is True
    assert client.get("/api/v1/me/data", headers=headers).status_code == 401


# --- the committee's setting page and API -----------------------------------------------------------

def test_retention_setting_page_and_api(client, auth, app, world):
    """The committee sees and saves the retention days; nonsense is refused with a message; a resident
    and another community's committee are refused."""
    auth.login()
    page = client.get(f"/c/{world.a.id}/privacy")
    assert page.status_code == 200 and "180" in page.get_data(as_text=True)
    assert client.post(f"/c/{world.a.id}/privacy", data={"gps_retention_days": "2"}).status_code == 422
    assert client.post(f"/c/{world.a.id}/privacy", data={"gps_retention_days": "90"}).status_code == 302
    with app.app_context():
        assert service.settings_for(world.a.id).gps_retention_days == 90
        _, secret = accounts.issue_api_token(_u(world.committee), days=1)
        _, b_secret = accounts.issue_api_token(_u(world.b_committee), days=1)
        db.session.commit()
    url = f"/api/v1/communities/{world.a.id}/privacy"
    client = app.test_client()  # bearer tokens only, no session cookie
    ok = client.put(url, json={"gps_retention_days": 60}, headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200 and ok.get_json() == {"community_id": world.a.id, "gps_retention_days": 60}
    assert client.put(url, json={"gps_retention_days": 1},
                      headers={"Authorization": f"Bearer {secret}"}).status_code == 422
    assert client.get(url, headers={"Authorization": f"Bearer {b_secret}"}).status_code == 403
    assert client.get(url).status_code == 401
    auth.logout()
    auth.login(phone=world.resident.phone)
    assert auth._client.get(f"/c/{world.a.id}/privacy").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(PrivacySettings.gps_retention_days).where(
            PrivacySettings.community_id == world.a.id)) == 60


# --- one community's export --------------------------------------------------------------------------

def test_export_community_writes_every_community_table_and_only_its_rows(app, runner, world, tmp_path):
    """`flask export-community <id> --out FILE` writes JSON with every table that has community_id,
    each holding only that community's rows; an unknown community is an error."""
    with app.app_context():
        _busy_resident(world)
        _patrol(world, world.b_resident, community=world.b, prefix="b")
        db.session.commit()
        expected = {t.name for t in service.community_tables()}
        a_patrol_points = db.session.scalar(select(func.count()).select_from(TrackPoint).where(
            TrackPoint.community_id == world.a.id))
    out = tmp_path / "a.json"
    result = runner.invoke(args=["export-community", str(world.a.id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["format"] == "civic-community-export/1" and data["community"]["name"] == "芙蓉社区"
    assert set(data["tables"]) == expected and len(expected) >= 30
    assert all(row["community_id"] == world.a.id for rows in data["tables"].values() for row in rows)
    assert len(data["tables"]["patrol_track_point"]) == a_patrol_points
    assert data["tables"]["membership"] and data["tables"]["ledger_posting"] and data["tables"]["shop_order"]
    assert "password_hash" not in out.read_text(encoding="utf-8")
    missing = runner.invoke(args=["export-community", "99999", "--out", str(tmp_path / "x.json")])
    assert missing.exit_code != 0 and "99999" in missing.output
    assert not (tmp_path / "x.json").exists()
