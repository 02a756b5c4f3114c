"""Benchmark: GPS track points ingested through the API, against the raw insert ceiling; engine throughput.

* patrol_ingest_api      points/s through POST /api/v1/communities/<c>/patrols/<p>/points in batches of 50
                         (Flask test client with a bearer token: auth, validation, the idempotent insert,
                         the patrol counter, one commit per batch)
* patrol_ingest_raw      points/s of plain INSERTs of the same rows in batches of 50, one commit per batch
                         (psycopg executemany on the same database): the ceiling
* patrol_ingest_ratio    api / raw
* patrol_resend_api      points/s when every batch is a resend (all duplicates: nothing is written)
* patrol_engine          points/s through civic.patrols.track.summarize() on a two-hour walk

Runs against a dedicated PostgreSQL database civic_bench_patrols (created when missing, rebuilt by the
migrations each run).   .venv/bin/python bench/bench_patrols.py [--batches 200]
"""
import argparse
import math
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from _database import SERVER, build_app, emit, ensure_database, reset_schema  # noqa: E402 - bench/ is on the path

DB_NAME = "civic_bench_patrols"
BATCH = 50


def seed(app):
    """A community with one volunteer; returns (community_id, phone, password)."""
    from civic.extensions import db
    from tests import factories

    with app.app_context():
        community = factories.make_community("基准社区")
        user = factories.make_member(community, name="基准志愿者")
        db.session.commit()
        return community.id, user.phone, factories.DEFAULT_PASSWORD


def walk_points(n, start, prefix, dt=2.0):
    """n fixes of a walk at 1.3 m/s with a little wobble."""
    lat0, lon0 = 36.6683, 117.0204
    out = []
    for i in range(n):
        d = 1.3 * dt * i
        out.append({"id": f"{prefix}{i}", "t": start + i * dt,
                    "lat": lat0 + d * 0.7 / 111_320 + 2e-6 * math.sin(i / 7),
                    "lon": lon0 + d * 0.7 / 89_000 + 2e-6 * math.cos(i / 5), "accuracy": 6.0})
    return out


def started_an_hour_ago(app, patrol_id):
    """Move the patrol's server-recorded start an hour back, so an hour of fixes lies inside its window."""
    from datetime import timedelta

    from civic.extensions import db
    from civic.patrols.models import Patrol

    with app.app_context():
        patrol = db.session.get(Patrol, patrol_id)
        patrol.started_at -= timedelta(hours=1)
        db.session.commit()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args(argv)
    n = args.batches * BATCH
    try:
        ensure_database(DB_NAME)
    except psycopg.OperationalError as exc:
        emit("patrol_ingest_api", None, "points/s", error=f"PostgreSQL not reachable: {exc}")
        return 1
    app = build_app(DB_NAME, LOG_JSON=False)
    reset_schema(app)
    community_id, phone, password = seed(app)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"phone": phone, "password": password}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/communities/{community_id}/patrols"

    # --- through the API ---
    patrol_id = client.post(base, json={}, headers=headers).json["id"]
    started_an_hour_ago(app, patrol_id)  # the server keeps only fixes between its start and now
    now = time.time()
    points = walk_points(n, now - 3000, "a", dt=3000 / n)  # inside the patrol's time window
    url = f"{base}/{patrol_id}/points"
    per_batch = []
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        t0 = time.perf_counter()
        response = client.post(url, json={"points": points[i:i + BATCH]}, headers=headers)
        per_batch.append(time.perf_counter() - t0)
        assert response.status_code == 200 and response.json["accepted"] == BATCH, response.json
    api_seconds = time.perf_counter() - start
    api_rate = n / api_seconds
    emit("patrol_ingest_api", round(api_rate, 1), "points/s", points=n, batch=BATCH,
         batch_ms_median=round(statistics.median(per_batch) * 1000, 2),
         batch_ms_p95=round(sorted(per_batch)[int(len(per_batch) * 0.95)] * 1000, 2), database="postgresql")

    # --- resending everything: nothing new is written ---
    start = time.perf_counter()
    for i in range(0, min(n, 50 * BATCH), BATCH):
        response = client.post(url, json={"points": points[i:i + BATCH]}, headers=headers)
        assert response.json["accepted"] == 0
    resent = min(n, 50 * BATCH)
    emit("patrol_resend_api", round(resent / (time.perf_counter() - start), 1), "points/s", points=resent,
         batch=BATCH)

    # --- the raw insert ceiling, same table, same database ---
    client.post(f"{base}/{patrol_id}/end", headers=headers)
    patrol2 = client.post(base, json={}, headers=headers).json["id"]
    rows = [(community_id, patrol2, p["id"], datetime.fromtimestamp(p["t"], UTC).replace(tzinfo=None),
             p["lat"], p["lon"], p["accuracy"]) for p in walk_points(n, now - 3000, "b", dt=3000 / n)]
    with psycopg.connect(f"{SERVER}/{DB_NAME}") as conn:
        start = time.perf_counter()
        for i in range(0, n, BATCH):
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO patrol_track_point (community_id, patrol_id, client_id, t, lat, lon, accuracy) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)", rows[i:i + BATCH])
            conn.commit()
        raw_seconds = time.perf_counter() - start
    raw_rate = n / raw_seconds
    emit("patrol_ingest_raw", round(raw_rate, 1), "points/s", points=n, batch=BATCH, database="postgresql")
    emit("patrol_ingest_ratio", round(api_rate / raw_rate, 3), "api/raw")

    # --- the engine ---
    from civic.patrols.track import summarize

    walk = walk_points(3600, now, "e")
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        summary = summarize(walk)
        times.append(time.perf_counter() - t0)
    emit("patrol_engine", round(len(walk) / min(times), 1), "points/s", points=len(walk), stat="best of 3",
         distance_m=round(summary.distance_m, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
