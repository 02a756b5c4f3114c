"""Deliberation in a real headless Chromium: the organiser's check-in screen and a resident's phone."""
import io
import re
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from civic.core.clock import utcnow
from civic.deliberation import service
from civic.extensions import db

pytestmark = pytest.mark.browser


def test_resident_scans_the_organisers_screen_and_the_count_goes_up(app, browser, live_server, phone_page, sign_in,
                                                                    world):
    """The organiser's screen shows a QR code; its image decodes to a check-in link; a resident's phone
    (a second browser) opens it and checks in; the organiser's 实到 count updates without a reload."""
    with app.app_context():
        meeting = service.create_meeting(
            world.committee, world.a.id, title="六月民主议事会", kind="council", place="活动室",
            starts_at=utcnow() - timedelta(minutes=1), ends_at=utcnow() + timedelta(hours=1), quorum_percent=0)
        db.session.commit()
        meeting_id = meeting.id

    organiser = phone_page
    sign_in(organiser, world.committee)
    organiser.locator("[data-nav=deliberation]").click()
    expect(organiser.get_by_text("六月民主议事会")).to_be_visible()
    organiser.get_by_text("六月民主议事会").click()
    organiser.get_by_test_id("open-screen").click()
    expect(organiser.get_by_test_id("expected")).to_have_text("6")
    expect(organiser.get_by_test_id("present")).to_have_text("0")
    image = Image.open(io.BytesIO(organiser.locator("#delib-qr").screenshot()))
    decoded = zxingcpp.read_barcodes(image)
    assert len(decoded) == 1
    url = decoded[0].text
    assert re.match(rf"{re.escape(live_server)}/checkin\?t=", url)

    phone = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_server, locale="zh-CN",
                                is_mobile=True, has_touch=True)
    try:
        resident = phone.new_page()
        resident.set_default_timeout(10_000)
        sign_in(resident, world.resident)
        resident.goto(url)
        expect(resident.get_by_role("heading", name="六月民主议事会")).to_be_visible()
        button = resident.get_by_test_id("confirm-checkin")
        assert button.bounding_box()["height"] >= 48
        button.click()
        expect(resident.get_by_text("签到成功，欢迎您！")).to_be_visible()
        expect(resident.get_by_text("您已签到")).to_be_visible()
        assert resident.evaluate("document.documentElement.scrollWidth") <= 360
        # The same photo of the code, sent again: one attendance, "already".
        resident.goto(url)
        resident.get_by_test_id("confirm-checkin").click()
        expect(resident.get_by_text("您已经签到过了。")).to_be_visible()
    finally:
        phone.close()

    expect(organiser.get_by_test_id("present")).to_have_text("1", timeout=10_000)
    expect(organiser.locator("#delib-recent")).to_contain_text("刘阿姨")
    assert organiser.evaluate("document.documentElement.scrollWidth") <= 390
    with app.app_context():
        assert service.attendance_counts(service.get_meeting(world.a.id, meeting_id)) == (6, 1)


def _camera_film(path, text, size=(640, 480)):
    """A Y4M film (what Chromium's fake camera plays) showing the QR code of `text` on white."""
    import qrcode

    code = qrcode.make(text, box_size=8, border=4).convert("L")
    frame = Image.new("L", size, 255)
    side = min(size) - 40
    frame.paste(code.resize((side, side), Image.NEAREST), ((size[0] - side) // 2, 20))
    y, cb, cr = frame.convert("RGB").convert("YCbCr").split()
    half = (size[0] // 2, size[1] // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with open(path, "wb") as film:
        film.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            film.write(b"FRAME\n" + planes)


def test_resident_checks_in_with_the_in_app_scanner(app, browser, live_server, sign_in, world, tmp_path):
    """扫码签到 in the app: the phone's camera (Chromium's fake camera playing the organiser's code) is read
    by the page's scanner, which posts the code with the page's CSRF token; the resident is checked in."""
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    with app.app_context():
        meeting = service.create_meeting(
            world.committee, world.a.id, title="扫码议事会", kind="council", place="活动室",
            starts_at=utcnow() - timedelta(minutes=1), ends_at=utcnow() + timedelta(hours=1), quorum_percent=0)
        db.session.commit()
        token, _seconds = service.checkin_token(meeting)
        meeting_id = meeting.id
        db.session.remove()
    film = tmp_path / "organiser-screen.y4m"
    _camera_film(film, f"{live_server}/checkin?t={token}")

    app.config["WTF_CSRF_ENABLED"] = True
    camera = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + [
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={film}"])
    try:
        context = camera.new_context(viewport={"width": 360, "height": 740}, base_url=live_server, locale="zh-CN",
                                     is_mobile=True, has_touch=True, permissions=["camera"])
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, world.resident)
        page.goto(f"/c/{world.a.id}/deliberation/scan")
        page.get_by_role("button", name="打开摄像头").click()
        expect(page.locator("#delib-scan-result")).to_have_text("签到成功，欢迎您！")
    finally:
        camera.close()
        app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        assert service.attendance_counts(service.get_meeting(world.a.id, meeting_id)) == (6, 1)
