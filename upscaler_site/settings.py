"""Settings for Upscaler, read from the environment.

With nothing set, the service runs on embedded defaults: SQLite in WAL mode, the
Django-Q2 ORM broker, the database cache and media files on local disk. Setting
``DATABASE_URL`` moves the database to PostgreSQL (or any engine django-environ
understands); setting ``REDIS_URL`` moves the Django-Q2 broker and the cache to Redis.
A ``.env`` file in the project root is read first, if present.
"""

import contextlib
import os
import re
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from inference.catalog import MODELS
from inference.gpus import worker_processes
from upscaler_site import logs

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# pytest-django imports settings before any conftest runs, so the test run is
# recognised here rather than by an environment variable.
TESTING = "pytest" in sys.modules

# Where the embedded defaults keep their state (SQLite database, media files, a development key).
DATA_DIR = Path(env.str("UPSCALER_DATA_DIR", default=str(BASE_DIR / "var")))


def _development_secret_key(path: Path) -> str:
    """A random key made once for this data directory and kept in ``path`` (readable by its owner only):
    sessions survive restarts, and no two installations share a key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
# `manage.py upscale` works on a local file: no sessions, no signed tasks, so no secret needed.
LOCAL_COMMAND = sys.argv[1:2] == ["upscale"]
if not SECRET_KEY:
    if LOCAL_COMMAND:
        SECRET_KEY = secrets.token_urlsafe(50)  # never used; Django only wants one set
    elif DEBUG or TESTING:
        SECRET_KEY = _development_secret_key(DATA_DIR / "secret_key")
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set outside development (or set DEBUG=1 on a developer machine)."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "csp",
    "allauth",
    "allauth.account",
    "accounts",
    "billing",
    "images",
    "batches",
    "webhooks",
    "django_structlog",
    "django_prometheus",
]

MIDDLEWARE = [
    # First and last: request counts and latencies (upscaler_site.metrics) around everything else.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "upscaler_site.middleware.ApiErrorEnvelopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "upscaler_site.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A request id in every log line about the request (and in X-Request-ID): upscaler_site.logs.
    "django_structlog.middlewares.RequestMiddleware",
    # After authentication: a signed-in session is not anonymous (its API calls count
    # against its workspace, in the DRF throttle).
    "billing.ratelimit.AnonymousRateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "upscaler_site.middleware.ContentSecurityPolicyMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: once the request's identity is known and it passed the anonymous rate limit.
    "accounts.idempotency.IdempotencyMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "upscaler_site.urls"
WSGI_APPLICATION = "upscaler_site.wsgi.application"

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
                "accounts.workspaces.workspace_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web process read while a worker writes; IMMEDIATE makes a
        # writing transaction take the lock up front instead of failing half-way
        # with "database is locked"; the timeout lets writers queue for the lock.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file (the end-to-end tests' worker process opens it too), one per test run.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test_db_{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and task queue ---------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # The test suite clears the cache between tests; its own database keeps
            # that from ever flushing the broker's queues.
            "LOCATION": re.sub(r"(/\d+)?$", "/15", REDIS_URL, count=1) if TESTING else REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="upscaler"),
        }
    }
else:
    # In the database rather than in each process's memory: every web process and every
    # restart sees the same rate-limit counters. The table is created by migrate.
    CACHES = {
        "default": {
            "BACKEND": "upscaler_site.cache.DatabaseCache",
            "LOCATION": "upscaler_cache",
            # Culling deletes live entries once the table is full; expired ones go first.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# The longest any one image may take, in seconds. Each job gets its own time limit from
# its size and model (images.jobs.time_limit), at most this; a job that would need more is
# refused at upload. Images still "processing" past their limit (plus a grace period) are
# failed by the stall sweep.
UPSCALE_TASK_TIMEOUT = env.int("UPSCALE_TASK_TIMEOUT", default=6 * 3600)

# Images of one batch in the task queue at a time: others' uploads wait behind this many, not the whole
# batch. At least the number of workers, or a lone batch leaves workers idle.
BATCH_QUEUE_WINDOW = env.int("BATCH_QUEUE_WINDOW", default=2)
# A working job records a heartbeat this often (seconds); the stall sweep (every minute) takes back an image
# whose worker has been silent for STALLED_AFTER_SECONDS: queued again once, then failed with a refund.
HEARTBEAT_SECONDS = env.float("HEARTBEAT_SECONDS", default=10)
STALLED_AFTER_SECONDS = env.float("STALLED_AFTER_SECONDS", default=60)
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="upscaler"),
    # One worker per GPU (each takes its own: inference.gpus), or one on a CPU host: it uses every
    # core through PyTorch's thread pool, so more would only compete; scale out with more hosts.
    "workers": env.int("Q_WORKERS", default=worker_processes()),
    "timeout": UPSCALE_TASK_TIMEOUT,
    "retry": UPSCALE_TASK_TIMEOUT + 120,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Task queue",
    "poll": env.float("Q_POLL", default=0.5),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Accounts (django-allauth) ------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.validators.MixedCharactersValidator"},
]
if TESTING:
    # Deliberately slow hashing is for production; tests create hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
# One address per account; a change is verified before it replaces the old one.
ACCOUNT_CHANGE_EMAIL = True
# Mail the account's address when its password or email changes (which also revokes its API
# tokens: accounts.signals), so that an owner notices a change they did not make.
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Upscaler] "
# Links in mail: https wherever the site is served over TLS.
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env.str(
    "ACCOUNT_DEFAULT_HTTP_PROTOCOL", default="https" if env.bool("BEHIND_TLS_PROXY", default=False) else "http"
)
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "images_web:dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# --- Email ---------------------------------------------------------------------------
# EMAIL_URL like smtp+tls://user:password@smtp.example.com:587 sends real mail;
# without it, mail is printed to the console.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Upscaler <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- REST API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    # The token first: DRF takes WWW-Authenticate from the first class, which makes a request
    # without credentials 401 rather than 403. The session serves the dashboard's own calls.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "accounts.authentication.SessionWorkspaceAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenAbilities",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.JSONParser",
    ],
    # The plan's hourly request limit per workspace (anonymous requests: the middleware above).
    "DEFAULT_THROTTLE_CLASSES": ["billing.ratelimit.WorkspaceRateThrottle"],
    "EXCEPTION_HANDLER": "upscaler_site.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "upscaler_site.api.PageNumberPagination",
    "PAGE_SIZE": 15,
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "upscaler_site.openapi.AutoSchema",
}

# The OpenAPI contract (/api/schema, /api/docs, /api/redoc): see upscaler_site/openapi.py.
SPECTACULAR_SETTINGS = {
    "TITLE": "Upscaler API",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "DESCRIPTION": """AI image upscaling: upload an image (or up to 20), get 202 and an id, poll until
`completed`, then download the result.

**Every response** is an envelope: `{"success": true, "message": "...", "data": ...}`, or on
error `{"success": false, "message": "...", "errors": {"field": ["..."]}}` (field errors on 422).

**Authentication:** `Authorization: Bearer <token>` (`Token <token>` works too). Get a token from
`POST /api/auth/register`, `POST /api/auth/login` or the dashboard's API tokens page. Each token acts
on one workspace and has abilities (`images:read`, `images:write`, ...).

**Limits:** the plan's API requests per hour (429 with `Retry-After` beyond it; 10 per hour per IP
without credentials) and images per month (403 beyond it). Image and batch endpoints send
`X-RateLimit-Limit` and `X-RateLimit-Remaining`: the monthly image quota and what is left of it.

**Ids** are UUIDs: treat them as opaque strings.""",
    "SCHEMA_PATH_PREFIX": "/api/",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": False},
    "ENUM_NAME_OVERRIDES": {
        "ImageStatusEnum": "images.models.Image.Status",
        "BatchStatusEnum": "batches.models.Batch.Status",
        "SubscriptionStatusEnum": "billing.models.Subscription.Status",
        "OutputFormatEnum": "images.models.OutputFormat",
        "WebhookEventEnum": "webhooks.models.EventType",
        "DeliveryStatusEnum": "webhooks.models.Delivery.Status",
        "SubscriptionTypeEnum": ["default"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "upscaler_site.openapi.drop_docstrings",
    ],
    "TAGS": [
        {"name": "Authentication", "description": "Register, log in and out, revoke tokens."},
        {"name": "Images", "description": "Upload, poll, download and delete images."},
        {"name": "Batches", "description": "Up to 20 images in one request (Professional and Enterprise)."},
        {"name": "Account", "description": "The profile, usage, subscription and API tokens."},
        {"name": "Billing", "description": "Stripe Checkout and the billing portal."},
        {"name": "Webhooks", "description": "Endpoints that receive signed events, their delivery logs and secrets."},
    ],
}

# --- Billing (Stripe) ------------------------------------------------------------------
# Without STRIPE_SECRET_KEY payments are off: everything is Free unless staff assign a plan.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Another Stripe-compatible server (e.g. http://127.0.0.1:8420 for localstripe); empty for Stripe.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# Days service continues after a failed payment.
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)

# --- Uploads and images ------------------------------------------------------------
# Requests per hour per client IP without a valid token (register, login, mistakes).
ANON_REQUESTS_PER_HOUR = env.int("ANON_REQUESTS_PER_HOUR", default=10)
# Internal hosts (names or IP literals, as in URLs) that image URLs and webhooks may reach anyway.
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])
# Requests per hour per workspace to GET /api/images/{id}/status, apart from the plan's limit (2 a second).
STATUS_REQUESTS_PER_HOUR = env.int("STATUS_REQUESTS_PER_HOUR", default=7200)
# Reverse proxies under our control in front of the app, each appending to X-Forwarded-For.
# The client's IP (for the anonymous rate limit and allauth's login and sign-up limits) is
# the N-th address from the right of that header; 0 ignores it, since a client can forge it.
# Behind a proxy that sets a single header instead (CF-Connecting-IP, X-Real-IP), name it.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env.str("TRUSTED_CLIENT_IP_HEADER", default=None)

UPSCALE_MAX_UPLOAD_BYTES = env.int("UPSCALE_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
# Images in one POST /api/batches.
BATCH_MAX_IMAGES = env.int("BATCH_MAX_IMAGES", default=20)
# Request bodies larger than these are refused before Django reads them (413): the upload
# endpoints take their files (a full batch of maximum-size files for POST /api/batches),
# every other request (forms, JSON, webhooks) a few hundred kilobytes. Files over 2 MB
# are spooled to disk.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=512 * 1024)
MAX_UPLOAD_REQUEST_BYTES = env.int(
    "MAX_UPLOAD_REQUEST_BYTES", default=BATCH_MAX_IMAGES * UPSCALE_MAX_UPLOAD_BYTES + 2**20
)
# The middleware above bounds each path's body before Django reads it; Django's own cap on what it
# reads into memory (a JSON body, a form's fields: base64 images among them) is the largest of those.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_REQUEST_BYTES
# Output size cap in megapixels; it also bounds what a decoded input may be.
UPSCALE_MAX_OUTPUT_MEGAPIXELS = env.float("UPSCALE_MAX_OUTPUT_MEGAPIXELS", default=64.0)
UPSCALE_DEFAULT_MODEL = env.str("UPSCALE_DEFAULT_MODEL", default="standard")
# Models a worker process loads and runs once on a small image as it starts, before it takes a
# job (inference.warmup): its first image then costs what a warm one does. Comma-separated; empty: none.
UPSCALE_WARM_MODELS = [name for name in env.list("UPSCALE_WARM_MODELS", default=list(MODELS)) if name]
# Largest scale factor (and target-size ratio) accepted; beyond 4x, model passes chain.
UPSCALE_MAX_SCALE = env.int("UPSCALE_MAX_SCALE", default=16)
# Lifetime of a signed download URL, in seconds.
DOWNLOAD_URL_MAX_AGE = env.int("DOWNLOAD_URL_MAX_AGE", default=3600)
# The service's public address, for links made outside a request: webhooks' download_url.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# Seconds before each retry of a webhook that failed (Standard Webhooks' schedule: 8 attempts, 27.6 hours).
WEBHOOK_RETRY_DELAYS = env.list("WEBHOOK_RETRY_DELAYS", cast=int, default=[5, 300, 1800, 7200, 18000, 36000, 36000])

FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Internationalisation ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files ---------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
MEDIA_URL = "media/"

STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Object storage: with a bucket, originals, results and thumbnails live in S3 (or an S3-compatible
# server) for every web and worker host, and downloads are presigned URLs (upscaler_site.storage).
AWS_SETTINGS = ("AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_PUBLIC_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "AWS_S3_REGION_NAME")  # fmt: skip


def object_storage(values: dict[str, str]) -> dict[str, object]:
    """``STORAGES["default"]`` for the bucket that ``values`` (the ``AWS_SETTINGS``) name."""
    endpoint = values.get("AWS_S3_ENDPOINT_URL") or None
    return {
        "BACKEND": "upscaler_site.storage.ObjectStorage",
        "OPTIONS": {
            "bucket_name": values["AWS_STORAGE_BUCKET_NAME"],
            "endpoint_url": endpoint,
            # Where browsers reach the bucket, when not where the hosts do (a private address).
            "public_endpoint_url": values.get("AWS_S3_PUBLIC_ENDPOINT_URL") or endpoint,
            "access_key": values.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": values.get("AWS_SECRET_ACCESS_KEY") or None,
            "region_name": values.get("AWS_S3_REGION_NAME") or None,
            # Virtual-host addressing needs DNS per bucket, which S3-compatible servers rarely have.
            "addressing_style": "path" if endpoint else None,
            "signature_version": "s3v4",
            "querystring_expire": DOWNLOAD_URL_MAX_AGE,
            "file_overwrite": False,
            "default_acl": None,
        },
    }


_aws = {name: env.str(name, default="") for name in AWS_SETTINGS}
AWS_STORAGE_BUCKET_NAME = _aws["AWS_STORAGE_BUCKET_NAME"]
AWS_S3_PUBLIC_ENDPOINT_URL = _aws["AWS_S3_PUBLIC_ENDPOINT_URL"] or _aws["AWS_S3_ENDPOINT_URL"]
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = object_storage(_aws)

# --- Security for deployments behind TLS ---------------------------------------------
# BEHIND_TLS_PROXY=1: a reverse proxy terminates TLS and sets X-Forwarded-Proto. Everything
# then insists on https (manage.py check --deploy is clean with it, SECRET_KEY and ALLOWED_HOSTS).
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=BEHIND_TLS_PROXY)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=BEHIND_TLS_PROXY)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=365 * 24 * 3600 if BEHIND_TLS_PROXY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("HSTS_INCLUDE_SUBDOMAINS", default=BEHIND_TLS_PROXY)
SECURE_HSTS_PRELOAD = env.bool("HSTS_PRELOAD", default=BEHIND_TLS_PROXY)


def _public_bucket_origin() -> list[str]:
    """The origin the dashboard's images come from when they are in object storage."""
    if not AWS_STORAGE_BUCKET_NAME:
        return []
    if AWS_S3_PUBLIC_ENDPOINT_URL:
        parts = urlsplit(AWS_S3_PUBLIC_ENDPOINT_URL)
        return [f"{parts.scheme}://{parts.netloc}"]
    return ["https://*.amazonaws.com"]


# The pages run only the site's own scripts and styles: no inline script, no style attribute.
# User files get a stricter policy of their own (images.files); the admin's templates need
# inline styles (upscaler_site.middleware.ContentSecurityPolicyMiddleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the favicon placeholder, blob: for the upload page's local previews.
        "img-src": ["'self'", "data:", "blob:", *_public_bucket_origin()],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        # Checkout and the billing portal are reached by a redirect after a POST form.
        "form-action": ["'self'", "https://checkout.stripe.com", "https://billing.stripe.com"],
    }
}

# JSON lines with the request id of the upload they are about (upscaler_site.logs); readable lines with DEBUG.
LOGGING = logs.configure(env.str("LOG_LEVEL", default="INFO"), json=env.bool("LOG_JSON", default=not DEBUG))
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    logs.init_sentry(SENTRY_DSN, env.str("SENTRY_ENVIRONMENT", default="production"),
                     env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0))  # fmt: skip

# Prometheus metrics (upscaler_site.metrics): GET /metrics answers "Authorization: Bearer <METRICS_TOKEN>",
# and is off (404) without one. With several processes per host (gunicorn's workers, Django-Q2's),
# set PROMETHEUS_MULTIPROC_DIR, prometheus_client's own variable, to an empty folder per service.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
