"""Merit claims over HTTP: the API (idempotent replays, rules, photos, notice board) and the pages
(photo validation through the claim form, review, objections, rules editor, acting for a resident)."""
import io
from datetime import timedelta

from PIL import Image
from sqlalchemy import func, select

from civic.extensions import db
from civic.ledger import service as ledger
from civic.merit import service
from civic.merit.models import Claim, MeritObjection, MeritRule


def _jpeg(exif=None, fmt="JPEG"):
    out = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    Image.new("RGB", (40, 30), (10, 120, 40)).save(out, fmt, **kwargs)
    return out.getvalue()


def _count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def _on_notice(app, world, rule_id):
    with app.app_context():
        claim = service.submit_claim(world.resident, world.a.id, rule_id, description="打扫楼道")
        service.approve_claim(world.committee, world.a.id, claim.id)
        db.session.commit()
        return claim.id


# --- API -----------------------------------------------------------------------------------------

def test_api_claim_replay_returns_the_first_claim(api_token, app, client, world, rules):
    """A retried POST with the same Idempotency-Key makes one claim; other content under the key is a 409."""
    headers = {**api_token(world.resident), "Idempotency-Key": "claim-123"}
    url = f"/api/v1/communities/{world.a.id}/merit/claims"
    body = {"rule_id": rules.range, "description": "清扫了三号楼前的路"}
    first = client.post(url, json=body, headers=headers)
    assert first.status_code == 201 and first.json["status"] == "pending"
    again = client.post(url, json=body, headers=headers)
    assert again.status_code == 201 and again.json == first.json
    other = client.post(url, json={**body, "description": "另一件事"}, headers=headers)
    assert other.status_code == 409 and other.json["reason"] == "idempotency_conflict"
    # The key may also travel in the body.
    plain = api_token(world.resident)
    by_field = client.post(url, json={**body, "idempotency_key": "field-1"}, headers=plain)
    again = client.post(url, json={**body, "idempotency_key": "field-1"}, headers=plain)
    assert again.json["id"] == by_field.json["id"]
    assert _count(app, Claim) == 2
    mine = client.get(url, headers=plain).json
    assert [c["id"] for c in mine] == [by_field.json["id"], first.json["id"]]


def test_api_approval_objection_and_decision_replays(api_token, app, client, world, rules):
    """Approvals, objections and decisions replay their first answer under the same key; 409 for other content."""
    with app.app_context():
        claim_id = service.submit_claim(world.resident, world.a.id, rules.range, description="清扫街道").id
        db.session.commit()
    committee = {**api_token(), "Idempotency-Key": "approve-1"}
    url = f"/api/v1/communities/{world.a.id}/merit/claims/{claim_id}/approval"
    first = client.post(url, json={"approve": True, "points": 6}, headers=committee)
    assert first.status_code == 200 and first.json["status"] == "notice" and first.json["points"] == 6
    assert client.post(url, json={"approve": True, "points": 6}, headers=committee).json == first.json
    assert client.post(url, json={"approve": False, "reason": "不对"}, headers=committee).status_code == 409
    no_key = client.post(url, json={"approve": True, "points": 6}, headers=api_token())
    assert no_key.status_code == 409 and no_key.json["reason"] == "conflict"  # without a key it is simply decided
    out_of_range = client.post(f"/api/v1/communities/{world.a.id}/merit/claims/{claim_id}/approval",
                               json={"approve": True, "points": "six"}, headers=api_token())
    assert out_of_range.status_code == 422

    neighbour = {**api_token(world.resident2), "Idempotency-Key": "object-1"}
    url = f"/api/v1/communities/{world.a.id}/merit/claims/{claim_id}/objections"
    objection = client.post(url, json={"reason": "那天在下雨，没人扫"}, headers=neighbour)
    assert objection.status_code == 201 and objection.json["status"] == "open"
    assert client.post(url, json={"reason": "那天在下雨，没人扫"}, headers=neighbour).json == objection.json
    twice = client.post(url, json={"reason": "再反对一次"}, headers=api_token(world.resident2))
    assert twice.status_code == 409 and twice.json["reason"] == "already_objected"
    assert _count(app, MeritObjection) == 1

    decide = {**api_token(world.committee2), "Idempotency-Key": "decide-1"}
    url = f"/api/v1/communities/{world.a.id}/merit/objections/{objection.json['id']}/decision"
    decided = client.post(url, json={"uphold": False, "note": "有照片为证"}, headers=decide)
    assert decided.status_code == 200 and decided.json["status"] == "dismissed"
    assert client.post(url, json={"uphold": False, "note": "有照片为证"}, headers=decide).json == decided.json
    board = client.get(f"/api/v1/communities/{world.a.id}/merit/notice", headers=api_token(world.resident2))
    assert [c["id"] for c in board.json["on_notice"]] == [claim_id] and board.json["my_objections"] == [claim_id]
    assert "photos" not in board.json["on_notice"][0]


def test_api_rules_and_settings(api_token, client, world, rules):
    """Residents read the catalogue; only the committee writes it; bad input is a 422 naming the field."""
    resident = api_token(world.resident)
    base = f"/api/v1/communities/{world.a.id}/merit"
    catalogue = client.get(f"{base}/rules", headers=resident).json
    assert [c["code"] for c in catalogue][:5] == ["moral", "poverty", "filial", "labour", "environment"]
    assert catalogue[0]["name"] == "道德品行"
    assert sum(len(c["rules"]) for c in catalogue) == 6
    new = {"category_id": catalogue[0]["id"], "name": "拾金不昧", "points_min": 5, "points_max": 20}
    assert client.post(f"{base}/rules", json=new, headers=resident).status_code == 403
    committee = api_token()
    assert client.post(f"{base}/rules", json={**new, "points_min": 0}, headers=committee).status_code == 422
    assert client.post(f"{base}/rules", json={**new, "points_max": 2}, headers=committee).status_code == 422
    created = client.post(f"{base}/rules", json=new, headers=committee)
    assert created.status_code == 201 and created.json["points_max"] == 20
    changed = client.put(f"{base}/rules/{created.json['id']}", json={**new, "active": False}, headers=committee)
    assert changed.status_code == 200 and changed.json["active"] is False
    assert client.get(f"{base}/settings", headers=resident).json == {"notice_days": 3, "second_approval_above": 20}
    assert client.put(f"{base}/settings", json={"notice_days": 5, "second_approval_above": 40},
                      headers=resident).status_code == 403
    assert client.put(f"{base}/settings", json={"notice_days": 0, "second_approval_above": 40},
                      headers=committee).status_code == 422
    assert client.put(f"{base}/settings", json={"notice_days": 5, "second_approval_above": 40},
                      headers=committee).json["notice_days"] == 5
    spec = client.get("/api/openapi.json").json
    assert "/api/v1/communities/{community_id}/merit/claims" in spec["paths"]


def test_api_photo_upload_then_claim(api_token, app, client, world, rules):
    """A photo uploaded through the API (re-encoded) is attached to a claim for an item that needs one."""
    resident = api_token(world.resident)
    base = f"/api/v1/communities/{world.a.id}/merit"
    bad = client.post(f"{base}/photos", data={"photo": (io.BytesIO(b"GIF89a" + b"\0" * 50), "x.gif")},
                      headers=resident, content_type="multipart/form-data")
    assert bad.status_code == 422 and bad.is_json
    missing = client.post(f"{base}/photos", data={}, headers=resident, content_type="multipart/form-data")
    assert missing.status_code == 422
    up = client.post(f"{base}/photos", data={"photo": (io.BytesIO(_jpeg()), "tree.jpg")}, headers=resident,
                     content_type="multipart/form-data")
    assert up.status_code == 201 and up.json["name"].endswith(".jpg")
    no_photo = client.post(f"{base}/claims", json={"rule_id": rules.photo, "description": "种了两棵树"},
                           headers=resident)
    assert no_photo.status_code == 422
    claim = client.post(f"{base}/claims", json={"rule_id": rules.photo, "description": "种了两棵树",
                                                "photos": [up.json["name"]]}, headers=resident)
    assert claim.status_code == 201 and claim.json["photos"] == [up.json["url"]]
    assert client.get(up.json["url"], headers=resident).status_code == 200


# --- pages ---------------------------------------------------------------------------------------

def test_claim_form_validates_photos(app, client, auth, world, rules):
    """The claim form refuses a GIF, a fake image and a fourth photo with a clear message, and stores a
    real JPEG re-encoded without its EXIF."""
    auth.login(phone=world.resident.phone)
    url = f"/c/{world.a.id}/merit/rules/{rules.photo}/claim"
    page = client.get(url)
    assert page.status_code == 200 and "义务植树" in page.get_data(as_text=True)
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    for files, message in (
        ([(io.BytesIO(gif.getvalue()), "a.gif", "image/gif")], "只能上传"),
        ([(io.BytesIO(b"not an image"), "a.jpg", "image/jpeg")], "不是能识别的照片"),
        ([(io.BytesIO(_jpeg()), f"{i}.jpg", "image/jpeg") for i in range(4)], "最多 3 张"),
        ([], "需要至少一张照片"),
    ):
        response = client.post(url, data={"description": "种了两棵树", "photos": files},
                               content_type="multipart/form-data", follow_redirects=True)
        assert message in response.get_data(as_text=True), message
    assert _count(app, Claim) == 0
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (36.0, 40.0, 1.0)}
    response = client.post(url,
                           data={"description": "种了两棵树", "photos": [(io.BytesIO(_jpeg(exif.tobytes())), "t.jpg")]},
                           content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith("/merit/mine")
    with app.app_context():
        from civic.core.uploads import upload_dir

        claim = db.session.scalar(select(Claim))
        assert len(claim.photos) == 1
        with Image.open(f"{upload_dir()}/{claim.photos[0]}") as stored:
            assert not stored.getexif()


def test_claim_form_submitted_twice_makes_one_claim(app, client, auth, world, rules):
    """A double tap sends the same hidden request key: one claim."""
    auth.login(phone=world.resident.phone)
    url = f"/c/{world.a.id}/merit/rules/{rules.fixed}/claim"
    for _ in range(2):
        assert client.post(url, data={"description": "陪王奶奶看病", "request_key": "tap-1"}).status_code == 302
    assert _count(app, Claim) == 1
    mine = client.get(f"/c/{world.a.id}/merit/mine").get_data(as_text=True)
    assert "扶老助残" in mine and "等待审核" in mine


def test_pages_render_for_residents_and_committee(app, client, auth, world, rules):
    """Every merit page opens for the people it is meant for, and stays closed to others."""
    claim_id = _on_notice(app, world, rules.fixed)
    auth.login(phone=world.resident2.phone)
    base = f"/c/{world.a.id}/merit"
    for path in ("/", "/mine", "/notice", f"/claims/{claim_id}", f"/claims/{claim_id}/object",
                 f"/rules/{rules.range}/claim"):
        assert client.get(base + path).status_code == 200, path
    for path in ("/review", "/manage", "/record", "/manage/rules/new"):
        assert client.get(base + path).status_code == 403, path
    assert client.get(f"{base}/rules/{rules.deduction}/claim").status_code == 404
    notice = client.get(base + "/notice").get_data(as_text=True)
    assert "刘阿姨" in notice and "扶老助残" in notice and "提出异议" in notice
    auth.logout()
    auth.login()
    for path in ("/review", "/manage", "/record", "/manage/rules/new", f"/manage/rules/{rules.capped}",
                 f"/claims/{claim_id}"):
        assert client.get(base + path).status_code == 200, path


def test_private_claims_stay_private(app, client, auth, world, rules):
    """A pending claim is seen by its resident and the committee, not by neighbours."""
    with app.app_context():
        claim_id = service.submit_claim(world.resident, world.a.id, rules.fixed, description="陪老人聊天").id
        db.session.commit()
    auth.login(phone=world.resident2.phone)
    assert client.get(f"/c/{world.a.id}/merit/claims/{claim_id}").status_code == 404
    auth.logout()
    auth.login(phone=world.resident.phone)
    assert client.get(f"/c/{world.a.id}/merit/claims/{claim_id}").status_code == 200


def test_review_and_objection_pages(app, client, auth, world, rules):
    """The committee approves with points and rejects with a reason; a neighbour objects; the committee dismisses."""
    with app.app_context():
        a = service.submit_claim(world.resident, world.a.id, rules.range, description="扫了街").id
        b = service.submit_claim(world.resident, world.a.id, rules.fixed, description="帮了忙").id
        db.session.commit()
    auth.login()
    page = client.get(f"/c/{world.a.id}/merit/review").get_data(as_text=True)
    assert "扫了街" in page and "帮了忙" in page
    bad = client.post(f"/c/{world.a.id}/merit/claims/{a}/approve", data={"points": "11"}, follow_redirects=True)
    assert "积分" in bad.get_data(as_text=True)
    assert client.post(f"/c/{world.a.id}/merit/claims/{a}/approve", data={"points": "8"}).status_code == 302
    assert client.post(f"/c/{world.a.id}/merit/claims/{b}/reject", data={"reason": "重复申报"}).status_code == 302
    auth.logout()
    auth.login(phone=world.resident2.phone)
    assert client.post(f"/c/{world.a.id}/merit/claims/{a}/object", data={"reason": ""}).status_code == 422
    assert client.post(f"/c/{world.a.id}/merit/claims/{a}/object", data={"reason": "没见他扫"}).status_code == 302
    again = client.post(f"/c/{world.a.id}/merit/claims/{a}/object", data={"reason": "再说一次"}, follow_redirects=True)
    assert "您已经对这一项提出过异议" in again.get_data(as_text=True)
    auth.logout()
    auth.login()
    with app.app_context():
        objection_id = db.session.scalar(select(MeritObjection.id))
    assert client.post(f"/c/{world.a.id}/merit/objections/{objection_id}/decide",
                       data={"decision": "dismiss", "note": "邻居作证"}).status_code == 302
    with app.app_context():
        claims = {c.id: c for c in db.session.scalars(select(Claim))}
        assert (claims[a].status, claims[a].points) == ("notice", 8)
        assert (claims[b].status, claims[b].reject_reason) == ("rejected", "重复申报")


def test_rules_editor_and_settings_pages(app, client, auth, world, rules):
    """The committee adds an item, renames a category, adds one and changes the settings through the pages."""
    auth.login()
    base = f"/c/{world.a.id}/merit"
    with app.app_context():
        cats = service.categories(world.a.id)
        db.session.commit()
        moral = cats[0].id
    bad = client.post(f"{base}/manage/rules/new", data={"kind": "award", "category_id": moral, "name": "拾金不昧",
                                                       "points_min": "5", "points_max": "3", "cap_period": "none"})
    assert bad.status_code == 422
    ok = client.post(f"{base}/manage/rules/new", data={
        "kind": "award", "category_id": moral, "name": "拾金不昧", "points_min": "5", "points_max": "20",
        "cap_period": "year", "cap_times": "3", "active": "y"})
    assert ok.status_code == 302
    assert client.post(f"{base}/manage/categories",
                       data={"category_id": str(moral), "name": "文明新风"}).status_code == 302
    assert client.post(f"{base}/manage/categories", data={"name": "移风易俗"}).status_code == 302
    assert client.post(f"{base}/manage", data={"notice_days": "7", "second_approval_above": "50"}).status_code == 302
    assert client.post(f"{base}/manage", data={"notice_days": "99", "second_approval_above": "50"}).status_code == 422
    page = client.get(f"{base}/manage").get_data(as_text=True)
    assert "拾金不昧" in page and "文明新风" in page and "移风易俗" in page
    with app.app_context():
        rule = db.session.scalar(select(MeritRule).where(MeritRule.name == "拾金不昧"))
        assert (rule.points_min, rule.points_max, rule.cap_period, rule.cap_times) == (5, 20, "year", 3)
        assert service.settings_for(world.a.id).notice_days == 7


def test_recording_for_a_managed_resident_by_acting_for(app, client, auth, world, rules):
    """A committee member acting for a resident without a phone claims for them; another member approves;
    a grid leader records a deduction through the record page."""
    from civic.accounts.service import create_managed_resident

    with app.app_context():
        grandma = create_managed_resident(db.session.merge(world.committee), world.a.id, "孙奶奶").id
        db.session.commit()
    auth.login()
    assert client.post(f"/act-for/{grandma}").status_code == 302
    assert client.post(f"/c/{world.a.id}/merit/rules/{rules.fixed}/claim",
                       data={"description": "给邻居包饺子"}).status_code == 302
    with app.app_context():
        claim = db.session.scalar(select(Claim))
        assert (claim.resident_id, claim.created_by_id) == (grandma, world.committee.id)
        claim_id = claim.id
    client.post("/act-for/stop")
    refused = client.post(f"/c/{world.a.id}/merit/claims/{claim_id}/approve", data={}, follow_redirects=True)
    assert "不能审核" in refused.get_data(as_text=True)
    auth.logout()
    auth.login(phone=world.committee2.phone)
    assert client.post(f"/c/{world.a.id}/merit/claims/{claim_id}/approve", data={}).status_code == 302
    auth.logout()
    auth.login(phone=world.coordinator.phone)
    page = client.get(f"/c/{world.a.id}/merit/record").get_data(as_text=True)
    assert "孙奶奶" in page and "乱扔垃圾" in page
    assert client.post(f"/c/{world.a.id}/merit/record", data={
        "resident_id": str(world.resident.id), "rule_id": str(rules.deduction), "description": "河边扔垃圾"},
    ).status_code == 302
    with app.app_context():
        deduction = db.session.scalar(select(Claim).where(Claim.kind == "deduction"))
        assert (deduction.resident_id, deduction.created_by_id) == (world.resident.id, world.coordinator.id)
        ends = db.session.get(Claim, claim_id).notice_ends_at
        service.close_notices(now=ends + timedelta(seconds=1))
        db.session.commit()
        assert ledger.balance_of(world.a.id, grandma) == 5
