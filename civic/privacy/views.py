"""Pages: my data and closing my account (我的), the committee's GPS retention setting;
the `export-community` command."""
import os

import click
from flask import Blueprint, Response, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from civic.core.errors import DomainError
from civic.extensions import db
from civic.privacy import service
from civic.privacy.forms import CloseAccountForm, RetentionForm
from civic.web import client_address, commit_and_redirect, community_view, sign_out

bp = Blueprint("privacy", __name__, cli_group=None)  # commands at the top level: flask export-community


@bp.route("/me/privacy", methods=["GET", "POST"])
@login_required
def my_privacy():
    """My data: download it all, or close my account after confirming with my password."""
    form = CloseAccountForm()
    blockers = service.closure_blockers(current_user)
    if form.validate_on_submit():
        try:
            service.close_account(current_user, form.password.data, address=client_address())
        except DomainError as error:
            db.session.rollback()
            if error.reason == "wrong_password":
                form.password.errors.append(error.message)
            else:
                flash(error.message, "error")
            return render_template("privacy/me.html", form=form, blockers=blockers), 422
        db.session.commit()
        sign_out()
        session.clear()
        flash(_("Your account has been closed. Your points history is kept without your name."), "info")
        return redirect(url_for("accounts.login"))
    status = 422 if form.errors else 200
    return render_template("privacy/me.html", form=form, blockers=blockers), status


@bp.route("/me/privacy/download")
@login_required
def download():
    """Download everything held about me as one JSON file."""
    text = service.user_data_json(current_user)
    return Response(text, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="my-data-{current_user.id}.json"',
        "Cache-Control": "no-store",
    })


@bp.route("/me/privacy/download.zip")
@login_required
def download_zip():
    """Download everything held about me with my photos, as one ZIP file."""
    import io

    buffer = io.BytesIO()
    service.user_data_zip(current_user, buffer)
    return Response(buffer.getvalue(), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="my-data-{current_user.id}.zip"',
        "Cache-Control": "no-store",
    })


@bp.route("/c/<int:community_id>/privacy", methods=["GET", "POST"])
@community_view("privacy.configure")
def settings(community):
    """The committee sets how long raw patrol GPS points are kept."""
    current = service.settings_for(community.id)
    form = RetentionForm(gps_retention_days=current.gps_retention_days)
    if form.validate_on_submit():
        service.update_settings(current_user, community.id, gps_retention_days=form.gps_retention_days.data)
        return commit_and_redirect(_("Saved."), "privacy.settings", community_id=community.id)
    status = 422 if form.errors else 200
    return render_template("privacy/settings.html", community=community, form=form, current=current), status


@bp.cli.command("export-community")
@click.argument("community_id", type=int)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The JSON file to write ('-' for standard output).")
@click.option("--photos", "photos_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the community's photos to this .tar.gz file.")
def export_community_command(community_id, out_path, photos_path):
    """Write one community (rows, people, schema revision) to a JSON file, and its photos to a tarball."""
    from civic.core.errors import NotFound

    photos = set() if photos_path else None
    try:
        if out_path == "-":
            counts = service.write_community_export(community_id, click.get_text_stream("stdout"), photos=photos)
        else:
            tmp = out_path + ".part"
            try:
                with open(tmp, "w", encoding="utf-8") as out:
                    counts = service.write_community_export(community_id, out, photos=photos)
                if photos_path:
                    _write_photos(community_id, photos, photos_path)
                os.replace(tmp, out_path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)  # an unknown id or a failure leaves nothing behind
    except NotFound as error:
        raise click.ClickException(f"No community with id {community_id}.") from error
    finally:
        db.session.rollback()
    total = sum(counts.values())
    click.echo(f"Exported {total} rows from {sum(1 for n in counts.values() if n)} tables of community "
               f"{community_id} to {out_path}.", err=out_path == "-")


def _write_photos(community_id, names, path):
    """The community's named photos, from the database, into a .tar.gz (photos without bytes are left out)."""
    import io
    import tarfile

    from civic.core.uploads import photo_bytes

    tmp = path + ".part"
    with tarfile.open(tmp, "w:gz") as tar:
        for name in sorted(names):
            data = photo_bytes(name, community_id) if "/" not in name else None
            if data is not None:
                member = tarfile.TarInfo(name)
                member.size, member.mode = len(data), 0o600
                tar.addfile(member, io.BytesIO(data))
    os.replace(tmp, path)


@bp.cli.command("import-community")
@click.argument("export_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--photos", "photos_path", type=click.Path(exists=True, dir_okay=False),
              help="The photos tarball written by export-community --photos.")
def import_community_command(export_path, photos_path):
    """Load a community written by export-community into this (empty) database, at the same schema revision."""
    import json
    import tarfile

    with open(export_path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        counts = service.import_community(data)
        if photos_path:
            with tarfile.open(photos_path, "r:gz") as tar:
                for member in tar.getmembers():
                    if member.isfile() and "/" not in member.name and not member.name.startswith("."):
                        service.import_photo(data["community"]["id"], member.name, tar.extractfile(member).read())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    click.echo(f"Imported community {data['community']['id']} ({data['community']['name']}): "
               f"{sum(counts.values())} rows, {len(data['users'])} people.")
