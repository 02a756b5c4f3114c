"""The page shell: bottom-bar links without redirects, the bell's name, elder mode before signing in,
the service worker's scope, Leaflet only where a map is shown, a meta description."""
import re

from civic.extensions import db
from civic.notifications.service import notify


def test_the_patrol_and_meeting_tabs_link_straight_to_the_community(client, auth, world):
    """巡逻 and 议事 open the community's page in one request (no 302 on every tap)."""
    auth.login(world.resident.phone)
    page = client.get("/").get_data(as_text=True)
    nav = page[page.index('class="bottom-nav"'):]
    assert f'href="/c/{world.a.id}/patrols"' in nav and f'href="/c/{world.a.id}/deliberation"' in nav
    assert client.get(f"/c/{world.a.id}/patrols").status_code == 200


def test_the_bell_says_how_many_messages_are_unread(app, client, auth, world):
    """The bell's accessible name includes the count it shows (axe: label-content-name-mismatch)."""
    with app.app_context():
        for n in range(3):
            notify(db.session.merge(world.resident), "test", "消息 %(n)s", params={"n": n})
        db.session.commit()
    auth.login(world.resident.phone)
    page = client.get("/").get_data(as_text=True)
    assert 'aria-label="消息，3 条未读"' in page


def test_elder_mode_in_one_tap_before_signing_in_and_kept_after(client, world):
    """Visitors switch elder mode on from the welcome page; it stays on when they sign in."""
    assert 'data-testid="elder-switch"' in client.get("/").get_data(as_text=True)
    assert 'data-testid="elder-switch"' in client.get("/signup").get_data(as_text=True)
    response = client.post("/elder-mode?next=/login", data={"elder_mode": "1"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert re.search(r'<html[^>]*class="elder"', client.get("/login").get_data(as_text=True))
    client.post("/login", data={"phone": world.resident.phone, "password": "correct-horse-1"})
    assert re.search(r'<html[^>]*class="elder"', client.get("/me").get_data(as_text=True))


def test_the_service_worker_covers_the_whole_site(client):
    """/sw.js is served from the root, revalidated on every visit, and registered by a static script."""
    response = client.get("/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/" and "no-cache" in response.headers["Cache-Control"]
    page = client.get("/").get_data(as_text=True)
    assert 'data-sw="/sw.js"' in page and "<script>" not in page


def test_leaflet_only_where_a_map_is_shown_and_never_in_head(client, auth, world):
    """A page without a map loads no Leaflet; a page with one loads its CSS after the content, not in <head>."""
    auth.login(world.resident.phone)
    home = client.get(f"/c/{world.a.id}/patrols").get_data(as_text=True)
    assert "leaflet" not in home
    client.post(f"/c/{world.a.id}/patrols/start")
    track = client.get(f"/c/{world.a.id}/patrols/track").get_data(as_text=True)
    head = track[:track.index("</head>")]
    assert "leaflet" not in head
    assert re.search(r"leaflet\.([0-9a-f]{12}\.)?css", track) and re.search(r"leaflet\.([0-9a-f]{12}\.)?js", track)


def test_every_page_has_a_description(client):
    """Search engines and link previews get a meta description (Lighthouse SEO)."""
    for path in ("/", "/login", "/signup"):
        assert re.search(r'<meta name="description" content="[^"]{10,}">', client.get(path).get_data(as_text=True))


def test_the_star_level_is_an_image_with_a_full_name(app, client, auth, world):
    """The passbook's stars are one image named '一星，共五星' and its progress bar has a name (axe rules
    aria-prohibited-attr and aria-progressbar-name)."""
    from civic.ledger import service as ledger

    with app.app_context():
        ledger.award(world.a.id, world.resident.id, 25, idempotency_key="test:stars", category="labour", memo="扫地")
        db.session.commit()
    auth.login(world.resident.phone)
    page = client.get("/points").get_data(as_text=True)
    assert 'class="pb-stars" role="img" aria-label="一星，共五星"' in page
    assert re.search(r'role="progressbar" aria-label="离下一颗星的进度"', page)
