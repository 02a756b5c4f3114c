"""Static files (issue 11): pages link content-hashed URLs served for a year, compressed, with the security
headers; plain names still work with a short max-age; pages and the manifest are revalidated."""
import re


def _static_urls(page):
    return re.findall(r'/static/[^"\'?#]+', page)


def test_pages_link_hashed_files_cached_for_a_year_and_compressed(client):
    """A returning visitor needs only the HTML: every static file a page links is immutable for a year."""
    page = client.get("/login")
    assert page.headers["Cache-Control"] == "private, no-cache"
    urls = _static_urls(page.get_data(as_text=True))
    assert urls and all(re.search(r"\.[0-9a-f]{12}\.\w+$", url) for url in urls), urls
    css = next(url for url in urls if url.endswith(".css"))
    plain = client.get(css, headers={"Accept-Encoding": "identity"})
    brotli = client.get(css, headers={"Accept-Encoding": "gzip, br"})
    gzipped = client.get(css, headers={"Accept-Encoding": "gzip"})
    for response in (plain, brotli, gzipped):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"]
    assert brotli.headers["Content-Encoding"] == "br" and gzipped.headers["Content-Encoding"] == "gzip"
    assert len(brotli.data) < len(plain.data) / 2 and len(gzipped.data) < len(plain.data) / 2
    assert "Accept-Encoding" in plain.headers.get("Vary", "")


def test_plain_names_service_worker_and_manifest(client):
    """Plain names are served briefly cached; the service worker precaches hashed URLs under a cache name
    that changes with the files; the manifest is revalidated and names hashed icons."""
    plain = client.get("/static/css/app.css")
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "max-age=60, public"
    worker = client.get("/sw.js")
    assert worker.headers["Cache-Control"] == "no-cache"
    source = worker.get_data(as_text=True)
    assert re.search(r'var VERSION = "civic-v1-[0-9a-f]{16}";', source)
    assert re.search(r'"/static/css/app\.[0-9a-f]{12}\.css"', source)
    assert '"/static/css/app.css"' not in source
    for url in re.findall(r'"(/static/[^"]+)"', source):
        assert client.get(url).status_code == 200, url
    manifest = client.get("/manifest.webmanifest")
    assert manifest.headers["Cache-Control"] == "public, no-cache"
    assert all(re.search(r"\.[0-9a-f]{12}\.png$", icon["src"]) for icon in manifest.get_json()["icons"])
