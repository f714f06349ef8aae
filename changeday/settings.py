"""Settings for changeday, read from the environment.

A fresh checkout runs with no configuration at all (SQLite, an in-process
cache, a broker in local files, email to files). Production is the same code
with DATABASE_URL, REDIS_URL, DJANGO_SECRET_KEY and ALLOWED_HOSTS set; see
README.md for the full list.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from changeday.lib.dbrouter import REPLICA, replica_database
from changeday.lib.env import env_bool, env_int, env_list, env_networks, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CHANGEDAY_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (production). "
            "For local use run `make run` or `python manage.py ...` with neither DJANGO_SECRET_KEY nor "
            "DATABASE_URL set (both turn DJANGO_DEBUG on), or set DJANGO_DEBUG=1."
        )
    SECRET_KEY = "django-insecure-local-development-only-never-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Absolute links in emails and share buttons are built from this, never from the
# request's Host header: a task has no request, and Host can be forged.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
# Only for test harnesses that run production settings over plain http on the
# loopback (the test suite, bench/run.py): a deployment never sets it.
ALLOW_HTTP_SITE_URL = env_bool("CHANGEDAY_ALLOW_HTTP_SITE_URL", False)
if not DEBUG:
    _site = urlsplit(SITE_URL)
    _schemes = ("https", "http") if ALLOW_HTTP_SITE_URL else ("https",)
    if not SITE_URL:
        raise ImproperlyConfigured(
            "SITE_URL must be set when DJANGO_DEBUG is off (production): every link in every email "
            "is built from it. Set it to the site's https address, e.g. SITE_URL=https://pledge.example.org."
        )
    if _site.scheme not in _schemes or not _site.hostname:
        raise ImproperlyConfigured(
            f"SITE_URL must be the site's https address, e.g. https://pledge.example.org; got {SITE_URL!r}. "
            "Links in emails built from an http address can be read or rewritten on the way. "
            "(Test harnesses on the loopback set CHANGEDAY_ALLOW_HTTP_SITE_URL=1.)"
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "taggit",
    "crispy_forms",
    "crispy_bootstrap5",
    "outbox",
    "campaigns",
    "organisations",
    "pledges",
    "moderation",
    "reminders",
    "pages",
    # `manage.py load_pledges` (bulk data for benchmarks): a command, no models, no URLs.
    "bench.tools",
]
# Bare reference endpoints for bench/run.py (bench/urls.py). Off everywhere
# else: a deployment never routes them.
BENCH_ENDPOINTS = env_bool("CHANGEDAY_BENCH_ENDPOINTS", False)
if BENCH_ENDPOINTS:
    INSTALLED_APPS.append("bench")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "changeday.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "changeday.middleware.FriendlyNotFoundInDebugMiddleware",
]

ROOT_URLCONF = "changeday.urls"
WSGI_APPLICATION = "changeday.wsgi.application"
ASGI_APPLICATION = "changeday.asgi.application"

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

# --- Database -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'changeday.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        # A PostgreSQL restart must not leave every worker holding a dead connection.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # The web server and the Celery worker share the file: WAL lets them read
        # while the other writes, and IMMEDIATE avoids lock upgrades that deadlock.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# A streaming replica of the primary for the public lists (changeday/lib/dbrouter.py);
# writes, live totals, moderation, sessions and auth stay on the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL is a PostgreSQL read replica: set DATABASE_URL to its primary too."
        )
    DATABASES[REPLICA] = replica_database(DATABASE_REPLICA_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
DATABASE_ROUTERS = ["changeday.lib.dbrouter.PrimaryReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and broker ----------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, but a dead or hung Redis reads as an empty
            # cache and is left alone for a few seconds (changeday/lib/cache.py).
            "BACKEND": "changeday.lib.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "changeday",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_FOLDER = VAR_DIR / "celery-broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 1,
        "socket_timeout": 2,
        # Unacked tasks of a killed worker come back after this long.
        "visibility_timeout": 3600,
    }
else:
    # No Redis: a broker in local files, so `make run` needs no server.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_FOLDER.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER),
        "data_folder_out": str(CELERY_BROKER_FOLDER),
        # Fanout exchanges (remote control) would otherwise land in ./control.
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request must not hang while the broker is down: publishing fails fast and
# the outbox drain sends the email later (outbox/tasks.py).
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TIMEZONE = "Europe/London"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Email --------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
EMAIL_FILE_PATH = str(Path(env_str("EMAIL_FILE_PATH") or VAR_DIR / "mail"))
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "changeday <pledges@changeday.invalid>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# How long a confirmation link works.
PLEDGE_CONFIRMATION_MAX_AGE = timedelta(days=env_int("PLEDGE_CONFIRMATION_MAX_AGE_DAYS", 7))
# How long a "your data" link works: it shows and deletes everything an
# address pledged, so it is short-lived; asking again sends a new one.
PLEDGER_DATA_LINK_MAX_AGE = timedelta(hours=env_int("PLEDGER_DATA_LINK_MAX_AGE_HOURS", 24))
# A send not finished in this long is taken to have died with its worker, and the
# outbox drain hands the email to another. Longer than the slowest SMTP exchange.
OUTBOX_LOCK = timedelta(seconds=env_int("OUTBOX_LOCK_SECONDS", 300))
# Each web process publishes the emails its requests owe as one task once 50 have gathered, or this
# long after the first (outbox.publisher): at a quiet moment a confirmation waits at most this long
# more; at a busy one each task carries 50 emails over one mail connection.
OUTBOX_PUBLISH_WINDOW_MS = env_int("OUTBOX_PUBLISH_WINDOW_MS", 1000)

# --- Reminders (reminders/services.py) ------------------------------------------
# Most reminder emails one worker process sends a second: keep workers x rate
# under the mail provider's limit for the account.
REMINDER_SEND_RATE = env_int("REMINDER_SEND_RATE", 200)
# Deliveries handed to a worker as one task, and recipients read per query.
REMINDER_BATCH_SIZE = env_int("REMINDER_BATCH_SIZE", 500)
REMINDER_CHUNK_SIZE = env_int("REMINDER_CHUNK_SIZE", 2000)
# A worker owns the deliveries it claimed this long; past it, it is taken to have died.
REMINDER_CLAIM_SECONDS = env_int("REMINDER_CLAIM_SECONDS", 300)
# Unsent batches are handed out again after this long (their worker died holding them).
REMINDER_REQUEUE_SECONDS = env_int("REMINDER_REQUEUE_SECONDS", 600)
# Temporary SMTP failures are retried this many times, waiting base x 2^n seconds (at most an hour).
REMINDER_MAX_ATTEMPTS = env_int("REMINDER_MAX_ATTEMPTS", 6)
REMINDER_RETRY_BASE_SECONDS = env_int("REMINDER_RETRY_BASE_SECONDS", 60)

# --- Auth, i18n, static -----------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/moderation/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
# Front-end packages come from npm (package.json) and are served by us, never a CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", BASE_DIR / "node_modules" / "bootstrap" / "dist"),
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]
# Fonts the server draws share images with (changeday/lib/fonts.py), by their static names:
# found in node_modules in development, collected into STATIC_ROOT for production. Only these
# files, not their whole npm packages (DejaVu alone is ten megabytes of fonts we never draw).
_ATKINSON = BASE_DIR / "node_modules" / "@fontsource" / "atkinson-hyperlegible" / "files"
_DEJAVU = BASE_DIR / "node_modules" / "dejavu-fonts-ttf" / "ttf"
SERVER_FONTS = {
    f"vendor/fonts/{path.name}": path
    for path in [
        *(
            _ATKINSON / f"atkinson-hyperlegible-{subset}-{weight}-normal.woff"
            for subset in ("latin", "latin-ext")
            for weight in (400, 700)
        ),
        _DEJAVU / "DejaVuSans.ttf",
        _DEJAVU / "DejaVuSans-Bold.ttf",
    ]
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "changeday.lib.fonts.ServerFontsFinder",
]
# Files the site makes (share images): every web node must see the same ones, so with
# several nodes this is a volume they share (docs/scaling.md). Never served
# from here directly: pages/views_share.py reads them through the storage API.
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT") or VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("DJANGO_STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Tag names are case-insensitive so "NHS" and "nhs" are one sector.
TAGGIT_CASE_INSENSITIVE = True

# --- Sessions and clients behind a load balancer --------------------------------------
# Sessions live in the database, shared by every web node. Not cached_db: our
# cache skips writes while Redis is down, so a logout during an outage would
# leave the old session in Redis, valid again once Redis is back.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# --- Security -----------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
BEHIND_TLS_PROXY = env_bool("DJANGO_BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies (load balancer, CDN) stand in front and append to
# X-Forwarded-For: the client address is read that many entries from the right
# (changeday.lib.ratelimit.client_ip). Without a proxy the header is ignored,
# since anyone can send it.
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 1) if BEHIND_TLS_PROXY else 0
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("DJANGO_TRUSTED_PROXY_COUNT must be 0 or more.")

# Content-Security-Policy (django-csp): our own scripts and styles only, never
# inline ones, so injected markup cannot run. Bootstrap draws checkboxes and
# select arrows with data: SVG images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Who may frame /campaigns/<slug>/widget/: partner sites, so anyone by default.
WIDGET_FRAME_ANCESTORS = env_list("WIDGET_FRAME_ANCESTORS", ["*"])
# Features no page here uses, switched off for the page and anything it frames
# (changeday.middleware.PermissionsPolicyMiddleware).
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

# Rate limits, COUNT/PERIOD per client network (an IPv4 address, an IPv6 /64)
# unless said otherwise (changeday.lib.ratelimit.rate_limit).
RATE_LIMITS = {
    # Whole NHS trusts reach the internet through one shared address, so a network's
    # ceiling is high enough for hundreds of staff pledging in the same ten minutes; what
    # holds one person back is the limit per (network, email address) below.
    "pledge": env_rate("RATE_LIMIT_PLEDGE", "600/10m"),
    "pledge-email": env_rate("RATE_LIMIT_PLEDGE_PER_EMAIL", "5/10m"),
    # Failed sign-ins (changeday.lib.loginlimits): per account from one client
    # network, and per network across accounts. Never per account alone, so
    # strangers failing on an organiser's account cannot lock the organiser out.
    "login-failures-account": env_rate("RATE_LIMIT_LOGIN_FAILURES_ACCOUNT", "10/15m"),
    "login-failures-network": env_rate("RATE_LIMIT_LOGIN_FAILURES_NETWORK", "20/15m"),
    # Password-reset requests per client network (over it: a 429), and per
    # address typed (over it: the same "sent" page, and no email).
    "password-reset": env_rate("RATE_LIMIT_PASSWORD_RESET", "10/1h"),
    "password-reset-account": env_rate("RATE_LIMIT_PASSWORD_RESET_ACCOUNT", "3/1h"),
    "report": env_rate("RATE_LIMIT_REPORT", "20/1h"),
    # "Remind me" sign-ups; each address also gets at most 5 confirmation emails.
    "remind": env_rate("RATE_LIMIT_REMIND", "30/10m"),
    # "Your data" requests; each address also gets at most 3 links an hour.
    "data-request": env_rate("RATE_LIMIT_DATA_REQUEST", "10/1h"),
    # Follow-through answers (pledges.outcome_views): per client network, high enough for a
    # whole trust answering the same morning's email, and per (network, link) for one person.
    "outcome": env_rate("RATE_LIMIT_OUTCOME", "300/10m"),
    "outcome-link": env_rate("RATE_LIMIT_OUTCOME_PER_LINK", "10/10m"),
    # The pledge form's organisation type-ahead and "Find your organisation", per client
    # network: a few requests per person (one per pause in typing), for a whole trust.
    "organisation-search": env_rate("RATE_LIMIT_ORGANISATION_SEARCH", "3000/10m"),
    # Share images drawn on request (pages/views_share.py), per client network: only a drawing
    # counts, never an image already stored. Social networks fetch previews from a few
    # networks of their own, so the ceiling is high; it stops one visitor drawing every pledge.
    "share-image": env_rate("RATE_LIMIT_SHARE_IMAGE", "3000/10m"),
    # Paper pledges an organiser account enters, one by one or from a file (pledges.paper):
    # counted from the pledges it entered in the last window, not in the cache, so the cap
    # holds exactly (a file is refused whole) and with Redis down too.
    "paper-entries": env_rate("RATE_LIMIT_PAPER_ENTRIES", "500/1h"),
}
# Networks with no per-network pledge ceiling (a trust's or a partner's gateway,
# comma-separated CIDRs): the limit per (network, email address) still applies.
RATE_LIMIT_TRUSTED_NETWORKS = env_networks("RATE_LIMIT_TRUSTED_NETWORKS")

# Every handler carries the filter that takes the tokens of emailed links out of
# each line (changeday/lib/logfilters.py). "django" and "django.server" are named
# so that Django's default handlers for them (DEFAULT_LOGGING: a console handler,
# the error emails to ADMINS with the request attached, the development server's
# request lines) are replaced by filtered ones; Celery's workers filter theirs
# in changeday/celery.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "changeday.lib.logfilters.RedactTokens"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_tokens"],
        },
    },
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
