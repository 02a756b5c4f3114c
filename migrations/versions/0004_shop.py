"""shop: shops, keepers, goods, orders (vouchers), settings

Revision ID: 0004_shop
Revises: 0003_gamification
Create Date: 2026-11-22 17:04:11.172859

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004_shop'
down_revision = "0003_gamification"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('shop',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('address', sa.String(length=120), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_shop_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop')),
    sa.UniqueConstraint('community_id', 'id', name=op.f('uq_shop_community_id_id')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_shop_community_id_name'))
    )
    with op.batch_alter_table('shop', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_community_id'), ['community_id'], unique=False)

    op.create_table('shop_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('voucher_days', sa.Integer(), nullable=False),
    sa.CheckConstraint('voucher_days BETWEEN 1 AND 90', name=op.f('ck_shop_settings_voucher_days')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_shop_settings_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_settings')),
    sa.UniqueConstraint('community_id', name=op.f('uq_shop_settings_community_id'))
    )
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_settings_community_id'), ['community_id'], unique=False)

    op.create_table('shop_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('photo', sa.String(length=64), nullable=True),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=False),
    sa.Column('monthly_limit', sa.Integer(), nullable=True),
    sa.Column('available_from', sa.DateTime(), nullable=True),
    sa.Column('available_until', sa.DateTime(), nullable=True),
    sa.Column('low_stock_at', sa.Integer(), nullable=False),
    sa.Column('low_stock_alerted', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('low_stock_at >= 0', name=op.f('ck_shop_item_low_stock_at_not_negative')),
    sa.CheckConstraint('monthly_limit IS NULL OR monthly_limit >= 1', name=op.f('ck_shop_item_monthly_limit_positive')),
    sa.CheckConstraint('price > 0', name=op.f('ck_shop_item_price_positive')),
    sa.CheckConstraint('stock >= 0', name=op.f('ck_shop_item_stock_not_negative')),
    sa.ForeignKeyConstraint(['community_id', 'shop_id'], ['shop.community_id', 'shop.id'], name=op.f('fk_shop_item_community_id_shop_id_shop')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_shop_item_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_item')),
    sa.UniqueConstraint('community_id', 'id', name=op.f('uq_shop_item_community_id_id'))
    )
    with op.batch_alter_table('shop_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_item_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shop_item_shop_id'), ['shop_id'], unique=False)

    op.create_table('shop_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('request_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('redeemed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('held', 'redeemed', 'cancelled', 'expired')", name=op.f('ck_shop_order_status')),
    sa.CheckConstraint('points > 0', name=op.f('ck_shop_order_points_positive')),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_shop_order_quantity_positive')),
    sa.ForeignKeyConstraint(['community_id', 'item_id'], ['shop_item.community_id', 'shop_item.id'], name=op.f('fk_shop_order_community_id_item_id_shop_item')),
    sa.ForeignKeyConstraint(['community_id', 'shop_id'], ['shop.community_id', 'shop.id'], name=op.f('fk_shop_order_community_id_shop_id_shop')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_shop_order_community_id_community')),
    sa.ForeignKeyConstraint(['redeemed_by_id'], ['user.id'], name=op.f('fk_shop_order_redeemed_by_id_user')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_shop_order_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_order')),
    sa.UniqueConstraint('community_id', 'code', name=op.f('uq_shop_order_community_id_code')),
    sa.UniqueConstraint('community_id', 'id', name=op.f('uq_shop_order_community_id_id')),
    sa.UniqueConstraint('community_id', 'user_id', 'request_key', name=op.f('uq_shop_order_community_id_user_id_request_key'))
    )
    with op.batch_alter_table('shop_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_order_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shop_order_item_id'), ['item_id'], unique=False)
        batch_op.create_index('ix_shop_order_limit', ['community_id', 'user_id', 'item_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_shop_order_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_shop_order_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_shop_order_user_id'), ['user_id'], unique=False)

    op.create_table('shop_keeper',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id', 'shop_id'], ['shop.community_id', 'shop.id'], name=op.f('fk_shop_keeper_community_id_shop_id_shop')),
    sa.ForeignKeyConstraint(['community_id', 'user_id'], ['membership.community_id', 'membership.user_id'], name=op.f('fk_shop_keeper_community_id_user_id_membership')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_shop_keeper_community_id_community')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_shop_keeper_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_keeper')),
    sa.UniqueConstraint('community_id', 'shop_id', 'user_id', name=op.f('uq_shop_keeper_community_id_shop_id_user_id'))
    )
    with op.batch_alter_table('shop_keeper', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_keeper_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shop_keeper_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shop_keeper_user_id'), ['user_id'], unique=False)


def downgrade():
    for table, indexes in (
        ("shop_keeper", ["ix_shop_keeper_user_id", "ix_shop_keeper_shop_id", "ix_shop_keeper_community_id"]),
        ("shop_order", ["ix_shop_order_user_id", "ix_shop_order_status_expires", "ix_shop_order_shop_id",
                        "ix_shop_order_limit", "ix_shop_order_item_id", "ix_shop_order_community_id"]),
        ("shop_item", ["ix_shop_item_shop_id", "ix_shop_item_community_id"]),
        ("shop_settings", ["ix_shop_settings_community_id"]),
        ("shop", ["ix_shop_community_id"]),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in indexes:
                batch_op.drop_index(name)
        op.drop_table(table)
