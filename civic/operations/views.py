"""/healthz for the load balancer and the operator; /metrics for Prometheus on the operator's network."""
from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy import text

from civic.extensions import csrf, db
from civic.operations import metrics, service

bp = Blueprint("operations", __name__)


@bp.route("/healthz")
def healthz():
    """Database, schema revision (503 when behind the code), worker heartbeat and each job's last run."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503, {"Retry-After": "5"}
    body, ok = service.health()
    if not ok:
        return jsonify(body), 503, {"Retry-After": "30"}
    return jsonify(body)


@bp.route("/metrics")
@csrf.exempt
def prometheus_metrics():
    """Prometheus text format; only for the addresses in METRICS_ALLOW (nginx does not pass it on)."""
    allowed = {a.strip() for a in current_app.config["METRICS_ALLOW"].split(",") if a.strip()}
    if request.remote_addr not in allowed:
        abort(404)
    data, content_type = metrics.render()
    return Response(data, content_type=content_type)
