"""Reads never write (issue 13, item 5): a community gets its defaults (categories, badges, report categories,
settings of every area) once, when it is created (`seed_community`), so no GET inserts, updates or deletes a
row, not even one it would roll back. Every GET route with a community_id is walked, with A's real ids, as
the person who normally uses it, and the statements are watched with SQLAlchemy's `before_cursor_execute`."""
import re
from contextlib import contextmanager

import pytest

from civic.extensions import db
from tests.communities.test_route_walker import (
    NORMAL_USER,
    _call,
    _community_rules,
    _ids,
    _objects_of_every_kind,
    _url,
)
from tests.sql import recorded

# Sign-in bookkeeping is the one write a read may cause: when a session or token was last used.
BOOKKEEPING = {"user_session", "api_token"}
WRITE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


@contextmanager
def writes(app):
    """The (statement kind, table) of every write the engine runs inside the block, bookkeeping left out."""
    seen = []
    with app.app_context():
        engine = db.engine
    try:
        with recorded(engine) as statements:
            yield seen
    finally:
        for statement in statements:
            found = WRITE.match(statement)
            if found and found.group(2) not in BOOKKEEPING:
                seen.append((found.group(1).split()[0].upper(), found.group(2)))


@pytest.fixture
def objects(app, world):
    """One object of every kind in community A (the route walker's), so every route has real ids."""
    with app.app_context():
        made = _objects_of_every_kind(world)
        db.session.remove()
    return made


def test_no_get_writes_on_a_seeded_community(app, client, auth, api_token, world, objects):
    """Every page and API GET of community A, as its committee member, resident and administrator: 0 writes."""
    found = {}
    walked = 0
    for who in ("committee", "resident", "admin"):
        person = getattr(world, who)
        auth.login(phone=person.phone)
        token = api_token(person.phone)
        for rule, method in _community_rules(app):
            if method != "GET" or NORMAL_USER.get(rule.endpoint, "committee") != who:
                continue
            url = _url(rule, world.a.id, _ids(objects, rule))
            with writes(app) as seen:
                _call(client, method, url, token)
            walked += 1
            if seen:
                found[url] = seen
        auth.logout()
    assert walked >= 60
    assert found == {}
