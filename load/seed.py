"""Data for the load run: the demo plus residents with points, cheap goods in stock and an open session.

Called by load/run_load.py inside an app context on the civic_load database (after `flask db upgrade`
and `flask seed-demo`). Idempotent: residents, goods and the session are looked up before they are made.
"""
from datetime import timedelta

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from civic.accounts.models import User
from civic.communities.models import Community, Grid, Membership
from civic.core.clock import utcnow
from civic.demo import COMMUNITIES, DEMO_PASSWORD, DEMO_SHOP, DEMO_USERS
from civic.extensions import db

RESIDENT_PASSWORD = "load-test-pass-1"
PHONE_PREFIX = "139"
POINTS_EACH = 2000
LOAD_ITEM = ("负载测试毛巾", 1, 1_000_000)  # name, price in points, stock
LOAD_MEETING = "负载测试议事会"


def seed_load(residents=200):
    """Returns what the locustfile needs: ids, the residents' phones and the passwords."""
    from civic.deliberation import service as deliberation
    from civic.deliberation.models import Meeting
    from civic.ledger import service as ledger
    from civic.shop import service as shop_service
    from civic.shop.models import Item, Shop

    now = utcnow()
    community = db.session.scalar(select(Community).where(Community.name == COMMUNITIES[0][0]))
    grid = db.session.scalar(select(Grid).where(Grid.community_id == community.id).order_by(Grid.id))
    admin = db.session.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.id))
    committee = db.session.scalar(select(User).where(User.phone == DEMO_USERS[0][0]))

    # One hash for everyone: hashing 200 passwords would take most of a minute on two cores.
    password_hash = generate_password_hash(RESIDENT_PASSWORD)
    phones = [f"{PHONE_PREFIX}{i + 1:08d}" for i in range(residents)]
    existing = set(db.session.scalars(select(User.phone).where(User.phone.in_(phones))))
    for i, phone in enumerate(phones):
        if phone in existing:
            continue
        user = User(phone=phone, display_name=f"居民{i + 1}", password_hash=password_hash, auth_version=1)
        db.session.add(user)
        db.session.flush()
        db.session.add(Membership(community_id=community.id, user_id=user.id, status="active", grid_id=grid.id,
                                  address=f"{i // 20 + 1}号楼"))
    db.session.flush()
    for user_id in db.session.scalars(select(User.id).where(User.phone.in_(phones))):
        ledger.award(community.id, user_id, POINTS_EACH, idempotency_key=f"load:seed:{user_id}",
                     memo="负载测试初始积分", now=now)

    shop = db.session.scalar(select(Shop).where(Shop.community_id == community.id, Shop.name == DEMO_SHOP[0]))
    item = db.session.scalar(select(Item).where(Item.community_id == community.id, Item.name == LOAD_ITEM[0]))
    if item is None:
        item = shop_service.add_item(admin, community.id, shop.id, name=LOAD_ITEM[0], description="负载测试用",
                                     price=LOAD_ITEM[1], stock=LOAD_ITEM[2], monthly_limit=None)

    meeting = db.session.scalar(select(Meeting).where(Meeting.community_id == community.id,
                                                      Meeting.title == LOAD_MEETING))
    if meeting is None or meeting.ends_at < now + timedelta(minutes=30):
        meeting = deliberation.create_meeting(committee, community.id, title=LOAD_MEETING, kind="hall",
                                              place="大礼堂", starts_at=now - timedelta(minutes=1),
                                              ends_at=now + timedelta(hours=2), quorum_percent=0)
    db.session.flush()
    return {
        "community_id": community.id, "item_id": item.id, "meeting_id": meeting.id,
        "committee_phone": committee.phone, "committee_password": DEMO_PASSWORD,
        "residents": phones, "password": RESIDENT_PASSWORD,
    }
