"""Command-line tools."""
from sqlalchemy import func, select

from civic.accounts.models import User
from civic.communities.models import Community, MemberRole
from civic.extensions import db


def _counts():
    return (db.session.scalar(select(func.count()).select_from(User)),
            db.session.scalar(select(func.count()).select_from(Community)),
            db.session.scalar(select(func.count()).select_from(MemberRole)))


def test_seed_demo_is_idempotent_and_prints_passwords(app, runner):
    """seed-demo makes a user for every role, prints the password, and a second run adds nothing."""
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "civic-demo-1" in result.output
    with app.app_context():
        first = _counts()
        roles = set(db.session.scalars(select(MemberRole.role)).all())
    assert first[1] == 2 and roles == {"committee", "coordinator", "shopkeeper"}
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        assert _counts() == first


def test_demo_accounts_can_sign_in(runner, auth, client):
    """The documented demo password works for the demo committee member."""
    runner.invoke(args=["seed-demo"])
    assert auth.login(phone="13800000001", password="civic-demo-1").status_code == 302


def test_create_admin(app, runner):
    """create-admin makes an administrator; a bad password is refused with a message."""
    result = runner.invoke(args=["create-admin", "--phone", "13911112222", "--name", "管理员",
                                 "--password", "a-long-password"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User.is_admin).where(User.phone == "13911112222")) is True
    result = runner.invoke(args=["create-admin", "--phone", "13911113333", "--name", "x", "--password", "short"])
    assert result.exit_code != 0 and "8" in result.output


def test_worker_runs_every_job_once(runner):
    """`worker --once` runs each registered job and reports it."""
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "deliver_email" in result.output
