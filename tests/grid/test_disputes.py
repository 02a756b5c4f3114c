"""矛盾纠纷: a mediator's sessions, the agreement, the follow-up visit, who may see a dispute, and the counts."""
from datetime import datetime, timedelta

import pytest

from civic.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from civic.grid import command, disputes

T0 = datetime(2026, 5, 4, 2, 0)


def test_dispute_from_opening_to_follow_up(gw):
    """The leader opens it with a mediator; sessions, the agreement, then the follow-up closes it."""
    d = disputes.open_dispute(gw.leader, gw.a.id, title="楼上漏水", parties="3楼刘家、2楼陈家",
                              mediator_id=gw.worker.id, now=T0)
    disputes.record_session(gw.worker, gw.a.id, d.id, attendees="刘阿姨、陈大爷", notes="双方同意先查漏点",
                            now=T0 + timedelta(days=1))
    with pytest.raises(Invalid):  # an agreement must be written down
        disputes.record_outcome(gw.worker, gw.a.id, d.id, agreed=True, now=T0 + timedelta(days=2))
    disputes.record_outcome(gw.worker, gw.a.id, d.id, agreed=True, agreement="刘家修防水，陈家自修吊顶",
                            follow_up_days=14, now=T0 + timedelta(days=2))
    assert d.status == "agreed" and d.follow_up_due_at == T0 + timedelta(days=16)
    with pytest.raises(Conflict):
        disputes.record_session(gw.worker, gw.a.id, d.id, notes="再谈", now=T0 + timedelta(days=3))
    disputes.record_follow_up(gw.worker, gw.a.id, d.id, note="已修好，两家和好", now=T0 + timedelta(days=16))
    assert d.status == "closed" and len(disputes.sessions_of(d)) == 1
    figures = command.community_figures([gw.a.id], T0, T0 + timedelta(days=30))[gw.a.id]
    assert (figures["disputes"], figures["disputes_agreed"]) == (1, 1)


def test_only_mediator_leader_and_committee_see_a_dispute(gw):
    """A neighbour cannot open or read a dispute; the mediator must be a member of the community."""
    with pytest.raises(PermissionDenied):
        disputes.open_dispute(gw.resident, gw.a.id, title="x", parties="y", mediator_id=gw.worker.id)
    with pytest.raises(Invalid):
        disputes.open_dispute(gw.committee, gw.a.id, title="x", parties="y", mediator_id=gw.b_resident.id)
    d = disputes.open_dispute(gw.committee, gw.a.id, title="占用车位", parties="甲、乙", mediator_id=gw.worker.id,
                              now=T0)
    with pytest.raises(NotFound):
        disputes.get_dispute(gw.resident2, gw.a.id, d.id)
    assert disputes.get_dispute(gw.leader, gw.a.id, d.id) is d
    assert [x.id for x in disputes.disputes_of(gw.worker, gw.a.id)] == [d.id]
    assert disputes.disputes_of(gw.resident2, gw.a.id) == []


def test_dispute_pages(client, grid_world):
    """The leader records a dispute through the page; the mediator records a session and the outcome."""
    w = grid_world
    client.post("/login", data={"phone": w.leader.phone, "password": "correct-horse-1"})
    response = client.post(f"/c/{w.a.id}/grid/disputes", data={"title": "噪音扰民", "parties": "5楼、6楼",
                                                                "mediator_id": str(w.worker.id)})
    assert response.status_code == 302
    url = response.headers["Location"]
    client.post("/logout")
    client.post("/login", data={"phone": w.worker.phone, "password": "correct-horse-1"})
    assert "噪音扰民" in client.get(url).get_data(as_text=True)
    client.post(url, data={"action": "session", "m-notes": "约定晚上十点后不装修"})
    client.post(url, data={"action": "agreed", "o-agreement": "晚十点后停工", "o-follow_up_days": "7"})
    page = client.get(url).get_data(as_text=True)
    assert "晚十点后停工" in page and "约定晚上十点后不装修" in page
    client.post("/logout")
    client.post("/login", data={"phone": w.resident2.phone, "password": "correct-horse-1"})
    assert client.get(url).status_code == 404
