"""Configuration classes. Pick one with CIVIC_CONFIG (development, testing, production)."""
import os
import re
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name, default):
    """A yes/no setting: 1/true/yes/on or 0/false/no/off (any case); anything else is refused."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise RuntimeError(f"{name}={raw!r} is not a yes/no value: use 1, true, yes, on or 0, false, no, off")


def env_int(name, default):
    """A whole-number setting; a value that is not a number is refused."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"{name}={raw!r} is not a whole number") from None


def _database_url(default):
    url = os.environ.get("DATABASE_URL", default)
    # psycopg 3 is the driver we ship; accept the common short forms.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _database_url(f"sqlite:///{INSTANCE_DIR / 'civic.db'}")
    SQLALCHEMY_ENGINE_OPTIONS = {}
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 60 * 60 * 24 * 30

    WTF_CSRF_TIME_LIMIT = None  # tie the token to the session, not to a clock
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "civic" / "translations")
    LANGUAGES = {"zh_CN": "中文", "en": "English"}

    API_TITLE = "Civic API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"

    # Sign-in throttling (docs/security.md): failures for one number from one address, and from one address
    # over all numbers, before a delay begins; the delay then doubles with each further failure, up to the
    # maximum. Failures are forgotten after LOGIN_FORGET_SECONDS without one, or on a correct sign-in.
    LOGIN_MAX_FAILURES_PER_PHONE = env_int("LOGIN_MAX_FAILURES_PER_PHONE", 5)
    LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
    LOGIN_DELAY_SECONDS = env_int("LOGIN_DELAY_SECONDS", 60)
    LOGIN_MAX_DELAY_SECONDS = env_int("LOGIN_MAX_DELAY_SECONDS", 3600)
    LOGIN_FORGET_SECONDS = env_int("LOGIN_FORGET_SECONDS", 24 * 3600)

    # A signed-in session (and its remember-me cookie) lasts at most this long; signing out ends it earlier.
    SESSION_DAYS = env_int("SESSION_DAYS", 90)
    REMEMBER_COOKIE_DURATION = timedelta(days=SESSION_DAYS)
    # Strict-Transport-Security max-age sent by the app (0: not sent). Production: one year, like the header
    # deploy/nginx.conf sets (which replaces the app's behind that proxy).
    HSTS_SECONDS = 0

    API_TOKEN_DAYS = 90

    # One-time codes by text message (sign-in and password reset). SMS_BACKEND: "log" writes the code to the
    # log (and, with SMS_SHOW_CODES, to the demo page /dev/sms); "http" posts it to a provider's HTTP API.
    SMS_BACKEND = os.environ.get("SMS_BACKEND", "log")
    SMS_HTTP_URL = os.environ.get("SMS_HTTP_URL", "")
    SMS_HTTP_TOKEN = os.environ.get("SMS_HTTP_TOKEN", "")
    SMS_HTTP_TIMEOUT = float(os.environ.get("SMS_HTTP_TIMEOUT", "10"))
    SMS_SIGNATURE = os.environ.get("SMS_SIGNATURE", "")
    SMS_SHOW_CODES = False
    SMS_CODE_SECONDS = int(os.environ.get("SMS_CODE_SECONDS", "300"))
    SMS_RESEND_SECONDS = int(os.environ.get("SMS_RESEND_SECONDS", "60"))
    SMS_WINDOW_SECONDS = int(os.environ.get("SMS_WINDOW_SECONDS", "3600"))
    SMS_MAX_PER_PHONE = int(os.environ.get("SMS_MAX_PER_PHONE", "5"))
    SMS_MAX_PER_ADDRESS = int(os.environ.get("SMS_MAX_PER_ADDRESS", "20"))
    SMS_MAX_ATTEMPTS = int(os.environ.get("SMS_MAX_ATTEMPTS", "5"))

    # Merit bank: a community's issuance budget for a year until its committee sets one.
    LEDGER_DEFAULT_YEARLY_BUDGET = int(os.environ.get("LEDGER_DEFAULT_YEARLY_BUDGET", "1000000"))

    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = env_int("MAIL_PORT", 25)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)   # STARTTLS on a plain connection (port 587)
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)   # TLS from the first byte (port 465)
    MAIL_FROM = os.environ.get("MAIL_FROM", "noreply@civic.local")
    # Certificates to trust for the mail server (a file of PEM certificates); empty: the system's.
    MAIL_CA_FILE = os.environ.get("MAIL_CA_FILE", "")
    # Notifications older than this when a person's address is verified are not mailed (no flood).
    MAIL_MAX_AGE_HOURS = env_int("MAIL_MAX_AGE_HOURS", 24)

    # The public address of the site, e.g. "https://civic.example.org": QR codes and e-mail links use it.
    SITE_URL = os.environ.get("SITE_URL", "").rstrip("/")
    # Uploaded photos; scripts/backup.sh and restore.sh read the same variable.
    UPLOADS_DIR = os.environ.get("UPLOADS_DIR") or str(INSTANCE_DIR / "uploads")
    # Photos one person may upload in 24 hours (a claim takes at most 3, a topic 6).
    UPLOAD_DAILY_LIMIT = env_int("UPLOAD_DAILY_LIMIT", 60)
    # Reverse proxies in front of gunicorn whose X-Forwarded-* headers are trusted (nginx alone: 1).
    PROXY_HOPS = env_int("PROXY_HOPS", 0)
    # Seconds to wait for the database to accept a connection before giving up.
    DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5)
    # A pooled connection idle for longer than this is pinged before use (civic.core.pool); 0: every time.
    DATABASE_PING_AFTER_IDLE = env_int("DATABASE_PING_AFTER_IDLE", 10)
    # /metrics answers only these client addresses (the proxy does not forward it).
    METRICS_ALLOW = os.environ.get("METRICS_ALLOW", "127.0.0.1,::1")

    # Map tiles for patrol maps, e.g. "https://tiles.example.org/{z}/{x}/{y}.png" or 天地图
    # "https://t{s}.tianditu.gov.cn/vec_w/wmts?...&tk=KEY" (docs/operations.md); empty: the community's own
    # geography on a plain background. The origin goes into the CSP; a "{s}" host becomes "*.host".
    MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "")
    MAP_TILE_ATTRIBUTION = os.environ.get("MAP_TILE_ATTRIBUTION", "")
    MAP_TILE_ORIGIN = (re.sub(r"//[^/.]*\{s\}[^/.]*\.", "//*.", "/".join(MAP_TILE_URL.split("/")[:3]))
                       if MAP_TILE_URL.startswith("http") else "")

    LOG_JSON = env_bool("LOG_JSON", True)
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")


class DevelopmentConfig(Config):
    """`make run`: the demo on an embedded SQLite database."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-not-secret"
    LOG_JSON = env_bool("LOG_JSON", False)
    SMS_SHOW_CODES = env_bool("SMS_SHOW_CODES", True)


class TestingConfig(Config):
    """The test suite; TEST_DATABASE_URL picks the database."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'test.db'}"
    LOG_JSON = False
    LOG_LEVEL = "WARNING"
    SMS_SHOW_CODES = True


class ProductionConfig(Config):
    """Behind gunicorn; refuses to start with unsafe settings."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 24 * 3600)


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def check_production(app):
    """Refuse to serve in production with settings that would put residents at risk."""
    problems = []
    key = app.config.get("SECRET_KEY")
    if not key or len(key) < 32 or key in {"dev-only-not-secret", "test-secret"}:
        problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
    if app.debug:
        problems.append("debug mode must be off")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") and not env_bool("CIVIC_ALLOW_SQLITE", False):
        problems.append("production needs PostgreSQL (set DATABASE_URL), "
                        "or CIVIC_ALLOW_SQLITE=1 for a single small site")
    if app.config.get("SMS_BACKEND") == "http" and not app.config.get("SMS_HTTP_URL"):
        problems.append("SMS_BACKEND=http needs SMS_HTTP_URL (the provider's endpoint)")
    if app.config.get("SMS_SHOW_CODES"):
        problems.append("SMS_SHOW_CODES must be off: it shows sign-in codes on a page")
    site = app.config.get("SITE_URL") or ""
    if not site.startswith(("https://", "http://")):
        problems.append("SITE_URL must be the public address of the site, e.g. https://civic.example.org")
    if problems:
        raise RuntimeError("Refusing to start in production: " + "; ".join(problems))
