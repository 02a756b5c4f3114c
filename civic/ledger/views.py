"""The passbook (存折) pages: balance and star level, entries by month, CSV, print, household (户),
badges, leaderboards; and for the committee, residents' passbooks and the honour roll (红榜)."""
from flask import Blueprint, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from civic.core.clock import utcnow
from civic.core.csvfile import BOM, csv_response
from civic.core.errors import Invalid
from civic.extensions import db
from civic.ledger import gamification, passbook
from civic.ledger.forms import BoardForm, PassbookFilterForm, PrintForm
from civic.ledger.service import category_names
from civic.web import acting_user, community_view, current_community_id

bp = Blueprint("ledger", __name__)


def _category_choices(community_id):
    return [("", _("All categories"))] + list(category_names(community_id).items())


def _filter(community_id):
    form = PassbookFilterForm(request.args)
    form.category.choices = _category_choices(community_id)
    if not form.validate():
        raise Invalid("Please check what you entered.")
    return form


def _page(template, **context):
    """Render a page (reads never write: a community's categories and badges are made with it)."""
    return render_template(template, **context)


def _no_community():
    return render_template("ledger/no_community.html")


def _passbook_page(community, subject_id, *, committee_view=False):
    form = _filter(community.id)
    actor = acting_user() if not committee_view else current_user
    page = passbook.entries(actor, community.id, subject_id, category=form.category.data or None,
                            before=form.before.data)
    return _page(
        "ledger/passbook.html", community=community, form=form, committee_view=committee_view,
        subject=_user(subject_id), summary=passbook.summary(actor, community.id, subject_id),
        months=passbook.by_month(page["entries"]), next_cursor=page["next_cursor"],
        first_page=form.before.data is None, names=category_names(community.id), kinds=passbook.KIND_LABELS,
        earned=[b for b, award in gamification.badges_of(community.id, subject_id) if award],
        household_id=passbook.household_of(community.id, subject_id),
        held=passbook.held_holds(community.id, subject_id),
    )


def _user(user_id):
    from civic.accounts.models import User

    return db.session.get(User, user_id)


def _community(community_id):
    from civic.core.permissions import get_community_or_404

    return get_community_or_404(community_id)


@bp.route("/points", endpoint="passbook")
@login_required
def my_passbook():
    """My passbook: balance, star level, entries by month with the running balance."""
    community_id = current_community_id()
    if community_id is None:
        return _no_community()
    return _passbook_page(_community(community_id), acting_user().id)


@bp.route("/points/passbook.csv")
@login_required
def passbook_csv():
    """My passbook as a CSV file (opens in a spreadsheet; UTF-8 with BOM for Excel)."""
    community_id = current_community_id()
    if community_id is None:
        return _no_community()
    form = _filter(community_id)
    user = acting_user()
    rows = passbook.csv_rows(user, community_id, user.id, category=form.category.data or None, translate=_)
    first = next(rows)  # checks the permission before the response starts
    stamp = passbook.local_time(utcnow()).strftime("%Y%m%d")

    def generate():
        yield BOM + first
        yield from rows

    return csv_response(stream_with_context(generate()), f"passbook-{user.id}-{stamp}.csv")


@bp.route("/points/print")
@login_required
def passbook_print():
    """A printable passbook for one year (print it or save it as PDF from the browser)."""
    community_id = current_community_id()
    if community_id is None:
        return _no_community()
    community = _community(community_id)
    form = PrintForm(request.args)
    form.category.choices = _category_choices(community_id)
    if not form.validate():
        raise Invalid("Please check what you entered.")
    year = form.year.data or passbook.local_time(utcnow()).year
    since, until = passbook.year_bounds(year)
    user = acting_user()
    items = list(passbook.iter_entries(user, community_id, user.id, category=form.category.data or None,
                                       since=since, until=until))
    return _page(
        "ledger/print.html", community=community, subject=user, year=year, form=form,
        summary=passbook.summary(user, community_id, user.id), months=passbook.by_month(items),
        names=category_names(community_id), kinds=passbook.KIND_LABELS,
        total_in=sum(i["amount"] for i in items if i["amount"] > 0),
        total_out=sum(-i["amount"] for i in items if i["amount"] < 0),
    )


@bp.route("/points/household")
@login_required
def household_view():
    """My household's points (户): the members' balances and their sum."""
    community_id = current_community_id()
    if community_id is None:
        return _no_community()
    household_id = passbook.household_of(community_id, acting_user().id)
    if household_id is None:
        return _page(
        "ledger/household.html", community=_community(community_id), data=None)
    data = passbook.household(acting_user(), community_id, household_id)
    return _page(
        "ledger/household.html", community=_community(community_id), data=data)


@bp.route("/points/badges")
@login_required
def badges_view():
    """My badges: earned ones first, then those still to earn."""
    community_id = current_community_id()
    if community_id is None:
        return _no_community()
    user = acting_user()
    rows = gamification.person_badges(user, community_id, user.id)
    return _page(
        "ledger/badges.html", community=_community(community_id), rows=rows,
                           names=category_names(community_id))


@bp.route("/points/leaderboard")
@login_required
def leaderboard_view():
    """Leaderboards of my community: this month, this year, all time; overall or per category."""
    community_id = current_community_id()
    if community_id is None:
        return _no_community()
    form = BoardForm(request.args)
    form.category.choices = _category_choices(community_id)
    if not form.validate():
        raise Invalid("Please check what you entered.")
    period = form.period.data or "month"
    rows = gamification.leaderboard(acting_user(), community_id, period, form.category.data or None, limit=50)
    return _page(
        "ledger/leaderboard.html", community=_community(community_id), form=form,
                           period=period, rows=rows, me=acting_user().id)


# --- the committee's pages ----------------------------------------------------------------------

@bp.route("/c/<int:community_id>/residents/<int:user_id>/passbook")
@community_view("passbook.inspect")
def resident_passbook(community, user_id):
    """A resident's passbook, as the committee sees it."""
    return _passbook_page(community, user_id, committee_view=True)


@bp.route("/c/<int:community_id>/households/<int:household_id>/points")
@community_view("passbook.inspect")
def household_points(community, household_id):
    """A household's points (户), as the committee sees it."""
    data = passbook.household(current_user, community.id, household_id)
    return _page(
        "ledger/household.html", community=community, data=data, committee_view=True)


@bp.route("/c/<int:community_id>/honour-roll")
@community_view("honour_roll.show")
def honour_roll(community):
    """The honour roll (红榜) for a big screen: top residents this month and this year, top households."""
    now = utcnow()
    return _page(
        "ledger/honour_roll.html", community=community,
        month=gamification.leaderboard(current_user, community.id, "month", limit=10, now=now),
        year=gamification.leaderboard(current_user, community.id, "year", limit=10, now=now),
        households=gamification.household_board(current_user, community.id, "year", limit=10, now=now),
        local_now=passbook.local_time(now),
        refresh_seconds=60, back=url_for("ledger.passbook"),
    )


@bp.app_template_global("ledger_digests")
def ledger_digests(community_id, limit=7):
    """The latest daily ledger digests of a community, for the notice board's section
    (templates/ledger/_digests.html)."""
    from civic.ledger.digest import on_board

    return on_board(community_id, limit=limit)
