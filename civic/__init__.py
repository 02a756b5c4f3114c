"""Civic: a civic participation and volunteer platform (merit bank, patrols, deliberation, points shop)."""
import os

from flask import Flask

from civic.config import BASE_DIR, CONFIGS, check_production


def create_app(config=None):
    """Build the application.

    `config` is a config class, a name from civic.config.CONFIGS, or a dict of
    overrides on top of the class named by CIVIC_CONFIG (default development).
    """
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(BASE_DIR / "instance"),
    )
    overrides = {}
    if isinstance(config, dict):
        overrides, config = config, None
    unnamed = config is None and not os.environ.get("CIVIC_CONFIG")
    if config is None or isinstance(config, str):
        config = CONFIGS[config or os.environ.get("CIVIC_CONFIG") or "development"]
    from civic.web import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.from_object(config)
    app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)

    if app.config["ENV_NAME"] == "production":
        check_production(app)
    _trust_proxy(app)

    from civic import logging as civic_logging

    civic_logging.init_app(app)
    if unnamed:
        # Production is never assumed; say so, so that an operator who forgot the environment file
        # does not mistake the development database for the site's.
        app.logger.warning("CIVIC_CONFIG is not set: using the development settings (database %s). "
                           "Load the environment file (CIVIC_CONFIG=production ...) on a real site.",
                           app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1])
    _init_extensions(app)
    _register_blueprints(app)

    from civic import cli, errors, web
    from civic.operations import metrics

    metrics.init_app(app)
    web.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    from civic.core import static_files

    static_files.init_app(app)
    return app


def _trust_proxy(app):
    """Behind PROXY_HOPS reverse proxies, take the client's address, scheme and host from their
    X-Forwarded-* headers (only the last PROXY_HOPS entries: a forged entry from the client is ignored)."""
    hops = app.config.get("PROXY_HOPS", 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _init_extensions(app):
    from civic.extensions import api, babel, csrf, db, login_manager, migrate

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A database that accepts the connection but never answers must not hang a request forever.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {"connect_timeout": app.config["DATABASE_CONNECT_TIMEOUT"],
                                   **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _tune_sqlite(app, db)
    else:
        from civic.core.pool import ping_when_idle

        with app.app_context():
            ping_when_idle(db.engine, app.config["DATABASE_PING_AFTER_IDLE"])
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)

    from civic.web import select_locale, select_timezone

    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    api.init_app(app, spec_kwargs={"info": {"description": "Civic participation platform API"}})
    _import_models()


def _tune_sqlite(app, db):
    """WAL and a busy timeout, so the web server and the worker can share the file."""
    from sqlalchemy import event

    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def _on_connect(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()


def _import_models():
    """Import every model module so metadata (and Alembic) sees all tables."""
    import civic.accounts.models  # noqa: F401
    import civic.api.idempotency  # noqa: F401
    import civic.communities.models  # noqa: F401
    import civic.core.audit  # noqa: F401
    import civic.core.outbox  # noqa: F401
    import civic.core.uploads  # noqa: F401
    import civic.deliberation.models  # noqa: F401
    import civic.grid.models  # noqa: F401
    import civic.ledger.gamification  # noqa: F401
    import civic.ledger.models  # noqa: F401
    import civic.merit.models  # noqa: F401
    import civic.notifications.models  # noqa: F401
    import civic.operations.models  # noqa: F401
    import civic.patrols.models  # noqa: F401
    import civic.privacy.models  # noqa: F401
    import civic.rules.models  # noqa: F401
    import civic.shop.models  # noqa: F401


def _register_blueprints(app):
    from civic.accounts.views import bp as accounts_bp
    from civic.admin.views import bp as admin_bp
    from civic.api import register_api
    from civic.communities.views import bp as communities_bp
    from civic.core.uploads import bp as uploads_bp
    from civic.home.views import bp as home_bp
    from civic.notifications.views import bp as notifications_bp
    from civic.rules.views import bp as rules_bp

    for bp in (home_bp, accounts_bp, communities_bp, notifications_bp, admin_bp, uploads_bp, rules_bp):
        app.register_blueprint(bp)
    from civic.deliberation.views import bp as deliberation_bp

    app.register_blueprint(deliberation_bp)
    from civic.ledger.views import bp as ledger_bp

    app.register_blueprint(ledger_bp)
    from civic.shop.views import bp as shop_bp

    app.register_blueprint(shop_bp)
    from civic.merit.views import bp as merit_bp

    app.register_blueprint(merit_bp)
    from civic.patrols.views import bp as patrols_bp

    app.register_blueprint(patrols_bp)
    from civic.privacy.views import bp as privacy_bp

    app.register_blueprint(privacy_bp)
    from civic.operations.views import bp as operations_bp

    app.register_blueprint(operations_bp)
    from civic.grid.views import bp as grid_bp

    app.register_blueprint(grid_bp)
    register_api(app)
