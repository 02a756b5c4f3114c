"""The points shop's rules: shops and shopkeepers, goods and stock, orders paid by held points,
vouchers (QR token or short code), counter redemption, cancel and expiry, and the economy figures.

Points move only through civic.ledger.service (hold → settle or release), each with a key derived
from the order, so a retry never moves them twice. Locks are always taken in the same order, so
concurrent orders, cancels, expiries and redemptions never deadlock:

    the resident's ledger account → the order → the item → (ledger) the hold and shop accounts

The resident's account lock serialises one resident's orders (balance and monthly limit are
checked under it); the item lock serialises orders for the same goods (stock is checked under it,
and the CHECK (stock >= 0) guards it as well).
"""
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from civic.accounts.models import User
from civic.communities.models import MemberRole, Membership
from civic.communities.service import register_settings_seeder
from civic.core import audit, qr, uploads
from civic.core.clock import local, local_date, local_day_start, local_month_start, local_text, resolve
from civic.core.db import get_or_create
from civic.core.errors import Conflict, DomainError, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import can, require
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.debt import require_free_to_spend, require_no_debt_to_collect
from civic.notifications import service as notices
from civic.shop.models import Item, Order, Shop, ShopKeeper, ShopSettings

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: easy to read out and type
CODE_LENGTH = 8
DEFAULT_VOUCHER_DAYS = 7
MAX_QUANTITY = 20
REQUEST_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


class SoldOut(DomainError):
    status = 409
    reason = "sold_out"
    default_message = N_("Sold out. Please choose something else.")


class LimitReached(DomainError):
    status = 409
    reason = "limit_reached"
    default_message = N_("You have reached this month's limit for this item.")


class VoucherRefused(DomainError):
    status = 409
    reason = "voucher_refused"
    default_message = N_("This voucher cannot be used here.")


# --- settings -----------------------------------------------------------------------------------

def settings_for(community_id):
    """The community's shop settings (defaults until the committee changes them)."""
    settings = db.session.scalar(select(ShopSettings).where(ShopSettings.community_id == community_id))
    return settings or ShopSettings(community_id=community_id, voucher_days=DEFAULT_VOUCHER_DAYS)


register_settings_seeder(ShopSettings, settings_for)


def set_voucher_days(actor, community_id, days):
    """The committee sets how many days a voucher stays valid (1 to 90)."""
    require(actor, "shop.manage", community_id)
    if not isinstance(days, int) or not 1 <= days <= 90:
        raise Invalid(N_("A voucher must stay valid for 1 to 90 days."))
    settings = get_or_create(ShopSettings, community_id=community_id)[0]
    settings.voucher_days = days
    db.session.flush()
    return settings


# --- shops and shopkeepers ----------------------------------------------------------------------

def _clean(value, message, max_length):
    value = (value or "").strip()
    if not value:
        raise Invalid(message)
    return value[:max_length]


def create_shop(actor, community_id, name, address=""):
    """The committee opens a shop (the village shop or a partner merchant)."""
    require(actor, "shop.manage", community_id)
    name = _clean(name, N_("Please enter the shop's name."), 60)
    if db.session.scalar(select(Shop.id).where(Shop.community_id == community_id, Shop.name == name)):
        raise Conflict(N_("A shop with that name already exists."))
    shop = Shop(community_id=community_id, name=name, address=(address or "").strip()[:120])
    db.session.add(shop)
    db.session.flush()
    audit.record("shop.created", actor=actor, community_id=community_id, detail={"shop_id": shop.id})
    return shop


def get_shop(community_id, shop_id):
    """A shop of this community, or NotFound."""
    shop = db.session.scalar(select(Shop).where(Shop.community_id == community_id, Shop.id == shop_id))
    if shop is None:
        raise NotFound(N_("No such shop."))
    return shop


def shops(community_id, *, active_only=False):
    """The community's shops by name."""
    query = select(Shop).where(Shop.community_id == community_id).order_by(Shop.name, Shop.id)
    if active_only:
        query = query.where(Shop.active.is_(True))
    return db.session.scalars(query).all()


def assign_keeper(actor, community_id, shop_id, user_id):
    """The committee puts a shopkeeper (someone holding the shopkeeper role) in charge of a shop."""
    require(actor, "shop.manage", community_id)
    get_shop(community_id, shop_id)
    if not db.session.scalar(select(MemberRole.id).where(
            MemberRole.community_id == community_id, MemberRole.user_id == user_id, MemberRole.role == "shopkeeper")):
        raise Invalid(N_("Give this person the shopkeeper role first (on the residents page)."))
    existing = db.session.scalar(select(ShopKeeper).where(
        ShopKeeper.community_id == community_id, ShopKeeper.shop_id == shop_id, ShopKeeper.user_id == user_id))
    if existing:
        return existing
    keeper = ShopKeeper(community_id=community_id, shop_id=shop_id, user_id=user_id)
    db.session.add(keeper)
    db.session.flush()
    audit.record("shop.keeper_assigned", actor=actor, subject=user_id, community_id=community_id,
                 detail={"shop_id": shop_id})
    return keeper


def remove_keeper(actor, community_id, shop_id, user_id):
    """The committee takes a shopkeeper off a shop."""
    require(actor, "shop.manage", community_id)
    keeper = db.session.scalar(select(ShopKeeper).where(
        ShopKeeper.community_id == community_id, ShopKeeper.shop_id == shop_id, ShopKeeper.user_id == user_id))
    if keeper is None:
        raise NotFound(N_("This person does not look after this shop."))
    db.session.delete(keeper)
    db.session.flush()
    audit.record("shop.keeper_removed", actor=actor, subject=user_id, community_id=community_id,
                 detail={"shop_id": shop_id})


def keepers_of(community_id, shop_id):
    """The people looking after a shop."""
    return db.session.scalars(
        select(User).join(ShopKeeper, ShopKeeper.user_id == User.id)
        .where(ShopKeeper.community_id == community_id, ShopKeeper.shop_id == shop_id).order_by(User.id)
    ).all()


def shopkeeper_candidates(community_id):
    """Active members holding the shopkeeper role."""
    return db.session.scalars(
        select(User).join(MemberRole, MemberRole.user_id == User.id)
        .join(Membership, (Membership.user_id == User.id) & (Membership.community_id == MemberRole.community_id))
        .where(MemberRole.community_id == community_id, MemberRole.role == "shopkeeper",
               Membership.status == "active").order_by(User.display_name)
    ).all()


def is_keeper(user, community_id, shop_id):
    """True when `user` looks after this shop (the committee and administrators count as well)."""
    if can(user, "shop.manage", community_id):
        return True
    return can(user, "shop.stock", community_id) and db.session.scalar(select(ShopKeeper.id).where(
        ShopKeeper.community_id == community_id, ShopKeeper.shop_id == shop_id,
        ShopKeeper.user_id == user.id)) is not None


def require_keeper(user, community_id, shop_id):
    """Raise unless `user` looks after the shop (or is on the committee)."""
    get_shop(community_id, shop_id)
    if not is_keeper(user, community_id, shop_id):
        raise PermissionDenied(N_("Only this shop's shopkeepers can do that."))


def my_shops(user, community_id):
    """The shops a person may run: all of them for the committee, their own for a shopkeeper."""
    if can(user, "shop.manage", community_id):
        return shops(community_id)
    return db.session.scalars(
        select(Shop).join(ShopKeeper, (ShopKeeper.shop_id == Shop.id) & (ShopKeeper.community_id == Shop.community_id))
        .where(Shop.community_id == community_id, ShopKeeper.user_id == user.id).order_by(Shop.name)
    ).all()


# --- goods and stock ----------------------------------------------------------------------------

ITEM_FIELDS = ("name", "description", "price", "monthly_limit", "available_from", "available_until",
               "low_stock_at", "active", "photo")


def _window_bound(value, *, end=False):
    """A date is a whole China-time day: goods are on offer from the start of their first day to the end of
    their last day (the next midnight). A datetime is an exact instant (naive UTC), kept as it is."""
    if value is None or isinstance(value, datetime):
        return value
    return local_day_start(value, plus_days=1 if end else 0)


def offer_days(item):
    """(first day, last day) of the goods' offer in China time, as a shopkeeper entered them (None for open)."""
    return local_date(item.available_from), local_date(item.available_until, minus_days=1)


def _check_item(data):
    if "name" in data:
        data["name"] = _clean(data["name"], N_("Please enter the name of the goods."), 60)
    if "description" in data:
        data["description"] = (data["description"] or "").strip()[:500]
    if "price" in data and (not isinstance(data["price"], int) or not 1 <= data["price"] <= 1_000_000):
        raise Invalid(N_("The price must be a whole number of points from 1 to 1,000,000."))
    if data.get("monthly_limit") is not None and not 1 <= data["monthly_limit"] <= 1000:
        raise Invalid(N_("The monthly limit must be from 1 to 1000, or empty for no limit."))
    if "low_stock_at" in data and (data["low_stock_at"] is None or not 0 <= data["low_stock_at"] <= 100_000):
        raise Invalid(N_("The low-stock alert level must be 0 or more."))
    for field, end in (("available_from", False), ("available_until", True)):
        if field in data:
            data[field] = _window_bound(data[field], end=end)
    start, end = data.get("available_from"), data.get("available_until")
    if start and end and end <= start:
        raise Invalid(N_("The end of the availability window must be after its start."))
    return data


def add_item(actor, community_id, shop_id, *, stock=0, **data):
    """A shopkeeper (of that shop) or the committee puts new goods on the shelf."""
    require(actor, "shop.stock", community_id)
    require_keeper(actor, community_id, shop_id)
    unknown = set(data) - set(ITEM_FIELDS)
    if unknown:
        raise Invalid(N_("Please check what you entered."))
    data.setdefault("description", "")
    _check_item(data)
    if "name" not in data or "price" not in data:
        raise Invalid(N_("Please enter the name and the price."))
    if not isinstance(stock, int) or not 0 <= stock <= 1_000_000:
        raise Invalid(N_("Stock must be a whole number, 0 or more."))
    uploads.check_own(actor, community_id, [data.get("photo")])
    item = Item(community_id=community_id, shop_id=shop_id, stock=stock, **data)
    item.low_stock_alerted = item.stock <= (item.low_stock_at if item.low_stock_at is not None else 3)
    db.session.add(item)
    db.session.flush()
    uploads.attach(actor, community_id, [item.photo], "shop_item", item.id)
    audit.record("shop.item_added", actor=actor, community_id=community_id, detail={"item_id": item.id, "stock": stock})
    return item


def get_item(community_id, item_id, *, lock=False):
    """Goods of this community, or NotFound."""
    return get_in_community(Item, community_id, item_id, lock=lock, missing=N_("No such goods."))


def update_item(actor, community_id, item_id, **data):
    """Change the description, price, limit, window or photo of goods (not the stock: see adjust_stock)."""
    require(actor, "shop.stock", community_id)
    item = get_item(community_id, item_id)
    require_keeper(actor, community_id, item.shop_id)
    if set(data) - set(ITEM_FIELDS):
        raise Invalid(N_("Please check what you entered."))
    if data.get("photo") is None:
        data.pop("photo", None)  # keep the current photo unless a new one was uploaded
    _check_item(data)
    uploads.attach(actor, community_id, [data.get("photo")], "shop_item", item.id)
    for key, value in data.items():
        setattr(item, key, value)
    db.session.flush()
    return item


def adjust_stock(actor, community_id, item_id, change, *, now=None):
    """Add delivered goods (positive) or write off broken ones (negative); never below zero."""
    require(actor, "shop.stock", community_id)
    if not isinstance(change, int) or change == 0 or abs(change) > 1_000_000:
        raise Invalid(N_("Enter how many to add (or a negative number to remove)."))
    item = get_item(community_id, item_id)
    require_keeper(actor, community_id, item.shop_id)
    item = get_item(community_id, item_id, lock=True)
    if item.stock + change < 0:
        raise Invalid(N_("Only %(stock)s in stock; cannot remove %(n)s."), stock=item.stock, n=-change)
    item.stock += change
    _after_stock_change(item, now=now)
    db.session.flush()
    audit.record("shop.stock_adjusted", actor=actor, community_id=community_id,
                 detail={"item_id": item.id, "change": change, "stock": item.stock}, now=now)
    return item


def _after_stock_change(item, *, now=None):
    """Alert the shop's keepers once when stock falls to the alert level; re-arm when it rises above."""
    if item.stock > item.low_stock_at:
        item.low_stock_alerted = False
    elif not item.low_stock_alerted:
        item.low_stock_alerted = True
        for keeper in keepers_of(item.community_id, item.shop_id):
            notices.notify(
                keeper, "shop.low_stock", N_("Low stock: %(item)s"),
                N_("Only %(stock)s left of %(item)s. Please restock."),
                params={"item": item.name, "stock": item.stock}, community_id=item.community_id,
                link=f"/c/{item.community_id}/shop/items/{item.id}/edit", now=now,
            )


def is_available(item, now=None):
    """On sale now: active, in an active shop, inside its availability window."""
    now = resolve(now)
    return (item.active and (item.available_from is None or item.available_from <= now)
            and (item.available_until is None or now < item.available_until))


def catalogue(community_id, *, now=None, include_unavailable=False):
    """The goods residents can order now, by shop then name (sold-out goods are listed too)."""
    query = (select(Item).join(Shop, (Shop.id == Item.shop_id) & (Shop.community_id == Item.community_id))
             .options(contains_eager(Item.shop)).where(Item.community_id == community_id)
             .order_by(Shop.name, Item.name, Item.id))
    if not include_unavailable:
        query = query.where(Shop.active.is_(True), Item.active.is_(True))
    items = db.session.scalars(query).all()
    return items if include_unavailable else [i for i in items if is_available(i, now)]


# --- orders -------------------------------------------------------------------------------------

def _lock_resident(community_id, user_id):
    """Lock the resident's ledger account: one resident's orders and cancels happen one at a time. Returns
    their spendable balance (true while the lock is held)."""
    return ledger.lock_spendable(community_id, user_id)


def _new_code(community_id):
    for _attempt in range(20):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not db.session.scalar(select(Order.id).where(Order.community_id == community_id, Order.code == code)):
            return code
    raise Conflict(N_("Please try again."))  # practically unreachable: 31^8 codes


def _same_request(order, item_id, quantity):
    if order.item_id != item_id or order.quantity != quantity:
        raise ledger.IdempotencyConflict()
    return order


def place_order(user, community_id, item_id, quantity=1, *, request_key=None, now=None):
    """A resident orders goods: stock goes down and the points move to a hold, in one transaction.

    The same `request_key` (a double tap, a retried request) returns the first order instead of
    making a second one. Raises SoldOut, LimitReached or the ledger's InsufficientPoints.
    """
    require(user, "shop.browse", community_id)
    now = resolve(now)
    if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise Invalid(N_("Please order from 1 to %(n)s at a time."), n=MAX_QUANTITY)
    if request_key is not None and not REQUEST_KEY.match(request_key):
        raise Invalid(N_("The request key must be 8 to 64 letters, digits or - _ . :"))
    item = get_item(community_id, item_id)
    shop = get_shop(community_id, item.shop_id)  # NotFound before any lock
    if not shop.active:
        raise Conflict(N_("%(item)s is not on offer at the moment."), item=item.name)

    balance = _lock_resident(community_id, user.id)
    if request_key:
        # Looked up under the resident's lock, so a concurrent twin has either committed or not started.
        existing = db.session.scalar(select(Order).where(
            Order.community_id == community_id, Order.user_id == user.id, Order.request_key == request_key))
        if existing is not None:
            return _same_request(existing, item_id, quantity)

    # Checked and prepared before the item lock, so that the lock on popular goods is held briefly.
    # The monthly limit is the resident's own: their lock (held) is what makes it safe.
    if item.monthly_limit is not None:
        taken = db.session.scalar(select(func.coalesce(func.sum(Order.quantity), 0)).where(
            Order.community_id == community_id, Order.user_id == user.id, Order.item_id == item.id,
            Order.status.in_(("held", "redeemed")), Order.created_at >= local_month_start(now))) or 0
        if taken + quantity > item.monthly_limit:
            raise LimitReached(N_("You may take %(limit)s of %(item)s a month; you already have %(taken)s."),
                               limit=item.monthly_limit, item=item.name, taken=taken)
    code = _new_code(community_id)
    expires_at = now + timedelta(days=settings_for(community_id).voucher_days)
    checked = item.price * quantity
    require_free_to_spend(community_id, user.id, balance, checked)  # no open debt, deductions on notice kept back

    item = get_item(community_id, item_id, lock=True)
    if not is_available(item, now):
        raise Conflict(N_("%(item)s is not on offer at the moment."), item=item.name)
    if item.stock < quantity:
        if item.stock == 0:
            raise SoldOut(N_("%(item)s is sold out."), item=item.name)
        raise SoldOut(N_("Only %(stock)s of %(item)s left."), stock=item.stock, item=item.name)
    points = item.price * quantity
    if points != checked:  # the price changed meanwhile: check again under the lock
        require_free_to_spend(community_id, user.id, balance, points)
    ledger.require_spendable(balance, points)

    item.stock -= quantity
    order = Order(community_id=community_id, shop_id=item.shop_id, item_id=item.id, user_id=user.id,
                  quantity=quantity, points=points, status="held", code=code,
                  request_key=request_key or None, created_at=now, expires_at=expires_at)
    db.session.add(order)
    db.session.flush()
    set_committed_value(order, "item", item)  # loaded here: the voucher shown next needs no query for them
    set_committed_value(order, "shop", shop)
    ledger.hold(community_id, user.id, points, idempotency_key=f"order:{order.id}:hold",
                memo=f"{item.name} × {quantity}", source=f"order:{order.id}", actor=user, now=now)
    _after_stock_change(item, now=now)
    db.session.flush()
    return order


def get_order(community_id, order_id, *, lock=False):
    """An order of this community, or NotFound."""
    return get_in_community(Order, community_id, order_id, lock=lock, missing=N_("No such voucher."))


def my_order(user, community_id, order_id):
    """One of my own orders (another person's is not found)."""
    require(user, "shop.browse", community_id)
    order = get_order(community_id, order_id)
    if order.user_id != user.id:
        raise NotFound(N_("No such voucher."))
    return order


def my_orders(user, community_id, *, limit=100):
    """My orders, newest first."""
    return db.session.scalars(select(Order).where(Order.community_id == community_id, Order.user_id == user.id)
                              .options(selectinload(Order.item).selectinload(Item.shop), selectinload(Order.shop))
                              .order_by(Order.id.desc()).limit(limit)).all()


def _close_with_refund(order, status, actor, now):
    """Return the points and the stock of a held order (under the locks taken by the caller)."""
    item = get_item(order.community_id, order.item_id, lock=True)
    order.status = status
    order.closed_at = now
    item.stock += order.quantity
    _after_stock_change(item, now=now)
    ledger.release_hold(order.community_id, ledger.hold_of(order.community_id, f"order:{order.id}:hold"),
                        idempotency_key=f"order:{order.id}:release", memo=f"{item.name} × {order.quantity}",
                        source=f"order:{order.id}", actor=actor, now=now)
    db.session.flush()
    return order


def cancel_order(user, community_id, order_id, *, now=None):
    """The resident cancels before pickup: the points and the stock return."""
    now = resolve(now)
    order = my_order(user, community_id, order_id)
    _lock_resident(community_id, order.user_id)
    order = get_order(community_id, order_id, lock=True)
    if order.status != "held":
        raise Conflict(_closed_message(order), when=_when(order.closed_at))
    return _close_with_refund(order, "cancelled", user, now)


def expire_order(community_id, order_id, *, now=None):
    """Expire one uncollected voucher: refund, restock, tell the resident. Returns False when already closed."""
    now = resolve(now)
    order = get_order(community_id, order_id)
    _lock_resident(community_id, order.user_id)
    order = get_order(community_id, order_id, lock=True)
    if order.status != "held" or order.expires_at > now:
        return False
    _close_with_refund(order, "expired", None, now)
    notices.notify(
        order.user_id, "shop.voucher_expired", N_("Your voucher for %(item)s has expired"),
        N_("It was not collected in time, so %(points)s points have been returned to you."),
        params={"item": order.item.name, "points": order.points}, community_id=community_id,
        link=f"/shop/orders/{order.id}", now=now,
    )
    return True


def expire_vouchers(*, now=None, limit=500):
    """Expire every held voucher past its date (safe with two workers: each order is re-checked under its locks)."""
    now = resolve(now)
    due = db.session.execute(
        select(Order.community_id, Order.id).where(Order.status == "held", Order.expires_at <= now)
        .order_by(Order.expires_at, Order.id).limit(limit)).all()
    expired = 0
    for community_id, order_id in due:
        with db.session.begin_nested():
            expired += bool(expire_order(community_id, order_id, now=now))
    return expired


# --- vouchers and redemption --------------------------------------------------------------------

def voucher_token(order):
    """The signed text carried by the voucher's QR code."""
    return qr.make_token("voucher", {"c": order.community_id, "o": order.id, "s": order.shop_id, "k": order.code})


def normalise_code(text):
    """A typed code as stored: capitals, no spaces or dashes."""
    return re.sub(r"[\s-]", "", text or "").upper()


def find_voucher(actor, community_id, shop_id, code):
    """The shopkeeper scans or types a voucher: return its order after checking it belongs to this shop."""
    require(actor, "shop.redeem", community_id)
    require_keeper(actor, community_id, shop_id)
    text = (code or "").strip()
    if not text:
        raise Invalid(N_("Please scan the voucher or type its code."))
    if "." in text:
        data = qr.read_token("voucher", text)
        if data.get("c") != community_id:
            raise VoucherRefused(N_("This voucher belongs to another community."))
        order = db.session.scalar(select(Order).where(Order.community_id == community_id, Order.id == data.get("o")))
        if order is None or order.code != data.get("k"):
            raise Invalid(N_("This code is not valid."), reason="bad_token")
    else:
        typed = normalise_code(text)
        if len(typed) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in typed):
            raise Invalid(N_("A voucher code has 8 letters and digits. Please check it."))
        order = db.session.scalar(select(Order).where(Order.community_id == community_id, Order.code == typed))
        if order is None:
            raise NotFound(N_("No voucher has this code. Please check it."))
    if order.shop_id != shop_id:
        raise VoucherRefused(N_("This voucher is for %(shop)s, not this shop."), shop=order.shop.name)
    return order


def _when(moment):
    if moment is None:
        return ""
    return local_text(moment)


def _closed_message(order):
    return {
        "redeemed": N_("This voucher was already used on %(when)s."),
        "cancelled": N_("This voucher was cancelled on %(when)s."),
        "expired": N_("This voucher expired on %(when)s."),
    }[order.status]


def redeem_voucher(actor, community_id, shop_id, code, *, now=None):
    """Hand over the goods: the voucher is used once and the held points settle to the shop."""
    now = resolve(now)
    order = find_voucher(actor, community_id, shop_id, code)
    _lock_resident(community_id, order.user_id)  # the order in which deductions lock: account, then the rest
    order = get_order(community_id, order.id, lock=True)
    if order.status != "held":
        raise Conflict(_closed_message(order), reason="voucher_closed", when=_when(order.closed_at))
    if order.expires_at <= now:
        raise Conflict(N_("This voucher expired on %(when)s."), reason="voucher_closed", when=_when(order.expires_at))
    require_no_debt_to_collect(community_id, order.user_id)
    order.status = "redeemed"
    order.closed_at = now
    order.redeemed_by_id = actor.id
    ledger.settle_hold(community_id, ledger.hold_of(community_id, f"order:{order.id}:hold"), shop_id,
                       points=order.points, idempotency_key=f"order:{order.id}:settle",
                       memo=f"{order.item.name} × {order.quantity}", source=f"order:{order.id}", actor=actor, now=now)
    db.session.flush()
    audit.record("shop.voucher_redeemed", actor=actor, subject=order.user_id, community_id=community_id,
                 detail={"order_id": order.id, "shop_id": shop_id}, now=now)
    notices.notify(order.user_id, "shop.voucher_redeemed", N_("You collected %(item)s"),
                   N_("%(points)s points were spent at %(shop)s."),
                   params={"item": order.item.name, "points": order.points, "shop": order.shop.name},
                   community_id=community_id, link=f"/shop/orders/{order.id}", now=now)
    return order


def recent_redemptions(community_id, shop_id, *, limit=10):
    """The shop's latest redeemed vouchers, for the counter page."""
    return db.session.scalars(select(Order).where(
        Order.community_id == community_id, Order.shop_id == shop_id, Order.status == "redeemed")
        .order_by(Order.closed_at.desc(), Order.id.desc()).limit(limit)).all()


# --- the economy --------------------------------------------------------------------------------

def _month_label(moment):
    here = local(moment)
    return f"{here.year}-{here.month:02d}"


def economy(actor, community_id, *, months=6, now=None):
    """What the community owes its residents, points issued and redeemed per month, stock on hand."""
    require(actor, "shop.economy", community_id)
    now = resolve(now)
    balances = ledger.balances_by_kind(community_id)
    # The month labels, oldest first, and the UTC start of the oldest.
    labels, start = [], local_month_start(now)
    for _ in range(months):
        labels.insert(0, _month_label(start))
        start = local_month_start(start - timedelta(days=1))
    start = local_month_start(start + timedelta(days=32))
    rows = ledger.issued_and_redeemed(community_id, start)
    issued, redeemed = dict.fromkeys(labels, 0), dict.fromkeys(labels, 0)
    for kind, created_at, amount in rows:
        label = _month_label(created_at)
        if label in issued:
            (issued if kind == "award" else redeemed)[label] += amount
    items = catalogue(community_id, include_unavailable=True)
    open_orders = db.session.scalar(select(func.count()).select_from(Order).where(
        Order.community_id == community_id, Order.status == "held"))
    return {
        "resident_balances": balances.get("resident", 0),
        "held": balances.get("hold", 0),
        "outstanding": balances.get("resident", 0) + balances.get("hold", 0),
        "shops_earned": balances.get("shop", 0),
        "open_orders": open_orders,
        "months": [{"month": m, "issued": issued[m], "redeemed": redeemed[m]} for m in labels],
        "stock": [{"item_id": i.id, "item": i.name, "shop": i.shop.name, "stock": i.stock, "price": i.price,
                   "low": i.stock <= i.low_stock_at} for i in items],
        "stock_units": sum(i.stock for i in items),
        "stock_points": sum(i.stock * i.price for i in items),
    }


def chart_bars(months, *, width=340, height=180, pad=28):
    """Geometry for the server-drawn SVG bar chart of issued (left) and redeemed (right) per month."""
    top = max([1] + [m["issued"] for m in months] + [m["redeemed"] for m in months])
    plot_h = height - pad - 12
    slot = (width - pad) / max(1, len(months))
    bar = slot * 0.34
    bars = []
    for index, m in enumerate(months):
        x = pad + index * slot + slot * 0.12
        for offset, key in ((0, "issued"), (bar + 2, "redeemed")):
            h = round(plot_h * m[key] / top, 1)
            bars.append({"key": key, "x": round(x + offset, 1), "y": round(12 + plot_h - h, 1), "w": round(bar, 1),
                         "h": h, "value": m[key]})
    labels = [{"x": round(pad + i * slot + slot / 2, 1), "text": m["month"][5:]} for i, m in enumerate(months)]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "top": top, "base": height - pad,
            "pad": pad}
