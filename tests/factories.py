"""Small helpers that make what a test needs. They flush, never commit."""
import itertools
from types import SimpleNamespace

from civic.accounts.models import User
from civic.communities.models import Community, District, Grid, MemberRole, Membership, Street
from civic.extensions import db

DEFAULT_PHONE = "13900000001"
DEFAULT_PASSWORD = "correct-horse-1"
_phones = itertools.count(13700000000)
_names = itertools.count(1)


def make_user(phone=None, name=None, password=DEFAULT_PASSWORD, **fields):
    """A registered person with a phone and a password."""
    user = User(phone=phone or str(next(_phones)), display_name=name or f"居民{next(_names)}", **fields)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def make_community(name=None, street_name="泉城路街道", district_name="历下区", kind="community"):
    """A community (with its street and district) and one grid."""
    district = db.session.query(District).filter_by(name=district_name).one_or_none() or District(name=district_name)
    db.session.add(district)
    db.session.flush()
    street = db.session.query(Street).filter_by(district_id=district.id, name=street_name).one_or_none()
    if street is None:
        street = Street(district_id=district.id, name=street_name)
        db.session.add(street)
        db.session.flush()
    community = Community(street_id=street.id, name=name or f"社区{next(_names)}", kind=kind)
    db.session.add(community)
    db.session.flush()
    db.session.add(Grid(community_id=community.id, name="第一网格"))
    db.session.flush()
    from civic.communities.service import seed_community

    seed_community(community.id)
    return community


def make_member(community, user=None, roles=(), status="active", **user_fields):
    """A person who is a member of `community` with the given roles."""
    user = user or make_user(**user_fields)
    db.session.add(Membership(community_id=community.id, user_id=user.id, status=status, address="1号楼"))
    db.session.flush()
    for role in roles:
        db.session.add(MemberRole(community_id=community.id, user_id=user.id, role=role))
    db.session.flush()
    return user


def make_world():
    """Two communities, each with a committee member, coordinator, shopkeeper and two residents."""
    w = SimpleNamespace()
    w.a = make_community("芙蓉社区")
    w.b = make_community("曲水亭村", kind="village")
    w.committee = make_member(w.a, roles=["committee"], phone=DEFAULT_PHONE, name="王主任")
    w.committee2 = make_member(w.a, roles=["committee"], name="李委员")
    w.coordinator = make_member(w.a, roles=["coordinator"], name="张队长")
    w.shopkeeper = make_member(w.a, roles=["shopkeeper"], name="赵店长")
    w.resident = make_member(w.a, name="刘阿姨")
    w.resident2 = make_member(w.a, name="陈大爷")
    w.b_committee = make_member(w.b, roles=["committee"], name="周书记")
    w.b_resident = make_member(w.b, name="吴师傅")
    w.outsider = make_user(name="路人")
    w.admin = make_user(name="管理员", is_admin=True)
    return w


def confirm_rule_changes(community_id, confirmer):
    """A second committee member confirms every waiting change to the point-deciding rules (four eyes)."""
    from civic.rules import service as rules

    for change in rules.pending(confirmer, community_id):
        rules.confirm_change(confirmer, community_id, change.id)


def settle_awards(after):
    """Run the notice job as if every notice period (at most 30 days) had ended after `after`: awards on the
    public notice post to the passbook (one gate for every point issued). Returns how many were posted."""
    from datetime import timedelta

    from civic.merit import service as merit

    return merit.close_notices(now=after + timedelta(days=31))


def make_upload(community, user, name=None, *, at=None, data=None):
    """An upload row for a photo `user` sent in `community` (without bytes unless `data` is given: for
    services that only check ownership)."""
    import secrets

    from civic.core.clock import resolve
    from civic.core.uploads import Upload

    upload = Upload(community_id=getattr(community, "id", community), uploader_id=getattr(user, "id", user),
                    name=name or f"{secrets.token_hex(16)}.jpg", size=len(data or b"xx"), content_type="image/jpeg",
                    created_at=resolve(at), data=data)
    db.session.add(upload)
    db.session.flush()
    return upload.name
