"""Static files served by WhiteNoise: content-hashed names cached for a year, gzip and brotli (issue 11).

At start-up the files under static/ are copied into instance/static/<digest of them all>/ twice: under
their own name (for the service worker's list, old pages and nginx) and under a name carrying a hash of
their content (`css/app.3f2a1b9c0d4e.css`), each with .gz and .br companions made by WhiteNoise's
compressor. `url_for("static", ...)` then gives the hashed name, which is served with
`Cache-Control: public, max-age=31536000, immutable`; the plain names get a short max-age. A build is made
once per content digest (in a temporary directory renamed into place, so gunicorn workers may race).
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import brotli
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

IMMUTABLE = "public, max-age=31536000, immutable"
# Brotli at its top quality (11) takes a minute for the vendored bundles on a small machine; 9 is
# within a few per cent of its size in a fraction of the time.
BROTLI_QUALITY = 9
HASHED = re.compile(r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$")
PLAIN_MAX_AGE = 60
# Served as itself from its own route (/sw.js), never from /static under a hashed name.
NOT_HASHED = {"sw.js"}
# Static responses bypass Flask's after_request, so they carry the security headers from here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _sources(static_dir):
    return sorted(p for p in Path(static_dir).rglob("*") if p.is_file() and not p.name.endswith((".gz", ".br")))


def _hashed_name(relative, content):
    stem, dot, ext = relative.rpartition(".")
    if not dot or "/" in ext:
        return None
    return f"{stem}.{hashlib.md5(content, usedforsecurity=False).hexdigest()[:12]}.{ext}"


def build(static_dir, build_root):
    """Build (once per content digest) and return (directory, manifest {name: hashed name})."""
    sources = _sources(static_dir)
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(static_dir)).encode() + b"\0" + path.read_bytes())
    target = Path(build_root) / digest.hexdigest()[:16]
    manifest_path = target / "manifest.json"
    if manifest_path.exists():
        return target, json.loads(manifest_path.read_text())
    Path(build_root).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=build_root, prefix=".build-"))
    manifest = {}
    compressor = Compressor(quiet=True)  # only for its list of extensions not worth compressing
    for path in sources:
        relative = path.relative_to(static_dir).as_posix()
        content = path.read_bytes()
        names = [relative]
        hashed = None if relative in NOT_HASHED else _hashed_name(relative, content)
        if hashed:
            manifest[relative] = hashed
            names.append(hashed)
        variants = {"": content}
        if compressor.should_compress(relative):
            variants[".gz"] = gzip.compress(content, compresslevel=9, mtime=0)
            variants[".br"] = brotli.compress(content, quality=BROTLI_QUALITY)
            # Keep a compressed copy only where it saves at least 5 % (as WhiteNoise does).
            variants = {k: v for k, v in variants.items() if not k or len(v) < len(content) * 0.95}
        for name in names:
            out = work / name
            out.parent.mkdir(parents=True, exist_ok=True)
            for suffix, data in variants.items():
                Path(str(out) + suffix).write_bytes(data)
    (work / "manifest.json").write_text(json.dumps(manifest, sort_keys=True))
    try:
        os.rename(work, target)
    except OSError:  # another process built the same digest first
        shutil.rmtree(work, ignore_errors=True)
    return target, json.loads(manifest_path.read_text())


def _is_immutable(_path, url):
    return bool(HASHED.search(url))


def _add_headers(headers, _path, url):
    if HASHED.search(url):
        headers["Cache-Control"] = IMMUTABLE
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)


def init_app(app):
    """Serve /static through WhiteNoise and make url_for("static", ...) give the hashed names."""
    directory, manifest = build(app.static_folder, Path(app.instance_path) / "static")
    app.extensions["static_manifest"] = manifest
    app.extensions["static_digest"] = directory.name
    prefix = app.static_url_path.strip("/") + "/"
    app.wsgi_app = WhiteNoise(app.wsgi_app, root=str(directory), prefix=prefix, max_age=PLAIN_MAX_AGE,
                              immutable_file_test=_is_immutable, add_headers_function=_add_headers)

    @app.url_defaults
    def _hashed_static(endpoint, values):
        if endpoint == "static" and "filename" in values:
            values["filename"] = manifest.get(values["filename"], values["filename"])


def hashed_url(app, filename):
    """The hashed /static URL of a file (outside a request: for the service worker's list)."""
    return f"{app.static_url_path}/{app.extensions['static_manifest'].get(filename, filename)}"
