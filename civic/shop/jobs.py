"""Scheduled jobs of the points shop (registered with the worker when imported)."""
from civic.worker import job


@job("shop_expire_vouchers", minutes=15)
def expire_vouchers(app, now):
    """Expire vouchers not collected in time: points back, stock back, the resident told."""
    from civic.shop.service import expire_vouchers as expire

    return expire(now=now)
