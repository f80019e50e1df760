"""Settings for the crypto backtesting site.

One module, read from the environment with inline defaults, in the manner of
healthchecks' `hc/settings.py`. With nothing set, the site runs on an SQLite file
and the local-memory cache; `DATABASE_URL` and `REDIS_URL` switch it to PostgreSQL
and Redis. A malformed value stops start-up with a message naming the variable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 1, maximum: int = 1024) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name} must be a comma-separated list with no empty items, got {raw!r}")
    return items


def redis_kwargs(url: str) -> dict:
    """The keyword arguments of redis.Redis and redis.asyncio.Redis for a whole REDIS_URL:
    host, port, database, user and password, TLS for rediss://, or a unix socket. (django-eventstream
    makes a client of each kind from EVENTSTREAM_REDIS, so no connection class can be given.)"""
    from urllib.parse import parse_qs, unquote, urlparse

    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    kwargs: dict = {}
    if parsed.username:
        kwargs["username"] = unquote(parsed.username)
    if parsed.password:
        kwargs["password"] = unquote(parsed.password)
    if parsed.scheme == "unix":
        kwargs["unix_socket_path"] = unquote(parsed.path)
        kwargs["db"] = int(query.get("db", ["0"])[0])
        return kwargs
    kwargs["host"] = parsed.hostname or "127.0.0.1"
    kwargs["port"] = parsed.port or 6379
    kwargs["db"] = int((parsed.path or "/0").lstrip("/") or query.get("db", ["0"])[0])
    if parsed.scheme == "rediss":
        kwargs["ssl"] = True
    return kwargs


DEBUG = env_bool("DEBUG", False)

# A development key is only acceptable when DEBUG is on; production must provide SECRET_KEY
# through the environment (the test settings, backtest_site/settings_test.py, give their own).
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "django-insecure-development-only-key-not-for-production-use-0123456789"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in the environment when DEBUG is off "
            "(set DEBUG=1 for local development; `make run` does)."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Addresses (or networks) of the reverse proxies in front: only their X-Forwarded-For is believed
# (backtest_site.clients.client_address, used by every throttle and limit). Empty: none is.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

BACKTEST_WORKERS = env_int("BACKTEST_WORKERS", 4, minimum=1, maximum=64)
BACKTEST_MAX_CONCURRENT_RUNS = env_int("BACKTEST_MAX_CONCURRENT_RUNS", 8, minimum=1, maximum=1000)
# The most coins one job takes (runs.services.chunks_of): its round trips are paid once per chunk.
BACKTEST_CHUNK_MAX = env_int("BACKTEST_CHUNK_MAX", 32, minimum=1, maximum=10_000)
# A run whose heartbeat is older than this has no live executor and is ended `interrupted`;
# each process renews the heartbeat of the runs it executes every BACKTEST_HEARTBEAT_SECONDS
# (0: no heartbeat thread; the test settings use that and call the tick directly).
BACKTEST_LEASE_SECONDS = env_int("BACKTEST_LEASE_SECONDS", 60, minimum=5, maximum=86400)
BACKTEST_HEARTBEAT_SECONDS = env_int("BACKTEST_HEARTBEAT_SECONDS", 15, minimum=0, maximum=3600)
# A job that loses its database connection is tried again on a fresh one, this many times in all.
BACKTEST_DB_ATTEMPTS = env_int("BACKTEST_DB_ATTEMPTS", 3, minimum=1, maximum=20)
# A run with a job that has made no progress (no coin computed) for this long is ended `interrupted`
# by the heartbeat tick (runs.lifecycle): the job is hung.
BACKTEST_STALL_SECONDS = env_int("BACKTEST_STALL_SECONDS", 120, minimum=1, maximum=86400)
# Seconds a cached price series lives in the cache (the version key makes it safe to keep long).
PRICE_CACHE_TTL = env_int("PRICE_CACHE_TTL", 24 * 3600, minimum=1, maximum=30 * 24 * 3600)
# Megabytes of price series each process keeps in memory in front of the shared cache (0: none).
PRICE_MEMORY_CACHE_MB = env_int("PRICE_MEMORY_CACHE_MB", 256, minimum=0, maximum=64 * 1024)

INSTALLED_APPS = [
    "daphne",  # first: makes `runserver` serve the ASGI application
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_eventstream",
    "strategies",
    "market_data",
    "runs",
    "sweeps",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backtest_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "backtest_site.wsgi.application"
ASGI_APPLICATION = "backtest_site.asgi.application"

# --- Database ---------------------------------------------------------------
try:
    DATABASES = {
        "default": dj_database_url.config(
            default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
            conn_max_age=0,
        )
    }
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
if not DATABASES["default"].get("ENGINE"):
    raise ImproperlyConfigured("DATABASE_URL names an unknown database scheme")

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the worker threads write results and stored events
    # concurrently without "database is locked". The test database is a file too:
    # the in-memory one cannot be shared by threads that write at once.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test_db_{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation of the app's queries: they are short, but the planner's estimate for the
    # coins of a run (an EXISTS per coin) passes jit_above_cost, so every run paid some 30 ms
    # compiling it. A DATABASE_URL that sets `options` itself (?options=...) keeps its own.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix://, got {REDIS_URL!r}")
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "bt"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
    # A Redis outage must not fail a backtest: market_data.selectors catches cache
    # errors itself, falls back to the database and logs the outage once.
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "backtest-prices",
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    }

# --- Auth, i18n, static -----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", "").strip() or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest storage whatever DEBUG is, so files collected with DEBUG=1 serve DEBUG=0
        # (backtest_site/staticstorage.py); the tests link plain names unless they collect first.
        "BACKEND": (
            "backtest_site.staticstorage.StaticStorage"
            if env_bool("STATIC_MANIFEST", True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Serve files found by the finders too, so tests and a fresh checkout work before collectstatic.
WHITENOISE_USE_FINDERS = True

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # a run request is a few hundred bytes

# --- Security (effective with DEBUG off) ------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    # Off by default: TLS ends at the proxy in front, which redirects http and may send HSTS;
    # a plain-http server (bench, `docker compose up` on localhost) keeps working. These two are
    # the only warnings `check --deploy` gives with the defaults (README "Security").
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0, maximum=10**8)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- REST framework and schema ----------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Crypto strategy backtester API",
    "DESCRIPTION": "Catalogue of coins, prices and strategies; backtest runs and their event streams.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The refusals around every view (bad query, CSRF/token, unknown id, throttles), documented.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "backtest_site.schema.refusals_add",
        # The original endpoint and the event streams (not DRF views), with each event's payload.
        "runs.schema.streams_add",
    ],
}

# --- Server-Sent Events (django-eventstream) ---------------------------------
# Stored events: without storage django-eventstream drops events in a burst, and a
# late or reconnecting client could not catch up. RunEventStorage is DjangoModelStorage
# (same tables and ids) with a one-statement append on PostgreSQL.
EVENTSTREAM_STORAGE_CLASS = "runs.eventstorage.RunEventStorage"
# Anyone may read a run's channel (run-<uuid>); only those channels are stored.
EVENTSTREAM_CHANNELMANAGER_CLASS = "runs.events.RunChannelManager"
# Open run event streams (runs.streams) per client address (429 beyond) and in all per process (503).
RUN_STREAMS_PER_CLIENT = env_int("RUN_STREAMS_PER_CLIENT", 20, minimum=1, maximum=100_000)
RUN_STREAMS_MAX = env_int("RUN_STREAMS_MAX", 2000, minimum=1, maximum=100_000)
# --- Celery (README "Scaling out on Celery") -----------------------------------
# With CELERY_BROKER_URL set, runs are executed by Celery workers (`celery -A backtest_site worker`)
# instead of this process's pool (runs.backends.CeleryBackend); the broker carries ids only.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip()
# A worker killed mid-task has its task delivered again: acknowledged after it ran, one task
# reserved per process, and a task whose process died is requeued rather than acknowledged.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A chunk costs tens to hundreds of milliseconds; one that runs this long is killed (and counted
# failed by Celery, not redelivered): its run then ends `interrupted` when its lease runs out.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30, minimum=1, maximum=86400)
# Redis: a task not acknowledged this long after delivery is delivered again (its worker is
# presumed dead). Above the time limit (a live task is never delivered twice), below the lease
# (a lost task comes back before its run is declared interrupted). RabbitMQ redelivers at once
# when the worker's connection drops, and ignores this.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 45, minimum=2, maximum=86400)
# Submitting must fail fast when the broker is down (a 503, not a hung request): short socket
# timeouts, no publish retries, and one connection attempt.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Workers look for such tasks every few seconds (kombu's default is every 100 s).
    "unacked_restore_interval": max(1, min(5, CELERY_VISIBILITY_TIMEOUT // 3)),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_retries": 1,
    "interval_start": 0.2,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True  # results are stored by the job itself; no result backend
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False

# Workers publish from other processes: the live clients of every web process get their events
# through Redis, so with Celery it is on by default.
if REDIS_URL and env_bool("EVENTSTREAM_USE_REDIS", bool(CELERY_BROKER_URL)):
    EVENTSTREAM_REDIS = redis_kwargs(REDIS_URL)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own default config gives "django" a console handler of its own (DEBUG only) that
        # also propagates here: every request line of `runserver` came out twice. Root's handler only.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- Runs --------------------------------------------------------------------
# Seconds the pool's threads keep a database connection between jobs (runs/db.py).
BACKTEST_THREAD_CONN_MAX_AGE = env_int("BACKTEST_THREAD_CONN_MAX_AGE", 300, minimum=0, maximum=86400)
# Run creation (POST /api/runs/ and the original stream endpoint), per user or client address.
RUNS_THROTTLE_RATE = os.environ.get("RUNS_THROTTLE_RATE", "60/min").strip()
if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", RUNS_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"RUNS_THROTTLE_RATE must look like 60/min (N/s, N/min, N/h, N/day), got {RUNS_THROTTLE_RATE!r}"
    )

# --- Access: API tokens, CSRF, per-client share (README "Scripts", runs/CONTRACT.md "Access") ---
# Scripts send `Authorization: Token <key>` (rest_framework.authtoken; `manage.py api_token create
# USER` or the admin): no CSRF. The browser keeps CSRF, with the secret kept in the session (not a
# cookie a script can invent along with a matching header); the pages read it from
# <meta name="csrf-token">.
INSTALLED_APPS += ["rest_framework.authtoken"]
# Session first: its (absent) WWW-Authenticate keeps an anonymous write refused with 403.
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "rest_framework.authentication.SessionAuthentication",
    "rest_framework.authentication.TokenAuthentication",
]
CSRF_USE_SESSIONS = True
# The runs (and sweeps) one client may hold in progress at once: a user, or an address for anonymous
# requests (backtest_site.clients.client_address). Default: half of BACKTEST_MAX_CONCURRENT_RUNS.
BACKTEST_CLIENT_CONCURRENCY = env_int(
    "BACKTEST_CLIENT_CONCURRENCY", max(1, BACKTEST_MAX_CONCURRENT_RUNS // 2), minimum=1, maximum=1000
)

# --- Production guards (README "Security"): admin login lockout, CSP, read throttle, health ----
# One block, so that it merges apart from the rest.
INSTALLED_APPS += ["axes", "csp"]
# CSP on every answer; axes last, as its documentation asks (it turns a lockout into the page).
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
# django-axes: AxesStandaloneBackend first refuses a locked-out client before any password check.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
# Minutes a locked-out address waits (axes takes hours; a wrong password meanwhile restarts the wait).
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1, maximum=7 * 24 * 60) / 60
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
# The address the throttles use: X-Forwarded-For only from TRUSTED_PROXIES.
AXES_CLIENT_IP_CALLABLE = "backtest_site.clients.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# Content-Security-Policy (django-csp): scripts, styles, images and requests from this origin only;
# no inline script or style (element or attribute), no eval, no other origin, no framing. The
# pages' scripts set styles through the CSSOM (element.style), which the policy allows, and the
# ECharts tooltips use formatters of our own (its default one writes style attributes). Only
# /api/redoc/ relaxes it (backtest_site/urls.py).
from csp.constants import NONE, SELF  # noqa: E402

# lightweight-charts adds one <style> element of constant text for its attribution logo (README:
# the charts show it); only that text is allowed, by its hash (tests/test_production.py checks it
# against the vendored file).
LIGHTWEIGHT_CHARTS_LOGO_STYLE = "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-elem": [SELF, LIGHTWEIGHT_CHARTS_LOGO_STYLE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Anonymous reads (GET/HEAD of the API), per client address: generous, against scraping loops.
READS_THROTTLE_RATE = os.environ.get("READS_THROTTLE_RATE", "600/min").strip()
if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", READS_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"READS_THROTTLE_RATE must look like 600/min (N/s, N/min, N/h, N/day), got {READS_THROTTLE_RATE!r}"
    )
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["backtest_site.throttles.ReadThrottle"]
# GET /healthz and GET /metrics (backtest_site/health.py) in the schema too.
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"].append("backtest_site.schema.health_add")
# The most bars one page of GET /api/cryptocurrencies/<symbol>/prices/ holds (a larger page_size is
# capped): what one response costs the server in memory is bounded by it.
PRICES_MAX_PAGE_SIZE = env_int("PRICES_MAX_PAGE_SIZE", 2000, minimum=10, maximum=10_000)
