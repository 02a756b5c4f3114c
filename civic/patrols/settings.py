"""The community's patrol rules: points per km, per hour and per confirmed report, the daily caps
(changed under the committee's four eyes, civic.rules), and the patrol area a track is checked against."""
from sqlalchemy import select

from civic.communities.service import register_settings_seeder
from civic.core import audit
from civic.core.errors import Invalid
from civic.core.i18n import N_
from civic.core.permissions import require
from civic.extensions import db
from civic.patrols.models import PatrolSettings
from civic.patrols.routes import clean_waypoints, routes
from civic.rules import service as rules
from civic.rules.service import register_settings_field


def settings_for(community_id):
    """The community's patrol rules (saved when the community was created; reading never writes)."""
    found = db.session.scalar(select(PatrolSettings).where(PatrolSettings.community_id == community_id))
    return found or PatrolSettings(community_id=community_id, points_per_km=10, points_per_hour=10,
                                   max_points_per_patrol=100, report_points=5)


register_settings_seeder(PatrolSettings, settings_for)
register_settings_field("patrols", "points_per_km", N_("Patrol points per km"), row=settings_for, maximum=10000)
register_settings_field("patrols", "points_per_hour", N_("Patrol points per hour"), row=settings_for, maximum=10000)
register_settings_field("patrols", "max_points_per_patrol", N_("Most points for one patrol"), row=settings_for,
                        minimum=1, maximum=10000)
register_settings_field("patrols", "report_points", N_("Points for a confirmed problem report"), row=settings_for,
                        maximum=10000)
register_settings_field("patrols", "max_points_per_day", N_("Most patrol points for one person in a day"),
                        row=settings_for, minimum=1, maximum=10000)
register_settings_field("patrols", "max_hours_per_day", N_("Most patrol hours for one person in a day"),
                        row=settings_for, minimum=1, maximum=24)


def update_settings(actor, community_id, *, points_per_km, points_per_hour, max_points_per_patrol, report_points,
                    max_points_per_day=None, max_hours_per_day=None, now=None):
    """The committee proposes how many points a km, an hour and a confirmed report earn, and the most points
    and service hours one person earns from patrols in a day (None keeps the current cap); four eyes."""
    require(actor, "patrol.configure", community_id)
    values = (points_per_km, points_per_hour, max_points_per_patrol, report_points)
    if any(v is None or v < 0 or v > 10000 for v in values) or max_points_per_patrol < 1:
        raise Invalid(N_("Points must be whole numbers between 0 and 10000 (the most per patrol at least 1)."))
    if max_points_per_day is not None and not 1 <= max_points_per_day <= 10000:
        raise Invalid(N_("The most points a day must be between 1 and 10000."))
    if max_hours_per_day is not None and not 1 <= max_hours_per_day <= 24:
        raise Invalid(N_("The most hours a day must be between 1 and 24."))
    values = {"points_per_km": points_per_km, "points_per_hour": points_per_hour,
              "max_points_per_patrol": max_points_per_patrol, "report_points": report_points}
    if max_points_per_day is not None:
        values["max_points_per_day"] = max_points_per_day
    if max_hours_per_day is not None:
        values["max_hours_per_day"] = max_hours_per_day
    rules.propose_changes(actor, community_id, "patrols", values, now=now)
    return settings_for(community_id)


def set_patrol_area(actor, community_id, *, lat=None, lon=None, radius_m=None, boundary=None):
    """The committee sets the community's patrol area: a boundary ([[lat, lon], ...], a closed shape) or a
    centre and radius. A patrol wholly outside it is flagged. Nothing given clears the area."""
    require(actor, "patrol.configure", community_id)
    settings = settings_for(community_id)
    if boundary:
        boundary = clean_waypoints(boundary)
        if len(boundary) < 3:
            raise Invalid(N_("An area needs at least three points."))
    if lat is not None or lon is not None or radius_m is not None:
        if lat is None or lon is None or radius_m is None:
            raise Invalid(N_("Please give the centre (latitude and longitude) and the radius."))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not 50 <= radius_m <= 50000:
            raise Invalid(N_("The centre must be a real place and the radius between 50 m and 50 km."))
    settings.area_boundary = boundary or None
    settings.area_lat, settings.area_lon = lat, lon
    settings.area_radius_m = int(radius_m) if radius_m is not None else None
    db.session.flush()
    audit.record("patrol.area", actor=actor, community_id=community_id,
                 detail={"centre": [lat, lon], "radius_m": radius_m, "boundary_points": len(boundary or [])})
    return settings


def community_geography(community_id):
    """What a map without tiles draws: the community's area and its active patrol routes."""
    settings = db.session.scalar(select(PatrolSettings).where(PatrolSettings.community_id == community_id))
    area = None
    if settings is not None and settings.area_boundary:
        area = {"boundary": settings.area_boundary}
    elif settings is not None and settings.has_area:
        area = {"centre": [settings.area_lat, settings.area_lon], "radius_m": settings.area_radius_m}
    return {"area": area, "routes": [{"name": r.name, "points": r.waypoints, "area": r.is_area}
                                     for r in routes(community_id)]}
