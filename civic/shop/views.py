"""Points shop pages: the residents' catalogue and vouchers (/shop), the shopkeepers' goods and
counter, and the committee's shops and economy page (/c/<community_id>/shop/...)."""
import secrets

from flask import Blueprint, Response, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from civic.core import qr
from civic.core.clock import local_text
from civic.core.errors import Invalid
from civic.core.i18n import N_
from civic.core.permissions import can, require
from civic.core.uploads import save_photos
from civic.extensions import db
from civic.ledger import service as ledger
from civic.ledger.debt import standing
from civic.shop import service
from civic.shop.forms import (
    CodeForm,
    ItemForm,
    KeeperForm,
    OrderForm,
    PlainForm,
    SettingsForm,
    ShopForm,
    StockForm,
)
from civic.web import acting_user, commit_and_redirect, community_view, current_community_id, submitted

bp = Blueprint("shop", __name__)

STATUS_LABELS = {
    "held": N_("Ready to collect"), "redeemed": N_("Collected"),
    "cancelled": N_("Cancelled"), "expired": N_("Expired"),
}


@bp.app_template_filter("shop_status")
def _status_label(status):
    return _(STATUS_LABELS.get(status, status))


@bp.app_template_filter("local_time")
def _local_time(moment):
    """A stored naive-UTC datetime shown in China time."""
    return local_text(moment)


@bp.app_template_filter("voucher_code")
def _voucher_code(code):
    """ABCD EFGH: easier to read out at the counter."""
    return f"{code[:4]} {code[4:]}" if code else ""


def _resident_community():
    community_id = current_community_id()
    if community_id is None:
        raise Invalid(N_("Join your community to start earning points."))
    return community_id


# --- residents ----------------------------------------------------------------------------------

@bp.route("/shop")
@login_required
def index():
    """The catalogue of my community's shop, with my balance."""
    community_id = current_community_id()
    if community_id is None:
        flash(_("Join your community to start earning points."), "info")
        return redirect(url_for("communities.browse"))
    user = acting_user()
    require(user, "shop.browse", community_id)
    return render_template(
        "shop/index.html", items=service.catalogue(community_id), balance=ledger.balance_of(community_id, user.id),
        open_orders=[o for o in service.my_orders(user, community_id, limit=20) if o.status == "held"],
        community_id=community_id, can_run=bool(service.my_shops(current_user, community_id)),
        can_see_economy=can(current_user, "shop.economy", community_id),
    )


@bp.route("/shop/items/<int:item_id>")
@login_required
def item(item_id):
    """One item: photo, description, price, and the order button."""
    community_id = _resident_community()
    user = acting_user()
    require(user, "shop.browse", community_id)
    goods = service.get_item(community_id, item_id)
    form = OrderForm(request_key=secrets.token_urlsafe(18))
    return render_template("shop/item.html", item=goods, form=form, available=service.is_available(goods),
                           balance=ledger.balance_of(community_id, user.id), summary=standing(community_id, user.id))


@bp.route("/shop/items/<int:item_id>/order", methods=["POST"])
@login_required
def order(item_id):
    """Order goods: the points are held and a voucher is made."""
    community_id = _resident_community()
    form = submitted(OrderForm(), N_("Please order from 1 to %(n)s at a time."), n=service.MAX_QUANTITY)
    placed = service.place_order(acting_user(), community_id, item_id, form.quantity.data,
                                 request_key=form.request_key.data)
    return commit_and_redirect(_("Ordered. Show this voucher at the shop to collect your goods."),
                               "shop.voucher", order_id=placed.id)


@bp.route("/shop/orders")
@login_required
def orders():
    """My vouchers and past orders."""
    community_id = _resident_community()
    user = acting_user()
    require(user, "shop.browse", community_id)
    return render_template("shop/orders.html", orders=service.my_orders(user, community_id))


@bp.route("/shop/orders/<int:order_id>")
@login_required
def voucher(order_id):
    """My voucher: QR code and short code to show at the counter; cancel before pickup."""
    community_id = _resident_community()
    placed = service.my_order(acting_user(), community_id, order_id)
    return render_template("shop/voucher.html", order=placed, cancel_form=PlainForm())


@bp.route("/shop/orders/<int:order_id>/qr.png")
@login_required
def voucher_qr(order_id):
    """The voucher's QR code as an image (only while it can be collected)."""
    community_id = _resident_community()
    placed = service.my_order(acting_user(), community_id, order_id)
    if placed.status != "held":
        raise Invalid(N_("This voucher can no longer be used."))
    response = Response(qr.qr_png(service.voucher_token(placed)), mimetype="image/png")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/shop/orders/<int:order_id>/cancel", methods=["POST"])
@login_required
def cancel(order_id):
    """Cancel before pickup: points and stock return."""
    community_id = _resident_community()
    submitted(PlainForm())
    service.cancel_order(acting_user(), community_id, order_id)
    return commit_and_redirect(_("Cancelled. Your points have been returned."), "shop.voucher", order_id=order_id)


# --- shopkeepers and committee ------------------------------------------------------------------

def _keeper_choices(community_id):
    return [(u.id, u.display_name) for u in service.shopkeeper_candidates(community_id)]


@bp.route("/c/<int:community_id>/shop")
@community_view("shop.stock")
def manage(community):
    """Shops, their goods and stock; the committee also adds shops, assigns shopkeepers, sets the period."""
    mine = service.my_shops(current_user, community.id)
    items = service.catalogue(community.id, include_unavailable=True)
    keeper_form = KeeperForm()
    keeper_form.user_id.choices = _keeper_choices(community.id)
    return render_template(
        "shop/manage.html", community=community, shops=mine,
        items_by_shop={s.id: [i for i in items if i.shop_id == s.id] for s in mine},
        keepers={s.id: service.keepers_of(community.id, s.id) for s in mine},
        is_committee=can(current_user, "shop.manage", community.id),
        shop_form=ShopForm(), keeper_form=keeper_form, plain_form=PlainForm(),
        settings_form=SettingsForm(voucher_days=service.settings_for(community.id).voucher_days),
        stock_form=StockForm(),
    )


@bp.route("/c/<int:community_id>/shop/shops", methods=["POST"])
@community_view("shop.manage")
def create_shop(community):
    """Open a new shop."""
    form = submitted(ShopForm(), N_("Please enter the shop's name."))
    service.create_shop(current_user, community.id, form.name.data, form.address.data)
    return commit_and_redirect(_("Shop added."), "shop.manage", community_id=community.id)


@bp.route("/c/<int:community_id>/shop/shops/<int:shop_id>/keepers", methods=["POST"])
@community_view("shop.manage")
def keepers(community, shop_id):
    """Assign a shopkeeper to a shop, or take them off it."""
    form = KeeperForm()
    form.user_id.choices = _keeper_choices(community.id)
    if not form.validate_on_submit() or not form.user_id.data:
        raise Invalid(N_("Please choose a shopkeeper."))
    if form.action.data == "remove":
        service.remove_keeper(current_user, community.id, shop_id, form.user_id.data)
    else:
        service.assign_keeper(current_user, community.id, shop_id, form.user_id.data)
    return commit_and_redirect(_("Shopkeepers updated."), "shop.manage", community_id=community.id)


@bp.route("/c/<int:community_id>/shop/settings", methods=["POST"])
@community_view("shop.manage")
def settings(community):
    """Set how long vouchers stay valid."""
    form = submitted(SettingsForm(), N_("A voucher must stay valid for 1 to 90 days."))
    service.set_voucher_days(current_user, community.id, form.voucher_days.data)
    return commit_and_redirect(_("Saved."), "shop.manage", community_id=community.id)


def _item_data(form):
    return {
        "name": form.name.data, "description": form.description.data or "", "price": form.price.data,
        "monthly_limit": form.monthly_limit.data,
        "low_stock_at": form.low_stock_at.data if form.low_stock_at.data is not None else 3,
        "available_from": form.available_from.data, "available_until": form.available_until.data,  # whole days
        "active": form.active.data,
        "photo": next(iter(save_photos([form.photo.data], uploader=current_user, community_id=g.community.id)), None),
    }


def _refused(error):
    """The goods' rules refused what was entered: nothing is kept (not even the photo just uploaded), the
    reason is shown above the form, and the form comes back with what was typed."""
    db.session.rollback()
    flash(error.message, "error")


@bp.route("/c/<int:community_id>/shop/shops/<int:shop_id>/items/new", methods=["GET", "POST"])
@community_view("shop.stock")
def new_item(community, shop_id):
    """Put new goods on the shelf."""
    shop = service.get_shop(community.id, shop_id)
    service.require_keeper(current_user, community.id, shop_id)
    form = ItemForm()
    if form.validate_on_submit():
        try:
            service.add_item(current_user, community.id, shop_id, stock=form.stock.data or 0, **_item_data(form))
        except Invalid as error:
            _refused(error)
        else:
            return commit_and_redirect(_("Goods added."), "shop.manage", community_id=community.id)
    return render_template("shop/item_form.html", community=community, shop=shop, form=form, item=None)


@bp.route("/c/<int:community_id>/shop/items/<int:item_id>/edit", methods=["GET", "POST"])
@community_view("shop.stock")
def edit_item(community, item_id):
    """Change goods: name, price, limit, window, photo."""
    goods = service.get_item(community.id, item_id)
    service.require_keeper(current_user, community.id, goods.shop_id)
    form = ItemForm(obj=goods)
    if form.validate_on_submit():
        try:
            service.update_item(current_user, community.id, item_id, **_item_data(form))
        except Invalid as error:
            _refused(error)
        else:
            return commit_and_redirect(_("Saved."), "shop.manage", community_id=community.id)
    if not form.is_submitted():
        form.available_from.data, form.available_until.data = service.offer_days(goods)
    return render_template("shop/item_form.html", community=community, shop=goods.shop, form=form, item=goods,
                           stock_form=StockForm())


@bp.route("/c/<int:community_id>/shop/items/<int:item_id>/stock", methods=["POST"])
@community_view("shop.stock")
def stock(community, item_id):
    """Add delivered goods to the stock, or remove broken ones."""
    form = submitted(StockForm(), N_("Enter how many to add (or a negative number to remove)."))
    goods = service.adjust_stock(current_user, community.id, item_id, form.change.data)
    return commit_and_redirect(_("Stock of %(item)s is now %(n)s.", item=goods.name, n=goods.stock),
                               "shop.manage", community_id=community.id)


@bp.route("/c/<int:community_id>/shop/shops/<int:shop_id>/counter", methods=["GET", "POST"])
@community_view("shop.redeem")
def counter(community, shop_id):
    """The counter: scan the voucher with the camera or type its code, then check who and what."""
    shop = service.get_shop(community.id, shop_id)
    service.require_keeper(current_user, community.id, shop_id)
    form = CodeForm()
    found = None
    if form.validate_on_submit():
        found = service.find_voucher(current_user, community.id, shop_id, form.code.data)
    return render_template("shop/counter.html", community=community, shop=shop, form=form, found=found,
                           confirm_form=CodeForm(formdata=None, code=form.code.data if found else ""),
                           recent=service.recent_redemptions(community.id, shop_id))


@bp.route("/c/<int:community_id>/shop/shops/<int:shop_id>/redeem", methods=["POST"])
@community_view("shop.redeem")
def redeem(community, shop_id):
    """Confirm the hand-over: the voucher is used and the points go to the shop."""
    form = submitted(CodeForm(), N_("Please scan the voucher or type its code."))
    done = service.redeem_voucher(current_user, community.id, shop_id, form.code.data)
    return commit_and_redirect(_("Done: %(name)s collected %(item)s × %(n)s.", name=done.user.display_name,
                                 item=done.item.name, n=done.quantity),
                               "shop.counter", community_id=community.id, shop_id=shop_id)


@bp.route("/c/<int:community_id>/shop/economy")
@community_view("shop.economy")
def economy(community):
    """The committee's view of the points economy: what is owed, issued and redeemed, stock on hand."""
    figures = service.economy(current_user, community.id)
    return render_template("shop/economy.html", community=community, figures=figures,
                           chart=service.chart_bars(figures["months"]))
