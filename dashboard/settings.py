"""Django settings for the Meshscope dashboard.

Everything comes from the environment with embedded defaults that work on one machine: SQLite in
the state directory, the local mesh's URLs and a Redis the launcher (`python -m dashboard.stack`)
starts itself when REDIS_URL is unset. DATABASE_URL switches to PostgreSQL. Values are validated
at start by the system checks in dashboard/checks.py.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

from dashboard.env import env_bool, env_float, env_int, env_list, env_secret, env_str, install_secret

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(env_str("MESHSCOPE_STATE_DIR", str(BASE_DIR / "state")))

# --- Core -----------------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)
# DJANGO_SECRET_KEY (or _FILE); else one generated per install and kept in the state directory.
# With an external database (DATABASE_URL) and DEBUG off, several hosts must share one key, so
# none is generated: the system check meshscope.E004 refuses to start, and meanwhile the key is a
# random one of this process (nothing is ever signed with a known key).
SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
SECRET_KEY_MISSING = not SECRET_KEY and bool(env_secret("DATABASE_URL")) and not DEBUG
if not SECRET_KEY:
    SECRET_KEY = secrets.token_urlsafe(50) if SECRET_KEY_MISSING else install_secret(STATE_DIR / "secret-key")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "dashboard.core",
    "dashboard.accounts",
    "dashboard.topology",
    "dashboard.services",
    "dashboard.routes",
    "dashboard.traces",
    "dashboard.security",
    "dashboard.health",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page and API requires login; views opt out with @login_not_required.
    "dashboard.accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: refuses logins of locked-out users and addresses.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
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
                "dashboard.topology.context.live_feed",
            ]
        },
    }
]

# --- Database: SQLite in the state directory unless DATABASE_URL says otherwise ----------------------
DATABASE_URL = env_secret("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": STATE_DIR / "dashboard.sqlite3",
            # The poller writes a snapshot every second while pages read: wait instead of failing.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -------------------------------------------------------------------------------------
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "topology:map"
LOGOUT_REDIRECT_URL = "accounts:login"
SESSION_COOKIE_HTTPONLY = True
# Behind TLS (compose): Secure cookies, HSTS, and the proxy's X-Forwarded-Proto trusted for https.
SECURE_COOKIES = env_bool("MESHSCOPE_SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if SECURE_COOKIES else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_COOKIES else None
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login lockouts (django-axes): this many failures lock out the username, and the address, each
# on its own, for MESHSCOPE_LOGIN_LOCKOUT_MINUTES; a success resets the count.
AXES_FAILURE_LIMIT = env_int("MESHSCOPE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("MESHSCOPE_LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.01))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dashboard.accounts.lockout.lockout_response"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# --- Redis, Channels, Celery ----------------------------------------------------------------------
# The launcher starts a Redis and exports REDIS_URL to its children when none is configured.
REDIS_URL = env_secret("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py's async pool fails (rather than waits) past max_connections, and every
            # websocket handshake borrows a connection for its group_add: size it for bursts of
            # reconnecting browsers, not for the default 100.
            "hosts": [
                {
                    "address": REDIS_URL,
                    "max_connections": env_int("CHANNEL_LAYER_MAX_CONNECTIONS", 2000, minimum=10),
                }
            ],
            "capacity": env_int("CHANNEL_LAYER_CAPACITY", 200, minimum=10),
        },
    }
}
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- Mesh sources ---------------------------------------------------------------------------------
MESHCORE_API_URL = env_str("MESHCORE_API_URL", "http://127.0.0.1:15080")
MESHCORE_TRACER_URL = env_str("MESHCORE_TRACER_URL", "http://127.0.0.1:9411")
# The resource API's bearer token: MESHCORE_API_TOKEN, else the file MESHCORE_API_TOKEN_FILE, else
# the token of the mesh whose state directory is MESHCORE_STATE_DIR (default: the one `make run`
# starts in <state dir>/mesh). A file is read at each call.
MESHCORE_API_TOKEN = env_str("MESHCORE_API_TOKEN", "")
MESH_STATE_DIR = Path(env_str("MESHCORE_STATE_DIR") or STATE_DIR / "mesh")
MESHCORE_API_TOKEN_FILE = env_str("MESHCORE_API_TOKEN_FILE", str(MESH_STATE_DIR / "api-token"))
# `local`: the embedded mesh (meshcore) on this machine. `kubernetes`: a real cluster with Istio,
# read through the Kubernetes API (MESHSCOPE_KUBECONFIG, else KUBECONFIG / ~/.kube/config, else the
# in-cluster service account), Istio's CRDs, Prometheus and Jaeger or Zipkin.
CLUSTER_MODE = env_str("MESHSCOPE_CLUSTER", "local")
if CLUSTER_MODE not in ("local", "kubernetes"):
    raise ImproperlyConfigured(f"MESHSCOPE_CLUSTER must be local or kubernetes, not {CLUSTER_MODE!r}")
KUBECONFIG = env_str("MESHSCOPE_KUBECONFIG", "")
KUBE_CONTEXT = env_str("MESHSCOPE_KUBE_CONTEXT", "")
# The namespaces whose services and workloads the cluster registry shows (empty: all but the
# system ones); the watch of each kind stays cluster-wide (one watch, not one per namespace).
KUBE_NAMESPACES = env_list("MESHSCOPE_KUBE_NAMESPACES", [])
# A watch step ends when the stream has been quiet this long (seconds): the API server sends every
# event after the stored resourceVersion at once, so this is the per-poll cost of an unchanged cluster.
KUBE_WATCH_IDLE_SECONDS = env_float("MESHSCOPE_KUBE_WATCH_IDLE", 0.25, minimum=0.05)
# Each page of a full list (first sync, or after 410 Gone) may take this long (seconds).
KUBE_LIST_TIMEOUT_SECONDS = env_float("MESHSCOPE_KUBE_LIST_TIMEOUT", 30.0, minimum=1.0)
# Which cluster registry adapter to use: the local control plane, or the Kubernetes API.
REGISTRY_SOURCE = env_str(
    "MESHSCOPE_REGISTRY_SOURCE", "kubernetes" if CLUSTER_MODE == "kubernetes" else "controlplane"
)
# Every call to a source gives up after this many seconds; the data is then marked stale.
SOURCE_TIMEOUT_SECONDS = env_float("MESHSCOPE_SOURCE_TIMEOUT", 0.8, minimum=0.05)
# Sidecars are polled concurrently by this many threads.
ENVOY_POLL_CONCURRENCY = env_int("MESHSCOPE_ENVOY_POLL_CONCURRENCY", 16, minimum=1)

# --- Telemetry and traces of a cluster --------------------------------------------------------------
# Prometheus with Istio's standard metrics ("" = not used). The map's rates come from Envoy's own
# counters ("envoy", the local mesh) or from Prometheus ("prometheus", the default in cluster mode).
PROMETHEUS_URL = env_str("MESHSCOPE_PROMETHEUS_URL", "")
TELEMETRY_SOURCE = env_str(
    "MESHSCOPE_TELEMETRY_SOURCE",
    "prometheus" if CLUSTER_MODE == "kubernetes" else "envoy",
)
if TELEMETRY_SOURCE not in ("envoy", "prometheus"):
    raise ImproperlyConfigured(
        f"MESHSCOPE_TELEMETRY_SOURCE must be envoy or prometheus, not {TELEMETRY_SOURCE!r}"
    )
if TELEMETRY_SOURCE == "prometheus" and not PROMETHEUS_URL:
    raise ImproperlyConfigured("MESHSCOPE_TELEMETRY_SOURCE=prometheus needs MESHSCOPE_PROMETHEUS_URL")
# The rate() window of every query (a Prometheus duration; Kiali's default is 1m). At least four
# scrape intervals, or rate() sees too few samples to answer.
PROMETHEUS_RATE_WINDOW = env_str("MESHSCOPE_PROMETHEUS_RATE_WINDOW", "1m")
if not re.fullmatch(r"[1-9][0-9]*(ms|s|m|h)", PROMETHEUS_RATE_WINDOW):
    raise ImproperlyConfigured(
        f"MESHSCOPE_PROMETHEUS_RATE_WINDOW={PROMETHEUS_RATE_WINDOW!r}: expected a duration like 30s or 1m"
    )
# Each Prometheus query gives up after this many seconds (whole-mesh queries of a large cluster
# take longer than one sidecar's /stats, so not MESHSCOPE_SOURCE_TIMEOUT).
PROMETHEUS_TIMEOUT_SECONDS = env_float("MESHSCOPE_PROMETHEUS_TIMEOUT", 5.0, minimum=0.1)
# The latency buckets are queried at most this often (seconds); between, the last latencies are
# shown with their age. Prometheus's data changes once per scrape (Istio's Prometheus scrapes every
# 15 s; Kiali refreshes its graph every 15 s), and p50/p95/p99 over a 1 m window move little from
# one scrape to the next, while the bucket query is the mesh's heaviest (0 = every poll).
PROMETHEUS_LATENCY_INTERVAL_SECONDS = env_float("MESHSCOPE_PROMETHEUS_LATENCY_INTERVAL", 15.0, minimum=0.0)
# Where traces are read ("" = the local tracer, MESHCORE_TRACER_URL, which speaks Zipkin's API);
# the kind is detected by probing the server when "auto".
TRACES_URL = env_str("MESHSCOPE_TRACES_URL", "")
TRACES_KIND = env_str("MESHSCOPE_TRACES_KIND", "zipkin")
if TRACES_KIND not in ("auto", "zipkin", "jaeger"):
    raise ImproperlyConfigured(f"MESHSCOPE_TRACES_KIND must be auto, zipkin or jaeger, not {TRACES_KIND!r}")

# --- Routes ---------------------------------------------------------------------------------------
# Route reads and writes (a write waits for the proxies' ACKs on top of this).
ROUTE_STORE_TIMEOUT_SECONDS = env_float("MESHSCOPE_ROUTE_STORE_TIMEOUT", 5.0, minimum=0.1)
# How long an apply waits for every proxy to ACK or NACK before answering.
ROUTES_PUSH_WAIT_SECONDS = env_float("MESHSCOPE_ROUTES_PUSH_WAIT", 5.0, minimum=0)
# Nobody can change routes (forms, YAML, API, rollback) when set: a read-only dashboard.
VIEW_ONLY = env_bool("MESHSCOPE_VIEW_ONLY", False)
# The what-if replays the requests of this many minutes, from at most this many traces.
WHATIF_MINUTES = env_int("MESHSCOPE_WHATIF_MINUTES", 5, minimum=1)
WHATIF_MAX_TRACES = env_int("MESHSCOPE_WHATIF_MAX_TRACES", 2000, minimum=1)
# The recorded-traffic windows are refreshed (incrementally) this often by Celery beat.
WHATIF_REFRESH_SECONDS = env_float("MESHSCOPE_WHATIF_REFRESH", 10.0, minimum=1.0)
# Changes made outside the dashboard (meshcore apply, kubectl) are looked for this often.
ROUTES_SYNC_INTERVAL_SECONDS = env_float("MESHSCOPE_ROUTES_SYNC_INTERVAL", 2.0, minimum=0.2)

# --- Topology -------------------------------------------------------------------------------------
TOPOLOGY_POLL_INTERVAL_SECONDS = env_float("MESHSCOPE_POLL_INTERVAL", 1.0, minimum=0.2)
SNAPSHOT_RETENTION_MINUTES = env_int("MESHSCOPE_SNAPSHOT_RETENTION_MINUTES", 60, minimum=1)
# Edge/node health from the share of failed requests (percent of requests in the poll interval).
HEALTH_DEGRADED_ERROR_PCT = env_float("MESHSCOPE_HEALTH_DEGRADED_PCT", 1.0, minimum=0)
HEALTH_FAILING_ERROR_PCT = env_float("MESHSCOPE_HEALTH_FAILING_PCT", 20.0, minimum=0)
# Below this rate (requests/s) an edge counts as idle.
IDLE_EDGE_RPS = env_float("MESHSCOPE_IDLE_EDGE_RPS", 0.0, minimum=0)

# --- Traces ---------------------------------------------------------------------------------------
# The live tail reads the trace source this often; a trace counts as complete when no new span
# arrived for TRACES_TAIL_QUIET_SECONDS; it follows traces that started in the last WINDOW seconds.
TRACES_TAIL_INTERVAL_SECONDS = env_float("MESHSCOPE_TRACES_TAIL_INTERVAL", 1.0, minimum=0.2)
TRACES_TAIL_QUIET_SECONDS = env_float("MESHSCOPE_TRACES_TAIL_QUIET", 1.0, minimum=0.1)
TRACES_TAIL_WINDOW_SECONDS = env_float("MESHSCOPE_TRACES_TAIL_WINDOW", 15.0, minimum=2.0)
TRACES_TAIL_LIMIT = env_int("MESHSCOPE_TRACES_TAIL_LIMIT", 500, minimum=1)

CELERY_BEAT_SCHEDULE = {
    "traces-tail": {
        "task": "traces.tail",
        "schedule": TRACES_TAIL_INTERVAL_SECONDS,
        "options": {"expires": TRACES_TAIL_INTERVAL_SECONDS * 2},
    },
    "topology-poll": {
        "task": "topology.poll",
        "schedule": TOPOLOGY_POLL_INTERVAL_SECONDS,
        # A poll that could not start within one interval is useless: the next one supersedes it.
        "options": {"expires": TOPOLOGY_POLL_INTERVAL_SECONDS * 2},
    },
    "routes-sync": {
        "task": "routes.sync",
        "schedule": ROUTES_SYNC_INTERVAL_SECONDS,
        "options": {"expires": ROUTES_SYNC_INTERVAL_SECONDS * 2},
    },
    "routes-record-traffic": {
        "task": "routes.record_traffic",
        "schedule": WHATIF_REFRESH_SECONDS,
        "options": {"expires": WHATIF_REFRESH_SECONDS * 2},
    },
}

# --- Health and self-observability ------------------------------------------------------------------
# The health report runs every probe at once and waits at most this long (seconds) in all.
HEALTH_DEADLINE_SECONDS = env_float("MESHSCOPE_HEALTH_DEADLINE", 2.0, minimum=0.1)
# The supervisors' state files, read in this order (the first wins for a part named in several):
# the stack's own, then the mesh's (`meshcore up` keeps its own in its state directory).
SUPERVISOR_FILES = env_list(
    "MESHSCOPE_SUPERVISOR_FILES",
    [str(STATE_DIR / "supervisor.json"), str(MESH_STATE_DIR / "supervisor.json")],
)
# /metrics answers a logged-in user, or `Authorization: Bearer <token>` with this token
# (MESHSCOPE_METRICS_TOKEN or _FILE); without one, a token is generated into the state directory
# at the first scrape (<state dir>/metrics-token, 0600) for Prometheus' `credentials_file`.
METRICS_TOKEN = env_secret("MESHSCOPE_METRICS_TOKEN", "")
METRICS_TOKEN_FILE = STATE_DIR / "metrics-token"

# --- Static files: our own plus Plotly.js straight from the plotly wheel ----------------------------
STATIC_URL = "/static/"
STATIC_ROOT = STATE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(plotly.__file__).parent / "package_data")]
# Daphne serves static files itself (no separate web server in the embedded setup).
SERVE_STATIC = env_bool("MESHSCOPE_SERVE_STATIC", True)

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("MESHSCOPE_LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
