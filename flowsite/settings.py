"""Flowsite settings, read from the environment with safe defaults.

See README.md for the variables an operator sets in production.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Demo mode serves an echo endpoint so the demo flow's API Call step has a target.
DEMO_MODE = env_bool("DEMO_MODE", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_q",
    "flows",
    "tasks",
    "actions",
    "workflows",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "flowsite.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "flowsite.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "flowsite.urls"
WSGI_APPLICATION = "flowsite.wsgi.application"

TEMPLATES = [
    {
        # Django's backend, with text no page can encode made encodable (flowsite/templating.py).
        "BACKEND": "flowsite.templating.DjangoTemplates",
        # The name template_partials looks for to install its loader.
        "NAME": "django",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tasks.context_processors.notifications",
                "flowsite.middleware.csp_nonce",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'flowsite.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE transactions take the
    # write lock up front so concurrent writers queue on the busy timeout instead
    # of failing with "database is locked" when a read lock cannot be upgraded.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a worker process started by a test sees the same data.
    # One file per test process, so runs side by side never share (and break) a database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    # A session whose client vanished mid-transaction without a word (a network partition, a hung
    # host) keeps its row locks until TCP gives up on it, hours later, and every claim on that task
    # waits behind it. PostgreSQL ends a session idle in a transaction this long; Flowsite never
    # waits on anything outside the database inside a transaction, so a minute is generous.
    idle = int(float(os.environ.get("DATABASE_IDLE_TRANSACTION_TIMEOUT", "60")) * 1000)
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c idle_in_transaction_session_timeout={idle}".strip()
    # Parameters bound by the server, so psycopg prepares a statement a connection has run five
    # times and PostgreSQL stops planning it anew: the engine's and the API's statements repeat.
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "flows.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = VAR_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "flowsite.authentication.TokenAuthentication",
        "flowsite.authentication.TokenBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["flowsite.jsonsafe.JSONRenderer"],
    # Every API body through one parser: a depth limit and no lone surrogates (flowsite/jsonsafe.py).
    "DEFAULT_PARSER_CLASSES": ["flowsite.jsonsafe.JSONParser"],
    "EXCEPTION_HANDLER": "flowsite.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "flowsite.openapi.ApiAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Flowsite API",
    "DESCRIPTION": "Flows (Flowdock-compatible), tasks and actions (Flowdash-style), workflows.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # flowsite.bounds.IdConverter: a database id.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "format": "int64", "minimum": 1}},
    # Shapes of a body that are read and written differ (ids, timestamps): one component each way.
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a key name with others ("type") get their own names.
    "ENUM_NAME_OVERRIDES": {
        "FieldTypeEnum": "flows.models.Field.Type",
        "RunStatusEnum": "actions.models.Run.Status",
        "StepRunStatusEnum": "actions.models.StepRun.Status",
        "ExecutionStatusEnum": ["Pending", "Success", "Fail"],
    },
    # Session login is for the pages; API clients send a token (flowsite/openapi.py names the three ways).
    "AUTHENTICATION_WHITELIST": [
        "flowsite.authentication.TokenAuthentication",
        "flowsite.authentication.TokenBasicAuthentication",
    ],
}

# Outbound HTTP: every call out goes through flowsite.outbound.
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS")
OUTBOUND_CONNECT_TIMEOUT = float(os.environ.get("OUTBOUND_CONNECT_TIMEOUT", "5"))
OUTBOUND_TOTAL_TIMEOUT = float(os.environ.get("OUTBOUND_TOTAL_TIMEOUT", "30"))
OUTBOUND_MAX_RESPONSE_BYTES = int(os.environ.get("OUTBOUND_MAX_RESPONSE_BYTES", str(1024 * 1024)))

REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = {
    "name": "flowsite",
    "workers": int(os.environ.get("Q_WORKERS", "4")),
    # A job runs at most `timeout` seconds; `retry` must be longer so a slow job
    # is not handed to a second worker while the first still runs it.
    "timeout": 120,
    "retry": 180,
    "max_attempts": 1,
    "save_limit": 1000,
    "ack_failures": True,
    "catch_up": False,
    # The ORM broker's pusher sleeps `poll` seconds whenever the queue is empty, which every idle
    # job waits on average half of: 10 ms keeps a hop short for one cheap indexed SELECT per 10 ms.
    # (Redis blocks on BLPOP instead and wakes at once.)
    "poll": float(os.environ.get("Q_POLL", "0.01")),
    # A pusher takes up to this many doorbells per fetch, so a burst costs one query per batch.
    "bulk": int(os.environ.get("Q_BULK", "4")),
    "label": "Queue",
    # django-q2 replaces a worker process after `recycle` jobs (500 by default), a guard against leaks.
    # Every run is rung as a job, so at the relay's rate that was a fork, new database connections and
    # cold caches every second or two (bench/README.md, "Relay, the worker's side"); the workers' memory
    # stays flat across bursts (the bench's memory row), so a worker lives much longer.
    "recycle": int(os.environ.get("Q_RECYCLE", "100000")),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # The ORM broker, whose pusher every enqueue on this machine wakes at once (flowsite/broker.py).
    Q_CLUSTER["broker_class"] = "flowsite.broker.DoorbellORM"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "flowsite@localhost")

TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "")
TWILIO_WHATSAPP_FROM = os.environ.get("TWILIO_WHATSAPP_FROM", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    CSRF_COOKIE_HTTPONLY = False
    X_FRAME_OPTIONS = "DENY"

# HTTPS, for a deployment that serves it (README, "Production"). Off by default so `make run` works
# on http://127.0.0.1; `manage.py check --deploy` names each one still off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS") or 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a proxy that ends TLS: the header it sets, and optionally the value meaning https
# ("HTTP_X_FORWARDED_PROTO" or "HTTP_X_FORWARDED_PROTO,https"). Set it only when the proxy always
# sets (or strips) that header, or anyone could claim a request came over https.
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    _header, _, _value = os.environ["SECURE_PROXY_SSL_HEADER"].partition(",")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip() or "https")
WHITENOISE_USE_FINDERS = True

# The run engine. A run's lease must outlast its slowest step (the outbound total timeout).
RUN_LEASE_SECONDS = float(os.environ.get("RUN_LEASE_SECONDS", "90"))
RUN_RERING_SECONDS = float(os.environ.get("RUN_RERING_SECONDS", "30"))
RUN_PENDING_GRACE_SECONDS = float(os.environ.get("RUN_PENDING_GRACE_SECONDS", "5"))
# A commit that starts many runs rings for this many; the workers that answer drain the rest.
RUN_DOORBELLS_PER_COMMIT = int(os.environ.get("RUN_DOORBELLS_PER_COMMIT", "32"))
SWEEP_INTERVAL = float(os.environ.get("SWEEP_INTERVAL", "0.5"))
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
MAX_WORKFLOW_DEPTH = int(os.environ.get("MAX_WORKFLOW_DEPTH", "5"))
# Task events are the workflows' outbox: a worker dispatches this many per transaction, and the
# sweeper dispatches events left undispatched this long (no dispatcher thread took them).
EVENT_DISPATCH_BATCH = int(os.environ.get("EVENT_DISPATCH_BATCH", "200"))
EVENT_DISPATCH_GRACE_SECONDS = float(os.environ.get("EVENT_DISPATCH_GRACE_SECONDS", "2"))
# How often each worker process's dispatcher thread looks for task events when no write rings the
# outbox's doorbell (workflows.jobs): what a lost ring can cost, and an idle worker's reads a second.
EVENT_DISPATCH_POLL_SECONDS = float(os.environ.get("EVENT_DISPATCH_POLL_SECONDS", "1"))
