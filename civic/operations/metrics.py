"""Prometheus metrics (prometheus_client): requests, latency and errors counted by each web process;
job runs and the queue of claims on notice read from the database when /metrics is scraped.

With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR to an empty folder writable by the
service (the systemd unit in deploy/ does): every worker then writes its counts there and /metrics
adds them up."""
import os
import time
from datetime import UTC

from flask import g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

REQUESTS = Counter("civic_http_requests_total", "HTTP requests answered", ["method", "status"])
ERRORS = Counter("civic_http_errors_total", "HTTP requests answered with a 5xx status", ["method"])
LATENCY = Histogram("civic_http_request_duration_seconds", "Time to answer a request", ["method"],
                    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


class DatabaseCollector:
    """Numbers that live in the database, so they are right whichever process asks."""

    def collect(self):
        from civic.merit.service import count_on_notice
        from civic.operations.service import job_runs

        runs = job_runs()
        total = CounterMetricFamily("civic_job_runs", "Runs of each scheduled job", labels=["job"])
        failed = CounterMetricFamily("civic_job_failures", "Failed runs of each scheduled job", labels=["job"])
        last = GaugeMetricFamily("civic_job_last_finished_timestamp_seconds", "When each job last finished",
                                 labels=["job"])
        for name, run in runs.items():
            total.add_metric([name], run.runs or 0)
            failed.add_metric([name], run.failures or 0)
            if run.last_finished_at:
                last.add_metric([name], _epoch(run.last_finished_at))
        yield total
        yield failed
        yield last
        yield GaugeMetricFamily("civic_claims_on_notice", "Merit claims in their public notice period",
                                value=count_on_notice())


def _epoch(naive_utc):

    return naive_utc.replace(tzinfo=UTC).timestamp()


def render():
    """The scrape body and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    body = generate_latest(registry)
    database = CollectorRegistry()
    database.register(DatabaseCollector())
    return body + generate_latest(database), CONTENT_TYPE_LATEST


def init_app(app):
    """Count every request (static files included) with its status and time."""

    @app.before_request
    def _metrics_start():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _metrics_count(response):
        started = g.get("metrics_started")
        if started is not None:
            REQUESTS.labels(request.method, str(response.status_code)).inc()
            LATENCY.labels(request.method).observe(time.perf_counter() - started)
            if response.status_code >= 500:
                ERRORS.labels(request.method).inc()
        return response
