"""Friction seen by new users on their phones (issue 15), each proven through the pages a person sees.
The counter's refusal, the shortfall before ordering and the objection outcome on the phone are also
pressed in the journeys (test_journeys_browser.py)."""
import re
from datetime import datetime, timedelta

from babel.messages.pofile import read_po
from sqlalchemy import select

from civic.core.clock import utcnow
from civic.deliberation import service as deliberation
from civic.extensions import db
from civic.merit import service as merit
from civic.notifications.models import Notification
from civic.notifications.service import notify
from civic.patrols import reports as problem_reports
from tests import factories

PO = "civic/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def _catalogue():
    with open(PO, "rb") as f:
        return [m for m in read_po(f) if m.id and m.string]


def test_only_administrators_see_the_api_documentation_link(client, world, auth):
    """我的 shows 接口文档 to an administrator only; /api/docs itself stays where it is."""
    auth.switch_to(world.resident)
    assert "/api/docs" not in client.get("/me").get_data(as_text=True)
    auth.switch_to(world.admin)
    assert "/api/docs" in client.get("/me").get_data(as_text=True)
    assert client.get("/api/docs").status_code == 200


def test_a_dismissed_objection_tells_the_claimant_what_happened(app_ctx, world):
    """When the committee dismisses an objection, the claimant hears that the objection was dismissed and
    the notice period restarted — not a second identical "on public notice" message."""
    committee, committee2 = db.session.merge(world.committee), db.session.merge(world.committee2)
    cats = {c.code: c.id for c in merit.categories(world.a.id)}
    rule = merit.create_rule(committee, world.a.id, {
        "category_id": cats["labour"], "kind": "award", "description": "", "cap_period": "none",
        "evidence_required": False, "active": True, "name": "扶老助残", "points_min": 5, "points_max": None})
    factories.confirm_rule_changes(world.a.id, committee2)
    claim = merit.submit_claim(db.session.merge(world.resident), world.a.id, rule.id, description="陪孙奶奶看病")
    merit.approve_claim(committee, world.a.id, claim.id)
    objection = merit.object_to_claim(db.session.merge(world.resident2), world.a.id, claim.id, "那天她自己去的")
    merit.decide_objection(committee2, world.a.id, objection.id, False, "有医院的陪护记录")
    kinds = db.session.scalars(select(Notification.kind).where(
        Notification.user_id == world.resident.id).order_by(Notification.id)).all()
    assert kinds.count("merit.on_notice") == 1 and kinds[-1] == "merit.objection_dismissed_claimant"
    last = db.session.scalar(select(Notification).where(Notification.user_id == world.resident.id)
                             .order_by(Notification.id.desc()).limit(1))
    assert last.params["reason"] == "有医院的陪护记录" and "again" in last.title


def _meeting(app, world, starts, ends):
    with app.app_context():
        meeting = deliberation.create_meeting(
            db.session.merge(world.committee), world.a.id, title="夜间议事会", kind="council", place="活动室",
            starts_at=starts, ends_at=ends, quorum_percent=0)
        db.session.commit()
        token, _ = deliberation.checkin_token(meeting, now=starts - timedelta(minutes=5))
        return meeting.id, token


def test_a_stale_or_damaged_check_in_code_offers_a_way_on(app, client, world, auth):
    """An out-of-date code says so and offers 重新扫码 and a link back to its meeting; a damaged one offers
    重新扫码 and the meetings list. Neither is a dead end."""
    now = utcnow()
    meeting_id, old = _meeting(app, world, now - timedelta(hours=1), now + timedelta(hours=1))
    auth.switch_to(world.resident)
    page = client.get(f"/checkin?t={old}")
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "重新扫码" in html
    assert f'href="/c/{world.a.id}/deliberation/scan"' in html
    assert f'href="/c/{world.a.id}/deliberation/meetings/{meeting_id}"' in html and "回到会议" in html
    damaged = client.get(f"/checkin?t={old[:-3]}xyz").get_data(as_text=True)
    assert "重新扫码" in damaged and f'href="/c/{world.a.id}/deliberation"' in damaged and "回到议事" in damaged


def test_a_meeting_that_ends_after_midnight_shows_the_next_day(app, client, world, auth):
    """22:00 to 01:00 China time reads "22:00 – 次日 01:00", not an end before the start."""
    starts = datetime(2027, 6, 1, 14, 0)  # 22:00 in Beijing
    meeting_id, _ = _meeting(app, world, starts, starts + timedelta(hours=3))
    auth.switch_to(world.resident)
    html = client.get(f"/c/{world.a.id}/deliberation/meetings/{meeting_id}").get_data(as_text=True)
    assert "2027-06-01 22:00 – 次日 01:00" in html


def test_the_message_badge_clears_when_the_inbox_is_read(app, client, world, auth):
    """The bell's count goes away once the resident has opened the inbox; the new items are still marked
    as new on that visit."""
    with app.app_context():
        for _ in range(3):
            notify(world.resident.id, "test", "Welcome to %(community)s", params={"community": "芙蓉社区"})
        db.session.commit()
    auth.switch_to(world.resident)
    assert 'data-testid="unread-count">3<' in client.get("/").get_data(as_text=True)
    inbox = client.get("/notifications/").get_data(as_text=True)
    assert inbox.count('class="list-item unread"') == 3
    assert "unread-count" not in inbox
    assert "unread-count" not in client.get("/").get_data(as_text=True)


def test_confirming_a_report_says_what_happened(app, client, world, auth):
    """The reporter confirms the fix and is told the report is finished and how many points were added."""
    with app.app_context():
        committee, resident = db.session.merge(world.committee), db.session.merge(world.resident)
        category = problem_reports.add_category(committee, world.a.id, "路灯不亮")
        report = problem_reports.submit_report(resident, world.a.id, category_id=category.id,
                                               description="三号楼路灯坏了")
        problem_reports.accept_report(committee, world.a.id, report.id)
        photo = factories.make_upload(world.a, committee)
        problem_reports.resolve_report(committee, world.a.id, report.id, photo=photo)
        db.session.commit()
        report_id = report.id
    auth.switch_to(world.resident)
    page = client.post(f"/c/{world.a.id}/reports/{report_id}/confirm", follow_redirects=True).get_data(as_text=True)
    assert "谢谢您确认问题已解决，这件事已办结。" in page
    assert "已保存" not in page


def test_sign_up_explains_the_password_length_in_plain_words(client):
    """A too-short password is explained as "at least 8 letters, digits or signs", not as a field length."""
    page = client.post("/signup", data={"phone": "13912345678", "display_name": "赵大爷", "password": "short",
                                        "confirm": "short"}).get_data(as_text=True)
    assert "密码至少要 8 位，字母、数字或符号都可以。" in page
    assert "字段" not in page and "字符" not in page


def test_the_chinese_wording_is_plain_and_spells_the_committee_one_way():
    """No photo-format jargon (JPEG, PNG, WebP) and one spelling of the committee: 村（居）委会."""
    for message in _catalogue():
        text = message.string if isinstance(message.string, str) else " ".join(message.string)
        assert not re.search(r"JPEG|WebP|PNG", text), message.id
        assert "村(居)委" not in text, message.id
        assert not re.search(r"(?<!村（)居委会|村（居）委(?!会)", text), message.id
