"""The demo data behind `flask --app wsgi seed-demo`. Idempotent: running it twice changes nothing."""
from sqlalchemy import select

from civic.accounts.models import User
from civic.accounts.service import create_admin, create_managed_resident, sign_up
from civic.communities import service as communities
from civic.communities.models import Community, Grid, Membership
from civic.extensions import db

DEMO_PASSWORD = "civic-demo-1"

# (phone, name, community index, roles)
DEMO_USERS = [
    ("13800000001", "王主任", 0, ["committee"]),
    ("13800000002", "李委员", 0, ["committee"]),
    ("13800000003", "张队长", 0, ["coordinator"]),
    ("13800000004", "赵店长", 0, ["shopkeeper"]),
    ("13800000005", "刘阿姨", 0, []),
    ("13800000006", "陈大爷", 0, []),
    ("13800000011", "周书记", 1, ["committee"]),
    ("13800000015", "吴师傅", 1, []),
]
ADMIN_PHONE = "13800000000"
COMMUNITIES = [("芙蓉社区", "community"), ("曲水亭村", "village")]
GRIDS = ["第一网格", "第二网格"]
MANAGED = ("孙奶奶", "芙蓉街 12 号")


def seed_demo():
    """Create the demo street, communities, grids and a user for every role. Returns the summary lines."""
    admin = db.session.scalar(select(User).where(User.phone == ADMIN_PHONE)) or create_admin(
        ADMIN_PHONE, "街道管理员", DEMO_PASSWORD
    )
    district = communities.get_or_create_district(admin, "历下区")
    street = communities.get_or_create_street(admin, district, "泉城路街道")
    places = []
    for name, kind in COMMUNITIES:
        community = db.session.scalar(
            select(Community).where(Community.street_id == street.id, Community.name == name)
        ) or communities.create_community(admin, street, name, kind)
        for grid_name in GRIDS:
            if not db.session.scalar(select(Grid.id).where(Grid.community_id == community.id, Grid.name == grid_name)):
                communities.add_grid(admin, community.id, grid_name)
        places.append(community)

    lines = [(ADMIN_PHONE, "街道管理员", "-", "administrator")]
    for phone, name, index, roles in DEMO_USERS:
        community = places[index]
        user = db.session.scalar(select(User).where(User.phone == phone)) or sign_up(phone, name, DEMO_PASSWORD)
        membership = db.session.scalar(
            select(Membership).where(Membership.community_id == community.id, Membership.user_id == user.id)
        )
        if membership is None:
            grid = db.session.scalar(select(Grid).where(Grid.community_id == community.id).order_by(Grid.id))
            db.session.add(Membership(community_id=community.id, user_id=user.id, status="active",
                                      grid_id=grid.id, address=f"{community.name}"))
            db.session.flush()
        for role in roles:
            communities.grant_role(admin, community.id, user.id, role)
        lines.append((phone, name, community.name, ", ".join(roles) or "resident"))

    committee = db.session.scalar(select(User).where(User.phone == DEMO_USERS[0][0]))
    if not db.session.scalar(select(User.id).where(User.display_name == MANAGED[0], User.is_managed.is_(True))):
        create_managed_resident(committee, places[0].id, MANAGED[0], address=MANAGED[1])
    lines.append(("-", MANAGED[0], places[0].name, "managed resident (no phone)"))
    db.session.flush()
    return lines
