"""gunicorn settings for production: `CIVIC_CONFIG=production gunicorn wsgi:app` (this file is read by default).

Every value can be overridden by an environment variable of the same purpose.
"""
import multiprocessing
import os
import sys

from civic.config import env_bool

if not os.environ.get("CIVIC_CONFIG"):
    # Production is chosen on purpose: gunicorn without CIVIC_CONFIG would serve the development settings.
    sys.exit("gunicorn: set CIVIC_CONFIG (production on a real site) from the environment file; see docs/operations.md")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Threads share a process's database pool; 2 workers per core is a good start for this I/O-bound app.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = 5000          # recycle workers now and then
max_requests_jitter = 500
# The app itself decides which X-Forwarded-* headers to trust (PROXY_HOPS, Werkzeug's ProxyFix);
# gunicorn only uses this for the scheme of requests from the local nginx.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None             # the app logs each request once, as JSON, with a request id
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
if env_bool("LOG_JSON", True):
    from civic.logging import gunicorn_logconfig

    logconfig_dict = gunicorn_logconfig()


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR, forget a finished worker's live gauges (its counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
