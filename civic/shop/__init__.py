"""The points shop (积分超市): shops, goods, orders with held points, vouchers, redemption, expiry."""
