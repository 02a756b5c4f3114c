"""API tokens: the last use is recorded at most once an hour per token, outside the request's transaction."""
from datetime import datetime, timedelta

from sqlalchemy import select

from civic.accounts import service
from civic.accounts.models import ApiToken
from civic.extensions import db
from tests import factories

T0 = datetime(2027, 3, 15, 2, 0, 0)


def _last_used(token_id):
    db.session.expire_all()
    return db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))


def test_last_use_is_written_at_most_once_an_hour(app_ctx):
    """The first use writes the time; uses within the hour leave it; the first use after an hour moves it."""
    user = factories.make_user()
    row, secret = service.issue_api_token(user, days=30, now=T0)
    db.session.commit()
    assert service.user_for_token(secret, now=T0).id == user.id
    assert _last_used(row.id) == T0
    assert service.user_for_token(secret, now=T0 + timedelta(minutes=59)).id == user.id
    assert _last_used(row.id) == T0
    assert service.user_for_token(secret, now=T0 + timedelta(minutes=61)).id == user.id
    assert _last_used(row.id) == T0 + timedelta(minutes=61)


def test_a_read_with_a_token_leaves_nothing_to_flush(app_ctx):
    """Looking a token up does not dirty the session (an API GET never writes in its own transaction)."""
    user = factories.make_user()
    _, secret = service.issue_api_token(user, days=30, now=T0)
    db.session.commit()
    service.user_for_token(secret, now=T0)
    assert not db.session.dirty and not db.session.new
