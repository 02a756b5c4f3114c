"""Command-line tools: `flask --app wsgi seed-demo | create-admin | worker`."""
import click
from flask import current_app

from civic.extensions import db


def init_app(app):
    """Register the commands on the app."""

    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Load the demo street, communities and a user for every role (idempotent)."""
        from civic.demo import DEMO_PASSWORD, seed_demo

        lines = seed_demo()
        db.session.commit()
        click.echo("Demo data is ready. Every demo account's password is: " + DEMO_PASSWORD)
        for phone, name, community, role in lines:
            click.echo(f"  {phone:<12} {name:<6} {community:<8} {role}")

    @app.cli.command("create-admin")
    @click.option("--phone", prompt=True)
    @click.option("--name", prompt=True, default="管理员")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def create_admin_command(phone, name, password):
        """Create a site administrator (or promote an existing account)."""
        from civic.accounts.service import create_admin
        from civic.core.errors import DomainError

        try:
            user = create_admin(phone, name, password)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from error
        click.echo(f"Administrator {user.display_name} ({user.phone}) is ready.")

    ledger = click.Group("ledger", help="Merit bank ledger tools.")
    app.cli.add_command(ledger)

    @ledger.command("verify")
    def ledger_verify_command():
        """Check that every transaction balances and every cached balance equals its postings."""
        from civic.ledger.service import verify

        report = verify()
        checked = report["checked"]
        click.echo("Checked {transactions} transactions, {postings} postings, {accounts} accounts, "
                   "{tallies} tallies.".format(**checked))
        if report["breaches"]:
            click.echo(f"{len(report['breaches'])} BREACHES:", err=True)
            for line in report["breaches"]:
                click.echo(f"  {line}", err=True)
            raise SystemExit(1)
        click.echo("Ledger OK: every transaction sums to zero; every cached balance equals its postings.")

    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="Run every job once now and exit.")
    def worker_command(once):
        """Run the background scheduler (notices, reminders, digests)."""
        from civic import worker

        if once:
            for name, result in worker.run_all_once(current_app._get_current_object()):
                click.echo(f"{name}: {result}")
            return
        worker.run_forever(current_app._get_current_object())
