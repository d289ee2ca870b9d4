"""Untold's one settings file: every value comes from the environment.

Nothing here raises on a bad value. A missing or malformed secret, key or deadline
is recorded and reported by the system checks in ``submissions/checks.py`` (ids
``submissions.E0xx``), which stop start-up outside debug with a message that names
the variable and the fix.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def envbool(name: str, default: bool = False) -> bool:
    value = env(name).lower()
    if not value:
        return default
    if value not in TRUE | FALSE:
        # Reported by submissions.E011: a typo such as "ture" must not quietly mean off.
        INVALID_SETTINGS.append(name)
        return default
    return value in TRUE


def envint(name: str, default: int) -> int:
    try:
        return int(env(name) or default)
    except ValueError:
        # Reported by submissions.E011 with the variable's name.
        INVALID_SETTINGS.append(name)
        return default


def envsecret(name: str) -> str:
    """A secret from ``NAME`` or, as container secrets are mounted, from the file ``NAME_FILE``."""
    path = env(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError:
            INVALID_SETTINGS.append(f"{name}_FILE")
            return ""
    return env(name)


def envlist(name: str) -> list[str]:
    return [item.strip() for item in env(name).split(",") if item.strip()]


def instant(value: str) -> datetime | None:
    """An ISO 8601 instant with an explicit offset, or None if it is not one."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


INVALID_SETTINGS: list[str] = []

DEBUG = envbool("UNTOLD_DEBUG")

# --- Secrets -----------------------------------------------------------------------------
SECRET_KEY = envsecret("UNTOLD_SECRET_KEY")
UNTOLD_SECRET_KEY_MISSING = not SECRET_KEY
if not SECRET_KEY:
    # A throwaway key keeps Django importable so that the checks can say what is wrong;
    # outside debug submissions.E001 stops start-up before it is ever used.
    SECRET_KEY = secrets.token_urlsafe(50)

# --- The campaign ------------------------------------------------------------------------
UNTOLD_ROLE = env("UNTOLD_ROLE", "all").lower()
UNTOLD_TIME_ZONE = env("UNTOLD_TIME_ZONE", "Asia/Almaty")
UNTOLD_OPENS_AT_RAW = env("UNTOLD_OPENS_AT")
UNTOLD_CLOSES_AT_RAW = env("UNTOLD_CLOSES_AT")
UNTOLD_OPENS_AT = instant(UNTOLD_OPENS_AT_RAW) if UNTOLD_OPENS_AT_RAW else None
UNTOLD_CLOSES_AT = instant(UNTOLD_CLOSES_AT_RAW) if UNTOLD_CLOSES_AT_RAW else None
if DEBUG and not UNTOLD_CLOSES_AT_RAW:
    # Development only: a deadline a few weeks ahead so that the form is open.
    UNTOLD_CLOSES_AT = (datetime.now().astimezone() + timedelta(weeks=3)).replace(microsecond=0)
UNTOLD_GRACE_MINUTES = envint("UNTOLD_GRACE_MINUTES", 30)
UNTOLD_KIOSK = envbool("UNTOLD_KIOSK")
# A booth left untouched this long shows a countdown, then starts again empty.
UNTOLD_KIOSK_IDLE_SECONDS = envint("UNTOLD_KIOSK_IDLE_SECONDS", 300)
UNTOLD_KIOSK_WARNING_SECONDS = envint("UNTOLD_KIOSK_WARNING_SECONDS", 60)
# Receipt codes given out by the first release have no check digit. A campaign that began
# on it sets this, so that a code failing the check is asked to be checked, and can still
# withdraw a story, instead of being refused as a typo forever.
UNTOLD_CODES_WITHOUT_CHECK_DIGIT = envbool("UNTOLD_CODES_WITHOUT_CHECK_DIGIT")
# Who runs the campaign and how to reach them, named on the form and the privacy page:
# she consents to someone. Required outside debug (submissions.E015, E016).
UNTOLD_ORGANISATION = env("UNTOLD_ORGANISATION", "Example Foundation" if DEBUG else "")
UNTOLD_CONTACT = env("UNTOLD_CONTACT", "contact@example.org" if DEBUG else "")
UNTOLD_EXIT_URL = env("UNTOLD_EXIT_URL", "https://www.google.com/")
UNTOLD_CLIENT_IP_HEADER = env("UNTOLD_CLIENT_IP_HEADER")
UNTOLD_EXPORT_K = envint("UNTOLD_EXPORT_K", 5)
UNTOLD_RETAIN_DAYS = envint("UNTOLD_RETAIN_DAYS", 90)
# A moderator is reminded to take a break after this many decisions (0: never).
UNTOLD_BREAK_EVERY = envint("UNTOLD_BREAK_EVERY", 25)
# How long backups keep a story that was withdrawn or purged from the live database:
# the pages state it, so it must be set outside debug (submissions.E014).
UNTOLD_BACKUP_DAYS_RAW = env("UNTOLD_BACKUP_DAYS")
UNTOLD_BACKUP_DAYS = envint("UNTOLD_BACKUP_DAYS", 30 if DEBUG else 0)
# Rate limits ("count/period", period s, m, h or d), see submissions/ratelimit.py.
UNTOLD_RATE_PER_CLIENT = env("UNTOLD_RATE_PER_CLIENT", "10/h")
UNTOLD_RATE_SITE = env("UNTOLD_RATE_SITE", "120/m")
UNTOLD_RATE_WITHDRAW_PER_CLIENT = env("UNTOLD_RATE_WITHDRAW_PER_CLIENT", "10/h")
UNTOLD_RATE_LOGIN_PER_USERNAME = env("UNTOLD_RATE_LOGIN_PER_USERNAME", "5/15m")
UNTOLD_RATE_LOGIN_PER_CLIENT = env("UNTOLD_RATE_LOGIN_PER_CLIENT", "20/15m")
UNTOLD_RATE_LOGIN_SITE = env("UNTOLD_RATE_LOGIN_SITE", "60/m")
UNTOLD_ADMIN_PATH = env("UNTOLD_ADMIN_PATH", "moderation/").strip("/") + "/"

# --- Sealing keys (see submissions/crypto.py) --------------------------------------------
# Public keys, comma-separated, base64 of the raw X25519 key; the first is the active one.
UNTOLD_PUBLIC_KEYS = envlist("UNTOLD_PUBLIC_KEYS")
# Private keys as PEM files; only the moderation side has them.
UNTOLD_PRIVATE_KEY_FILES = envlist("UNTOLD_PRIVATE_KEY_FILES") or envlist("UNTOLD_PRIVATE_KEY_FILE")
UNTOLD_PRIVATE_KEY_PASSPHRASE = envsecret("UNTOLD_PRIVATE_KEY_PASSPHRASE")
# The campaign-text key's id (hex), as generate_keys prints it; empty for a deployment
# from the first release, whose campaign texts use a key derived from the story key.
UNTOLD_CAMPAIGN_KEY_ID = env("UNTOLD_CAMPAIGN_KEY_ID", "")

# --- Django ------------------------------------------------------------------------------
ALLOWED_HOSTS = envlist("UNTOLD_ALLOWED_HOSTS") or (
    ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)

INSTALLED_APPS = [
    # The Django admin, as the moderation panel with two-factor login (submissions/panel/).
    "submissions.apps.PanelConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_ratelimit",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "submissions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise, which sends the static files compressed already.
    "submissions.middleware.compressed_outside_the_panel",
    "submissions.middleware.privacy_headers",
    "submissions.panel.sessions.session_store_reachable",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Below the language and above the views: a refused method is explained in her language.
    "submissions.middleware.explained_refusals",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "submissions.panel.sessions.session_limit",
    "submissions.panel.sessions.staff_actor",
    "submissions.custody.session_keys",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "untold.urls"
WSGI_APPLICATION = "untold.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "submissions.views.campaign_context",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        envsecret("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'untold.sqlite3'}",
        # A new PostgreSQL connection per request made a save 5.8x dearer here.
        conn_max_age=600,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers and one writer work together; IMMEDIATE makes concurrent
        # writers queue for the lock (up to the timeout) instead of failing mid-transaction.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # The export reads through a connection of its own, in one REPEATABLE READ snapshot,
    # while its audit event is committed at once through the usual one
    # (submissions/export.py). Tests see the same database through it.
    DATABASES["snapshot"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SILENCED_SYSTEM_CHECKS: list[str] = []

# --- Cache and rate limits ---------------------------------------------------------------
REDIS_URL = envsecret("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "untold",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if DEBUG:
        # Local memory is not shared between processes: acceptable only in development
        # and tests. Outside debug submissions.E004 requires REDIS_URL instead.
        SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- Passwords and sessions --------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Only the moderation panel has sessions. They end at browser close, after 30 minutes
# idle (25 to 30: the limit is renewed every 5 minutes of use) and 12 hours after login
# in all (submissions.panel.sessions.session_limit).
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 30 * 60
# Not saved on every request: a session row rewritten at each click would stamp the
# database around every new testimony (the order of PostgreSQL's transaction ids
# dates a row between two stamped ones). submissions.panel.sessions renews the idle
# limit at most every few minutes instead; with Redis, sessions never reach the
# database at all.
SESSION_SAVE_EVERY_REQUEST = False
if REDIS_URL:
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
UNTOLD_PANEL_SESSION_HOURS = 12
OTP_TOTP_ISSUER = "Untold"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_AGE = None  # a browser-session cookie, gone when the browser closes
CSRF_FAILURE_VIEW = "submissions.views.csrf_failure"
CSRF_COOKIE_SAMESITE = "Strict"

# --- HTTPS and headers -------------------------------------------------------------------
# Outside debug the site sits behind an HTTPS reverse proxy that sets X-Forwarded-Proto.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
if not DEBUG:
    # "__Host-": the browser keeps such a cookie only if it is Secure, for path / and for
    # this host alone, so no sibling subdomain can plant or overwrite it.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
# The browser's half of the keys a signed-in person holds (submissions/custody.py).
UNTOLD_KEYS_COOKIE_NAME = "untold-keys" if DEBUG else "__Host-untold-keys"
SECURE_SSL_REDIRECT = envbool("UNTOLD_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = None if DEBUG else ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 0 if DEBUG else 63072000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
# A Referer goes to this site only; see submissions/middleware.py for why not "no-referrer".
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Languages and time ------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("kk", "Қазақша"), ("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Django ships no Kazakh date and number formats; English is set to day-month-year and a
# 24-hour clock, as read in Kazakhstan.
FORMAT_MODULE_PATH = ["untold.formats"]
USE_I18N = True
USE_TZ = True
# Dates and times are shown in the campaign's zone; an unknown zone falls back to UTC
# here and is reported by submissions.E009.
try:
    ZoneInfo(UNTOLD_TIME_ZONE)
    TIME_ZONE = UNTOLD_TIME_ZONE
except (ZoneInfoNotFoundError, ValueError):
    TIME_ZONE = "UTC"

# --- Static files ------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Limits on what a request may carry --------------------------------------------------
# 1 MiB: far above the longest story allowed (10,000 characters, up to 120 KB once
# percent-encoded), so an over-long story gets the friendly "too long" page with her
# text kept, while a flood is refused before it is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
FILE_UPLOAD_MAX_MEMORY_SIZE = 0
# No form takes a file. Django's default handlers would write a file part (a story sent
# as one, say) to a temporary file on disk, in clear and outside the body limit above;
# the memory handler alone, with a limit of 0, reads each file part and drops it.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]

# --- Errors and logs ---------------------------------------------------------------------
# No error e-mails at all: Django's mail_admins would carry the client address, the user
# agent and the POST body. Log lines carry no time stamp, no request and no address.
ADMINS: list[tuple[str, str]] = []
MANAGERS: list[tuple[str, str]] = []
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Nothing about a visitor's failed request, and exceptions by class only
    # (submissions/logs.py).
    "filters": {"discreet": {"()": "submissions.logs.Discreet"}},
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["discreet"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # runserver's access log would record each request's exact time.
        "django.server": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "untold": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
