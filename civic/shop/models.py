"""Points shop models: shops and their shopkeepers, goods, orders (each order is a voucher)."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from civic.accounts.models import User
from civic.core.clock import utcnow
from civic.extensions import db

ORDER_STATUSES = ("held", "redeemed", "cancelled", "expired")


class ShopSettings(db.Model):
    """A community's shop settings: how many days a voucher stays valid."""

    __tablename__ = "shop_settings"
    __table_args__ = (
        UniqueConstraint("community_id"),
        CheckConstraint("voucher_days BETWEEN 1 AND 90", name="voucher_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    voucher_days: Mapped[int] = mapped_column(default=7)


class Shop(db.Model):
    """A place where residents collect goods: the village shop or a partner merchant."""

    __tablename__ = "shop"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    address: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShopKeeper(db.Model):
    """A shopkeeper assigned to a shop: they manage its goods and redeem its vouchers."""

    __tablename__ = "shop_keeper"
    __table_args__ = (
        UniqueConstraint("community_id", "shop_id", "user_id"),
        ForeignKeyConstraint(["community_id", "shop_id"], ["shop.community_id", "shop.id"]),
        ForeignKeyConstraint(["community_id", "user_id"], ["membership.community_id", "membership.user_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    shop_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)

    user: Mapped[User] = relationship(User)


class Item(db.Model):
    """Goods on the shelf. Stock can never go below zero (CHECK); orders lock the row."""

    __tablename__ = "shop_item"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        ForeignKeyConstraint(["community_id", "shop_id"], ["shop.community_id", "shop.id"]),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("monthly_limit IS NULL OR monthly_limit >= 1", name="monthly_limit_positive"),
        CheckConstraint("low_stock_at >= 0", name="low_stock_at_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    shop_id: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(500), default="")
    photo: Mapped[str | None] = mapped_column(String(64))
    price: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    monthly_limit: Mapped[int | None]  # per resident per calendar month (China time); None: no limit
    available_from: Mapped[datetime | None]
    available_until: Mapped[datetime | None]
    low_stock_at: Mapped[int] = mapped_column(default=3)
    low_stock_alerted: Mapped[bool] = mapped_column(default=False)  # once per crossing of low_stock_at
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    shop: Mapped[Shop] = relationship(
        Shop, primaryjoin=lambda: and_(Shop.id == foreign(Item.shop_id),
                                      Shop.community_id == foreign(Item.community_id)),
        viewonly=True,
    )


class Order(db.Model):
    """An order of goods, paid by a hold on the resident's points; it is also the voucher.

    held → redeemed (points settle to the shop), or held → cancelled / expired (points and stock return).
    """

    __tablename__ = "shop_order"
    __table_args__ = (
        UniqueConstraint("community_id", "id"),
        UniqueConstraint("community_id", "code"),
        UniqueConstraint("community_id", "user_id", "request_key"),
        ForeignKeyConstraint(["community_id", "shop_id"], ["shop.community_id", "shop.id"]),
        ForeignKeyConstraint(["community_id", "item_id"], ["shop_item.community_id", "shop_item.id"]),
        CheckConstraint("status IN ('held', 'redeemed', 'cancelled', 'expired')", name="status"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_shop_order_status_expires", "status", "expires_at"),
        Index("ix_shop_order_limit", "community_id", "user_id", "item_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    shop_id: Mapped[int] = mapped_column(index=True)
    item_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    quantity: Mapped[int] = mapped_column(default=1)
    points: Mapped[int]  # price × quantity at the time of ordering
    status: Mapped[str] = mapped_column(String(10), default="held")
    code: Mapped[str] = mapped_column(String(8))  # the short code typed at the counter
    request_key: Mapped[str | None] = mapped_column(String(64))  # idempotency key of the request that made it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    redeemed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    user: Mapped[User] = relationship(User, foreign_keys=[user_id])
    item: Mapped[Item] = relationship(
        Item, primaryjoin=lambda: and_(Item.id == foreign(Order.item_id),
                                      Item.community_id == foreign(Order.community_id)),
        viewonly=True,
    )
    shop: Mapped[Shop] = relationship(
        Shop, primaryjoin=lambda: and_(Shop.id == foreign(Order.shop_id),
                                      Shop.community_id == foreign(Order.community_id)),
        viewonly=True,
    )
