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


def drive(start_unix, *, seconds=600, dt=2.0, speed=15.0, prefix="v"):
    """A car at 54 km/h: the engine flags it as a vehicle."""
    return walk(start_unix, seconds=seconds, dt=dt, speed=speed, prefix=prefix)


def png_bytes():
    """A tiny real PNG photo."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 60)).save(out, "PNG")
    return out.getvalue()
