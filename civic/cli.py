"""Command-line tools: `flask --app wsgi seed-demo | create-admin | reset-password | demote-admin | worker |
citus distribute | ...`."""
import click
from flask import current_app

from civic.extensions import db


def _run_account_change(func, *args):
    """Call an account service, commit, and turn a refusal into a plain message and exit status 1."""
    from civic.core.errors import DomainError

    try:
        user = func(*args)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    return user


def init_app(app):
    """Register the commands on the app."""

    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Load the demo street, communities and a user for every role (idempotent). Not in production."""
        from civic.demo import DEMO_PASSWORD, seed_demo

        if current_app.config["ENV_NAME"] == "production":
            raise click.ClickException("seed-demo is for trying the product out: it creates an administrator "
                                       "whose password is published. It does not run with CIVIC_CONFIG=production.")

        lines = seed_demo()
        db.session.commit()
        click.echo("Demo data is ready. Every demo account's password is: " + DEMO_PASSWORD)
        for phone, name, community, role in lines:
            click.echo(f"  {phone:<12} {name:<6} {community:<8} {role}")

    @app.cli.command("create-admin")
    @click.option("--phone", prompt=True)
    @click.option("--promote", is_flag=True, help="Make an existing account an administrator (name and password stay).")
    @click.option("--name", default="管理员", help="The new administrator's name.")
    @click.option("--password", help="The new administrator's password (asked for when left out).")
    def create_admin_command(phone, promote, name, password):
        """Create a site administrator, or with --promote make an existing account one."""
        from civic.accounts.service import create_admin, promote_admin

        if promote:
            user = _run_account_change(promote_admin, phone)
            click.echo(f"Existing account {user.display_name} ({user.phone}) is now an administrator; "
                       "its name and password are unchanged.")
            return
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        user = _run_account_change(create_admin, phone, name, password)
        click.echo(f"Administrator {user.display_name} ({user.phone}) is ready.")

    @app.cli.command("reset-password")
    @click.option("--phone", prompt=True)
    @click.option("--password", help="The new password (asked for when left out).")
    def reset_password_command(phone, password):
        """Set a new password for an account; its sessions and API tokens end."""
        from civic.accounts.service import reset_password

        if password is None:
            password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
        user = _run_account_change(reset_password, phone, password)
        click.echo(f"The password of {user.display_name} ({user.phone}) was changed; its sessions have ended.")

    @app.cli.command("demote-admin")
    @click.option("--phone", prompt=True)
    def demote_admin_command(phone):
        """Take the administrator right away from an account (never the last administrator)."""
        from civic.accounts.service import demote_admin

        user = _run_account_change(demote_admin, phone)
        click.echo(f"{user.display_name} ({user.phone}) is no longer an administrator.")

    @app.cli.command("send-test-mail")
    @click.argument("address")
    def send_test_mail_command(address):
        """Send one e-mail to ADDRESS with the MAIL_* settings, to prove they work."""
        from civic.notifications.mail import build_message, mail_configured, send

        config = current_app.config
        if not mail_configured(config):
            raise click.ClickException("MAIL_SERVER is not set: write the MAIL_* settings in the environment file.")
        security = ("TLS" if config.get("MAIL_USE_SSL") else "STARTTLS" if config.get("MAIL_USE_TLS")
                    else "no encryption")
        body = (f"This is a test e-mail from {config.get('SITE_URL') or 'the civic site'}.\n"
                f"Server {config['MAIL_SERVER']}:{config['MAIL_PORT']}, {security}.")
        try:
            send(config, [build_message(config, address, "Civic test e-mail", body)])
        except Exception as error:  # noqa: BLE001 - smtplib raises OSError and SMTPException alike
            raise click.ClickException(f"Sending failed: {error}") from error
        click.echo(f"Sent a test e-mail to {address} through {config['MAIL_SERVER']}:{config['MAIL_PORT']}.")

    ledger = click.Group("ledger", help="Merit bank ledger tools.")
    app.cli.add_command(ledger)

    @ledger.command("verify")
    def ledger_verify_command():
        """Check that every transaction balances, every cached balance equals its postings and every daily
        digest still matches the transactions of its day."""
        from civic.ledger.debt import verify_debts
        from civic.ledger.digest import verify_digests
        from civic.ledger.service import verify

        report = verify()
        report["breaches"].extend(verify_debts())
        report["breaches"].extend(verify_digests())  # names the first day whose digest no longer matches
        checked = report["checked"]
        click.echo("Checked {transactions} transactions, {postings} postings, {accounts} accounts, "
                   "{tallies} tallies.".format(**checked))
        if report["breaches"]:
            click.echo(f"{len(report['breaches'])} BREACHES:", err=True)
            for line in report["breaches"]:
                click.echo(f"  {line}", err=True)
            raise SystemExit(1)
        click.echo("Ledger OK: every transaction sums to zero; every cached balance equals its postings; "
                   "every daily digest matches.")

    citus = click.Group("citus", help="Distributed database (Citus) tools (docs/scaling.md).")
    app.cli.add_command(citus)

    @citus.command("distribute")
    def citus_distribute_command():
        """Place every table on the Citus coordinator: reference tables, then tables distributed by community
        (co-located), in foreign-key order. Safe to run again: placed tables are left as they are."""
        from civic.operations.citus import NotCitus, distribute

        try:
            with db.engine.begin() as conn:
                done = distribute(conn, db.metadata, echo=click.echo)
        except NotCitus as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Distributed layout ready ({done} table(s) placed by this run).")

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
