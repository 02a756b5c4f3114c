"""Pooled connections are pinged only after sitting idle (civic.core.pool): a busy site saves a round trip
per request, and a connection that died while idle (a database restart on a quiet night) is replaced
before the request sees it. The clock is passed in: no waiting."""
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from civic.config import TestingConfig
from civic.core.pool import ping_when_idle

pytestmark = pytest.mark.postgres


@pytest.fixture
def pool():
    """(engine with idle pinging after 10 s on a hand-moved clock, the clock, kill(pid))."""
    url = TestingConfig.SQLALCHEMY_DATABASE_URI
    engine = create_engine(url, pool_size=1, max_overflow=0)
    clock = [1000.0]
    ping_when_idle(engine, 10, clock=lambda: clock[0])
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def kill(pid):
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]

    yield engine, clock, kill
    engine.dispose()


def backend_pid(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def test_a_connection_that_died_while_idle_is_replaced_before_use(pool):
    engine, clock, kill = pool
    first = backend_pid(engine)
    kill(first)
    clock[0] += 11  # idle longer than the threshold: pinged at checkout, found dead, replaced
    assert backend_pid(engine) not in (None, first)


def test_a_connection_used_a_moment_ago_is_not_pinged(pool):
    """No ping within the threshold (the round trip saved): a connection killed meanwhile fails the statement
    that uses it (the app answers 503 "try again"), and the pool then opens a fresh one."""
    engine, clock, kill = pool
    first = backend_pid(engine)
    kill(first)
    clock[0] += 5
    with pytest.raises(DBAPIError) as failed:
        backend_pid(engine)
    assert failed.value.connection_invalidated
    assert backend_pid(engine) not in (None, first)


def test_a_fresh_connection_is_not_pinged_and_a_live_one_survives_its_ping(pool):
    engine, clock, _kill = pool
    first = backend_pid(engine)
    clock[0] += 3600
    assert backend_pid(engine) == first  # pinged, answered, kept
