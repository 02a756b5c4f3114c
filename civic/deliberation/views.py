"""Deliberation pages: topics, review, sessions with QR check-in, votes, notices, implementation, exports."""
import base64
from datetime import datetime, timedelta

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from civic.accounts.models import User
from civic.communities.models import Grid, Membership
from civic.core import qr
from civic.core.clock import resolve, to_utc
from civic.core.csvfile import csv_response, csv_text
from civic.core.errors import DomainError, Invalid, NotFound, PermissionDenied
from civic.core.i18n import N_
from civic.core.permissions import can
from civic.core.uploads import save_photos
from civic.deliberation import service
from civic.deliberation.forms import (
    ButtonForm,
    CardForm,
    CheckinForm,
    ItemForm,
    MeetingForm,
    MinutesForm,
    NameCheckinForm,
    ObjectionForm,
    ProgressForm,
    RatingForm,
    ResponsibleForm,
    ReviewForm,
    SettingsForm,
    TopicForm,
    VoteForm,
)
from civic.deliberation.models import MEETING_KINDS
from civic.extensions import db
from civic.rules.views import flash_four_eyes
from civic.web import acting_user, commit_and_redirect, community_view, current_community_id, public_url, submitted

bp = Blueprint("deliberation", __name__)

TOPIC_STATUS = {"proposed": N_("Collecting support"), "committee": N_("With the committee"),
                "scheduled": N_("On the agenda"), "merged": N_("Merged"), "declined": N_("Declined")}
ITEM_STATUS = {"pending": N_("Not voted yet"), "voting": N_("Voting now"), "adopted": N_("Adopted"),
               "rejected": N_("Not adopted"), "no_quorum": N_("Not enough people present"),
               "evaluating": N_("Residents' evaluation"), "vetoed": N_("Vetoed by residents")}
REVIEWED = {"agenda": N_("The topic is on the agenda."), "merge": N_("The topic has been merged."),
            "decline": N_("The topic has been declined; the reason is published.")}


def kind_name(meeting):
    """The kind of a session in the current language (or its custom name)."""
    return meeting.custom_kind if meeting.kind == "custom" else _(MEETING_KINDS[meeting.kind])


@bp.app_context_processor
def _labels():
    return {
        "delib_topic_status": lambda s: _(TOPIC_STATUS[s]),
        "delib_item_status": lambda s: _(ITEM_STATUS[s]),
        "delib_kind": kind_name,
        "delib_local": service.local_time,
        "delib_span": meeting_span,
    }


def meeting_span(meeting):
    """When a session runs, as residents read it: "2026-06-01 19:00 – 21:00"; an end after midnight says
    "the next day", a later end gives its date."""
    start, end = service.local_time(meeting.starts_at), service.local_time(meeting.ends_at)
    if end[:10] == start[:10]:
        return f"{start} – {end[11:]}"
    next_day = (datetime.strptime(start[:10], "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%d")
    if end[:10] == next_day:
        return f"{start} – " + _("the next day %(time)s", time=end[11:])
    return f"{start} – {end}"


def _photos(field):
    """Save the uploaded photos of a MultipleFileField; returns their stored names."""
    files = [f for f in (field.data or []) if getattr(f, "filename", "")]
    if len(files) > service.MAX_PHOTOS:
        raise Invalid("At most %(n)s photos.", n=service.MAX_PHOTOS)
    return save_photos(files, uploader=acting_user(), community_id=g.community.id)


def _members(community_id):
    return db.session.execute(select(User, Membership).join(Membership, Membership.user_id == User.id).where(
        Membership.community_id == community_id, Membership.status == "active").order_by(User.display_name)).all()


# --- entry points -------------------------------------------------------------------------------

@bp.route("/deliberation")
@login_required
def index():
    """The 议事 tab: the deliberation page of my current community."""
    community_id = current_community_id()
    if community_id is None:
        return render_template("deliberation/no_community.html")
    return redirect(url_for("deliberation.home", community_id=community_id))


@bp.route("/c/<int:community_id>/deliberation")
@community_view("deliberation.view")
def home(community):
    """Topics collecting support, upcoming sessions, decisions and work in progress."""
    return render_template(
        "deliberation/home.html", community=community,
        topics=service.list_topics(community.id, ("proposed", "committee")),
        meetings=service.list_meetings(community.id, upcoming=True),
        past=service.list_meetings(community.id, upcoming=False)[:10],
        evaluating=[i for i in service.decisions(community.id) if i.status == "evaluating"],
        works=service.implementations(community.id)[:10],
        closed_topics=service.list_topics(community.id, ("declined", "merged"))[:10],
        settings=service.settings_for(community.id),
        manage=can(current_user, "deliberation.manage", community.id),
    )


# --- step 1: topics -----------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/deliberation/topics/new", methods=["GET", "POST"])
@community_view("deliberation.participate")
def new_topic(community):
    """Propose a topic with photos."""
    form = TopicForm()
    if form.validate_on_submit():
        topic = service.propose_topic(acting_user(), community.id, form.title.data, form.description.data,
                                      _photos(form.photos))
        return commit_and_redirect(_("Your topic has been posted. Neighbours can now support it."),
                                   "deliberation.topic", community_id=community.id, topic_id=topic.id)
    return render_template("deliberation/topic_new.html", community=community, form=form,
                           threshold=service.settings_for(community.id).support_threshold)


@bp.route("/c/<int:community_id>/deliberation/topics/<int:topic_id>")
@community_view("deliberation.view")
def topic(community, topic_id):
    """A topic: its photos, support, and the committee's review."""
    topic = service.get_topic(community.id, topic_id)
    manage = can(current_user, "deliberation.manage", community.id)
    review = ReviewForm()
    if manage:
        review.meeting_id.choices = [(m.id, f"{m.title} ({service.local_time(m.starts_at)})")
                                     for m in service.list_meetings(community.id, upcoming=True)]
        review.into_topic_id.choices = [(t.id, t.title) for t in service.list_topics(
            community.id, ("proposed", "committee", "scheduled")) if t.id != topic.id]
    merged_into = service.get_topic(community.id, topic.merged_into_id) if topic.merged_into_id else None
    return render_template(
        "deliberation/topic.html", community=community, topic=topic, manage=manage, review=review,
        button=ButtonForm(), supported=service.has_supported(acting_user(), topic), merged_into=merged_into,
        threshold=service.settings_for(community.id).support_threshold,
    )


@bp.route("/c/<int:community_id>/deliberation/topics/<int:topic_id>/support", methods=["POST"])
@community_view("deliberation.participate")
def support(community, topic_id):
    """Support a topic (once)."""
    submitted(ButtonForm())
    service.support_topic(acting_user(), community.id, topic_id)
    return commit_and_redirect(_("Thank you for your support."),
                               "deliberation.topic", community_id=community.id, topic_id=topic_id)


@bp.route("/c/<int:community_id>/deliberation/topics/<int:topic_id>/review", methods=["POST"])
@community_view("deliberation.manage")
def review_topic(community, topic_id):
    """Put a topic on an agenda, merge it, or decline it with a reason."""
    form = ReviewForm()
    form.meeting_id.choices, form.into_topic_id.choices = [], []
    submitted(form, first_error=True)
    service.review_topic(current_user, community.id, topic_id, form.action.data, meeting_id=form.meeting_id.data,
                         is_major=form.is_major.data, into_topic_id=form.into_topic_id.data, reason=form.reason.data)
    return commit_and_redirect(_(REVIEWED[form.action.data]),
                               "deliberation.topic", community_id=community.id, topic_id=topic_id)


# --- step 3: sessions ---------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/deliberation/meetings/new", methods=["GET", "POST"])
@community_view("deliberation.manage")
def new_meeting(community):
    """Plan a session: kind, time, place, who is expected, quorum and majority."""
    form = MeetingForm()
    grids = db.session.scalars(select(Grid).where(Grid.community_id == community.id).order_by(Grid.name)).all()
    form.grid_id.choices = [(0, _("Choose a grid"))] + [(g.id, g.name) for g in grids]
    form.invitees.choices = [(u.id, u.display_name) for u, _m in _members(community.id)]
    if form.validate_on_submit():
        meeting = service.create_meeting(
            current_user, community.id, title=form.title.data, kind=form.kind.data, custom_kind=form.custom_kind.data,
            place=form.place.data, starts_at=to_utc(form.starts_at.data), ends_at=to_utc(form.ends_at.data),
            scope=form.scope.data, grid_id=form.grid_id.data or None, invitee_ids=form.invitees.data or [],
            quorum_count=form.quorum_count.data, quorum_percent=form.quorum_percent.data, majority=form.majority.data,
        )
        return commit_and_redirect(_("The meeting is planned. Invitations will be sent."),
                                   "deliberation.meeting", community_id=community.id, meeting_id=meeting.id)
    return render_template("deliberation/meeting_new.html", community=community, form=form)


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>")
@community_view("deliberation.view")
def meeting(community, meeting_id):
    """A session: agenda and votes; for the committee also check-in, minutes and exports."""
    meeting = service.get_meeting(community.id, meeting_id)
    me = acting_user()
    expected, present = service.attendance_counts(meeting)
    manage = can(current_user, "deliberation.manage", community.id)
    return render_template(
        "deliberation/meeting.html", community=community, meeting=meeting, manage=manage,
        expected=expected, present=present, i_am_present=service.is_present(meeting, me.id),
        my_votes={item.id: service.my_vote(item, me.id) for item in meeting.items},
        counts={item.id: service.vote_counts(item) for item in meeting.items if item.status == "voting"},
        button=ButtonForm(), vote_form=VoteForm(), item_form=ItemForm(),
        minutes_form=MinutesForm(minutes=meeting.minutes),
    )


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/items", methods=["POST"])
@community_view("deliberation.manage")
def add_item(community, meeting_id):
    """Add an agenda item."""
    form = submitted(ItemForm(), first_error=True)
    service.add_agenda_item(current_user, community.id, meeting_id, form.title.data, form.description.data,
                            is_major=form.is_major.data)
    return commit_and_redirect(_("Agenda item added."),
                               "deliberation.meeting", community_id=community.id, meeting_id=meeting_id)


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/minutes", methods=["POST"])
@community_view("deliberation.manage")
def minutes(community, meeting_id):
    """Save the minutes."""
    form = submitted(MinutesForm(), first_error=True)
    service.record_minutes(current_user, community.id, meeting_id, form.minutes.data)
    return commit_and_redirect(_("Minutes saved."), "deliberation.meeting", community_id=community.id,
                               meeting_id=meeting_id, _anchor="minutes")


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/close", methods=["POST"])
@community_view("deliberation.manage")
def close(community, meeting_id):
    """Close the session and publish results and minutes."""
    submitted(ButtonForm())
    service.close_meeting(current_user, community.id, meeting_id)
    return commit_and_redirect(_("The meeting is closed and the results are published."),
                               "deliberation.notice", community_id=community.id, meeting_id=meeting_id)


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/notice")
@community_view("deliberation.view")
def notice(community, meeting_id):
    """The published results and minutes of a closed session (公示)."""
    meeting = service.get_meeting(community.id, meeting_id)
    if meeting.status != "closed":
        raise NotFound("The results of this meeting are not published yet.")
    expected, present = service.attendance_counts(meeting)
    return render_template("deliberation/notice.html", community=community, meeting=meeting,
                           expected=expected, present=present)


# --- QR check-in --------------------------------------------------------------------------------

def _code_payload(meeting):
    expected, present = service.attendance_counts(meeting)
    data = {"expected": expected, "present": present, "open": True, "message": ""}
    try:
        service.checkin_open(meeting, resolve(None))
    except DomainError as error:
        data.update(open=False, message=error.message)
        return data
    token, refresh_in = service.checkin_token(meeting)
    url = public_url("deliberation.checkin", t=token)
    data.update(token=token, url=url, refresh_in=round(refresh_in, 1),
                png="data:image/png;base64," + base64.b64encode(qr.qr_png(url, box_size=6)).decode())
    recent = [(u.display_name, a) for u, _m, a in service.attendance_list(meeting) if a]
    recent.sort(key=lambda r: r[1].checked_in_at, reverse=True)
    data["recent"] = [name for name, _a in recent[:8]]
    return data


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/screen")
@community_view("deliberation.manage")
def screen(community, meeting_id):
    """The organiser's check-in screen: a QR code that changes every 30 seconds, 应到/实到 live."""
    meeting = service.get_meeting(community.id, meeting_id)
    return render_template("deliberation/screen.html", community=community, meeting=meeting,
                           code=_code_payload(meeting), card_form=CardForm())


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/code.json")
@community_view("deliberation.manage")
def code(community, meeting_id):
    """The current check-in code and counts, polled by the check-in screen."""
    response = jsonify(_code_payload(service.get_meeting(community.id, meeting_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/checkin")
@login_required
def checkin():
    """Where a scanned check-in code leads: confirm to check in."""
    token = request.args.get("t", "")
    form = CheckinForm(t=token)
    meeting = error = None
    status = 200
    try:
        community_id, meeting_id = service.read_checkin_token(token)
        if not can(acting_user(), "deliberation.view", community_id):  # another community's meeting: not shown
            raise PermissionDenied(N_("You are not on the list for this meeting. Please ask the organiser."))
        meeting = service.get_meeting(community_id, meeting_id)
    except DomainError as exc:
        error, status = exc.message, (403 if isinstance(exc, PermissionDenied) else 400)
    return render_template("deliberation/checkin.html", meeting=meeting, error=error, form=form,
                           way_back=_way_back(token) if error else None), status


def _way_back(token):
    """After a refused code: the in-app scanner and the meeting's page (or the meetings list), in a
    community the person belongs to, so a stale or damaged code is never a dead end."""
    named = service.meeting_named_by(token)
    community_id = named[0] if named and can(acting_user(), "deliberation.view", named[0]) else current_community_id()
    if community_id is None:
        return None
    back = (url_for("deliberation.meeting", community_id=community_id, meeting_id=named[1])
            if named and named[0] == community_id else url_for("deliberation.home", community_id=community_id))
    return {"scan": url_for("deliberation.scan", community_id=community_id), "back": back,
            "to_meeting": bool(named and named[0] == community_id)}


@bp.route("/checkin", methods=["POST"])
@login_required
def checkin_post():
    """Check in with a scanned code (the code must still be current)."""
    form = submitted(CheckinForm(), "This code is not valid.")
    result = service.check_in_by_scan(acting_user(), form.t.data)
    db.session.commit()
    if result.created:
        flash(_("Checked in. Welcome!"), "success")
    else:
        flash(_("You have already checked in."), "info")
    return redirect(url_for("deliberation.meeting", community_id=result.meeting.community_id,
                            meeting_id=result.meeting.id))


@bp.route("/c/<int:community_id>/deliberation/scan")
@community_view("deliberation.participate")
def scan(community):
    """Scan the meeting's code with the camera, inside the app."""
    return render_template("deliberation/scan.html", community=community)


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/attendance", methods=["GET", "POST"])
@community_view("deliberation.manage")
def attendance(community, meeting_id):
    """The expected list: check people in by name or by their personal card."""
    meeting = service.get_meeting(community.id, meeting_id)
    if request.method == "POST":
        form = submitted(NameCheckinForm())
        result = service.check_in_by_name(current_user, community.id, meeting.id, form.user_id.data)
        db.session.commit()
        _flash_result(result)
        return redirect(url_for("deliberation.attendance", community_id=community.id, meeting_id=meeting.id))
    expected, present = service.attendance_counts(meeting)
    return render_template("deliberation/attendance.html", community=community, meeting=meeting,
                           rows=service.attendance_list(meeting), expected=expected, present=present,
                           button=ButtonForm(), card_form=CardForm())


def _flash_result(result):
    if result.created and service.self_recorded_without_points(result):
        flash(_("You are checked in. Checking yourself in earns no points; another organiser must check you in "
                "for the attendance points."), "info")
    elif result.created:
        flash(_("%(name)s is checked in.", name=result.user.display_name), "success")
    else:
        flash(_("%(name)s has already checked in.", name=result.user.display_name), "info")


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/card", methods=["POST"])
@community_view("deliberation.manage")
def card_checkin(community, meeting_id):
    """Check someone in with the code of their personal card (typed or scanned)."""
    form = submitted(CardForm(), first_error=True)
    result = service.check_in_by_card(current_user, community.id, meeting_id, form.token.data)
    db.session.commit()
    _flash_result(result)
    return redirect(url_for("deliberation.attendance", community_id=community.id, meeting_id=meeting_id))


@bp.route("/deliberation/card")
@login_required
def my_card():
    """My personal check-in card, to print (for when I have no phone with me)."""
    user = acting_user()
    return render_template("deliberation/card.html", person=user, svg=qr.qr_svg(service.person_token(user)))


@bp.route("/c/<int:community_id>/deliberation/cards/<int:user_id>")
@community_view("deliberation.manage")
def member_card(community, user_id):
    """The committee prints a resident's personal card (for residents without a smartphone)."""
    user = db.session.scalar(select(User).join(Membership, Membership.user_id == User.id).where(
        Membership.community_id == community.id, Membership.user_id == user_id, Membership.status == "active"))
    if user is None:
        raise NotFound("No such resident.")
    return render_template("deliberation/card.html", person=user, svg=qr.qr_svg(service.person_token(user)),
                           community=community)


# --- step 4: decision ---------------------------------------------------------------------------

@bp.route("/c/<int:community_id>/deliberation/items/<int:item_id>/voting", methods=["POST"])
@community_view("deliberation.manage")
def voting(community, item_id):
    """Open or close the vote on an agenda item."""
    form = VoteForm()
    if not form.validate_on_submit() or form.choice.data not in ("open", "close"):
        raise Invalid()
    item = service.open_or_close_vote(current_user, community.id, item_id, form.choice.data == "open")
    if form.choice.data == "open":
        message = _("Voting is open.")
    else:
        message = _("Voting is closed: %(result)s", result=_(ITEM_STATUS[item.status]))
    return commit_and_redirect(message, "deliberation.meeting", community_id=community.id, meeting_id=item.meeting_id)


@bp.route("/c/<int:community_id>/deliberation/items/<int:item_id>/vote", methods=["POST"])
@community_view("deliberation.participate")
def vote(community, item_id):
    """Vote for, against or abstain (once)."""
    form = submitted(VoteForm(), "Please choose for, against or abstain.")
    item = service.cast_vote(acting_user(), community.id, item_id, form.choice.data)
    return commit_and_redirect(_("Your vote has been recorded."),
                               "deliberation.meeting", community_id=community.id, meeting_id=item.meeting_id)


@bp.route("/c/<int:community_id>/deliberation/items/<int:item_id>")
@community_view("deliberation.view")
def item(community, item_id):
    """An agenda item: result, residents' evaluation, implementation and satisfaction."""
    item = service.get_item(community.id, item_id)
    me = acting_user()
    manage = can(current_user, "deliberation.manage", community.id)
    responsible = ResponsibleForm(user_id=item.responsible_id)
    responsible.user_id.choices = [(u.id, u.display_name) for u, _m in _members(community.id)] if manage else []
    average, ratings = service.rating_summary(item)
    return render_template(
        "deliberation/item.html", community=community, item=item, manage=manage,
        may_report=manage or item.responsible_id == me.id, objected=service.has_objected(item, me.id),
        progress=service.progress_of(item), average=average, ratings=ratings,
        my_rating=service.my_rating(item, me.id), now=resolve(None),
        objection_form=ObjectionForm(), responsible_form=responsible, progress_form=ProgressForm(),
        rating_form=RatingForm(), button=ButtonForm(),
    )


@bp.route("/c/<int:community_id>/deliberation/items/<int:item_id>/object", methods=["POST"])
@community_view("deliberation.participate")
def object_item(community, item_id):
    """Object to a major decision during the residents' evaluation."""
    form = submitted(ObjectionForm(), first_error=True)
    item = service.object_to_item(acting_user(), community.id, item_id, form.reason.data)
    return commit_and_redirect(_("Your objection has been recorded.") if item.status != "vetoed"
                               else _("Your objection has been recorded. The decision is vetoed."),
                               "deliberation.item", community_id=community.id, item_id=item_id)


# --- step 5: implementation ---------------------------------------------------------------------

@bp.route("/c/<int:community_id>/deliberation/items/<int:item_id>/responsible", methods=["POST"])
@community_view("deliberation.manage")
def responsible(community, item_id):
    """Name the person responsible for carrying out an adopted item."""
    form = ResponsibleForm()
    form.user_id.choices = []
    submitted(form, first_error=True)
    service.assign_responsible(current_user, community.id, item_id, form.user_id.data)
    return commit_and_redirect(_("The responsible person has been told."),
                               "deliberation.item", community_id=community.id, item_id=item_id)


@bp.route("/c/<int:community_id>/deliberation/items/<int:item_id>/progress", methods=["POST"])
@community_view("deliberation.participate")
def progress(community, item_id):
    """Post progress with photos (the responsible person or the committee)."""
    form = submitted(ProgressForm(), first_error=True)
    item = service.get_item(community.id, item_id)
    if not (can(current_user, "deliberation.manage", community.id) or item.responsible_id == acting_user().id):
        raise PermissionDenied("Only the responsible person or the committee can post progress.")
    service.add_progress(acting_user(), community.id, item_id, form.text.data, _photos(form.photos))
    return commit_and_redirect(_("Progress posted."), "deliberation.item", community_id=community.id, item_id=item_id)


@bp.route("/c/<int:community_id>/deliberation/items/<int:item_id>/complete", methods=["POST"])
@community_view("deliberation.participate")
def complete(community, item_id):
    """Mark an item completed; residents are asked to rate it."""
    submitted(ButtonForm())
    service.complete_item(acting_user(), community.id, item_id)
    return commit_and_redirect(_("Marked as completed. Residents will be asked to rate it."),
                               "deliberation.item", community_id=community.id, item_id=item_id)


@bp.route("/c/<int:community_id>/deliberation/items/<int:item_id>/rate", methods=["POST"])
@community_view("deliberation.participate")
def rate(community, item_id):
    """Rate a completed item 1–5 (once)."""
    form = submitted(RatingForm(), "Please choose 1 to 5 stars.")
    service.rate_item(acting_user(), community.id, item_id, form.score.data, form.comment.data)
    return commit_and_redirect(_("Thank you for your rating."),
                               "deliberation.item", community_id=community.id, item_id=item_id)


# --- settings and exports -----------------------------------------------------------------------

@bp.route("/c/<int:community_id>/deliberation/settings", methods=["GET", "POST"])
@community_view("deliberation.manage")
def settings(community):
    """The community's deliberation rules."""
    current = service.settings_for(community.id)
    form = SettingsForm(obj=current)
    if form.validate_on_submit():
        service.update_settings(current_user, community.id, support_threshold=form.support_threshold.data,
                                points_per_attendance=form.points_per_attendance.data,
                                veto_percent=form.veto_percent.data, evaluation_days=form.evaluation_days.data)
        db.session.commit()
        flash(_("Settings saved."), "success")
        flash_four_eyes()
        return redirect(url_for("deliberation.home", community_id=community.id))
    return render_template("deliberation/settings.html", community=community, form=form)


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/attendance.csv")
@community_view("deliberation.manage")
def attendance_csv(community, meeting_id):
    """Attendance as CSV."""
    meeting = service.get_meeting(community.id, meeting_id)
    rows = [[_("Name"), _("Grid"), _("Address"), _("Present"), _("How"), _("Checked in at")]]
    methods = {"scan": _("Scanned the code"), "card": _("Personal card"), "name": _("By name")}
    for r in service.attendance_rows(meeting):
        rows.append([r["name"], r["grid"], r["address"], _("Yes") if r["present"] else _("No"),
                     methods.get(r["method"], ""),
                     service.local_time(r["checked_in_at"]) if r["checked_in_at"] else ""])
    return csv_response(csv_text(rows), f"attendance-{meeting.id}.csv")


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/minutes.csv")
@community_view("deliberation.manage")
def minutes_csv(community, meeting_id):
    """Minutes and results as CSV."""
    meeting = service.get_meeting(community.id, meeting_id)
    expected, present = service.attendance_counts(meeting)
    rows = [
        [_("Meeting"), meeting.title], [_("Kind"), kind_name(meeting)],
        [_("Time"), f"{service.local_time(meeting.starts_at)} – {service.local_time(meeting.ends_at)}"],
        [_("Place"), meeting.place], [_("Expected"), expected], [_("Present"), present], [],
        [_("Agenda item"), _("Major"), _("For"), _("Against"), _("Abstain"), _("Result")],
    ]
    for item in meeting.items:
        rows.append([item.title, _("Yes") if item.is_major else _("No"), item.votes_for, item.votes_against,
                     item.votes_abstain, _(ITEM_STATUS[item.status])])
    rows += [[], [_("Minutes")], [meeting.minutes]]
    return csv_response(csv_text(rows), f"minutes-{meeting.id}.csv")


@bp.route("/c/<int:community_id>/deliberation/meetings/<int:meeting_id>/print")
@community_view("deliberation.manage")
def print_view(community, meeting_id):
    """A printable page of the minutes, results and attendance."""
    meeting = service.get_meeting(community.id, meeting_id)
    expected, present = service.attendance_counts(meeting)
    return render_template("deliberation/print.html", community=community, meeting=meeting, expected=expected,
                           present=present, rows=service.attendance_rows(meeting))
