"""Hostile input through the pages and the API, on the demo data: oversized and malformed
uploads, script in every text field that is shown back, SQL-looking input, replayed and
tampered QR tokens, and the security headers on every page."""
import io
import json
import re
import struct
import zlib
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from civic.extensions import db

COMMITTEE, COORDINATOR, KEEPER, RESIDENT, NEIGHBOUR, B_COMMITTEE = (
    "13800000001", "13800000003", "13800000004", "13800000005", "13800000006", "13800000011")
PASSWORD = "civic-demo-1"
SCRIPT = '<script>alert("xss")</script>'
SCRIPT_ESCAPED = "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;"
SQL_INPUTS = ["' OR 1=1 --", '"; DROP TABLE user; --']


# --- helpers -----------------------------------------------------------------------------------

class Demo:
    """Ids from the seeded demo data, and bearer tokens for its people."""


@pytest.fixture
def demo(app):
    from civic.accounts.models import User
    from civic.accounts.service import issue_api_token
    from civic.communities.models import Community
    from civic.deliberation.models import Meeting
    from civic.demo import seed_demo
    from civic.shop.models import Shop

    d = Demo()
    with app.app_context():
        seed_demo()
        d.a, d.b = db.session.scalars(select(Community.id).order_by(Community.id)).all()[:2]
        d.shop = db.session.scalar(select(Shop.id).where(Shop.community_id == d.a))
        d.meeting = db.session.scalar(select(Meeting.id).where(Meeting.community_id == d.a))
        d.users = {u.phone: u.id for u in db.session.scalars(select(User).where(User.phone.is_not(None)))}
        d.tokens = {}
        for phone in (COMMITTEE, COORDINATOR, KEEPER, RESIDENT, NEIGHBOUR, B_COMMITTEE):
            user = db.session.get(User, d.users[phone])
            d.tokens[phone] = issue_api_token(user, days=1, name="test")[1]
        db.session.commit()
        db.session.remove()
    return d


def bearer(demo, phone):
    return {"Authorization": f"Bearer {demo.tokens[phone]}"}


def login(client, phone):
    response = client.post("/login", data={"phone": phone, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def png_bytes(width, height, *, truncate=None):
    """A valid (grey, all zero) PNG of any size, built by hand so that huge ones stay tiny."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte, then the pixels
    raw = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return data[:truncate] if truncate else data


def upload_photo(client, demo, data, filename):
    return client.post(f"/api/v1/communities/{demo.a}/merit/photos", headers=bearer(demo, RESIDENT),
                       data={"photo": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


# --- oversized and malformed uploads ----------------------------------------------------------

def test_body_over_the_limit_is_a_friendly_413(app, client, demo):
    """A request body over MAX_CONTENT_LENGTH is refused with 413: JSON on the API, a plain page
    in the resident's language on the site, never a 500."""
    from flask_babel import force_locale, gettext

    big = b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1024)
    response = upload_photo(client, demo, big, "big.jpg")
    assert response.status_code == 413 and response.is_json and response.json["code"] == 413

    login(client, RESIDENT)
    response = client.post(f"/c/{demo.a}/reports/new", data={"description": "x", "photo": (io.BytesIO(big), "a.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 413 and response.mimetype == "text/html"
    with app.test_request_context(), force_locale("zh_CN"):
        assert gettext("The file is too large.") in response.get_data(as_text=True)


def test_photo_over_5_mb_is_refused(client, demo):
    """A photo over 5 MB (but under the request limit) is refused with a clear 422."""
    data = png_bytes(16, 16) + b"\0" * (5 * 1024 * 1024)
    response = upload_photo(client, demo, data, "big.png")
    assert response.status_code == 422 and "5" in response.json["message"]


@pytest.mark.parametrize("make, filename", [
    (lambda: b"this is just text, not a photo\n" * 10, "photo.jpg"),
    (lambda: png_bytes(64, 64, truncate=60), "cut.png"),
    (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.png"),
    (lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "x.gif"),
    (lambda: png_bytes(10_000, 10_000), "bomb.png"),      # 100 megapixels in a small file
    (lambda: png_bytes(7_000, 7_000), "bomb-small.png"),  # 49 megapixels: over the limit, under Pillow's hard stop
], ids=["text-as-jpg", "truncated-png", "svg-script", "gif", "bomb-100mp", "bomb-49mp"])
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_malformed_images_are_refused(app, client, demo, make, filename):
    """Text named .jpg, a truncated PNG, an SVG with script, a GIF and decompression bombs are all
    refused with a 422 naming the problem; nothing is stored."""
    import os

    from civic.core.uploads import upload_dir

    with app.app_context():
        before = set(os.listdir(upload_dir()))
    response = upload_photo(client, demo, make(), filename)
    assert response.status_code == 422, (response.status_code, response.json)
    assert response.json["message"]
    with app.app_context():
        assert set(os.listdir(upload_dir())) == before


def test_a_real_photo_is_still_accepted(client, demo):
    """The same upload path takes an ordinary PNG (the refusals above are not blanket refusals)."""
    response = upload_photo(client, demo, png_bytes(64, 48), "ok.png")
    assert response.status_code == 201, response.json


# --- script in every text field is shown escaped ------------------------------------------------

def assert_escaped(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    html = response.get_data(as_text=True)
    assert SCRIPT not in html, f"raw script on {url}"
    assert SCRIPT_ESCAPED in html, f"the text is not shown (escaped) on {url}"


def test_script_in_every_text_field_is_shown_escaped(app, client, demo):
    """Script typed into topic titles and descriptions, meeting titles, places and minutes, claim
    descriptions, report descriptions, goods names and descriptions, display names, join notes and
    addresses, merit and report category names is shown as text on every page that shows it back."""
    from civic.accounts.service import sign_up

    a, committee, resident = demo.a, bearer(demo, COMMITTEE), bearer(demo, RESIDENT)
    api = f"/api/v1/deliberation/communities/{a}"
    topic = client.post(f"{api}/topics", json={"title": SCRIPT, "description": SCRIPT}, headers=resident)
    assert topic.status_code == 201, topic.json
    meeting = client.post(f"{api}/meetings", headers=committee, json={
        "title": SCRIPT, "place": SCRIPT, "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T12:00:00Z"})
    assert meeting.status_code == 201, meeting.json
    minutes = client.post(f"{api}/meetings/{demo.meeting}/minutes", json={"minutes": SCRIPT}, headers=committee)
    assert minutes.status_code == 200, minutes.json

    rules = client.get(f"/api/v1/communities/{a}/merit/rules", headers=resident).json
    rule = next(r for r in rules if r.get("kind", "award") == "award")
    claim = client.post(f"/api/v1/communities/{a}/merit/claims", headers=resident,
                        json={"rule_id": rule["id"], "description": SCRIPT})
    assert claim.status_code == 201, claim.json

    category = client.get(f"/api/v1/communities/{a}/report-categories", headers=resident).json[0]
    report = client.post(f"/api/v1/communities/{a}/reports", headers=resident,
                         json={"category_id": category["id"], "description": SCRIPT})
    assert report.status_code == 201, report.json

    item = client.post(f"/api/v1/communities/{a}/shop/shops/{demo.shop}/items", headers=bearer(demo, KEEPER),
                       json={"name": SCRIPT, "description": SCRIPT, "price": 5, "stock": 3})
    assert item.status_code == 201, item.json

    with app.app_context():
        sign_up("13900000099", SCRIPT, PASSWORD)
        db.session.commit()
    login(client, "13900000099")
    client.post(f"/communities/{a}/join", data={"address": SCRIPT, "note": SCRIPT})
    client.post("/logout")

    login(client, COMMITTEE)
    # Category names are typed by the committee and translated when shown (stored msgids).
    assert client.post(f"/c/{a}/merit/manage/categories", data={"name": SCRIPT}).status_code == 302
    assert client.post(f"/c/{a}/reports/categories", data={"name": SCRIPT}).status_code == 302
    for url in [
        f"/c/{a}/merit/manage", f"/c/{a}/reports/categories",
        f"/c/{a}/deliberation/topics/{topic.json['id']}", f"/c/{a}/deliberation",
        f"/c/{a}/deliberation/meetings/{meeting.json['id']}",
        f"/c/{a}/deliberation/meetings/{demo.meeting}",
        f"/c/{a}/deliberation/meetings/{demo.meeting}/print",
        f"/c/{a}/merit/claims/{claim.json['id']}", f"/c/{a}/merit/review",
        f"/c/{a}/reports/{report.json['id']}", f"/c/{a}/reports",
        f"/shop/items/{item.json['id']}", "/shop", f"/c/{a}/shop",
        f"/c/{a}/members",
    ]:
        assert_escaped(client, url)
    client.post("/logout")
    login(client, "13900000099")
    assert_escaped(client, "/me")


# --- SQL-looking input ------------------------------------------------------------------------

@pytest.mark.parametrize("text", SQL_INPUTS)
def test_sql_looking_input_is_just_text(app, client, demo, text):
    """SQL-looking text in fields is stored and shown as typed; in query parameters it is refused
    or ignored; no table loses a row and no other record changes."""
    from civic.accounts.models import User
    from civic.deliberation.models import Topic

    with app.app_context():
        users_before = db.session.scalar(select(func.count()).select_from(User))
        topics_before = db.session.scalar(select(func.count()).select_from(Topic))
    resident = bearer(demo, RESIDENT)
    api = f"/api/v1/deliberation/communities/{demo.a}/topics"
    created = client.post(api, json={"title": text, "description": text}, headers=resident)
    assert created.status_code == 201
    shown = client.get(f"{api}/{created.json['id']}", headers=resident).json
    assert shown["title"] == text and shown["description"] == text

    for url in [f"/api/v1/communities/{demo.a}/points/leaderboard?period={text}",
                f"/api/v1/communities/{demo.a}/points/passbook?user_id={text}",
                f"/api/v1/communities/{demo.a}/merit/claims?scope={text}",
                f"/api/v1/notifications?page={text}"]:
        response = client.get(url, headers=resident)
        assert 200 <= response.status_code < 500 and response.status_code != 500, url
    login(client, RESIDENT)
    for url in [f"/points/leaderboard?period={text}", f"/communities?q={text}", f"/shop?q={text}",
                f"/c/{demo.a}/merit/?q={text}", f"/points?page={text}"]:
        assert client.get(url).status_code < 500, url
    client.post("/me/preferences", data={"display_name": text})

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == users_before
        assert db.session.scalar(select(func.count()).select_from(Topic)) == topics_before + 1
        assert db.session.scalar(select(Topic.title).where(Topic.id == created.json["id"])) == text
    assert client.get("/api/v1/me", headers=resident).status_code == 200


def test_nul_characters_are_refused(client, demo):
    """A NUL character (which no person types and PostgreSQL cannot store) in a JSON body, a query
    string or a form field is refused with 400, never stored and never a 500."""
    api = f"/api/v1/deliberation/communities/{demo.a}/topics"
    response = client.post(api, json={"title": "a\u0000b"}, headers=bearer(demo, RESIDENT))
    assert response.status_code == 400 and response.is_json
    response = client.get("/api/v1/notifications?limit=1%00", headers=bearer(demo, RESIDENT))
    assert response.status_code == 400 and response.is_json
    login(client, RESIDENT)
    response = client.post(f"/c/{demo.a}/deliberation/topics/new", data={"title": "a\x00b", "description": ""})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert not any("\x00" in t["title"] for t in client.get(api, headers=bearer(demo, RESIDENT)).json)


def test_ids_beyond_the_database_range_are_refused(client, demo):
    """Ids larger than the database's integers, in a URL, a query string or a JSON body, are a
    404 or a 422 naming the field, on SQLite and PostgreSQL alike."""
    huge, resident = 2**40, bearer(demo, RESIDENT)
    assert client.get(f"/api/v1/communities/{huge}/reports", headers=resident).status_code == 404
    assert client.get(f"/api/v1/communities/{demo.a}/reports/{huge}", headers=resident).status_code == 404
    response = client.get(f"/api/v1/notifications?before_id={huge}", headers=resident)
    assert response.status_code == 422 and "before_id" in response.json["errors"]["query"]
    response = client.post(f"/api/v1/communities/{demo.a}/reports", headers=resident,
                           json={"category_id": huge, "description": "路灯坏了"})
    assert response.status_code == 422 and "category_id" in response.json["errors"]["json"]
    response = client.post(f"/api/v1/communities/{demo.a}/shop/orders", headers=resident, json={"item_id": huge})
    assert response.status_code == 422


# --- replayed and tampered QR tokens ----------------------------------------------------------

def _order(client, demo):
    items = client.get(f"/api/v1/communities/{demo.a}/shop/items", headers=bearer(demo, RESIDENT)).json
    cheapest = min(items, key=lambda i: i["price"])
    response = client.post(f"/api/v1/communities/{demo.a}/shop/orders", headers=bearer(demo, RESIDENT),
                           json={"item_id": cheapest["id"]})
    assert response.status_code == 201, response.json
    return response.json


def test_voucher_redeemed_twice_or_tampered_is_refused(app, client, demo):
    """A voucher is redeemed once; a second scan, an altered token, a token signed for another
    purpose or another community's shop are refused with a 4xx and move no points."""
    from civic.accounts.models import User
    from civic.deliberation.service import person_token
    from civic.ledger.service import balance_of as balance
    from civic.shop.models import Order
    from civic.shop.service import voucher_token

    order = _order(client, demo)
    with app.app_context():
        token = voucher_token(db.session.get(Order, order["id"]))
        other_purpose = person_token(db.session.get(User, demo.users[RESIDENT]))
    url = f"/api/v1/communities/{demo.a}/shop/shops/{demo.shop}/vouchers/redeem"
    keeper = bearer(demo, KEEPER)

    body, mac = token.split(".")
    tampered = [body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac,
                body + "." + mac[::-1], token + "x", other_purpose, "." * 3, "a" * 3000]
    for bad in tampered:
        response = client.post(url, json={"code": bad}, headers=keeper)
        assert 400 <= response.status_code < 500, (bad[:40], response.status_code)
        assert response.is_json and response.json["message"]

    other_shop = client.post(f"/api/v1/communities/{demo.b}/shop/shops/{demo.shop}/vouchers/redeem",
                             json={"code": token}, headers=bearer(demo, B_COMMITTEE))
    assert 400 <= other_shop.status_code < 500

    assert client.post(url, json={"code": token}, headers=keeper).status_code == 200
    with app.app_context():
        after_first = balance(demo.a, demo.users[RESIDENT])
    again = client.post(url, json={"code": token}, headers=keeper)
    assert again.status_code == 409 and again.json["reason"] == "voucher_closed"
    again = client.post(url, json={"code": order["code"]}, headers=keeper)
    assert again.status_code == 409
    with app.app_context():
        assert balance(demo.a, demo.users[RESIDENT]) == after_first


def test_checkin_tokens_altered_expired_or_foreign_are_refused(app, client, demo):
    """A check-in code that is altered, expired, made for another session the person is not
    expected at, or signed for another purpose is refused with a 4xx; nothing is recorded."""
    from datetime import timedelta

    from civic.core.clock import utcnow
    from civic.core.qr import make_token
    from civic.deliberation import service
    from civic.deliberation.models import Attendance, Meeting

    now = utcnow()
    committee = bearer(demo, COMMITTEE)
    live = client.post(f"/api/v1/deliberation/communities/{demo.a}/meetings", headers=committee, json={
        "title": "今天的议事会", "place": "会议室", "starts_at": (now - timedelta(minutes=5)).isoformat() + "Z",
        "ends_at": (now + timedelta(hours=2)).isoformat() + "Z"})
    assert live.status_code == 201, live.json
    foreign = client.post(f"/api/v1/deliberation/communities/{demo.b}/meetings", headers=bearer(demo, B_COMMITTEE),
                          json={"title": "别的社区", "place": "会议室",
                                "starts_at": (now - timedelta(minutes=5)).isoformat() + "Z",
                                "ends_at": (now + timedelta(hours=2)).isoformat() + "Z"})
    assert foreign.status_code == 201, foreign.json
    with app.app_context():
        good, _ = service.checkin_token(db.session.get(Meeting, live.json["id"]))
        old, _ = service.checkin_token(db.session.get(Meeting, live.json["id"]), now=now - timedelta(minutes=5))
        other_session, _ = service.checkin_token(db.session.get(Meeting, foreign.json["id"]))
        voucher_purpose = make_token("voucher", {"c": demo.a, "m": live.json["id"], "w": 0})
    body, mac = good.split(".")
    altered = body[:5] + ("x" if body[5] != "x" else "y") + body[6:] + "." + mac
    resident = bearer(demo, RESIDENT)
    for bad, reason in [(altered, "bad_token"), (old, "expired_token"), (voucher_purpose, "bad_token"),
                        (other_session, None), ("/checkin?t=" + altered, "bad_token"), ("x" * 2500, None)]:
        response = client.post("/api/v1/deliberation/checkin", json={"token": bad}, headers=resident)
        assert 400 <= response.status_code < 500, (reason, response.status_code, response.json)
        if reason:
            assert response.json.get("reason") == reason, response.json
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 0
    ok = client.post("/api/v1/deliberation/checkin", json={"token": good}, headers=resident)
    assert ok.status_code == 200, ok.json
    again = client.post("/api/v1/deliberation/checkin", json={"token": good}, headers=resident)
    assert again.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1


# --- security headers on every page -------------------------------------------------------------

class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline = []
        self.handlers = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            self.inline.append(self.getpos())
        self.handlers += [name for name in attrs if name.startswith("on")]


def _page_urls(app, demo):
    """Every GET route without parameters, and every one whose only parameter is the community."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/api/", "/static")):
            continue
        if not rule.arguments:
            urls.append(rule.rule)
        elif rule.arguments == {"community_id"}:
            urls.append(rule.rule.replace("<int:community_id>", str(demo.a)))
    return sorted(urls)


def test_every_page_has_the_security_headers_and_no_inline_script(app, client, demo):
    """Signed in as a committee member, every page answers without a 500 and carries a CSP that
    forbids inline script and framing, nosniff and X-Frame-Options; no HTML page has an inline
    <script> element or an on…= handler attribute."""
    login(client, COMMITTEE)
    urls = _page_urls(app, demo)
    assert len(urls) > 30
    checked = 0
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        csp = response.headers.get("Content-Security-Policy", "")
        directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
        assert "'unsafe-inline'" not in directives.get("script-src", "'unsafe-inline'"), url
        assert directives.get("frame-ancestors") == "'none'", url
        assert directives.get("object-src") == "'none'", url
        assert response.headers.get("X-Content-Type-Options") == "nosniff", url
        assert response.headers.get("X-Frame-Options") == "DENY", url
        if response.mimetype == "text/html" and response.status_code == 200:
            parser = _Scripts()
            parser.feed(response.get_data(as_text=True))
            assert not parser.inline, f"inline <script> on {url} at {parser.inline}"
            assert not parser.handlers, f"inline event handler {parser.handlers} on {url}"
            checked += 1
    assert checked > 20
    for url in ["/api/v1/me", "/api/openapi.json", "/nope", "/login"]:
        response = client.get(url)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", url
        assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""), url


# --- every page and form with hostile values -------------------------------------------------------

class _Forms(HTMLParser):
    """The forms of a page: (action, method, {field names})."""

    def __init__(self):
        super().__init__()
        self.forms, self._current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = (attrs.get("action") or "", (attrs.get("method") or "get").lower(), set())
            self.forms.append(self._current)
        elif tag in ("input", "select", "textarea") and self._current and attrs.get("name"):
            self._current[2].add(attrs["name"])


HOSTILE_VALUES = [SCRIPT, SQL_INPUTS[0], SQL_INPUTS[1], "9" * 40, "-1", "", "\u0000", "é" * 5000, "2026-02-30"]


def _all_page_urls(app, demo):
    """Every GET page with its ids filled from the demo data (1 for objects), plus the same pages
    with an id far beyond any row and beyond a 32-bit integer."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/api/", "/static", "/uploads")):
            continue
        if rule.arguments - {"community_id"} and not all(rule._converters[a].__class__.__name__ == "IdConverter"
                                                          for a in rule.arguments):
            continue
        for other in (1, 2**31 - 1, 2**63):
            url = rule.rule.replace("<int:community_id>", str(demo.a))
            url = re.sub(r"<int:\w+>", str(other), url)
            urls.append(url)
    return sorted(set(urls))


def _check_page(url, response):
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url
    assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""), url
    if response.mimetype == "text/html" and response.status_code == 200:
        parser = _Scripts()
        parser.feed(response.get_data(as_text=True))
        assert not parser.inline, f"inline <script> on {url} at {parser.inline}"
        assert not parser.handlers, f"inline event handler {parser.handlers} on {url}"


def test_pages_with_any_id_never_500(app, client, demo):
    """Every page, with real ids, with ids of no row and with ids too large for the database,
    answers without a 500 (404 for what does not exist), with the security headers and no
    inline script."""
    login(client, COMMITTEE)
    for url in _all_page_urls(app, demo):
        response = client.get(url)
        assert response.status_code < 500, url
        if str(2**63) in url:
            assert response.status_code == 404, url
        _check_page(url, response)


def test_every_form_survives_hostile_values(app, client, demo):
    """Every form on every page a committee member can open, posted with script, SQL-looking text,
    huge numbers, a NUL character, 5000 characters and impossible dates in every field, answers
    without a 500."""
    login(client, COMMITTEE)
    forms = {}
    for url in _all_page_urls(app, demo):
        if "2147483647" in url or str(2**63) in url:
            continue
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        parser = _Forms()
        parser.feed(response.get_data(as_text=True))
        for action, method, fields in parser.forms:
            if method == "post" and action not in ("/logout",) and fields:
                forms.setdefault((action or url), set()).update(fields - {"csrf_token"})
    assert len(forms) > 15
    failures = []
    for action, fields in sorted(forms.items()):
        for value in HOSTILE_VALUES:
            response = client.post(action, data={name: value for name in fields})
            if response.status_code >= 500:
                failures.append((action, value[:20], response.status_code))
        if client.get("/me").status_code != 200:  # a form signed us out (password): sign in again
            login(client, COMMITTEE)
    assert not failures
    # Whatever the hostile posts stored is shown as text on every page.
    for url in _all_page_urls(app, demo):
        if "2147483647" not in url and str(2**63) not in url:
            response = client.get(url)
            if response.mimetype != "application/zip":  # the data download with photos is binary
                assert SCRIPT not in response.get_data(as_text=True), url


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example",
                                    "/\t/evil.example", "/\n/evil.example", "\\\\evil.example", "javascript:alert(1)"])
def test_sign_in_never_redirects_off_the_site(client, demo, target):
    """The `next` parameter of the sign-in page only ever leads to a page of this site."""
    response = client.post("/login", query_string={"next": target}, data={"phone": RESIDENT, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/", (target, response.headers["Location"])


def test_sign_in_keeps_a_local_next(client, demo):
    """A local `next` (the page that asked to sign in) is still honoured."""
    response = client.post("/login", query_string={"next": "/points?x=1"},
                           data={"phone": RESIDENT, "password": PASSWORD})
    assert response.headers["Location"] == "/points?x=1"


def test_nul_in_a_repeated_field_is_refused_too(client, demo):
    """The NUL check looks at every value of a repeated query or form field, not only the first."""
    response = client.get("/api/v1/notifications?limit=5&limit=1%00", headers=bearer(demo, RESIDENT))
    assert response.status_code == 400
    login(client, RESIDENT)
    response = client.post(f"/c/{demo.a}/deliberation/topics/new",
                           data={"title": ["ok", "a\x00b"], "description": ""})
    assert response.status_code == 400


HUGE = str(2**40)


@pytest.mark.parametrize("path, data", [
    ("/c/{a}/roles", {"user_id": HUGE, "role": "coordinator"}),
    ("/c/{a}/deliberation/topics/1/review", {"action": "agenda", "meeting_id": HUGE}),
    ("/c/{a}/deliberation/topics/1/review", {"action": "merge", "into_topic_id": HUGE}),
    ("/c/{a}/deliberation/meetings/new", {"title": "议事会", "kind": "council", "place": "会议室",
                                          "starts_at": "2030-01-01T10:00", "ends_at": "2030-01-01T12:00",
                                          "scope": "invited", "invitees": [HUGE], "quorum_count": "0",
                                          "quorum_percent": "50", "majority": "simple"}),
    ("/c/{a}/deliberation/meetings/new", {"title": "议事会", "kind": "council", "place": "会议室",
                                          "starts_at": "2030-01-01T10:00", "ends_at": "2030-01-01T12:00",
                                          "scope": "grid", "grid_id": HUGE, "quorum_count": "0",
                                          "quorum_percent": "50", "majority": "simple"}),
    ("/c/{a}/deliberation/meetings/1/attendance", {"user_id": HUGE}),
    ("/c/{a}/deliberation/items/1/responsible", {"user_id": HUGE}),
], ids=["role", "agenda", "merge", "invitees", "grid", "attendance", "responsible"])
def test_form_ids_beyond_the_database_range(client, demo, path, data):
    """An id too large for the database in an otherwise valid form is refused, never a 500."""
    login(client, COMMITTEE)
    response = client.post(path.format(a=demo.a), data=data)
    assert response.status_code < 500, response.status_code


# --- malformed JSON that the parser accepts: lone surrogates, deep nesting, huge numbers ----------

def _rule_id(client, demo):
    rules = client.get(f"/api/v1/communities/{demo.a}/merit/rules", headers=bearer(demo, RESIDENT)).json
    return next(r for r in rules if r.get("kind", "award") == "award")["id"]


def _category_id(client, demo):
    return client.get(f"/api/v1/communities/{demo.a}/report-categories", headers=bearer(demo, RESIDENT)).json[0]["id"]


# Each endpoint: (url, who signs in, a valid body, the field the hostile value goes into).
JSON_ENDPOINTS = {
    "claims": (lambda c, d: f"/api/v1/communities/{d.a}/merit/claims", RESIDENT,
               lambda c, d: {"rule_id": _rule_id(c, d), "description": "扫楼道"}, "description"),
    "topics": (lambda c, d: f"/api/v1/deliberation/communities/{d.a}/topics", RESIDENT,
               lambda c, d: {"title": "修路灯", "description": "三号楼"}, "title"),
    "reports": (lambda c, d: f"/api/v1/communities/{d.a}/reports", RESIDENT,
                lambda c, d: {"category_id": _category_id(c, d), "description": "路灯坏了"}, "description"),
    "auth-token": (lambda c, d: "/api/v1/auth/token", None,
                   lambda c, d: {"phone": RESIDENT, "password": "wrong-password"}, "phone"),
}
MARKER = "__HOSTILE__"
HOSTILE_VALUES = {
    "lone-surrogate": '"\\ud800"',                     # valid JSON text, but no UTF-8 can store it
    "low-surrogate-inside-text": '"abc\\udfffdef"',
    "nested-900": "[" * 900 + "]" * 900,
    "nested-5000": "[" * 5000 + "]" * 5000,
    "integer-5000-digits": "9" * 5000,
    "integer-25-digits": "1" + "0" * 24,
    "float-overflow": "1e999",
}


def assert_json_error(response):
    """A 4xx answer in the one documented error shape (civic.errors.json_error)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json, response.mimetype
    body = response.json
    assert body["code"] == response.status_code and body["status"] and body["message"], body


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=list(HOSTILE_VALUES))
@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=list(JSON_ENDPOINTS))
def test_hostile_json_is_a_4xx_json_error(app, client, demo, endpoint, value):
    """A lone surrogate, JSON nested hundreds or thousands deep, a 5000-digit (or 25-digit) integer and a
    float beyond range, put into an otherwise valid body on claims, topics, reports and the token endpoint,
    are refused with a 4xx in the documented error shape: never a 500, and nothing is stored."""
    from civic.deliberation.models import Topic
    from civic.merit.models import Claim
    from civic.patrols.models import Report

    url, who, valid, field = JSON_ENDPOINTS[endpoint]
    body = valid(client, demo)
    body[field] = MARKER
    raw = json.dumps(body).replace(f'"{MARKER}"', HOSTILE_VALUES[value])
    headers = bearer(demo, who) if who else {}
    with app.app_context():
        before = [db.session.scalar(select(func.count()).select_from(m)) for m in (Claim, Topic, Report)]
    response = client.post(url(client, demo), data=raw, content_type="application/json", headers=headers)
    assert_json_error(response)
    with app.app_context():
        assert [db.session.scalar(select(func.count()).select_from(m)) for m in (Claim, Topic, Report)] == before


def test_a_plain_json_body_still_works_after_the_checks(client, demo):
    """The refusals above are not blanket ones: ordinary text with Chinese, emoji (a surrogate pair when
    escaped) and ordinary numbers is stored as sent."""
    response = client.post(f"/api/v1/deliberation/communities/{demo.a}/topics", headers=bearer(demo, RESIDENT),
                           data='{"title": "修路灯 \\ud83d\\ude00", "description": "[[[1]]] 12345"}',
                           content_type="application/json")
    assert response.status_code == 201, response.json
    assert response.json["title"] == "修路灯 😀"


def _non_ascii_signature(token):
    """The same token with the last character of its signature replaced by a Chinese character."""
    body, mac = token.split(".")
    return f"{body}.{mac[:-1]}签"


def test_qr_tokens_with_a_non_ascii_signature_are_refused(app, client, demo):
    """A QR token whose signature holds a non-ASCII character is refused like any forged one: check-in
    by scan (API and the page a scan opens), the voucher check at the counter and a personal card at the
    attendance list answer 4xx (JSON in the error shape on the API), never a 500."""
    from datetime import timedelta

    from civic.accounts.models import User
    from civic.core.clock import utcnow
    from civic.deliberation import service
    from civic.deliberation.models import Meeting
    from civic.shop.models import Order
    from civic.shop.service import voucher_token

    now = utcnow()
    live = client.post(f"/api/v1/deliberation/communities/{demo.a}/meetings", headers=bearer(demo, COMMITTEE), json={
        "title": "今天的议事会", "place": "会议室", "starts_at": (now - timedelta(minutes=5)).isoformat() + "Z",
        "ends_at": (now + timedelta(hours=2)).isoformat() + "Z"})
    assert live.status_code == 201, live.json
    order = _order(client, demo)
    with app.app_context():
        checkin = _non_ascii_signature(service.checkin_token(db.session.get(Meeting, live.json["id"]))[0])
        card = _non_ascii_signature(service.person_token(db.session.get(User, demo.users[RESIDENT])))
        voucher = _non_ascii_signature(voucher_token(db.session.get(Order, order["id"])))

    assert_json_error(client.post("/api/v1/deliberation/checkin", json={"token": checkin},
                                  headers=bearer(demo, RESIDENT)))
    assert_json_error(client.post(f"/api/v1/communities/{demo.a}/shop/shops/{demo.shop}/vouchers/check",
                                  json={"code": voucher}, headers=bearer(demo, KEEPER)))
    assert_json_error(client.post(f"/api/v1/communities/{demo.a}/shop/shops/{demo.shop}/vouchers/redeem",
                                  json={"code": voucher}, headers=bearer(demo, KEEPER)))
    assert_json_error(client.post(
        f"/api/v1/deliberation/communities/{demo.a}/meetings/{live.json['id']}/attendance",
        json={"card_token": card}, headers=bearer(demo, COMMITTEE)))

    login(client, RESIDENT)
    page = client.get("/checkin", query_string={"t": checkin})
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert client.post("/checkin", data={"t": checkin}).status_code < 500
