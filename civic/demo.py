"""The demo data behind `flask --app wsgi seed-demo`. Idempotent: running it twice changes nothing."""
from sqlalchemy import select

from civic.accounts.models import User
from civic.accounts.service import create_admin, create_managed_resident, sign_up
from civic.communities import service as communities
from civic.communities.models import Community, Grid, Membership
from civic.core.db import get_or_create
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
    seed_shop(admin, places[0])
    seed_patrols(admin, places[0])
    seed_merit(places[0])
    seed_deliberation(places[0])
    seed_passbook(places[0])
    lines += seed_grid(admin, street, places[0])
    return lines


# Points shop (积分超市): one village shop run by the demo shopkeeper, with everyday goods.
DEMO_SHOP = ("芙蓉积分超市", "芙蓉街 1 号居委会旁")
DEMO_GOODS = [  # (name, description, price, stock, monthly limit)
    ("洗衣粉 1 公斤", "家用洗衣粉一袋", 30, 20, 2),
    ("食用油 1.8 升", "花生油一桶", 80, 10, 1),
    ("毛巾", "纯棉毛巾一条", 20, 30, None),
    ("鸡蛋 10 枚", "新鲜鸡蛋一盒", 25, 5, 2),
]


def seed_shop(admin, community):
    """The demo shop, its shopkeeper and goods (idempotent)."""
    from civic.shop import service as shop_service
    from civic.shop.models import Item, Shop

    shop = db.session.scalar(select(Shop).where(Shop.community_id == community.id, Shop.name == DEMO_SHOP[0]))
    if shop is None:
        shop = shop_service.create_shop(admin, community.id, *DEMO_SHOP)
    keeper = db.session.scalar(select(User).where(User.phone == "13800000004"))
    if keeper is not None:
        shop_service.assign_keeper(admin, community.id, shop.id, keeper.id)
    for name, description, price, stock, limit in DEMO_GOODS:
        if not db.session.scalar(select(Item.id).where(Item.community_id == community.id, Item.name == name)):
            shop_service.add_item(admin, community.id, shop.id, name=name, description=description, price=price,
                                  stock=stock, monthly_limit=limit)
    return shop


# Volunteer patrols: a loop round the community and Tuesday/Friday evening shifts for four weeks.
DEMO_ROUTE = ("芙蓉街夜巡环线", [[36.6683, 117.0204], [36.6695, 117.0204], [36.6695, 117.0228],
                                  [36.6683, 117.0228], [36.6683, 117.0204]])
DEMO_SHIFT_TITLE = "周二周五晚间巡逻"


def seed_patrols(admin, community):
    """The demo patrol route, weekly shifts and report categories (idempotent)."""
    from datetime import date, time, timedelta

    from civic.patrols import service as patrols
    from civic.patrols.models import PatrolRoute, Shift

    route = db.session.scalar(select(PatrolRoute).where(
        PatrolRoute.community_id == community.id, PatrolRoute.name == DEMO_ROUTE[0]))
    if route is None:
        route = patrols.create_route(admin, community.id, name=DEMO_ROUTE[0], waypoints=DEMO_ROUTE[1],
                                     description="从居委会出发，沿芙蓉街走一圈", is_area=False)
    if not db.session.scalar(select(Shift.id).where(Shift.community_id == community.id,
                                                    Shift.title == DEMO_SHIFT_TITLE)):
        today = date.today()
        patrols.create_weekly_shifts(admin, community.id, title=DEMO_SHIFT_TITLE, weekdays=[1, 4],
                                     local_start=time(19, 0), minutes=120, first_date=today + timedelta(days=1),
                                     last_date=today + timedelta(days=28), capacity=8, route_id=route.id,
                                     meeting_point="居委会门口", notes="请穿红马甲，带手电筒")
    patrols.report_categories(community.id)
    patrols.settings_for(community.id)
    return route


# Merit claims: a catalogue with the seed's categories and a negative list; one item on notice, one pending.
DEMO_RULES = [  # (category code, kind, name, points_min, points_max, cap (period, times), photo needed)
    ("moral", "award", "拾金不昧", 5, 20, None, False),
    ("moral", "award", "见义勇为", 30, 100, None, False),
    ("poverty", "award", "帮扶困难户", 5, 10, ("month", 4), False),
    ("filial", "award", "孝敬老人", 5, 5, ("month", 1), False),
    ("filial", "award", "邻里互助", 2, 5, ("month", 4), False),
    ("labour", "award", "参加义务劳动", 3, 3, ("month", 8), True),
    ("environment", "award", "庭院整洁", 2, 2, ("month", 1), False),
    ("environment", "deduction", "乱扔垃圾", 5, 5, None, False),
    ("environment", "deduction", "乱堆乱放", 10, 10, None, False),
    ("filial", "deduction", "不赡养老人", 20, 20, None, False),
]


def seed_merit(community):
    """The demo catalogue, one claim on the notice board and one waiting for review (idempotent)."""
    from civic.merit import service as merit
    from civic.merit.models import Claim, MeritRule
    from civic.rules import service as rules

    committee = db.session.scalar(select(User).where(User.phone == "13800000001"))
    second = db.session.scalar(select(User).where(User.phone == "13800000002"))
    resident = db.session.scalar(select(User).where(User.phone == "13800000005"))
    neighbour = db.session.scalar(select(User).where(User.phone == "13800000006"))
    if committee is None or second is None or resident is None or neighbour is None:
        return
    if not db.session.scalar(select(MeritRule.id).where(MeritRule.community_id == community.id)):
        codes = {c.code: c.id for c in merit.categories(community.id)}
        for code, kind, name, low, high, cap, photo in DEMO_RULES:
            merit.create_rule(committee, community.id, {
                "category_id": codes[code], "kind": kind, "name": name, "points_min": low, "points_max": high,
                "cap_period": cap[0] if cap else "none", "cap_times": cap[1] if cap else None,
                "evidence_required": photo})
        for change in rules.pending(second, community.id):  # the second committee member confirms each item
            rules.confirm_change(second, community.id, change.id)
    if not db.session.scalar(select(Claim.id).where(Claim.community_id == community.id)):
        rules = {r.name: r.id
                 for r in db.session.scalars(select(MeritRule).where(MeritRule.community_id == community.id))}
        shown = merit.submit_claim(resident, community.id, rules["孝敬老人"],
                                   description="每天给隔壁孙奶奶送饭，陪她聊天")
        merit.approve_claim(committee, community.id, shown.id)
        merit.submit_claim(neighbour, community.id, rules["邻里互助"], description="帮三号楼的邻居修好了自行车")
    db.session.flush()


# Deliberation (议事): a topic collecting support, one with the committee, and a session tomorrow evening.
DEMO_MEETING = "芙蓉社区民主议事会"


def seed_deliberation(community):
    """Demo topics and a planned session with the committee's topic on its agenda (idempotent)."""
    from datetime import timedelta

    from civic.core.clock import local_date, local_day_start, utcnow
    from civic.deliberation import service as deliberation
    from civic.deliberation.models import Meeting, Topic

    committee = db.session.scalar(select(User).where(User.phone == "13800000001"))
    resident = db.session.scalar(select(User).where(User.phone == "13800000005"))
    neighbour = db.session.scalar(select(User).where(User.phone == "13800000006"))
    if committee is None or resident is None or neighbour is None:
        return
    if db.session.scalar(select(Topic.id).where(Topic.community_id == community.id)):
        return
    tomorrow = local_day_start(local_date(utcnow()), plus_days=1) + timedelta(hours=19, minutes=30)
    meeting = db.session.scalar(select(Meeting).where(Meeting.community_id == community.id,
                                                      Meeting.title == DEMO_MEETING))
    if meeting is None:
        meeting = deliberation.create_meeting(committee, community.id, title=DEMO_MEETING, kind="council",
                                              place="芙蓉街居委会二楼会议室", starts_at=tomorrow,
                                              ends_at=tomorrow + timedelta(hours=2), quorum_count=3,
                                              quorum_percent=50, majority="simple")
    topic = deliberation.propose_topic(resident, community.id, "3号楼楼道灯不亮",
                                       "二单元楼道灯坏了一个多月，老人晚上上下楼不安全，建议换成声控灯。")
    deliberation.support_topic(neighbour, community.id, topic.id)
    parking = deliberation.propose_topic(committee, community.id, "电动车集中充电棚选址",
                                         "楼道里充电有火灾隐患，拟在小区东侧空地建充电棚，请居民议一议。")
    deliberation.schedule_topic(committee, community.id, parking.id, meeting.id, is_major=True)
    db.session.flush()


def seed_passbook(community):
    """A household of two demo residents and a few awards, so the passbook and honour roll have content.
    Idempotent: fixed request keys, and the household is looked up by its label."""
    from datetime import timedelta

    from civic.communities.models import Household
    from civic.core.clock import utcnow
    from civic.ledger import service as ledger

    aunt = db.session.scalar(select(User).where(User.phone == "13800000005"))
    uncle = db.session.scalar(select(User).where(User.phone == "13800000006"))
    home = get_or_create(Household, community_id=community.id, label="芙蓉街 8 号")[0]
    for user in (aunt, uncle):
        membership = db.session.scalar(select(Membership).where(
            Membership.community_id == community.id, Membership.user_id == user.id))
        if membership.household_id is None:
            membership.household_id = home.id
    now = utcnow()
    for n, (user, points, category, memo, days) in enumerate([
        (aunt, 10, "labour", "清扫楼道", 40), (aunt, 5, "moral", "拾金不昧", 20),
        (aunt, 8, "environment", "垃圾分类示范", 2),
        (uncle, 6, "filial", "照顾邻居老人", 15), (uncle, 12, "labour", "义务巡逻", 1),
    ]):
        ledger.award(community.id, user.id, points, idempotency_key=f"demo:passbook:{n}", category=category,
                     memo=memo, now=now - timedelta(days=days))
    db.session.flush()


# Grid governance (网格化): a street office, departments with staff, a grid worker with rounds due, and problem
# reports at every stage of 吹哨报到, one of them overdue and red.
GRID_PEOPLE = [  # (phone, name, what)
    ("13800000007", "孙网格员", "grid worker of 芙蓉社区 第一网格"),
    ("13800000020", "林主任", "street administrator (command view)"),
    ("13800000021", "城管队员小马", "department staff: 城管"),
    ("13800000022", "物业管家小何", "department staff: 物业"),
]
DEPARTMENTS = ["城管", "市场监管", "派出所", "物业"]
DISTRICT_DEPARTMENTS = ["供水"]
GRID_HOUSES = ["芙蓉街 8 号", "芙蓉街 10 号", "芙蓉街 12 号", "芙蓉街 14 号", "芙蓉街 16 号"]


def seed_grid(admin, street, community):
    """The street's departments and deadlines, the grid's roles and households, and reports at each stage.
    Idempotent: skipped once the demo grid worker has a visit."""
    from datetime import timedelta

    from civic.communities.models import Household
    from civic.core.clock import utcnow
    from civic.grid import service as grid
    from civic.grid.models import Department, DepartmentStaff, GridRole, Visit
    from civic.patrols import service as patrols
    from civic.rules.models import AreaAdmin

    users = {}
    for phone, name, _what in GRID_PEOPLE:
        users[phone] = db.session.scalar(select(User).where(User.phone == phone)) or sign_up(phone, name, DEMO_PASSWORD)
    lines = [(phone, name, street.name if phone != "13800000007" else community.name, what)
             for phone, name, what in GRID_PEOPLE]
    worker, office = users["13800000007"], users["13800000020"]
    if db.session.scalar(select(Visit.id).where(Visit.worker_id == worker.id)) is not None:
        return lines
    if db.session.scalar(select(AreaAdmin.id).where(AreaAdmin.user_id == office.id)) is None:
        db.session.add(AreaAdmin(user_id=office.id, street_id=street.id, assigned_by_id=admin.id))
    departments = {}
    for name in DEPARTMENTS:
        departments[name] = db.session.scalar(select(Department).where(
            Department.street_id == street.id, Department.name == name)) or grid.create_department(
            admin, name=name, street_id=street.id)
    for name in DISTRICT_DEPARTMENTS:
        departments[name] = db.session.scalar(select(Department).where(
            Department.district_id == street.district_id, Department.name == name)) or grid.create_department(
            admin, name=name, district_id=street.district_id)
    for phone, name in (("13800000021", "城管"), ("13800000022", "物业")):
        if db.session.scalar(select(DepartmentStaff.id).where(DepartmentStaff.user_id == users[phone].id)) is None:
            grid.add_staff(admin, departments[name].id, users[phone].id)
    first = db.session.scalar(select(Grid).where(Grid.community_id == community.id).order_by(Grid.id))
    if db.session.scalar(select(Membership.id).where(Membership.community_id == community.id,
                                                     Membership.user_id == worker.id)) is None:
        db.session.add(Membership(community_id=community.id, user_id=worker.id, status="active", grid_id=first.id,
                                  address=community.name))
        db.session.flush()
    leader = db.session.scalar(select(User).where(User.phone == "13800000002"))
    for user, role in ((worker, "grid_worker"), (leader, "grid_leader")):
        if db.session.scalar(select(GridRole.id).where(GridRole.community_id == community.id,
                                                       GridRole.user_id == user.id, GridRole.role == role)) is None:
            grid.assign_role(admin, community.id, first.id, user.id, role)
    grid.set_cycle(admin, community.id, first.id, 14)
    houses = []
    for label in GRID_HOUSES:
        house = db.session.scalar(select(Household).where(Household.community_id == community.id,
                                                          Household.label == label))
        if house is None:
            house = Household(community_id=community.id, label=label)
            db.session.add(house)
            db.session.flush()
        house.grid_id = first.id
        houses.append(house)
    granny = db.session.scalar(select(Membership).join(User, User.id == Membership.user_id).where(
        Membership.community_id == community.id, User.display_name == MANAGED[0]))
    if granny is not None and granny.household_id is None:
        granny.household_id = houses[2].id
    for category, hours in (("Uncivilised", 24), ("Unsafe", 12), ("Inconvenient", 48)):
        grid.set_deadline(admin, street.id, category, hours)
    db.session.flush()

    now = utcnow()
    categories = {c.name: c.id for c in patrols.report_categories(community.id)}
    resident = db.session.scalar(select(User).where(User.phone == "13800000005"))

    def raised(house, days, category, text):
        visit = grid.record_visit(worker, community.id, house.id, met="住户", notes=text, minutes=20,
                                  follow_up=True, problem={"category_id": categories[category], "description": text},
                                  now=now - timedelta(days=days))
        return patrols.get_report(community.id, visit.report_id)

    grid.record_visit(worker, community.id, houses[1].id, met="陈大爷", notes="身体健康，家中无困难",
                      now=now - timedelta(days=3))
    raised(houses[0], 0, "Uncivilised", "楼道内堆放纸箱杂物")  # just raised: submitted
    waiting = raised(houses[3], 1, "Inconvenient", "小区门口路灯不亮")  # passed to the street, no department yet
    grid.escalate_report(leader, community.id, waiting.id, note="需要街道协调", now=now - timedelta(hours=20))
    working = raised(houses[4], 1, "Uncivilised", "沿街商户占道经营")  # dispatched and accepted by 城管
    case = grid.escalate_report(leader, community.id, working.id, now=now - timedelta(hours=22))
    grid.dispatch_case(office, case.id, departments["城管"].id, now=now - timedelta(hours=21))
    grid.accept_case(users["13800000021"], case.id, now=now - timedelta(hours=20))
    fixed = patrols.submit_report(resident, community.id, category_id=categories["Inconvenient"],
                                  description="单元门禁坏了", now=now - timedelta(days=2))  # fixed, to confirm
    case = grid.escalate_report(leader, community.id, fixed.id, now=now - timedelta(days=2))
    grid.dispatch_case(office, case.id, departments["物业"].id, now=now - timedelta(days=2))
    grid.resolve_case(users["13800000022"], case.id, photo=_demo_photo(users["13800000022"], community.id),
                      note="已更换门禁",
                      now=now - timedelta(days=1))
    late = raised(houses[2], 4, "Unsafe", "电动车在楼道内充电")  # past 12 hours: overdue, red at the street
    grid.escalate_overdue(now=now - timedelta(days=3))
    case = grid.case_of_report(community.id, late.id)
    grid.dispatch_case(office, case.id, departments["城管"].id, now=now - timedelta(days=3))
    grid.escalate_overdue(now=now)  # 12 more hours passed: up to the district, red
    from civic.grid import disputes

    uncle = db.session.scalar(select(User).where(User.phone == "13800000006"))
    dispute = disputes.open_dispute(leader, community.id, title="楼上漏水殃及楼下", parties="芙蓉街 8 号、芙蓉街 10 号",
                                    mediator_id=worker.id, now=now - timedelta(days=6))
    disputes.record_session(worker, community.id, dispute.id,
                            attendees=f"{resident.display_name}、{uncle.display_name}", notes="双方同意请物业查明漏点",
                            now=now - timedelta(days=5))
    disputes.record_outcome(worker, community.id, dispute.id, agreed=True,
                            agreement="漏点在 8 号，由 8 号修复防水，10 号自行修补吊顶",
                            follow_up_days=14, now=now - timedelta(days=4))
    disputes.open_dispute(leader, community.id, title="车位占用", parties="芙蓉街 12 号、芙蓉街 14 号",
                          mediator_id=worker.id, now=now - timedelta(days=1))
    db.session.flush()
    return lines


def _demo_photo(uploader, community_id):
    """A small real photo saved through the uploads store (a department's proof of the fix)."""
    import io

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    from civic.core.uploads import save_photo

    data = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 140, 90)).save(data, "PNG")
    data.seek(0)
    return save_photo(FileStorage(stream=data, filename="fixed.png", content_type="image/png"),
                      uploader=uploader, community_id=community_id)
