"""Patrol routes: lines and areas a coordinator draws on the map or uploads as GPX."""
from sqlalchemy import select

from civic.core.errors import Invalid
from civic.core.i18n import N_
from civic.core.lookup import get_in_community
from civic.core.permissions import require
from civic.extensions import db
from civic.patrols.common import clean_text
from civic.patrols.models import PatrolRoute

MAX_WAYPOINTS = 2000


def clean_waypoints(waypoints):
    """Validate [[lat, lon], ...]: 2 to 2000 points in range. Returns a list of [lat, lon] floats."""
    if not isinstance(waypoints, (list, tuple)) or len(waypoints) < 2:
        raise Invalid(N_("Please put at least two points on the map."))
    if len(waypoints) > MAX_WAYPOINTS:
        raise Invalid(N_("A route can have at most %(n)s points."), n=MAX_WAYPOINTS)
    cleaned = []
    for item in waypoints:
        try:
            lat, lon = float(item[0]), float(item[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise Invalid(N_("The points on the map could not be read.")) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat != lat or lon != lon:
            raise Invalid(N_("The points on the map could not be read."))
        cleaned.append([round(lat, 7), round(lon, 7)])
    return cleaned


def create_route(actor, community_id, *, name, waypoints, description="", is_area=False):
    """A coordinator saves a patrol route (a line) or area (a closed shape)."""
    require(actor, "patrol.coordinate", community_id)
    route = PatrolRoute(
        community_id=community_id, name=clean_text(name, 80, N_("Please enter a name.")),
        description=clean_text(description, 500), waypoints=clean_waypoints(waypoints), is_area=bool(is_area),
        created_by_id=actor.id,
    )
    db.session.add(route)
    db.session.flush()
    return route


def import_route(actor, community_id, *, name, gpx_text, description=""):
    """A coordinator makes a route from an uploaded GPX file."""
    from civic.patrols.gpx import route_points

    return create_route(actor, community_id, name=name, description=description, waypoints=route_points(gpx_text))


def routes(community_id, *, active_only=True):
    """The community's routes, newest first."""
    query = select(PatrolRoute).where(PatrolRoute.community_id == community_id)
    if active_only:
        query = query.where(PatrolRoute.active.is_(True))
    return db.session.scalars(query.order_by(PatrolRoute.id.desc())).all()


def get_route(community_id, route_id):
    """A route of this community, or NotFound."""
    return get_in_community(PatrolRoute, community_id, route_id, missing=N_("No such route."))


def retire_route(actor, community_id, route_id):
    """Hide a route from new shifts (old shifts keep it)."""
    require(actor, "patrol.coordinate", community_id)
    route = get_route(community_id, route_id)
    route.active = False
    db.session.flush()
    return route
