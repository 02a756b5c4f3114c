"""Marshmallow schemas for the points shop API."""
import marshmallow as ma

from civic.core.lookup import MAX_ID
from civic.core.uploads import photo_url

ID_RANGE = ma.validate.Range(min=0, max=MAX_ID)  # ids are 32-bit in the database


class ShopItemSchema(ma.Schema):
    id = ma.fields.Integer()
    shop_id = ma.fields.Integer()
    shop = ma.fields.String(attribute="shop.name")
    name = ma.fields.String()
    description = ma.fields.String()
    price = ma.fields.Integer(metadata={"description": "Price in points"})
    stock = ma.fields.Integer()
    monthly_limit = ma.fields.Integer(allow_none=True)
    available_from = ma.fields.DateTime(allow_none=True)
    available_until = ma.fields.DateTime(allow_none=True)
    active = ma.fields.Boolean()
    photo_url = ma.fields.Method("_photo")

    def _photo(self, item):
        return photo_url(item.photo)


class DayOrInstant(ma.fields.Field):
    """"2026-12-31": a whole China-time day (from its start; until its end); or an ISO date-time: an exact
    instant (naive UTC), as stored."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).update(
            type="string", description="A date (the whole day, China time) or a date-time (UTC)")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) == 10:
            return ma.fields.Date()._deserialize(value, attr, data, **kwargs)
        return ma.fields.NaiveDateTime()._deserialize(value, attr, data, **kwargs)


class ShopItemCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=60))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    price = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(min=1, max=1_000_000))
    stock = ma.fields.Integer(load_default=0, strict=True, validate=ma.validate.Range(min=0, max=1_000_000))
    monthly_limit = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=ma.validate.Range(min=1, max=1000))
    low_stock_at = ma.fields.Integer(load_default=3, strict=True, validate=ma.validate.Range(min=0, max=100_000))
    available_from = DayOrInstant(load_default=None, allow_none=True)
    available_until = DayOrInstant(load_default=None, allow_none=True)
    active = ma.fields.Boolean(load_default=True)


class ShopStockChangeSchema(ma.Schema):
    change = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(min=-1_000_000, max=1_000_000))


class ShopOrderRequestSchema(ma.Schema):
    item_id = ma.fields.Integer(validate=ID_RANGE, required=True, strict=True)
    quantity = ma.fields.Integer(load_default=1, strict=True, validate=ma.validate.Range(min=1, max=20))


class ShopOrderSchema(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    shop_id = ma.fields.Integer()
    shop = ma.fields.String(attribute="shop.name")
    item_id = ma.fields.Integer()
    item = ma.fields.String(attribute="item.name")
    user_id = ma.fields.Integer()
    quantity = ma.fields.Integer()
    points = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "held, redeemed, cancelled or expired"})
    code = ma.fields.String(metadata={"description": "The short code to type at the counter"})
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    closed_at = ma.fields.DateTime(allow_none=True)


class VoucherSchema(ShopOrderSchema):
    token = ma.fields.Method("_token", metadata={"description": "The signed text the voucher's QR code carries"})
    qr_url = ma.fields.Method("_qr")

    def _token(self, order):
        from civic.shop.service import voucher_token

        return voucher_token(order) if order.status == "held" else None

    def _qr(self, order):
        from flask import url_for

        return url_for("shop.voucher_qr", order_id=order.id) if order.status == "held" else None


class CounterVoucherSchema(ShopOrderSchema):
    resident = ma.fields.String(attribute="user.display_name")


class VoucherCodeSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=600),
                            metadata={"description": "The scanned QR text or the typed short code"})


class ShopMonthSchema(ma.Schema):
    month = ma.fields.String()
    issued = ma.fields.Integer()
    redeemed = ma.fields.Integer()


class ShopStockLineSchema(ma.Schema):
    item_id = ma.fields.Integer()
    item = ma.fields.String()
    shop = ma.fields.String()
    stock = ma.fields.Integer()
    price = ma.fields.Integer()
    low = ma.fields.Boolean()


class ShopEconomySchema(ma.Schema):
    outstanding = ma.fields.Integer(metadata={"description": "Resident balances plus holds: what the community owes"})
    resident_balances = ma.fields.Integer()
    held = ma.fields.Integer()
    shops_earned = ma.fields.Integer()
    open_orders = ma.fields.Integer()
    months = ma.fields.List(ma.fields.Nested(ShopMonthSchema))
    stock = ma.fields.List(ma.fields.Nested(ShopStockLineSchema))
    stock_units = ma.fields.Integer()
    stock_points = ma.fields.Integer()
