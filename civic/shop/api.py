"""API: the points shop — catalogue, orders (Idempotency-Key: civic.api.idempotency), vouchers,
goods and stock, and the economy figures."""
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint

from civic.api import community_access
from civic.api.idempotency import idempotent
from civic.extensions import db
from civic.shop import service
from civic.shop.schemas import (
    CounterVoucherSchema,
    ShopEconomySchema,
    ShopItemCreateSchema,
    ShopItemSchema,
    ShopOrderRequestSchema,
    ShopStockChangeSchema,
    VoucherCodeSchema,
    VoucherSchema,
)

blp = Blueprint("api_shop", __name__, url_prefix="/api/v1/communities", description="Points shop (积分超市)")


@blp.route("/<int:community_id>/shop/items")
class Items(MethodView):
    @community_access("shop.browse")
    @blp.response(200, ShopItemSchema(many=True))
    def get(self, community_id):
        """The goods on offer now (sold-out goods included, with stock 0)."""
        return service.catalogue(community_id)


@blp.route("/<int:community_id>/shop/shops/<int:shop_id>/items")
class ShopItems(MethodView):
    @community_access("shop.stock")
    @idempotent
    @blp.arguments(ShopItemCreateSchema)
    @blp.response(201, ShopItemSchema)
    def post(self, data, community_id, shop_id):
        """Put new goods on a shop's shelf (its shopkeepers or the committee)."""
        stock = data.pop("stock")
        item = service.add_item(current_user, community_id, shop_id, stock=stock, **data)
        return item


@blp.route("/<int:community_id>/shop/items/<int:item_id>/stock")
class ItemStock(MethodView):
    @community_access("shop.stock")
    @idempotent
    @blp.arguments(ShopStockChangeSchema)
    @blp.response(200, ShopItemSchema)
    def post(self, data, community_id, item_id):
        """Add delivered goods (positive) or remove broken ones (negative); send an Idempotency-Key, as a
        retried change would otherwise count twice."""
        return service.adjust_stock(current_user, community_id, item_id, data["change"])


@blp.route("/<int:community_id>/shop/orders")
class Orders(MethodView):
    @community_access("shop.browse")
    @blp.response(200, VoucherSchema(many=True))
    def get(self, community_id):
        """My orders and vouchers, newest first."""
        return service.my_orders(current_user, community_id)

    @community_access("shop.browse")
    @idempotent
    @blp.arguments(ShopOrderRequestSchema)
    @blp.response(201, VoucherSchema)
    def post(self, data, community_id):
        """Order goods: the points are held and a voucher (QR token and short code) is returned."""
        return service.place_order(current_user, community_id, data["item_id"], data["quantity"])


@blp.route("/<int:community_id>/shop/orders/<int:order_id>")
class OneOrder(MethodView):
    @community_access("shop.browse")
    @blp.response(200, VoucherSchema)
    def get(self, community_id, order_id):
        """One of my vouchers."""
        return service.my_order(current_user, community_id, order_id)


@blp.route("/<int:community_id>/shop/orders/<int:order_id>/cancel")
class CancelOrder(MethodView):
    @community_access("shop.browse")
    @blp.response(200, VoucherSchema)
    def post(self, community_id, order_id):
        """Cancel before pickup: points and stock return."""
        order = service.cancel_order(current_user, community_id, order_id)
        db.session.commit()
        return order


@blp.route("/<int:community_id>/shop/shops/<int:shop_id>/vouchers/check")
class CheckVoucher(MethodView):
    @community_access("shop.redeem")
    @blp.arguments(VoucherCodeSchema)
    @blp.response(200, CounterVoucherSchema)
    def post(self, data, community_id, shop_id):
        """Look a voucher up at the counter (who and what) without using it."""
        return service.find_voucher(current_user, community_id, shop_id, data["code"])


@blp.route("/<int:community_id>/shop/shops/<int:shop_id>/vouchers/redeem")
class RedeemVoucher(MethodView):
    @community_access("shop.redeem")
    @idempotent
    @blp.arguments(VoucherCodeSchema)
    @blp.response(200, CounterVoucherSchema)
    def post(self, data, community_id, shop_id):
        """Hand over the goods: the voucher is used once and the points settle to the shop."""
        return service.redeem_voucher(current_user, community_id, shop_id, data["code"])


@blp.route("/<int:community_id>/shop/economy")
class Economy(MethodView):
    @community_access("shop.economy")
    @blp.response(200, ShopEconomySchema)
    def get(self, community_id):
        """Points outstanding, issued and redeemed per month, stock on hand (committee only)."""
        return service.economy(current_user, community_id)
