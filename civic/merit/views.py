"""Merit pages: earn points (catalogue → claim), my claims, the committee's review queue, the notice
board (公示栏) with objections, recording for a resident, and the committee's rules and settings."""
import secrets

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from civic.accounts.models import User
from civic.communities.models import Membership
from civic.core.errors import DomainError, Invalid, NotFound
from civic.core.lookup import MAX_ID
from civic.core.permissions import can
from civic.core.uploads import save_photo
from civic.extensions import db
from civic.ledger.service import balance_of
from civic.merit import service
from civic.merit.forms import (
    ApproveForm,
    CategoryForm,
    ClaimForm,
    DecisionForm,
    ObjectionForm,
    RecordForm,
    RejectForm,
    RuleForm,
    SettingsForm,
)
from civic.merit.models import Claim, MeritRule
from civic.rules.views import flash_four_eyes
from civic.web import acting_user, commit_and_redirect, community_view, submitted

bp = Blueprint("merit", __name__, url_prefix="/c/<int:community_id>/merit")


@bp.context_processor
def _merit_globals():
    """What the merit pages need to know about the viewer in the page's own community."""
    community = g.get("community")
    if community is None or not current_user.is_authenticated:
        return {}
    return {"merit_committee": can(current_user, "merit.review", community.id),
            "merit_recorder": can(current_user, "merit.record", community.id),
            "merit_configure": can(current_user, "merit.configure", community.id)}


def _save_photos(form):
    """Store the chosen photos (re-encoded, without EXIF) as the signed-in person's uploads in the page's
    community; a bad one, or one past the daily quota, becomes a form error."""
    names = []
    for upload in form.chosen_photos():
        try:
            names.append(save_photo(upload, uploader=current_user, community_id=g.community.id))
        except DomainError as error:
            form.photos.errors = [*form.photos.errors, error.message]
            return None
    db.session.commit()  # the files are on disk: keep their rows even if the claim is refused (cleanup job)
    return names


def _new_key(form):
    if not form.request_key.data:
        form.request_key.data = secrets.token_urlsafe(16)


@bp.route("/")
@community_view("merit.view")
def index(community):
    """Earn points: the catalogue grouped by category, each item leading to its claim form."""
    who = acting_user()
    return render_template(
        "merit/index.html", community=community, catalogue=service.catalogue(who, community.id),
        balance=balance_of(community.id, who.id), settings=service.settings_for(community.id),
    )


@bp.route("/rules/<int:rule_id>/claim", methods=["GET", "POST"])
@community_view("merit.claim")
def claim(community, rule_id):
    """Claim one item: what I did, with up to three photos."""
    rule = service.get_rule(community.id, rule_id)
    if not rule.active or rule.kind != "award":
        return render_template("error.html", status=404, message=_("This item is no longer offered.")), 404
    form = ClaimForm()
    status = 200
    if form.validate_on_submit():
        photos = _save_photos(form)
        if photos is not None:
            who = acting_user()
            service.submit_claim(current_user, community.id, rule.id, description=form.description.data,
                                 photos=photos, resident_id=who.id, request_key=form.request_key.data or None)
            return commit_and_redirect(_("Your claim has been sent. The committee will review it."),
                                       "merit.mine", community_id=community.id)
    if request.method == "POST":
        status = 422
    _new_key(form)
    return render_template("merit/claim.html", community=community, rule=rule, form=form), status


@bp.route("/mine")
@community_view("merit.view")
def mine(community):
    """My claims and deductions with their status."""
    who = acting_user()
    recorded = (service.recorded_by(current_user, community.id) if can(current_user, "merit.record", community.id)
                else [])
    return render_template("merit/mine.html", community=community, claims=service.my_claims(who, community.id),
                           recorded=recorded)


def _resident_choices(community_id, actor):
    rows = db.session.execute(
        select(User.id, User.display_name).join(Membership, Membership.user_id == User.id)
        .where(Membership.community_id == community_id, Membership.status == "active", User.id != actor.id)
        .order_by(User.display_name, User.id)).all()
    return [(0, _("Choose a resident"))] + [(uid, name) for uid, name in rows]


def _rule_choices(community_id):
    rules = db.session.scalars(select(MeritRule).where(
        MeritRule.community_id == community_id, MeritRule.active.is_(True))
        .order_by(MeritRule.kind, MeritRule.id)).all()
    choices = [(0, _("Choose an item"))]
    for r in rules:
        points = str(r.points_min) if r.fixed else f"{r.points_min}–{r.points_max}"
        sign = "−" if r.kind == "deduction" else "+"
        choices.append((r.id, f"{sign}{points} {r.name}"))
    return choices


@bp.route("/record", methods=["GET", "POST"])
@community_view("merit.record")
def record(community):
    """A committee member or grid leader records an item or a deduction for a resident."""
    form = RecordForm()
    form.resident_id.choices = _resident_choices(community.id, current_user)
    form.rule_id.choices = _rule_choices(community.id)
    if request.method == "GET" and request.args.get("rule_id", "").isdigit():
        form.rule_id.data = int(request.args["rule_id"])
    status = 200
    if form.validate_on_submit():
        if not form.resident_id.data or not form.rule_id.data:
            form.resident_id.errors = [*form.resident_id.errors, _("Please choose a resident and an item.")]
        else:
            photos = _save_photos(form)
            if photos is not None:
                service.submit_claim(current_user, community.id, form.rule_id.data, description=form.description.data,
                                     photos=photos, resident_id=form.resident_id.data,
                                     request_key=form.request_key.data or None)
                return commit_and_redirect(_("Recorded. The committee will review it."),
                                           "merit.mine", community_id=community.id)
    if request.method == "POST":
        status = 422
    _new_key(form)
    return render_template("merit/record.html", community=community, form=form), status


@bp.route("/claims/<int:claim_id>")
@community_view("merit.view")
def detail(community, claim_id):
    """One claim: what was claimed, its photos (for those allowed), each step of its review."""
    who = acting_user()
    claim = service.get_claim(who, community.id, claim_id)
    return render_template(
        "merit/detail.html", community=community, claim=claim,
        show_photos=service.may_see_photos(who, claim) or service.may_see_photos(current_user, claim),
        is_committee=can(current_user, "merit.review", community.id),
    )


@bp.route("/review")
@community_view("merit.review")
def review(community):
    """The committee's queue: new claims, second approvals and objections, oldest first."""
    stuck = db.session.scalars(select(Claim).where(
        Claim.community_id == community.id, Claim.status == "notice", Claim.post_error != "")).all()
    page = request.args.get("page", 1, type=int)
    claims, has_more = service.review_queue(current_user, community.id, page=page)
    return render_template(
        "merit/review.html", community=community, claims=claims, page=max(page, 1), has_more=has_more,
        stuck=stuck, approve_form=ApproveForm(), reject_form=RejectForm(), decision_form=DecisionForm(),
        can_review=service.can_review, open_objections=service.open_objections,
        settings=service.settings_for(community.id),
    )


def _back_to_review(community):
    return redirect(url_for("merit.review", community_id=community.id))


@bp.route("/claims/<int:claim_id>/approve", methods=["POST"])
@community_view("merit.review")
def approve(community, claim_id):
    """Approve a claim (first or second approval)."""
    form = ApproveForm()
    if not form.validate_on_submit():
        raise Invalid(form.points.errors[0] if form.points.errors else None)
    claim = service.approve_claim(current_user, community.id, claim_id, form.points.data)
    db.session.commit()
    flash(_("Approved. Another committee member must approve it too.") if claim.status == "second"
          else _("Approved. It is now on the notice board."), "success")
    return _back_to_review(community)


@bp.route("/claims/<int:claim_id>/reject", methods=["POST"])
@community_view("merit.review")
def reject(community, claim_id):
    """Turn a claim down with a reason."""
    form = submitted(RejectForm(), "Please give a reason (2 to 500 characters).")
    service.reject_claim(current_user, community.id, claim_id, form.reason.data)
    db.session.commit()
    flash(_("Not approved. The resident has been told why."), "success")
    return _back_to_review(community)


@bp.route("/notice")
@community_view("merit.view")
def notice(community):
    """The notice board (公示栏): items before they become final, with an object button."""
    who = acting_user()
    return render_template("merit/notice.html", community=community, board=service.notice_board(
        who, community.id, page=request.args.get("page", 1, type=int)),
                           settings=service.settings_for(community.id), me=who)


@bp.route("/claims/<int:claim_id>/object", methods=["GET", "POST"])
@community_view("merit.object")
def object_to(community, claim_id):
    """Object to an item on the notice board, once, with a reason."""
    who = acting_user()
    claim = service.get_claim(who, community.id, claim_id)
    form = ObjectionForm()
    if form.validate_on_submit():
        service.object_to_claim(who, community.id, claim.id, form.reason.data)
        return commit_and_redirect(_("Your objection has been sent. The committee will look at it again."),
                                   "merit.notice", community_id=community.id)
    return render_template("merit/object.html", community=community, claim=claim, form=form), (
        422 if request.method == "POST" else 200)


@bp.route("/objections/<int:objection_id>/decide", methods=["POST"])
@community_view("merit.review")
def decide(community, objection_id):
    """Uphold or dismiss an objection."""
    form = DecisionForm()
    if not form.validate_on_submit() or form.decision.data not in ("uphold", "dismiss"):
        raise Invalid("Please give the reason for the decision (2 to 500 characters).")
    uphold = form.decision.data == "uphold"
    service.decide_objection(current_user, community.id, objection_id, uphold, form.note.data)
    db.session.commit()
    flash(_("Objection upheld: the item is cancelled.") if uphold else _("Objection dismissed."), "success")
    return _back_to_review(community)


# --- the committee's rules and settings ---------------------------------------------------------

def _category_choices(community_id):
    return [(c.id, _(c.name)) for c in service.categories(community_id)]


@bp.route("/manage", methods=["GET", "POST"])
@community_view("merit.configure")
def manage(community):
    """The rules editor: settings, categories and every item (offered or not)."""
    settings = service.settings_for(community.id)
    form = SettingsForm(obj=settings)
    if form.validate_on_submit():
        service.update_settings(current_user, community.id, notice_days=form.notice_days.data,
                                second_approval_above=form.second_approval_above.data)
        db.session.commit()
        flash(_("Settings saved."), "success")
        flash_four_eyes()
        return redirect(url_for("merit.manage", community_id=community.id))
    return render_template(
        "merit/manage.html", community=community, form=form, category_form=CategoryForm(),
        catalogue=service.catalogue(current_user, community.id, include_inactive=True),
    ), (422 if request.method == "POST" else 200)


@bp.route("/manage/categories", methods=["POST"])
@community_view("merit.configure")
def category(community):
    """Add a category, or rename one."""
    form = submitted(CategoryForm(), "Please enter a category name of at most 60 characters.")
    if form.category_id.data and str(form.category_id.data).isdigit():
        if int(form.category_id.data) > MAX_ID:
            raise NotFound("No such category.")
        service.rename_category(current_user, community.id, int(form.category_id.data), form.name.data)
    else:
        service.add_category(current_user, community.id, form.name.data)
    return commit_and_redirect(_("Categories saved."), "merit.manage", community_id=community.id)


@bp.route("/manage/rules/new", methods=["GET", "POST"])
@bp.route("/manage/rules/<int:rule_id>", methods=["GET", "POST"])
@community_view("merit.configure")
def edit_rule(community, rule_id=None):
    """Add or edit an item of the catalogue."""
    rule = service.get_rule(community.id, rule_id) if rule_id else None
    form = RuleForm(obj=rule)
    form.category_id.choices = _category_choices(community.id)
    if rule is None and request.method == "GET":
        form.kind.data = request.args.get("kind") if request.args.get("kind") in ("award", "deduction") else "award"
    if form.validate_on_submit():
        try:
            if rule is None:
                service.create_rule(current_user, community.id, form.rule_data())
            else:
                service.update_rule(current_user, community.id, rule.id, form.rule_data())
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(_("Item saved."), "success")
            flash_four_eyes()
            return redirect(url_for("merit.manage", community_id=community.id))
    status = 422 if request.method == "POST" else 200
    return render_template("merit/rule.html", community=community, form=form, rule=rule), status
