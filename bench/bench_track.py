"""Benchmark the patrol track engine on the development tracks.

Run from the repository root:  python bench/bench_track.py

Prints one JSON object per line:
  track_engine_throughput   fixes per second through summarize() over all
                            development tracks (best of REPEATS full passes,
                            i.e. the least disturbed run)
  track_walk_error_median   median |distance error| over the walks, %
  track_walk_error_worst    worst |distance error| over the walks, %
  track_stationary_drift    largest distance credited to a still phone, m
  track_raw_walk_error_median / track_raw_stationary_drift
                            the same for the naive sum of raw fix-to-fix
                            distances (the baseline the engine replaces)
  track_flags_correct       cases whose flags match their `expect`, of all
  track_case                one line per case: error (%, or m for a still
                            phone), flags and expectation

The tracks are read from /work/shared/gps/dev_tracks.json, or from the file
named by CIVIC_GPS_DEV_TRACKS.
"""
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geographiclib.geodesic import Geodesic  # noqa: E402

from civic.patrols.track import summarize  # noqa: E402

REPEATS = 5
DEV_TRACKS = Path(os.environ.get("CIVIC_GPS_DEV_TRACKS", "/work/shared/gps/dev_tracks.json"))


def emit(bench, value, unit, **extra):
    print(json.dumps({"bench": bench, "value": value, "unit": unit, **extra}), flush=True)


def raw_length(points):
    geod = Geodesic.WGS84
    pts = sorted(points, key=lambda p: p["t"])
    return sum(geod.Inverse(a["lat"], a["lon"], b["lat"], b["lon"], Geodesic.DISTANCE)["s12"]
               for a, b in zip(pts, pts[1:], strict=False))


def main():
    if not DEV_TRACKS.exists():
        emit("track_engine_throughput", None, "points/s", error=f"{DEV_TRACKS} not found")
        return 1
    cases = json.loads(DEV_TRACKS.read_text())["cases"]
    n_points = sum(len(c["points"]) for c in cases)

    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        summaries = [summarize(c["points"]) for c in cases]
        times.append(time.perf_counter() - start)
    best = min(times)
    emit("track_engine_throughput", round(n_points / best, 1), "points/s", stat="best",
         repeats=REPEATS, points=n_points, tracks=len(cases),
         median_points_per_s=round(n_points / statistics.median(times), 1))

    walk_err, raw_walk_err, drift, raw_drift, correct = [], [], [], [], 0
    for c, s in zip(cases, summaries, strict=True):
        ok = all((flag in s.flags) == wanted for flag, wanted in c["expect"].items())
        if c["kind"] in ("walk", "stationary"):
            ok = ok and not s.flags
        correct += ok
        extra = dict(kind=c["kind"], seed=c.get("seed"), sigma_m=c.get("sigma_m"), dt_s=c.get("dt_s"),
                     outlier_p=c.get("outlier_p"), flags=list(s.flags), expect=c["expect"], flags_ok=ok,
                     distance_m=round(s.distance_m, 1), true_length_m=c["true_length_m"])
        if c["true_length_m"] > 0:
            err = (s.distance_m - c["true_length_m"]) / c["true_length_m"] * 100
            emit("track_case", round(err, 2), "%", **extra)
            if c["kind"] == "walk":
                walk_err.append(abs(err))
                raw_walk_err.append((raw_length(c["points"]) - c["true_length_m"]) / c["true_length_m"] * 100)
        else:
            emit("track_case", round(s.distance_m, 2), "m", **extra)
            if c["kind"] == "stationary":
                drift.append(s.distance_m)
                raw_drift.append(raw_length(c["points"]))

    if walk_err:
        emit("track_walk_error_median", round(statistics.median(walk_err), 2), "%", walks=len(walk_err))
        emit("track_walk_error_worst", round(max(walk_err), 2), "%", walks=len(walk_err))
        emit("track_raw_walk_error_median", round(statistics.median(raw_walk_err), 2), "%",
             note="naive sum of raw fix-to-fix distances (signed over-statement)")
    if drift:
        emit("track_stationary_drift", round(max(drift), 2), "m", stat="max", tracks=len(drift))
        emit("track_raw_stationary_drift", round(max(raw_drift), 1), "m", stat="max",
             note="naive sum of raw fix-to-fix distances")
    emit("track_flags_correct", correct, "cases", of=len(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
