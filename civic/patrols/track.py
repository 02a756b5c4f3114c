"""Patrol track engine: turn a phone's raw GPS fixes into a distance you can trust.

``summarize(points)`` is a pure function.  It takes the fixes recorded during a
patrol -- ``{"t": unix seconds, "lat": deg, "lon": deg, "accuracy": metres}``,
in any order, ``accuracy`` optional -- and returns a frozen
:class:`TrackSummary` (``.as_dict()`` for JSON).  It never raises on odd input:
fixes it cannot use are dropped and counted.

Why not add up the fixes?  Phone GPS error is not white noise.  It is mostly a
slowly wandering offset (close to a first-order Gauss-Markov process with a
correlation time of tens of seconds) plus rare multipath spikes of 50-300 m.
Summing raw point-to-point distances therefore over-states a walk by 50-200 %
and lets a phone lying on a desk "walk" about 2 km in half an hour.

Method (every threshold is a module constant below):

1. **Sanitise.**  Drop fixes whose ``t``/``lat``/``lon`` are missing, not
   numbers, NaN/inf or out of range (``|lat| > 90``, ``|lon| > 180``).  An
   unusable ``accuracy`` (missing, None, NaN, negative) is taken as
   :data:`DEFAULT_ACCURACY_M`; tiny ones are raised to
   :data:`ACCURACY_FLOOR_M`.  Sort by time.  Of several fixes with the same
   timestamp the most accurate is kept (ties broken by coordinates), so the
   result does not depend on the order of the input.
2. **Accuracy gate.**  Drop fixes reporting an accuracy worse than
   :data:`ACCURACY_GATE_M`, unless fewer than :data:`ACCURACY_GATE_MIN_KEEP`
   of them would survive (a uniformly poor recording): then the gate is
   relaxed to the median accuracy and the better half is kept.
3. **Spikes and teleports** (raw fixes, great-circle distances).  A step is
   *impossible* when it covers more than ``TELEPORT_SPEED_MPS * dt + slack``
   (slack: :data:`JUMP_SLACK_MIN_M`, or :data:`JUMP_SLACK_ACCURACY_FACTOR`
   times the two accuracies if larger).  At each impossible step we look for
   the smallest set of at most :data:`SPIKE_MAX_POINTS` fixes next to it whose
   removal leaves a step no faster than :data:`BRIDGE_SPEED_FACTOR` times the
   track's own pace around it; if there is one, those fixes were a multipath
   spike and are dropped (the pace condition stops a sparse recording's real
   relocation being "bridged").  Impossible steps that remain cut the track
   into runs.  A run shorter than :data:`RELOCATION_MIN_POINTS` fixes or
   :data:`RELOCATION_MIN_SECONDS` is a burst of bad fixes and is dropped; so
   is a longer one lasting at most :data:`EXCURSION_MAX_SECONDS` after which
   the track comes back to where it was.  Any impossible jump left is a
   genuine relocation: the track is flagged ``"teleport"`` and split there,
   and the jump adds no distance.
4. **Recording gaps.**  Where no fix was recorded for more than
   :data:`GAP_SECONDS` the track is split as well: the route in between is
   unknown, so no distance is credited across the gap (as GPX segments are
   measured separately).  A gap that could only have been crossed at more than
   :data:`VEHICLE_SPEED_MPS` (and lasted at least
   :data:`VEHICLE_SUSTAINED_S`) counts as vehicle evidence.
5. **Outliers** (per piece, in a local tangent plane).  A Hampel-type test: a
   fix further than ``max(OUTLIER_MIN_M, OUTLIER_SIGMA_K * sigma)`` plus
   :data:`OUTLIER_STEP_FACTOR` local step lengths from a robust local-linear
   reference is dropped.  The reference is the coordinate-wise median of the
   positions that pairs of its :data:`OUTLIER_NEIGHBOURS` neighbours on each
   side predict for its time (so the first and last fixes, and fast tracks,
   are judged fairly).  ``sigma`` = accuracy / :data:`ACCURACY_TO_SIGMA`:
   ``accuracy`` is the 68 % radius, which is 1.5 per-axis standard deviations.
6. **Smoothing.**  A constant-velocity Kalman filter (white acceleration)
   with a Rauch-Tung-Striebel backward pass.  Because consecutive errors are
   correlated, each fix's variance is inflated by the AR(1) factor
   ``(1 + rho) / (1 - rho)``, ``rho = exp(-dt / NOISE_CORRELATION_S)``: ten
   fixes one second apart carry little more information than one.  The
   process noise is :data:`PROCESS_NOISE_WALK` where the cleaned fixes move
   at walking pace and rises linearly to :data:`PROCESS_NOISE_VEHICLE`
   between :data:`AGILE_FROM_MPS` and :data:`AGILE_FULL_MPS` (chord speed over
   :data:`AGILITY_WINDOW_S`), so vehicles are followed round corners while
   walks get the strong smoothing their slow pace needs.
7. **Stationary detection.**  A fix is *still* when the smoothed track
   travels less than ``max(STILL_MIN_M, STILL_SIGMA_K * hypot(s_a, s_b))``
   across a :data:`STILL_WINDOW_S` window around it (``s_a``, ``s_b``: the
   sigmas at the window's ends): a still phone's offset wanders but does not
   travel, while anyone walking covers 100+ m in two minutes.  (With very
   poor accuracy the window grows so that a walker at
   :data:`STILL_SLOW_WALK_MPS` still clears the threshold.)  Moving spells
   shorter than :data:`MIN_MOVE_SECONDS` count as still; each still spell is
   then widened over adjacent fixes lying within :data:`STILL_GROW_K` sigmas
   of its centre (the window blurs where a stop begins and ends).  A still
   spell collapses to one vertex (its mean position): it adds no distance.
8. **Distance.**  The smoothed positions of the moving fixes and the still
   vertices are mapped back to latitude/longitude, thinned so that vertices
   are at least :data:`MIN_VERTEX_STEP_M` apart, and the geodesic lengths
   (``Geodesic.WGS84.Inverse``) of the legs are summed over all pieces.
9. **Flags.**  ``"vehicle"``: sustained motorised speed.  The smoothed track
   averages more than :data:`VEHICLE_SPEED_MPS` (25 km/h -- the assist limit
   of an EU pedelec, above any sustained walking or running pace and above
   ordinary cycling) over some :data:`VEHICLE_SUSTAINED_S` window; or, for
   stop-and-go traffic, its speed over :data:`SPEED_WINDOW_S` exceeds it in
   spells of at least :data:`VEHICLE_MIN_SPELL_S` adding up to
   :data:`VEHICLE_TOTAL_S`; or a recording gap was crossed that fast (step
   4).  ``"teleport"``: step 3.

Known limits: speeds above :data:`TELEPORT_SPEED_MPS` (180 km/h) count as
impossible, so a high-speed train reads as teleports; a fast road cyclist
(> 25 km/h for a minute) is flagged ``"vehicle"``; a relocation lasting less
than :data:`RELOCATION_MIN_SECONDS` at the very end of a track, or one that
returns within :data:`EXCURSION_MAX_SECONDS`, cannot be told from bad fixes
and is dropped without a flag.  Without reported accuracies the engine
assumes :data:`DEFAULT_ACCURACY_M`; a still phone whose real error is much
larger than that may then drift.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from geographiclib.geodesic import Geodesic

__all__ = ["TrackSummary", "summarize"]

# --- input -------------------------------------------------------------------
#: Accuracy assumed for a fix that reports none (metres, 68 % radius).
DEFAULT_ACCURACY_M = 15.0
#: Reported accuracies below this are raised to it (0 m would mean "perfect").
ACCURACY_FLOOR_M = 3.0
#: ``accuracy`` is the 68 % horizontal radius; for a circular normal error
#: that is 1.5 per-axis standard deviations.
ACCURACY_TO_SIGMA = 1.5

# --- accuracy gate -----------------------------------------------------------
#: Fixes reporting a worse accuracy than this are dropped ...
ACCURACY_GATE_M = 50.0
#: ... unless fewer than this share of the fixes would survive; then the gate
#: is relaxed to the median accuracy (the better half survives).
ACCURACY_GATE_MIN_KEEP = 0.5

# --- spikes and teleports ----------------------------------------------------
#: A step implying more than this speed is impossible for a patrol (180 km/h).
TELEPORT_SPEED_MPS = 50.0
#: Distance slack added to ``TELEPORT_SPEED_MPS * dt`` for position noise ...
JUMP_SLACK_MIN_M = 50.0
#: ... or this many times the sum of the two fixes' accuracies, if larger.
JUMP_SLACK_ACCURACY_FACTOR = 2.0
#: At most this many consecutive fixes are removed as one multipath spike.
SPIKE_MAX_POINTS = 3
#: Removing a spike must leave a step no faster than BRIDGE_SPEED_FACTOR times
#: the median pace of the BRIDGE_CONTEXT steps on either side (but allowing at
#: least BRIDGE_MIN_SPEED_MPS, at most TELEPORT_SPEED_MPS).
BRIDGE_SPEED_FACTOR = 3.0
BRIDGE_MIN_SPEED_MPS = 5.0
BRIDGE_CONTEXT = 5
#: After an impossible jump the track must stay at the new place for at least
#: this many fixes *and* seconds to count as a relocation (else: bad fixes).
RELOCATION_MIN_POINTS = 5
RELOCATION_MIN_SECONDS = 30.0
#: A spell at a far-away place lasting at most this long, after which the
#: track returns to where it was, is a burst of bad fixes, not two teleports.
EXCURSION_MAX_SECONDS = 120.0

# --- recording gaps ----------------------------------------------------------
#: No fix for longer than this splits the track; no distance is credited
#: across the gap.
GAP_SECONDS = 120.0

# --- outliers ----------------------------------------------------------------
#: Neighbours on each side that vote on a fix's expected position.
OUTLIER_NEIGHBOURS = 4
#: A fix further than max(OUTLIER_MIN_M, OUTLIER_SIGMA_K * sigma) ...
OUTLIER_MIN_M = 30.0
OUTLIER_SIGMA_K = 4.0
#: ... plus this many median local step lengths (a fast track's corner fix
#: stands up to ~0.7-1.4 step lengths off a linear prediction) from the
#: reference is an outlier.
OUTLIER_STEP_FACTOR = 1.0
#: Pairs of neighbours predict a position by interpolation, or extrapolation
#: up to this many times their own time span.
OUTLIER_MAX_EXTRAPOLATION = 2.0

# --- smoothing ---------------------------------------------------------------
#: Correlation time of the GPS error (first-order Gauss-Markov model), s.
NOISE_CORRELATION_S = 45.0
#: White-acceleration spectral density (m^2/s^3) of the constant-velocity
#: model at walking pace ...
PROCESS_NOISE_WALK = 0.5
#: ... and at vehicle speed (lateral acceleration through a corner grows with
#: the square of the speed).
PROCESS_NOISE_VEHICLE = 50.0
#: The process noise ramps from walk to vehicle between these chord speeds of
#: the cleaned fixes, measured over AGILITY_WINDOW_S seconds.
AGILE_FROM_MPS = 3.0
AGILE_FULL_MPS = 6.0
AGILITY_WINDOW_S = 20.0
#: Initial velocity uncertainty (1 sigma per axis, m/s) of each piece.
INITIAL_SPEED_SIGMA_MPS = 5.0

# --- stationary detection ----------------------------------------------------
#: Window over which the smoothed track must travel to count as moving, s.
STILL_WINDOW_S = 120.0
#: Minimum travel over the window, metres ...
STILL_MIN_M = 20.0
#: ... or this many combined standard deviations of the window's ends.
STILL_SIGMA_K = 3.0
#: Moving spells shorter than this are noise and count as still, s.
MIN_MOVE_SECONDS = 30.0
#: A still spell is widened over neighbouring fixes that lie within this many
#: sigmas of its centre (the window blurs a stop's start and end).
STILL_GROW_K = 1.0
#: With very poor accuracy the window is lengthened so that a walker at this
#: pace still out-travels the noise threshold.
STILL_SLOW_WALK_MPS = 0.7

# --- distance ----------------------------------------------------------------
#: Smoothed vertices closer than this to the previous kept one are skipped.
MIN_VERTEX_STEP_M = 5.0

# --- flags -------------------------------------------------------------------
#: Sustained speed above this (25 km/h) needs a motor.
VEHICLE_SPEED_MPS = 7.0
#: Sustained: the smoothed track's average speed (distance along it / time)
#: over some window at least this long exceeds VEHICLE_SPEED_MPS ...
VEHICLE_SUSTAINED_S = 60.0
#: ... or (stop-and-go traffic) its speed over SPEED_WINDOW_S exceeds it in
#: spells of at least VEHICLE_MIN_SPELL_S adding up to VEHICLE_TOTAL_S.
VEHICLE_TOTAL_S = 120.0
VEHICLE_MIN_SPELL_S = 15.0
#: Speeds (``max_speed_mps``, the spells above) are chord speeds of the
#: smoothed track over this window, s.
SPEED_WINDOW_S = 20.0

_GEOD = Geodesic.WGS84
_EARTH_RADIUS_M = 6371008.8


@dataclass(frozen=True)
class TrackSummary:
    """What the engine concluded about one recorded track."""

    #: Geodesic length of the cleaned, smoothed track, metres.
    distance_m: float = 0.0
    #: Time spent moving (still spells and recording gaps excluded), s.
    moving_seconds: float = 0.0
    #: Time from the first to the last used fix, s.
    elapsed_seconds: float = 0.0
    #: Number of items in the input.
    point_count: int = 0
    #: Fixes that survived all filtering.
    used_points: int = 0
    #: Highest speed of the cleaned track (over SPEED_WINDOW_S), m/s.
    max_speed_mps: float = 0.0
    #: Subset of ("vehicle", "teleport").
    flags: tuple[str, ...] = ()
    #: (min_lat, min_lon, max_lat, max_lon) of the used fixes, or None.
    bbox: tuple[float, float, float, float] | None = None
    #: (lat, lon) of the first / last used fix, or None.
    start: tuple[float, float] | None = None
    end: tuple[float, float] | None = None
    #: Input items dropped as unusable, as same-timestamp duplicates, for
    #: poor accuracy, and as spikes/bursts/outliers.
    dropped_invalid: int = 0
    dropped_duplicates: int = 0
    dropped_inaccurate: int = 0
    dropped_outliers: int = 0
    #: Impossible jumps the track was split at.
    teleports: int = 0

    def as_dict(self) -> dict:
        """A JSON-friendly dict (tuples become lists)."""
        return {
            "distance_m": self.distance_m,
            "moving_seconds": self.moving_seconds,
            "elapsed_seconds": self.elapsed_seconds,
            "point_count": self.point_count,
            "used_points": self.used_points,
            "max_speed_mps": self.max_speed_mps,
            "flags": list(self.flags),
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "start": list(self.start) if self.start is not None else None,
            "end": list(self.end) if self.end is not None else None,
            "dropped_invalid": self.dropped_invalid,
            "dropped_duplicates": self.dropped_duplicates,
            "dropped_inaccurate": self.dropped_inaccurate,
            "dropped_outliers": self.dropped_outliers,
            "teleports": self.teleports,
        }


# A fix after sanitising: (t, lat, lon, accuracy_m).
_Fix = tuple[float, float, float, float]


def summarize(points: Iterable[Any]) -> TrackSummary:
    """Summarise one recorded track; the method is in the module docstring."""
    try:
        raw = list(points) if points is not None else []
    except TypeError:
        raw = []
    fixes = _sanitize(raw)
    n_valid = len(fixes)
    fixes = _dedupe(fixes)
    n_unique = len(fixes)
    fixes = _accuracy_gate(fixes)
    n_gated = len(fixes)
    counts = dict(
        point_count=len(raw),
        dropped_invalid=len(raw) - n_valid,
        dropped_duplicates=n_valid - n_unique,
        dropped_inaccurate=n_unique - n_gated,
    )
    if n_gated < 2:
        return _finish(fixes, None, counts, dropped_outliers=0, teleports=0)

    segments = _split_impossible_jumps(fixes)
    pieces, gap_vehicle = _split_gaps(segments)
    pieces = [_hampel(p) for p in pieces]
    used = [f for p in pieces for f in p]
    result = _Measured()
    result.gap_vehicle = gap_vehicle
    for piece in pieces:
        if len(piece) >= 2:
            _measure_piece(piece, result)
    return _finish(used, result, counts, dropped_outliers=n_gated - len(used),
                   teleports=len(segments) - 1)


# --- 1-2: sanitising -----------------------------------------------------------


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _sanitize(raw: Sequence[Any]) -> list[_Fix]:
    out: list[_Fix] = []
    for p in raw:
        try:
            t, lat, lon = _num(p.get("t")), _num(p.get("lat")), _num(p.get("lon"))
            acc = _num(p.get("accuracy"))
        except Exception:  # not a mapping, or one whose .get misbehaves
            continue
        if t is None or lat is None or lon is None:
            continue
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            continue
        if acc is None or acc < 0.0:
            acc = DEFAULT_ACCURACY_M
        out.append((t, lat, lon, max(acc, ACCURACY_FLOOR_M)))
    return out


def _dedupe(fixes: list[_Fix]) -> list[_Fix]:
    # Within a timestamp the most accurate fix comes first; coordinates break
    # ties, so the outcome does not depend on the order of the input.
    fixes = sorted(fixes, key=lambda f: (f[0], f[3], f[1], f[2]))
    out: list[_Fix] = []
    for f in fixes:
        if not out or out[-1][0] != f[0]:
            out.append(f)
    return out


def _accuracy_gate(fixes: list[_Fix]) -> list[_Fix]:
    if not fixes:
        return fixes
    kept = [f for f in fixes if f[3] <= ACCURACY_GATE_M]
    if len(kept) < ACCURACY_GATE_MIN_KEEP * len(fixes):
        accs = sorted(f[3] for f in fixes)
        gate = accs[(len(accs) - 1) // 2]
        kept = [f for f in fixes if f[3] <= gate]
    return kept


# --- 3: spikes, bursts and teleports --------------------------------------------


def _haversine(a: _Fix, b: _Fix) -> float:
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dl = math.radians(b[2] - a[2])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _slack(a: _Fix, b: _Fix) -> float:
    return max(JUMP_SLACK_MIN_M, JUMP_SLACK_ACCURACY_FACTOR * (a[3] + b[3]))


def _jump_ratio(a: _Fix, b: _Fix) -> float:
    """Distance between two fixes as a share of the largest possible one."""
    return _haversine(a, b) / (TELEPORT_SPEED_MPS * abs(b[0] - a[0]) + _slack(a, b))


def _possible(a: _Fix, b: _Fix) -> bool:
    return _jump_ratio(a, b) <= 1.0


def _bridge_ratio(seq: list[_Fix], left: int, right: int) -> float:
    """Like :func:`_jump_ratio` for ``seq[left] -> seq[right]``, but allowing
    only a few times the track's own pace around the gap, so that removing
    fixes cannot turn a genuine relocation into a "possible" step."""
    speeds = []
    around = list(range(max(0, left - BRIDGE_CONTEXT), left))
    around += list(range(right, min(len(seq) - 1, right + BRIDGE_CONTEXT)))
    for k in around:
        a, b = seq[k], seq[k + 1]
        if _possible(a, b):
            speeds.append(_haversine(a, b) / max(b[0] - a[0], 1e-9))
    pace = _median_sorted(sorted(speeds))
    allowed = min(TELEPORT_SPEED_MPS, max(BRIDGE_MIN_SPEED_MPS, BRIDGE_SPEED_FACTOR * pace))
    a, b = seq[left], seq[right]
    return _haversine(a, b) / (allowed * abs(b[0] - a[0]) + _slack(a, b))


def _split_impossible_jumps(fixes: list[_Fix]) -> list[list[_Fix]]:
    """Drop spikes and bursts; split at genuine relocations (teleports)."""
    seq = list(fixes)
    breaks: list[int] = []  # i: the step seq[i] -> seq[i + 1] stays impossible
    i = 0
    while i < len(seq) - 1:
        if _possible(seq[i], seq[i + 1]):
            i += 1
            continue
        # the smallest spike next to the step whose removal bridges it; of
        # equally small ones, the bridge with the most margin
        best = None
        for total in range(1, SPIKE_MAX_POINTS + 1):
            for a in range(total + 1):
                left, right = i - a, i + 1 + (total - a)
                if left < 0 or right >= len(seq) or (breaks and left <= breaks[-1]):
                    continue
                r = _bridge_ratio(seq, left, right)
                if r <= 1.0 and (best is None or r < best[0]):
                    best = (r, left, right)
            if best is not None:
                break
        if best is None:
            breaks.append(i)
            i += 1
        else:
            _, left, right = best
            del seq[left + 1:right]
            i = left

    runs: list[list[_Fix]] = []
    start = 0
    for b in breaks:
        runs.append(seq[start:b + 1])
        start = b + 1
    runs.append(seq[start:])
    solid = [r for r in runs if len(r) >= RELOCATION_MIN_POINTS
             and r[-1][0] - r[0][0] >= RELOCATION_MIN_SECONDS]
    if not solid:
        # nothing stayed anywhere for long: keep the biggest run as the track
        return [max(runs, key=lambda r: (len(r), r[-1][0] - r[0][0]))]

    segments: list[list[_Fix]] = [list(solid[0])]
    k = 1
    while k < len(solid):
        cur, nxt = segments[-1], solid[k]
        if _possible(cur[-1], nxt[0]):
            cur.extend(nxt)  # only bad fixes lay between
            k += 1
            continue
        back = None  # an excursion that returns to where the track was?
        for m in range(k + 1, len(solid)):
            if solid[m - 1][-1][0] - nxt[0][0] > EXCURSION_MAX_SECONDS:
                break
            if _possible(cur[-1], solid[m][0]):
                back = m
                break
        if back is not None:
            cur.extend(solid[back])
            k = back + 1
        else:
            segments.append(list(nxt))  # a teleport
            k += 1
    return segments


# --- 4: recording gaps ----------------------------------------------------------


def _split_gaps(segments: list[list[_Fix]]) -> tuple[list[list[_Fix]], bool]:
    pieces: list[list[_Fix]] = []
    vehicle = False
    for seg in segments:
        start = 0
        for k in range(1, len(seg)):
            dt = seg[k][0] - seg[k - 1][0]
            if dt > GAP_SECONDS:
                pieces.append(seg[start:k])
                start = k
                if (dt >= VEHICLE_SUSTAINED_S
                        and _haversine(seg[k - 1], seg[k]) > VEHICLE_SPEED_MPS * dt):
                    vehicle = True
        pieces.append(seg[start:])
    return pieces, vehicle


# --- local tangent plane ----------------------------------------------------------


class _Plane:
    """Equirectangular projection about an origin: metres east/north."""

    def __init__(self, lat0: float, lon0: float):
        phi = math.radians(lat0)
        self.lat0, self.lon0 = lat0, lon0
        self.m_lat = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
        self.m_lon = max(111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi), 1.0)

    def forward(self, lat: float, lon: float) -> tuple[float, float]:
        dlon = (lon - self.lon0 + 180.0) % 360.0 - 180.0
        return dlon * self.m_lon, (lat - self.lat0) * self.m_lat

    def inverse(self, x: float, y: float) -> tuple[float, float]:
        lat = min(90.0, max(-90.0, self.lat0 + y / self.m_lat))
        lon = (self.lon0 + x / self.m_lon + 180.0) % 360.0 - 180.0
        return lat, lon

    @classmethod
    def around(cls, fixes: list[_Fix]) -> _Plane:
        lats = sorted(f[1] for f in fixes)
        ref = fixes[0][2]
        dlons = sorted((f[2] - ref + 180.0) % 360.0 - 180.0 for f in fixes)
        mid = len(fixes) // 2
        return cls(lats[mid], ref + dlons[mid])


def _median_sorted(v: list[float]) -> float:
    n = len(v)
    if n == 0:
        return 0.0
    m = n // 2
    return v[m] if n % 2 else 0.5 * (v[m - 1] + v[m])


# --- 5: outliers -------------------------------------------------------------------


def _hampel(piece: list[_Fix]) -> list[_Fix]:
    n = len(piece)
    if n < 5:
        return piece
    plane = _Plane.around(piece)
    ts = [f[0] for f in piece]
    xy = [plane.forward(f[1], f[2]) for f in piece]
    steps = [math.hypot(xy[i + 1][0] - xy[i][0], xy[i + 1][1] - xy[i][1]) for i in range(n - 1)]
    w = OUTLIER_NEIGHBOURS
    out = []
    for i in range(n):
        lo, hi = max(0, i - w), min(n, i + w + 1)
        nb = [j for j in range(lo, hi) if j != i]
        # where do pairs of neighbours, joined by a straight line, put fix i?
        px: list[float] = []
        py: list[float] = []
        for ia, a in enumerate(nb):
            for b in nb[ia + 1:]:
                u = (ts[i] - ts[a]) / (ts[b] - ts[a])
                if -OUTLIER_MAX_EXTRAPOLATION <= u <= 1.0 + OUTLIER_MAX_EXTRAPOLATION:
                    px.append(xy[a][0] + u * (xy[b][0] - xy[a][0]))
                    py.append(xy[a][1] + u * (xy[b][1] - xy[a][1]))
        if px:
            px.sort()
            py.sort()
            off = math.hypot(xy[i][0] - _median_sorted(px), xy[i][1] - _median_sorted(py))
            step = _median_sorted(sorted(steps[max(0, lo - 1):hi]))
            sigma = piece[i][3] / ACCURACY_TO_SIGMA
            if off > max(OUTLIER_MIN_M, OUTLIER_SIGMA_K * sigma) + OUTLIER_STEP_FACTOR * step:
                continue
        out.append(piece[i])
    return out if len(out) >= 2 else piece


# --- 6: smoothing ------------------------------------------------------------------


def _smooth(ts: list[float], xs: list[float], ys: list[float], sig: list[float],
            qs: list[float]) -> tuple[list[float], list[float]]:
    """Constant-velocity Kalman filter + Rauch-Tung-Striebel smoother.

    The two axes are independent and share one covariance.  ``qs[k]`` is the
    process noise of the step into fix k.  Returns the smoothed x and y.
    """
    n = len(ts)
    rs = []  # measurement variances, inflated for correlated errors
    for k in range(n):
        dt = ts[1] - ts[0] if k == 0 else ts[k] - ts[k - 1]
        rho = math.exp(-max(dt, 1e-6) / NOISE_CORRELATION_S)
        rs.append(sig[k] * sig[k] * (1.0 + rho) / max(1.0 - rho, 1e-9))
    fx, fy, fvx, fvy = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    fP = [(0.0, 0.0, 0.0)] * n  # filtered covariance (p00, p01, p11)
    pP = [(0.0, 0.0, 0.0)] * n  # predicted covariance
    x, y, vx, vy = xs[0], ys[0], 0.0, 0.0
    p00, p01, p11 = rs[0], 0.0, INITIAL_SPEED_SIGMA_MPS ** 2
    for k in range(n):
        if k:
            dt = ts[k] - ts[k - 1]
            q = qs[k]
            x += vx * dt
            y += vy * dt
            p00, p01, p11 = (p00 + 2 * dt * p01 + dt * dt * p11 + q * dt ** 3 / 3.0,
                             p01 + dt * p11 + q * dt * dt / 2.0,
                             p11 + q * dt)
        pP[k] = (p00, p01, p11)
        s = p00 + rs[k]
        k0, k1 = p00 / s, p01 / s
        ix, iy = xs[k] - x, ys[k] - y
        x, y = x + k0 * ix, y + k0 * iy
        vx, vy = vx + k1 * ix, vy + k1 * iy
        p00, p01, p11 = (1.0 - k0) * p00, (1.0 - k0) * p01, p11 - k1 * p01
        fx[k], fy[k], fvx[k], fvy[k] = x, y, vx, vy
        fP[k] = (p00, p01, p11)
    sx, sy, svx, svy = fx[:], fy[:], fvx[:], fvy[:]
    for k in range(n - 2, -1, -1):
        dt = ts[k + 1] - ts[k]
        a00, a01, a11 = fP[k]
        b00, b01, b11 = pP[k + 1]
        det = b00 * b11 - b01 * b01
        if not det > 0.0 or not math.isfinite(det):
            continue
        # gain C = P_k F^T (P^-_{k+1})^-1
        m00, m01, m10, m11 = a00 + dt * a01, a01, a01 + dt * a11, a11
        i00, i01, i11 = b11 / det, -b01 / det, b00 / det
        c00, c01 = m00 * i00 + m01 * i01, m00 * i01 + m01 * i11
        c10, c11 = m10 * i00 + m11 * i01, m10 * i01 + m11 * i11
        dx, dvx = sx[k + 1] - (fx[k] + dt * fvx[k]), svx[k + 1] - fvx[k]
        dy, dvy = sy[k + 1] - (fy[k] + dt * fvy[k]), svy[k + 1] - fvy[k]
        sx[k] = fx[k] + c00 * dx + c01 * dvx
        svx[k] = fvx[k] + c10 * dx + c11 * dvx
        sy[k] = fy[k] + c00 * dy + c01 * dvy
        svy[k] = fvy[k] + c10 * dy + c11 * dvy
    return sx, sy


# --- 7-9: stationary detection, distance, speeds -------------------------------------


class _Measured:
    __slots__ = ("distance", "moving", "max_speed", "fast_seconds", "sustained_speed",
                 "gap_vehicle")

    def __init__(self) -> None:
        self.distance = 0.0
        self.moving = 0.0
        self.max_speed = 0.0
        self.fast_seconds = 0.0
        self.sustained_speed = 0.0
        self.gap_vehicle = False


def _window_speeds(ts: list[float], xs: list[float], ys: list[float], window: float) -> list[float]:
    """Chord speed over (at least, where possible) ``window`` s around each step."""
    n = len(ts)
    out = []
    lo, hi = 0, 1
    for k in range(n - 1):
        mid = 0.5 * (ts[k] + ts[k + 1])
        while lo < k and ts[lo + 1] <= mid - window / 2:
            lo += 1
        hi = max(hi, k + 1)
        while hi < n - 1 and ts[hi] < mid + window / 2:
            hi += 1
        span = max(ts[hi] - ts[lo], 1e-9)
        out.append(math.hypot(xs[hi] - xs[lo], ys[hi] - ys[lo]) / span)
    return out


def _moving_mask(ts: list[float], xs: list[float], ys: list[float], sig: list[float]) -> list[bool]:
    n = len(ts)
    t0, t1 = ts[0], ts[-1]
    window = max(STILL_WINDOW_S, STILL_SIGMA_K * math.sqrt(2.0) * _median_sorted(sorted(sig))
                 / STILL_SLOW_WALK_MPS)
    half = window / 2
    moving = [False] * n
    lo = hi = 0
    for i in range(n):
        # a full-length window where the piece allows, shifted inside it at its ends
        ws, we = ts[i] - half, ts[i] + half
        if ws < t0:
            ws, we = t0, min(t1, t0 + window)
        elif we > t1:
            ws, we = max(t0, t1 - window), t1
        while lo < n - 1 and ts[lo] < ws:
            lo += 1
        while lo > 0 and ts[lo - 1] >= ws:
            lo -= 1
        hi = max(hi, lo)
        while hi < n - 1 and ts[hi + 1] <= we:
            hi += 1
        while hi > lo and ts[hi] > we:
            hi -= 1
        a, b = lo, hi
        if b - a < 1:
            a, b = max(0, i - 1), min(n - 1, i + 1)
        travel = math.hypot(xs[b] - xs[a], ys[b] - ys[a])
        moving[i] = travel > max(STILL_MIN_M, STILL_SIGMA_K * math.hypot(sig[a], sig[b]))
    i = 0
    while i < n:  # short moving spells are noise
        if not moving[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and moving[j + 1]:
            j += 1
        if ts[j] - ts[i] < MIN_MOVE_SECONDS and not (i == 0 and j == n - 1):
            moving[i:j + 1] = [False] * (j - i + 1)
        i = j + 1
    i = 0
    while i < n:  # widen each still spell over neighbours close to its centre
        if moving[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and not moving[j + 1]:
            j += 1
        m = j - i + 1
        cx, cy = sum(xs[i:j + 1]) / m, sum(ys[i:j + 1]) / m

        def near(k: int, cx: float = cx, cy: float = cy) -> bool:
            return moving[k] and math.hypot(xs[k] - cx, ys[k] - cy) <= STILL_GROW_K * sig[k]

        while i > 0 and near(i - 1):
            i -= 1
        while j < n - 1 and near(j + 1):
            j += 1
        moving[i:j + 1] = [False] * (j - i + 1)
        i = j + 1
    return moving


def _measure_piece(piece: list[_Fix], res: _Measured) -> None:
    n = len(piece)
    plane = _Plane.around(piece)
    ts = [f[0] for f in piece]
    xy = [plane.forward(f[1], f[2]) for f in piece]
    xs = [p[0] for p in xy]
    ys = [p[1] for p in xy]
    sig = [f[3] / ACCURACY_TO_SIGMA for f in piece]

    qs = [PROCESS_NOISE_WALK] * n
    pace = _window_speeds(ts, xs, ys, AGILITY_WINDOW_S)
    for k in range(1, n):
        v = max(pace[k - 1], pace[k] if k < n - 1 else 0.0)
        if v > AGILE_FROM_MPS:
            u = min(1.0, (v - AGILE_FROM_MPS) / (AGILE_FULL_MPS - AGILE_FROM_MPS))
            qs[k] = PROCESS_NOISE_WALK + u * (PROCESS_NOISE_VEHICLE - PROCESS_NOISE_WALK)
    sx, sy = _smooth(ts, xs, ys, sig, qs)
    moving = _moving_mask(ts, sx, sy, sig)

    # distance: moving fixes as smoothed, each still spell as its mean position
    verts: list[tuple[float, float]] = []
    i = 0
    while i < n:
        j = i
        if not moving[i]:
            while j + 1 < n and not moving[j + 1]:
                j += 1
        m = j - i + 1
        v = (sum(sx[i:j + 1]) / m, sum(sy[i:j + 1]) / m)
        if not verts or math.hypot(v[0] - verts[-1][0], v[1] - verts[-1][1]) >= MIN_VERTEX_STEP_M:
            verts.append(v)
        i = j + 1
    lls = [plane.inverse(x, y) for x, y in verts]
    for (la1, lo1), (la2, lo2) in zip(lls, lls[1:], strict=False):
        res.distance += _GEOD.Inverse(la1, lo1, la2, lo2, Geodesic.DISTANCE)["s12"]

    # moving time and speeds (zero while still)
    speeds = _window_speeds(ts, sx, sy, SPEED_WINDOW_S)
    along = [0.0] * n  # distance along the smoothed track, moving steps only
    spell = 0.0
    for k in range(n - 1):
        dt = ts[k + 1] - ts[k]
        step_moving = moving[k] and moving[k + 1]
        along[k + 1] = along[k]
        v = 0.0
        if step_moving:
            res.moving += dt
            along[k + 1] += math.hypot(sx[k + 1] - sx[k], sy[k + 1] - sy[k])
            v = speeds[k]
        res.max_speed = max(res.max_speed, v)
        if v > VEHICLE_SPEED_MPS:
            spell += dt
        else:
            if spell >= VEHICLE_MIN_SPELL_S:
                res.fast_seconds += spell
            spell = 0.0
    if spell >= VEHICLE_MIN_SPELL_S:
        res.fast_seconds += spell
    j = 0
    for k in range(n):  # best average speed over VEHICLE_SUSTAINED_S
        j = max(j, k)
        while j < n - 1 and ts[j] - ts[k] < VEHICLE_SUSTAINED_S:
            j += 1
        span = ts[j] - ts[k]
        if span < VEHICLE_SUSTAINED_S:
            break
        res.sustained_speed = max(res.sustained_speed, (along[j] - along[k]) / span)


def _finish(used: list[_Fix], result: _Measured | None, counts: dict,
            dropped_outliers: int, teleports: int) -> TrackSummary:
    flags: list[str] = []
    distance = moving = max_speed = 0.0
    if result is not None:
        distance, moving, max_speed = result.distance, result.moving, result.max_speed
        if (result.sustained_speed > VEHICLE_SPEED_MPS
                or result.fast_seconds >= VEHICLE_TOTAL_S or result.gap_vehicle):
            flags.append("vehicle")
    if teleports > 0:
        flags.append("teleport")
    bbox = start = end = None
    elapsed = 0.0
    if used:
        lats = [f[1] for f in used]
        lons = [f[2] for f in used]
        bbox = (min(lats), min(lons), max(lats), max(lons))
        start, end = (used[0][1], used[0][2]), (used[-1][1], used[-1][2])
        elapsed = used[-1][0] - used[0][0]
    return TrackSummary(
        distance_m=distance,
        moving_seconds=moving,
        elapsed_seconds=elapsed,
        used_points=len(used),
        max_speed_mps=max_speed,
        flags=tuple(flags),
        bbox=bbox,
        start=start,
        end=end,
        dropped_outliers=dropped_outliers,
        teleports=teleports,
        **counts,
    )


# --- integrity: signs of a fabricated track, and where a track lies -------------------------------
#
# The engine above measures a track honestly *if it was walked*.  These pure functions help the
# server judge whether it was: a track typed into a script has no GPS jitter (each fix lies on the
# smooth path its neighbours predict), often one constant accuracy and perfectly regular intervals,
# or re-uses the fixes of an earlier patrol with the times shifted.  Real phones report whole-second
# GNSS times (regular intervals alone are normal, as are spells of one accuracy on iOS), so those two
# count only together; missing jitter counts on its own.

FABRICATION_MIN_FIXES = 30
"""Fewer fixes than this are not judged (too little evidence either way)."""
JITTER_MIN_STEP_M = 0.5
"""Only triples whose two steps both moved at least this far are judged (a still phone may repeat a fix)."""
JITTER_MIN_M = 0.1
"""Median distance of a fix from the point its two neighbours predict; real GPS is ~0.5-3 m, a script ~0."""
REGULAR_TOLERANCE_S = 0.001
FINGERPRINT_SIZE = 32
"""Bottom-k sketch of the track's distinct positions (rounded to 1e-6 degree, ~0.1 m)."""
FINGERPRINT_MATCH = 0.5
"""Share of the sketch an earlier patrol must share for the track to count as a copy."""


def fabrication_signs(points: Iterable[Any]) -> list[str]:
    """Signs that a track was made up rather than walked: a sorted subset of
    ``("constant_accuracy", "no_jitter", "regular_intervals")``. Empty when the track looks walked
    or is too short to judge. Pure; never raises on odd input."""
    raw = list(points)
    fixes = _dedupe(_sanitize(raw))
    if len(fixes) < FABRICATION_MIN_FIXES:
        return []
    signs = set()
    raw_acc = [_num(p.get("accuracy")) if isinstance(p, dict) else None for p in raw]
    if all(a is not None for a in raw_acc) and max(raw_acc) - min(raw_acc) < 1e-9:
        signs.add("constant_accuracy")
    dts = [b[0] - a[0] for a, b in zip(fixes, fixes[1:], strict=False)]
    if max(dts) - min(dts) <= REGULAR_TOLERANCE_S:
        signs.add("regular_intervals")
    plane = _Plane.around(fixes)
    xy = [plane.forward(f[1], f[2]) for f in fixes]
    residuals = []
    for i in range(1, len(fixes) - 1):
        (x0, y0), (x1, y1), (x2, y2) = xy[i - 1], xy[i], xy[i + 1]
        if math.hypot(x1 - x0, y1 - y0) < JITTER_MIN_STEP_M or math.hypot(x2 - x1, y2 - y1) < JITTER_MIN_STEP_M:
            continue
        w = (fixes[i][0] - fixes[i - 1][0]) / (fixes[i + 1][0] - fixes[i - 1][0])
        residuals.append(math.hypot(x1 - (x0 + w * (x2 - x0)), y1 - (y0 + w * (y2 - y0))))
    if len(residuals) >= FABRICATION_MIN_FIXES and _median_sorted(sorted(residuals)) < JITTER_MIN_M:
        signs.add("no_jitter")
    return sorted(signs)


def looks_fabricated(signs: Iterable[str]) -> bool:
    """No jitter on its own, or a constant accuracy together with perfectly regular intervals."""
    signs = set(signs)
    return "no_jitter" in signs or {"constant_accuracy", "regular_intervals"} <= signs


def fingerprint(points: Iterable[Any]) -> list[str]:
    """A bottom-k sketch of the track's distinct positions, blind to time: two patrols with the same
    fixes shifted in time have the same sketch. Sorted hex strings; empty for a short track."""
    import hashlib

    keys = {f"{round(f[1], 6):.6f},{round(f[2], 6):.6f}" for f in _sanitize(list(points))}
    if len(keys) < FINGERPRINT_SIZE:
        return []
    hashes = sorted(hashlib.blake2b(k.encode(), digest_size=5).hexdigest() for k in keys)
    return hashes[:FINGERPRINT_SIZE]


def same_track(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two sketches show (mostly) the same positions."""
    if not a or not b:
        return False
    return len(set(a) & set(b)) >= FINGERPRINT_MATCH * min(len(a), len(b))


def _segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    u = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - a[0] - u * dx, p[1] - a[1] - u * dy)


def _inside_polygon(p: tuple[float, float], ring: Sequence[tuple[float, float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, list(ring[1:]) + [ring[0]], strict=True):
        if (y1 > p[1]) != (y2 > p[1]) and p[0] < x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def distance_to_shape(lat: float, lon: float, shape: Sequence[Sequence[float]], *, closed: bool) -> float:
    """Metres from a point to a line (``closed=False``) or area (``closed=True``: 0 inside) given as
    ``[[lat, lon], ...]``."""
    plane = _Plane(shape[0][0], shape[0][1])
    ring = [plane.forward(s[0], s[1]) for s in shape]
    p = plane.forward(lat, lon)
    if closed and len(ring) >= 3 and _inside_polygon(p, ring):
        return 0.0
    pairs = list(zip(ring, ring[1:], strict=False)) + ([(ring[-1], ring[0])] if closed else [])
    if not pairs:
        return math.hypot(p[0] - ring[0][0], p[1] - ring[0][1])
    return min(_segment_distance(p, a, b) for a, b in pairs)


def share_within(points: Iterable[Any], shape: Sequence[Sequence[float]], *, closed: bool,
                 margin_m: float) -> float | None:
    """Share (0..1) of the usable fixes within ``margin_m`` of a line or area; None without fixes."""
    fixes = _dedupe(_sanitize(list(points)))
    fixes = [f for f in fixes if f[3] <= ACCURACY_GATE_M] or fixes
    if not fixes or not shape:
        return None
    near = sum(1 for f in fixes if distance_to_shape(f[1], f[2], shape, closed=closed) <= margin_m)
    return near / len(fixes)


def share_within_circle(points: Iterable[Any], lat: float, lon: float, radius_m: float) -> float | None:
    """Share (0..1) of the usable fixes within ``radius_m`` of a centre; None without fixes."""
    fixes = _dedupe(_sanitize(list(points)))
    fixes = [f for f in fixes if f[3] <= ACCURACY_GATE_M] or fixes
    if not fixes:
        return None
    plane = _Plane(lat, lon)
    near = sum(1 for f in fixes if math.hypot(*plane.forward(f[1], f[2])) <= radius_m)
    return near / len(fixes)
