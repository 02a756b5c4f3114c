"""Fixtures for merit claims: a catalogue in community A of the `world` fixture."""
from datetime import datetime
from types import SimpleNamespace

import pytest

from civic.extensions import db
from civic.merit import service
from tests import factories

# A fixed clock: 10:00 China time on 15 March 2027 (naive UTC, as stored).
T0 = datetime(2027, 3, 15, 2, 0, 0)


def make_rules(community_id, committee, confirmer):
    """Items of every shape: fixed, range, big (needs a second approver), capped, with evidence, a deduction."""
    cats = {c.code: c.id for c in service.categories(community_id)}
    r = SimpleNamespace()

    def rule(**data):
        base = {"category_id": cats["labour"], "kind": "award", "description": "", "cap_period": "none",
                "evidence_required": False, "active": True, "points_max": None}
        base.update(data)
        return service.create_rule(committee, community_id, base).id

    r.fixed = rule(name="扶老助残", points_min=5, category_id=cats["filial"])
    r.range = rule(name="清扫街道", points_min=2, points_max=10)
    r.big = rule(name="见义勇为", points_min=30, points_max=50, category_id=cats["moral"])
    r.capped = rule(name="垃圾分类", points_min=2, points_max=5, cap_period="month", cap_times=2, cap_points=8,
                    category_id=cats["environment"])
    r.photo = rule(name="义务植树", points_min=3, evidence_required=True)
    r.deduction = rule(name="乱扔垃圾", kind="deduction", points_min=10, category_id=cats["environment"])
    factories.confirm_rule_changes(community_id, confirmer)
    return r


@pytest.fixture
def rules(app, world):
    """The catalogue of community A (ids), committed."""
    with app.app_context():
        committee = db.session.merge(world.committee)
        r = make_rules(world.a.id, committee, db.session.merge(world.committee2))
        db.session.commit()
        db.session.remove()
    return r
