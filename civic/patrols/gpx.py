"""GPX: export a patrol's track, import a route (gpxpy)."""
import gpxpy
import gpxpy.gpx

from civic.core.errors import Invalid
from civic.core.i18n import N_

MAX_ROUTE_POINTS = 500
MAX_GPX_BYTES = 5 * 1024 * 1024


def patrol_gpx(patrol, points, *, name=""):
    """A GPX 1.1 document (str) with the patrol's fixes as one track segment, in time order."""
    from civic.patrols.tracking import from_unix

    doc = gpxpy.gpx.GPX()
    doc.creator = "civic patrols"
    trk = gpxpy.gpx.GPXTrack(name=name or f"patrol {patrol.id}")
    seg = gpxpy.gpx.GPXTrackSegment()
    for p in points:
        point = gpxpy.gpx.GPXTrackPoint(p["lat"], p["lon"], time=from_unix(p["t"]))
        if p.get("accuracy") is not None:
            point.horizontal_dilution = None
            point.comment = f"accuracy={p['accuracy']:.1f}"
        seg.points.append(point)
    trk.segments.append(seg)
    doc.tracks.append(trk)
    return doc.to_xml(version="1.1")


def read_points(gpx_text):
    """Every track, route and waypoint point of a GPX document as (lat, lon, time-or-None), in order."""
    if isinstance(gpx_text, bytes):
        if len(gpx_text) > MAX_GPX_BYTES:
            raise Invalid(N_("The GPX file is larger than 5 MB."))
        gpx_text = gpx_text.decode("utf-8", errors="replace")
    try:
        doc = gpxpy.parse(gpx_text)
    except Exception:  # gpxpy raises several kinds on bad XML
        raise Invalid(N_("That file is not a GPX file we can read.")) from None
    found = [(p.latitude, p.longitude, p.time) for trk in doc.tracks for seg in trk.segments for p in seg.points]
    if not found:
        found = [(p.latitude, p.longitude, p.time) for rte in doc.routes for p in rte.points]
    if not found:
        found = [(p.latitude, p.longitude, p.time) for p in doc.waypoints]
    return found


def route_points(gpx_text):
    """Waypoints [[lat, lon], ...] for a route from a GPX file, thinned to at most 500."""
    found = read_points(gpx_text)
    if len(found) < 2:
        raise Invalid(N_("The GPX file has fewer than two points."))
    if len(found) > MAX_ROUTE_POINTS:
        step = len(found) / (MAX_ROUTE_POINTS - 1)
        picked = [found[int(i * step)] for i in range(MAX_ROUTE_POINTS - 1)] + [found[-1]]
        found = picked
    return [[lat, lon] for lat, lon, _t in found]
