"""Track and photo helpers for the patrol tests."""
import io
import math
import random

from PIL import Image

BASE = (36.6683, 117.0204)  # Jinan, Quancheng Road


def walk(start_unix, *, seconds=1200, dt=2.0, speed=1.3, bearing_deg=60.0, prefix="p", accuracy=5.0, seed=1,
         fake=False, base=BASE):
    """Fixes of a straight walk as a phone records it: [{id, t, lat, lon, accuracy}, ...], with GPS error
    (a slowly wandering offset plus a little fix-to-fix noise) and accuracies around `accuracy`.

    `fake=True` gives what a script makes up instead: the exact line, one accuracy, no noise."""
    rng = random.Random(seed)
    points = []
    lat0, lon0 = base
    b = math.radians(bearing_deg)
    rho = math.exp(-dt / 45.0)
    ex = ey = 0.0
    for i in range(int(seconds / dt) + 1):
        d = speed * dt * i
        ex = rho * ex + math.sqrt(1 - rho * rho) * rng.gauss(0, 2.0)
        ey = rho * ey + math.sqrt(1 - rho * rho) * rng.gauss(0, 2.0)
        nx, ny = (0.0, 0.0) if fake else (ex + rng.gauss(0, 0.7), ey + rng.gauss(0, 0.7))
        north, east = d * math.cos(b) + ny, d * math.sin(b) + nx
        lat = lat0 + north / 111_320
        lon = lon0 + east / (111_320 * math.cos(math.radians(lat0)))
        acc = accuracy if fake else round(accuracy * (0.8 + 0.4 * rng.random()), 1)
        points.append({"id": f"{prefix}{i}", "t": start_unix + i * dt, "lat": lat, "lon": lon, "accuracy": acc})
    return points


def step(i, metres=12.0):
    """Position after i steps of `metres` heading north-east from BASE (emulated phone GPS)."""
    d = metres * i
    return (BASE[0] + d * math.cos(math.radians(45)) / 111_320,
            BASE[1] + d * math.sin(math.radians(45)) / (111_320 * math.cos(math.radians(BASE[0]))))


def drive(start_unix, *, seconds=600, dt=2.0, speed=15.0, prefix="v"):
    """A car at 54 km/h: the engine flags it as a vehicle."""
    return walk(start_unix, seconds=seconds, dt=dt, speed=speed, prefix=prefix)


def png_bytes():
    """A tiny real PNG photo."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 60)).save(out, "PNG")
    return out.getvalue()


def gps_walk(page, steps, *, offline):
    """On the live patrol page, move the emulated phone `steps - 1` times about 12 m each, with the network
    off for the steps in range(*offline); check each fix is counted, that the phone keeps the offline ones,
    and that everything is sent once the network is back."""
    from playwright.sync_api import expect

    context = page.context
    count, pending = page.get_by_test_id("live-count"), page.get_by_test_id("live-pending")
    expect(count).to_have_text("1")
    first, back = offline
    for i in range(1, steps):
        if i == first:
            context.set_offline(True)
        if i == back:
            assert int(pending.inner_text()) >= back - first  # kept on the phone while offline
            assert page.evaluate("Object.keys(localStorage).some(k => k.startsWith('civic-patrol-queue-'))")
            context.set_offline(False)
        lat, lon = step(i)
        context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
        expect(count).to_have_text(str(i + 1))
    expect(pending).to_have_text("0", timeout=20_000)
