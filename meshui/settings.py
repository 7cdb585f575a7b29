"""Django settings for meshui, read from the environment.

Every variable is documented in ``docs/configuration.md`` and listed in ``.env.example``.
A bad value stops start-up with a message naming the variable (see ``meshui.env``).
Nothing here connects to an upstream: Prometheus, Jaeger, Redis and the database are only
named, never contacted, so ``migrate`` and management commands start with all of them down.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from meshui.env import (
    env_bool,
    env_choice,
    env_file,
    env_float,
    env_headers,
    env_int,
    env_label_matchers,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("MESHUI_DEBUG", False)
DATA_DIR = Path(env_str("MESHUI_DATA_DIR", str(BASE_DIR / "var"))).resolve()


def _secret_key() -> str:
    """MESHUI_SECRET_KEY, or a key generated once and kept in the data directory.

    The kept key suits one machine (``make demo``); several web processes on several
    machines must share MESHUI_SECRET_KEY.
    """
    configured = env_str("MESHUI_SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise ImproperlyConfigured("MESHUI_SECRET_KEY is too short: use at least 32 random characters.")
        return configured
    key_file = DATA_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("MESHUI_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("MESHUI_CSRF_TRUSTED_ORIGINS", [])

# TLS hardening: each behind its own variable so that MESHUI_DEBUG=false over plain http on
# 127.0.0.1 keeps working; docs/operations.md gives the production values.
SECURE_SSL_REDIRECT = env_bool("MESHUI_SECURE_SSL_REDIRECT", False)
# Kubelet probes and Prometheus scrapes speak plain http to the pod: a redirect fails them.
# SecurityMiddleware matches these against the path without its leading slash.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("MESHUI_SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("MESHUI_SECURE_COOKIES", False)
if env_bool("MESHUI_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "metrics",
    "topology",
    "traces",
    "demo",
    "traffic",
]

MIDDLEWARE = [
    "meshui.observability.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "meshui.csp.ContentSecurityPolicyMiddleware",
    "meshui.errors.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "meshui.urls"
ASGI_APPLICATION = "meshui.asgi.application"
WSGI_APPLICATION = None

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
                "meshui.context.product",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'meshui.sqlite3'}"),
        conn_max_age=env_int("MESHUI_DB_CONN_MAX_AGE_S", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A busy writer makes SQLite raise "database is locked" at once; wait a little instead.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every request runs in a thread of its own, so per-thread persistent
    # connections are never reused and pile up until PostgreSQL refuses everyone: one bounded
    # pool per process instead (docs/decisions/0015-database-connections.md).
    if env_str("MESHUI_DB_CONN_MAX_AGE_S") not in ("", "0"):
        raise ImproperlyConfigured(
            "MESHUI_DB_CONN_MAX_AGE_S applies to SQLite only: with PostgreSQL meshui keeps its connections "
            "in a pool (MESHUI_DB_POOL_MIN_SIZE, MESHUI_DB_POOL_MAX_SIZE); unset MESHUI_DB_CONN_MAX_AGE_S."
        )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DB_POOL_MAX_SIZE = env_int("MESHUI_DB_POOL_MAX_SIZE", 10, minimum=0, maximum=1000)
    if DB_POOL_MAX_SIZE:
        DB_POOL_MIN_SIZE = env_int("MESHUI_DB_POOL_MIN_SIZE", 2, minimum=0, maximum=DB_POOL_MAX_SIZE)
        DB_POOL_TIMEOUT_S = env_float("MESHUI_DB_POOL_TIMEOUT_S", 10.0, minimum=0.1, maximum=300)
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": DB_POOL_MIN_SIZE,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_S,
            "max_idle": env_float("MESHUI_DB_POOL_MAX_IDLE_S", 600.0, minimum=1, maximum=86400),
            "name": "meshui",
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise serves collected files from here; create it so a fresh data directory is valid.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]

def redis_channel_layer(url: str) -> dict[str, object]:
    """The Channels layer on the Redis at ``url``, as ``CHANNEL_LAYERS["default"]``.

    channels_redis blocks in BRPOP for 5 s per receive; redis-py 8's default socket timeout is
    also 5 s, so an idle receive timed out and the live hub logged a TimeoutError every few
    seconds. The socket here waits longer than a BRPOP can; connects stay bounded.
    """
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15.0, "socket_connect_timeout": 5.0}]},
    }


# Redis is optional: without it meshui runs embedded (in-memory channel layer, local cache,
# no Celery broker).
REDIS_URL = env_url("MESHUI_REDIS_URL", schemes=("redis", "rediss", "unix"))
if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "meshui"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = False

# --- Upstreams -------------------------------------------------------------------------
PROMETHEUS = {
    "URL": env_url("MESHUI_PROMETHEUS_URL"),
    "TOKEN": env_str("MESHUI_PROMETHEUS_TOKEN"),
    "CA_FILE": env_file("MESHUI_PROMETHEUS_CA_FILE"),
    "HEADERS": env_headers("MESHUI_PROMETHEUS_HEADERS"),
    "TIMEOUT_S": env_float("MESHUI_PROMETHEUS_TIMEOUT_S", 10.0, minimum=0.1, maximum=300),
    "SCOPE": env_label_matchers("MESHUI_PROMETHEUS_SCOPE"),
    # auto: read the graph from meshui's recording rules (docs/prometheus-rules.yaml) wherever
    # Prometheus records them, checked every RULES_RECHECK_S; off: always read raw series.
    "RECORDED": env_choice("MESHUI_PROMETHEUS_RECORDED", "auto", ("auto", "off")),
    "RULES_RECHECK_S": env_float("MESHUI_PROMETHEUS_RULES_RECHECK_S", 120.0, minimum=5, maximum=3600),
}
JAEGER = {"URL": env_url("MESHUI_JAEGER_URL")}

# The built-in demo mesh is the telemetry source while MESHUI_PROMETHEUS_URL is unset.
# 0 = Bookinfo plus a second namespace; N >= 2 = a synthetic mesh of N services (scale tests).
DEMO_SIZE = env_int("MESHUI_DEMO_SIZE", 0, minimum=0, maximum=20000)
if DEMO_SIZE == 1:
    raise ImproperlyConfigured("MESHUI_DEMO_SIZE=1 is not valid: expected 0 (Bookinfo) or at least 2 services.")
DEMO_SEED = env_int("MESHUI_DEMO_SEED", 1, minimum=0)

# --- Product behaviour -----------------------------------------------------------------
ANONYMOUS_READ = env_bool("MESHUI_ANONYMOUS_READ", False)
API_TOKEN_DAYS = env_int("MESHUI_API_TOKEN_DAYS", 90, minimum=1, maximum=3650)
GRAPH_CACHE_TTL_S = env_float("MESHUI_GRAPH_CACHE_TTL_S", 5.0, minimum=0, maximum=300)
HEALTH_RULES_FILE = env_file("MESHUI_HEALTH_RULES_FILE")

# --- Sign-in limits (docs/decisions/0020-sign-in-limits-and-csp.md; accounts.signin) -------
# This many failed sign-ins of one account, or from one client address, within the window
# lock it out: every sign-in is refused (429, the right password too) until the lockout ends.
SIGNIN_MAX_FAILURES_PER_ACCOUNT = env_int("MESHUI_SIGNIN_MAX_FAILURES_PER_ACCOUNT", 5, minimum=1, maximum=1000)
SIGNIN_MAX_FAILURES_PER_ADDRESS = env_int("MESHUI_SIGNIN_MAX_FAILURES_PER_ADDRESS", 20, minimum=1, maximum=100000)
SIGNIN_WINDOW_S = env_int("MESHUI_SIGNIN_WINDOW_S", 900, minimum=1, maximum=86400)
SIGNIN_LOCKOUT_S = env_int("MESHUI_SIGNIN_LOCKOUT_S", 900, minimum=1, maximum=86400)
# Reverse proxies in front of meshui that append to X-Forwarded-For: the client address is the
# entry that many from the right. 0: REMOTE_ADDR (X-Forwarded-For is then ignored, as anyone can send it).
SIGNIN_TRUSTED_PROXY_HOPS = env_int("MESHUI_TRUSTED_PROXY_HOPS", 0, minimum=0, maximum=10)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.CanRead"],
    "DEFAULT_RENDERER_CLASSES": ["meshui.renderers.ORJSONRenderer"],
    # JSON bodies bounded in size and depth (a 400/413, never a RecursionError's 500).
    "DEFAULT_PARSER_CLASSES": [
        "meshui.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "meshui.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "meshui API",
    "DESCRIPTION": (
        "The API behind every meshui page, versioned under /api/v1. Read the service graph of an Istio mesh "
        "built from its Prometheus telemetry (each request counted once, health per direction and where errors "
        "originate), namespaces, health and the metrics of services, workloads and apps; read traces from Jaeger "
        "for a service or an edge; read and change traffic routing (weights, header routes, faults, timeouts, "
        "retries, circuit breakers) written as Istio VirtualService and DestinationRule, with If-Match, dry runs, "
        "an audit log and revert. Authenticate with a session or `Authorization: Bearer <token>` "
        "(manage.py create_api_token); reads need the viewer role, writes operator or admin. Every error is "
        '{"error": {"code", "message", "field"}}. Live updates: the websocket /ws/graph/ (docs/api.md).'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_PERMISSIONS": ["accounts.permissions.CanRead"],
    # Swagger UI's own files are served by meshui (air-gapped clusters): never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("MESHUI_LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- Live graph (added with the live-graph issue; docs/decisions/0006-live-path.md) ---------
# Refresh interval of the live graph: one computation per watched view per interval.
LIVE_REFRESH_S = env_int("MESHUI_REFRESH_S", 15, minimum=1, maximum=3600)
if REDIS_URL:
    # With Redis one tick per interval serves every web process (run `celery beat` once).
    CELERY_BEAT_SCHEDULE = {
        "live-graph-tick": {
            "task": "topology.live_tick",
            "schedule": float(LIVE_REFRESH_S),
            # A tick queued behind a busy worker for a whole interval is outdated: drop it.
            "options": {"expires": float(LIVE_REFRESH_S)},
        }
    }

# --- Traffic management (added with the traffic issue; docs/traffic.md) -------------------
# Where Istio routing resources live: local (meshui's database; the demo obeys it) or gitops.
MESHUI_MESH_BACKEND = env_choice("MESHUI_MESH_BACKEND", "local", ("local", "gitops", "kubernetes"))
MESHUI_GITOPS_DIR = env_str("MESHUI_GITOPS_DIR")
if MESHUI_MESH_BACKEND == "gitops" and not MESHUI_GITOPS_DIR:
    raise ImproperlyConfigured("MESHUI_MESH_BACKEND=gitops needs MESHUI_GITOPS_DIR (a directory of YAML files).")
# Refuse every traffic change (403), whatever the caller's role.
MESHUI_VIEW_ONLY = env_bool("MESHUI_VIEW_ONLY", False)
# Make If-Match mandatory on traffic writes (428 without it).
MESHUI_REQUIRE_IF_MATCH = env_bool("MESHUI_REQUIRE_IF_MATCH", False)
# How long a write without If-Match keeps trying against concurrent writers before it answers 409
# write_contention (decision 0021): meshui's own writers of a service queue in each process; a
# lost compare-and-swap (another process, kubectl, a git push) is recomputed on the fresh state.
MESHUI_WRITE_CONTENTION_S = env_float("MESHUI_WRITE_CONTENTION_S", 10.0, minimum=0.1, maximum=120)

# --- Metrics pages ---
# Grafana root URL: detail pages then link to Istio's service/workload dashboards there.
GRAFANA_URL = env_url("MESHUI_GRAFANA_URL")

# --- Traces (added with the traces issue; docs/decisions/0010-traces.md) -------------------
# MESHUI_JAEGER_URL (above) makes Jaeger the trace source whatever the telemetry source is;
# without it, the demo mesh's own traces are served while the demo is the telemetry source.
JAEGER.update(
    {
        "TOKEN": env_str("MESHUI_JAEGER_TOKEN"),
        "CA_FILE": env_file("MESHUI_JAEGER_CA_FILE"),
        "TIMEOUT_S": env_float("MESHUI_JAEGER_TIMEOUT_S", 5.0, minimum=0.1, maximum=120),
    }
)

# --- Kubernetes backend (added with the kubernetes-backend issue; docs/decisions/0013-kubernetes-backend.md) ---
# MESHUI_MESH_BACKEND=kubernetes: a kubeconfig file (+ context); empty = the in-cluster service account.
MESHUI_KUBECONFIG = env_str("MESHUI_KUBECONFIG")
MESHUI_KUBE_CONTEXT = env_str("MESHUI_KUBE_CONTEXT")
# Connect and read timeout of each API server request: a down or hanging server is a 503 after it.
MESHUI_KUBE_TIMEOUT_S = env_float("MESHUI_KUBE_TIMEOUT_S", 5.0, minimum=0.1, maximum=60)
# How long each process reuses a list it read (0 = always read): writes always read the server itself.
MESHUI_KUBE_CACHE_TTL_S = env_float("MESHUI_KUBE_CACHE_TTL_S", 5.0, minimum=0, maximum=300)
# Send Impersonate-User (the signed-in user) so the cluster's RBAC decides who may write.
MESHUI_KUBE_IMPERSONATE = env_bool("MESHUI_KUBE_IMPERSONATE", False)
