"""gunicorn behind the shipped deploy/nginx.conf on loopback ports, as child processes under a temp dir.

nginx runs in the foreground (`daemon off`) with its own prefix, pid file, logs and temp folders, so
nothing outside the temp dir is touched; the site file is deploy/nginx.conf with only its ports,
paths and certificate replaced."""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
import urllib3

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = "civic.example.org"

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, proc, log, *, headers=None, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited: " + Path(log).read_text()[-3000:])
        try:
            if requests.get(url, headers=headers, verify=False, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s: " + Path(log).read_text()[-3000:])


def stop(proc):
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    if proc is not None and getattr(proc, "workdir", None):
        shutil.rmtree(proc.workdir, ignore_errors=True)


def start_gunicorn(env, workdir, *, cwd=ROOT, python_bin=BIN):
    """gunicorn with gunicorn.conf.py on a free loopback port; returns (process, port)."""
    port = free_port()
    log = Path(workdir) / "gunicorn.log"
    env = dict(env, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=env.get("GUNICORN_WORKERS", "1"),
               GUNICORN_THREADS="4")
    proc = subprocess.Popen([str(Path(python_bin) / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=cwd,
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
    return proc, port


def render_site(site_text, *, app_port, tls_port, plain_port, cert, key, static_dir, webroot):
    """deploy/nginx.conf with loopback ports, a test certificate and this checkout's static folder."""
    replacements = [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{plain_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;"),
        (f"/etc/letsencrypt/live/{SITE}/fullchain.pem", str(cert)),
        (f"/etc/letsencrypt/live/{SITE}/privkey.pem", str(key)),
        ("/srv/civic/static/", str(static_dir).rstrip("/") + "/"),
        ("/var/www/html", str(webroot)),
    ]
    for old, new in replacements:
        assert old in site_text, f"deploy/nginx.conf no longer has {old!r}"
        site_text = site_text.replace(old, new)
    return site_text


def start_nginx(workdir, *, app_port, site_file=ROOT / "deploy" / "nginx.conf", static_dir=ROOT / "static"):
    """nginx in front of 127.0.0.1:app_port; returns (process, tls_port, plain_port).

    Its folder is made under /tmp (not in pytest's private tmp_path): nginx's workers run as an
    unprivileged user and must reach their temp folders; a symlink in workdir points at it."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="civic-nginx-"))
    os.chmod(work, 0o755)
    (Path(workdir) / "nginx").symlink_to(work)
    for sub in ("temp", "logs", "www"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(work / "temp", 0o777)
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={SITE}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls_port, plain_port = free_port(), free_port()
    (work / "site.conf").write_text(render_site(
        Path(site_file).read_text(), app_port=app_port, tls_port=tls_port, plain_port=plain_port,
        cert=cert, key=key, static_dir=static_dir, webroot=work / "www"))
    temp = work / "temp"
    (work / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/logs/error.log warn;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {work}/logs/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {work}/site.conf;
}}
""")
    log = work / "logs" / "stderr.log"
    subprocess.run([NGINX, "-t", "-p", str(work), "-c", str(work / "nginx.conf"),
                    "-e", str(work / "logs" / "error.log")], check=True, capture_output=True)
    proc = subprocess.Popen([NGINX, "-p", str(work), "-c", str(work / "nginx.conf"),
                             "-e", str(work / "logs" / "error.log")],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    proc.workdir = work
    wait_for(f"https://127.0.0.1:{tls_port}/healthz", proc, log, headers={"Host": SITE})
    return proc, tls_port, plain_port


def production_env(database_url, workdir, **overrides):
    """The environment file an operator writes (production settings), on `database_url`."""
    import secrets

    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL"}}
    env.update(CIVIC_CONFIG="production", SECRET_KEY=secrets.token_urlsafe(48), SITE_URL=f"https://{SITE}",
               PROXY_HOPS="1", DATABASE_URL=database_url, UPLOADS_DIR=str(Path(workdir) / "uploads"),
               LOG_LEVEL="INFO", SESSION_COOKIE_SECURE="true")
    if database_url.startswith("sqlite"):
        env["CIVIC_ALLOW_SQLITE"] = "1"
    env.update(overrides)
    return env


class Browserless:
    """A requests session that talks to nginx as a browser at https://civic.example.org would
    (or, with `base`, straight to gunicorn at that address)."""

    def __init__(self, tls_port=None, *, base=None):
        self.base = base or f"https://127.0.0.1:{tls_port}"
        self.site = f"https://{SITE}" if base is None else base
        self.http = requests.Session()
        self.http.verify = False
        self.responses = []

    def request(self, method, path, *, headers=None, **kwargs):
        headers = {"Referer": f"{self.site}/", **({"Host": SITE} if self.site != self.base else {}), **(headers or {})}
        response = self.http.request(method, self.base + path, headers=headers, allow_redirects=False, verify=False,
                                     timeout=30, **kwargs)
        self.responses.append((method, path, response))
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def csrf(self, path):
        """The CSRF token of the form on the page at `path`."""
        import re

        page = self.get(path)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)

    def submit(self, page, action, data, headers=None):
        """Fill the form on `page` and post it to `action`, as a browser does."""
        return self.post(action, data={**data, "csrf_token": self.csrf(page)}, headers=headers)

    def sign_in(self, phone, password, headers=None):
        """The real sign-in form."""
        return self.submit("/login", "/login", {"phone": phone, "password": password}, headers=headers)
