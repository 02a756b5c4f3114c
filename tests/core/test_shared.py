"""Shared pieces: photo uploads and signed QR tokens."""
import io
import re
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from werkzeug.datastructures import FileStorage

from civic.core import qr, uploads
from civic.core.clock import utcnow
from civic.core.errors import Invalid
from tests import factories


def _image_bytes(fmt, size=(64, 48), exif=None):
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 30))
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _upload(data, name="photo.jpg"):
    return FileStorage(stream=io.BytesIO(data), filename=name)


def _owner():
    """Who uploads in these tests: a member of a fresh community."""
    community = factories.make_community()
    return {"uploader": factories.make_member(community), "community_id": community.id}


def test_photo_is_reencoded_without_exif_or_location(app_ctx):
    """A JPEG with GPS EXIF is stored re-encoded, with no EXIF at all."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (36.0, 40.0, 1.0)}  # GPS IFD
    name = uploads.save_photo(_upload(_image_bytes("JPEG", exif=exif.tobytes())), **_owner())
    with Image.open(io.BytesIO(uploads.photo_bytes(name))) as stored:
        assert stored.format == "JPEG"
        assert not stored.getexif()
        assert "exif" not in stored.info


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_are_accepted(app_ctx, fmt):
    """PNG and WebP photos are accepted and stay in their format."""
    name = uploads.save_photo(_upload(_image_bytes(fmt), name=f"p.{fmt.lower()}"), **_owner())
    assert name.endswith({"PNG": ".png", "WEBP": ".webp"}[fmt])


@pytest.mark.parametrize("data, message", [
    (b"GIF89a" + b"\x00" * 100, "read"),
    (b"<script>alert(1)</script>", "read"),
    (_image_bytes("GIF"), "JPEG"),
])
def test_non_photos_are_refused(app_ctx, data, message):
    """Anything that is not a readable JPEG, PNG or WebP is refused with a clear message."""
    with pytest.raises(Invalid):
        uploads.save_photo(_upload(data), **_owner())


def test_oversized_photo_is_refused(app_ctx):
    """A file over 5 MB is refused before it is decoded."""
    with pytest.raises(Invalid) as error:
        uploads.save_photo(_upload(b"\xff\xd8" + b"\x00" * (5 * 1024 * 1024 + 10)), **_owner())
    assert "5 MB" in error.value.msgid


def test_signed_token_round_trip_through_a_qr_image(app_ctx):
    """A token rendered as a QR image decodes (zxing-cpp) back to a token that verifies."""
    now = utcnow()
    token = qr.make_token("checkin", {"s": 7}, ttl_seconds=30, now=now)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.qr_png(token))))
    assert len(decoded) == 1
    assert qr.read_token("checkin", decoded[0].text, now=now)["s"] == 7


def test_tokens_expire_and_cannot_be_forged_or_reused_for_another_purpose(app_ctx):
    """Expired, altered, or other-purpose tokens are refused."""
    now = utcnow()
    token = qr.make_token("checkin", {"s": 7}, ttl_seconds=30, now=now)
    with pytest.raises(Invalid) as error:
        qr.read_token("checkin", token, now=now + timedelta(seconds=31))
    assert error.value.reason == "expired_token"
    body, mac = token.split(".")
    forged = qr._b64(b'{"exp":9999999999,"s":8}') + "." + mac
    altered = token[:-2] + ("BB" if token.endswith("AA") else "AA")  # (1 token in 4,096 ends in AA)
    for bad in (forged, altered, "garbage", "", "a.b.c"):
        with pytest.raises(Invalid):
            qr.read_token("checkin", bad, now=now)
    with pytest.raises(Invalid):
        qr.read_token("voucher", token, now=now)


def _raster_svg_qr(svg, scale=8):
    """Draw the one-unit squares of a qrcode SvgPathImage into a PIL image."""
    from PIL import ImageDraw

    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y in re.findall(r"M(\d+),(\d+)H", svg):
        x, y = int(x), int(y)
        draw.rectangle([x * scale, y * scale, (x + 1) * scale - 1, (y + 1) * scale - 1], fill=0)
    return image


def test_qr_svg_decodes_to_the_text(app_ctx):
    """The SVG form for pages and print is a QR code that reads back as the text it was made from."""
    svg = qr.qr_svg("https://example.org/checkin?t=abc.def")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    results = zxingcpp.read_barcodes(_raster_svg_qr(svg))
    assert [r.text for r in results] == ["https://example.org/checkin?t=abc.def"]
