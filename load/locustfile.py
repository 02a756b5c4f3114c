"""Locust users for `make load` (started by load/run_load.py; see docs/load-testing.md).

HealthUser      the trivial endpoint (/healthz: one SELECT 1), for the ceiling phase.
CheckinScreen   the organiser's screen: fetches the rotating check-in code every 3 seconds.
Resident        the mixed resident workload: sign in (one password check: an API token, sent on pages too), home page,
                passbook (page and API), shop orders with an Idempotency-Key (one in ten sent twice),
                patrol point batches, check-in with the code of the current window.

The data (ids, phones, passwords) comes from the JSON file named by CIVIC_LOAD_DATA. Every user is
closed-loop with no think time, so both phases measure what the server can do, not a pacing choice.
"""
import itertools
import json
import os
import random
import time
import uuid

from locust import FastHttpUser, constant, task

DATA = json.load(open(os.environ["CIVIC_LOAD_DATA"], encoding="utf-8"))
CID = DATA["community_id"]
API = f"/api/v1/communities/{CID}"
_PHONES = itertools.cycle(DATA["residents"])
CODE = {"url": None}  # the latest check-in code, as the organiser's screen shows it
# Around the demo patrol route (芙蓉街).
LAT, LON = 36.6683, 117.0204


def api_token(client, phone, password):
    """POST /api/v1/auth/token; returns the bearer token or None (the failure is already recorded)."""
    with client.post("/api/v1/auth/token", json={"phone": phone, "password": password, "name": "load"},
                     name="POST /api/v1/auth/token", catch_response=True) as response:
        if response.status_code != 201:
            response.failure(f"sign-in {response.status_code}")
            return None
        return response.json()["token"]


class HealthUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def healthz(self):
        self.client.get("/healthz", name="GET /healthz")


class CheckinScreen(FastHttpUser):
    fixed_count = 1
    wait_time = constant(3)

    def on_start(self):
        self.token = api_token(self.client, DATA["committee_phone"], DATA["committee_password"])

    @task
    def code(self):
        if not self.token:
            return
        response = self.client.get(f"/api/v1/deliberation/communities/{CID}/meetings/{DATA['meeting_id']}/code",
                                   headers={"Authorization": f"Bearer {self.token}"},
                                   name="GET /api/v1/deliberation/.../code")
        if response.status_code == 200:
            CODE["url"] = response.json()["url"]


class Resident(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.sign_in()

    # --- sign in: a new resident arrives (HTML form for the pages, API token for the app) ---------
    # Rare, as in life (a session lasts 30 days, a token 90). One password check per sign-in (issue 11):
    # the app's token is sent on every request, pages included (the app accepts a bearer on any page).
    @task(1)
    def sign_in(self):
        self.phone = next(_PHONES)
        self.token, self.patrol_id, self.seq = None, None, 0
        self.device = uuid.uuid4().hex[:8]  # point ids are made on the phone: unique per device
        self.client.cookiejar.clear()
        # The app's token: a POST to /api with a bearer and no session cookie needs no CSRF token.
        self.client.auth_header = None  # FastHttpSession's header for every request (it has no .headers)
        self.token = api_token(self.client, self.phone, DATA["password"])
        if self.token:
            response = self.client.post(f"{API}/patrols", json={}, headers=self.auth, name="POST /api/.../patrols")
            if response.status_code == 201:
                self.patrol_id = response.json()["id"]
        self.client.auth_header = self.auth["Authorization"] if self.token else None

    @property
    def auth(self):
        return {"Authorization": f"Bearer {self.token}"}

    # --- pages --------------------------------------------------------------------------------------
    @task(10)
    def home(self):
        self.client.get("/", name="GET / (home)")

    @task(6)
    def passbook_page(self):
        self.client.get("/points", name="GET /points (passbook)")

    # --- API ----------------------------------------------------------------------------------------
    @task(6)
    def passbook_api(self):
        if self.token:
            self.client.get(f"{API}/points/passbook", headers=self.auth, name="GET /api/.../points/passbook")

    @task(6)
    def order(self):
        if not self.token:
            return
        headers = dict(self.auth, **{"Idempotency-Key": f"load-{uuid.uuid4().hex}"})
        body = {"item_id": DATA["item_id"], "quantity": 1}
        first = self.client.post(f"{API}/shop/orders", json=body, headers=headers, name="POST /api/.../shop/orders")
        if first.status_code == 201 and random.random() < 0.1:  # a double tap or a retry: the same order back
            with self.client.post(f"{API}/shop/orders", json=body, headers=headers, catch_response=True,
                                  name="POST /api/.../shop/orders (retry)") as again:
                if again.status_code != 201 or again.json()["id"] != first.json()["id"]:
                    again.failure("a retried order made a second order")

    @task(10)
    def patrol_points(self):
        if not self.patrol_id:
            return
        now = time.time()
        points = []
        for _ in range(10):
            self.seq += 1
            points.append({"id": f"{self.device}-{self.seq}", "t": now - 10 + len(points),
                           "lat": LAT + 0.00001 * (self.seq % 120), "lon": LON + 0.00001 * (self.seq % 240),
                           "accuracy": 8})
        self.client.post(f"{API}/patrols/{self.patrol_id}/points", json={"points": points}, headers=self.auth,
                         name="POST /api/.../patrols/<id>/points")

    @task(3)
    def check_in(self):
        if self.token and CODE["url"]:
            self.client.post("/api/v1/deliberation/checkin", json={"token": CODE["url"]}, headers=self.auth,
                             name="POST /api/v1/deliberation/checkin")
