"""Settings for the VSP alarm platform.

Every environment variable the service reads is read here, through the typed
helpers in ``vsp.env``; the README's configuration table lists them all.
With nothing configured the service runs on an embedded default: a SQLite
file, the in-memory channel layer and a local-memory cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from vsp.env import (
    database_config,
    env_bool,
    env_choice,
    env_decimal,
    env_int,
    env_list,
    env_networks,
    env_shifts,
    env_str,
    env_time_zone,
    redis_channel_prefix,
    redis_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# A .env file in the project root fills in what the real environment leaves unset.
load_dotenv(BASE_DIR / ".env", override=False)

# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------

# Shipped so that a fresh checkout runs; the vsp.E001 system check refuses it with DEBUG off.
INSECURE_DEFAULT_SECRET_KEY = "django-insecure-vsp-default-key-change-me"

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", INSECURE_DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "vsp",
    "devices",
    "alarms",
    "analysis",
    "notifications",
    "edge",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before the edge shortcut: edge answers and the APIs are pinned to English (vsp.locale).
    "vsp.locale.ConsoleLocaleMiddleware",
    # Edge reports, resolves and heartbeats stop here: the rest serves browsers.
    "edge.middleware.EdgeShortcutMiddleware",
    "vsp.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "vsp.urls"
ASGI_APPLICATION = "vsp.asgi.application"
WSGI_APPLICATION = "vsp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide overrides: the admin's branding and language picker (admin/base_site.html).
        "DIRS": [BASE_DIR / "vsp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# ---------------------------------------------------------------------------
# Database, channel layer, cache
# ---------------------------------------------------------------------------

DATABASES = {"default": database_config("DATABASE_URL", str(DATA_DIR / "vsp.sqlite3"))}
# Seconds a request thread keeps its database connection. 0 (a connection per request) under ASGI,
# where any thread may run a request and persistent connections pile up to MySQL's limit; the web
# process's fixed thread pool (vsp/gunicorn.py) sets it, and a kept connection is checked before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 0, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = redis_url("REDIS_URL")
# redis-py 8 refuses (instead of waiting) past its pool cap, which defaults to
# 100; a burst of WebSocket handshakes needs more than that.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 1000, minimum=10)

if REDIS_URL:
    # Events go out as one Redis PUBLISH on this layer's group channel, whatever the number of
    # sockets (vsp.publish); each socket-serving process reads them once (vsp.fanout).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": REDIS_MAX_CONNECTIONS}],
                # Redis's pub/sub ignores the database number: name the channel after it, so that two
                # deployments (or test runs) on one Redis, each in its own database, never hear each other.
                "prefix": redis_channel_prefix(REDIS_URL),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "vsp.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "vsp",
        }
    }
else:
    # One process only: a second server process would not see these events.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# ---------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------

# Stored in UTC; shown, and assumed for naive times from edge boxes, in TIME_ZONE.
USE_TZ = True
TIME_ZONE = env_time_zone("TIME_ZONE", "Asia/Shanghai")

# ---------------------------------------------------------------------------
# Languages (README "Languages and display names")
# ---------------------------------------------------------------------------

# The console (admin, /live/) speaks Chinese unless a user picks English (set_language at /i18n/).
# The APIs, edge answers and socket frames stay English: clients parse them (vsp.locale).
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]
# How long the alarm types' display names (alarms.AlarmType) are kept in each process before the
# table is read again; an edit in admin is seen at once by the process that made it.
ALARM_TYPE_NAMES_TTL = 30

# ---------------------------------------------------------------------------
# Snapshots: local files by default, Tencent COS in production
# ---------------------------------------------------------------------------

SNAPSHOT_STORAGE = env_choice("SNAPSHOT_STORAGE", "local", ("local", "cos"))
COS_SECRET_ID = env_str("COS_SECRET_ID")
COS_SECRET_KEY = env_str("COS_SECRET_KEY")
COS_BUCKET = env_str("COS_BUCKET")
COS_REGION = env_str("COS_REGION")
COS_DOMAIN = env_str("COS_DOMAIN")  # a custom domain, needed for in-browser preview on new buckets
COS_ENDPOINT = env_str("COS_ENDPOINT")
COS_SCHEME = env_choice("COS_SCHEME", "https", ("https", "http"))
COS_RETRIES = env_int("COS_RETRIES", 3, minimum=0, maximum=10)
COS_TIMEOUT = env_int("COS_TIMEOUT", 10, minimum=1, maximum=120)
# The first upload happens while the edge waits for its answer: one quick try, then the retry
# command (with COS_RETRIES and COS_TIMEOUT) takes over.
SNAPSHOT_INLINE_TIMEOUT = 3
if SNAPSHOT_STORAGE == "cos":
    missing = [name for name in ("COS_SECRET_ID", "COS_SECRET_KEY", "COS_BUCKET", "COS_REGION") if not globals()[name]]
    if missing:
        raise ImproperlyConfigured(f"SNAPSHOT_STORAGE=cos needs {', '.join(missing)}")
# How long a snapshot link in an API answer or socket event stays valid (buckets are private).
SNAPSHOT_URL_TTL = env_int("SNAPSHOT_URL_TTL", 3600, minimum=60, maximum=7 * 24 * 3600)
SNAPSHOT_ROOT = DATA_DIR / "snapshots"
# Where browsers reach this service, for links to local snapshots in API answers read from another
# origin (the Yudao frontend), e.g. https://vsp.example.com; empty: links relative to this host.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL").rstrip("/")

# ---------------------------------------------------------------------------
# Static files (admin, Swagger UI) served by WhiteNoise, from the web process (and make run).
# ---------------------------------------------------------------------------

STATIC_URL = "static/"
# Beside the code, not under DATA_DIR: a volume mounted for data must not hide them.
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "snapshots": (
        {"BACKEND": "vsp.cos_storage.TencentCOSStorage"}
        if SNAPSHOT_STORAGE == "cos"
        else {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": SNAPSHOT_ROOT}}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# ---------------------------------------------------------------------------
# Limits (one place; each says why it is what it is)
# ---------------------------------------------------------------------------

# An edge report may carry its snapshot (base64 grows it by a third): room for
# SNAPSHOT_MAX_BYTES plus the fields, and no more.
SNAPSHOT_MAX_BYTES = 10 * 1024 * 1024
EDGE_MAX_BODY_BYTES = env_int("EDGE_MAX_BODY_BYTES", 14 * 1024 * 1024, minimum=1024)
# Camera frames are at most 8K (33 Mpx); more is a decompression bomb.
SNAPSHOT_MAX_PIXELS = 40_000_000
SNAPSHOT_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Thumbnails for lists and the live page fit in this box.
SNAPSHOT_THUMBNAIL_SIZE = (320, 320)
# prune_snapshots refuses to delete more than this share of stored snapshots in one run without --force.
SNAPSHOT_PRUNE_MAX_FRACTION = 0.5
# prune_alarms deletes closed, unpinned alarms older than this many days; 0 keeps every alarm.
ALARM_RETENTION_DAYS = env_int("ALARM_RETENTION_DAYS", 0, minimum=0)
# ext_data is kept as the edge sent it; bounding it keeps one alarm row small.
EXT_DATA_MAX_BYTES = 64 * 1024
# How deeply ext_data and a heartbeat's info may nest: MariaDB's JSON check refuses 32 levels and more
# (MySQL 8, 100); a box's detections need a handful.
JSON_MAX_DEPTH = 20
# Django's own guard for every other request body.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(EDGE_MAX_BODY_BYTES, 2_621_440)

# Lists default to a screenful; the hard maximum keeps one request bounded.
API_PAGE_SIZE = 20
API_MAX_PAGE_SIZE = 200
# From this offset on a page is read by a deferred join (keys by the index, then rows): below it one
# query is cheaper than two; past it a plain OFFSET reads every skipped row (page 500: 24 ms, keys 3 ms).
PAGE_DEFERRED_JOIN_FROM = 1000
# Yudao notify messages (vsp/compat/notify.py): a week of critical alarms is an inbox, older ones are
# history in the alarm list, and the window bounds every inbox query. The bell lists 10, as Yudao's
# controller defaults it; one update-read takes a page of 200 kept across pages, with room to spare.
NOTIFY_MESSAGE_DAYS = 7
NOTIFY_UNREAD_LIST_SIZE = 10
NOTIFY_MAX_READ_IDS = 1000
# The statistics trend has one bucket per day; a year is the longest range it draws.
STATISTICS_MAX_DAYS = 366
STATISTICS_DEFAULT_DAYS = 7
STATISTICS_TOP_DEVICES = 10
# Ops metrics (alarms.metrics) group alarms by the shift on duty when they were stored: NAME=HH:MM-HH:MM
# in TIME_ZONE, comma-separated; a shift may cross midnight, and no two may cover the same minute.
SHIFTS = env_shifts("SHIFTS", "白班=08:00-20:00,夜班=20:00-08:00")
# Each process folds the alarm count changes it wrote into the counts after this many (alarms.counts).
COUNTS_FOLD_EVERY = env_int("COUNTS_FOLD_EVERY", 200, minimum=1)

# Edge devices. A box is OFFLINE after this long without a heartbeat, report or
# resolve (the seed's 90 s: three missed 30 s heartbeats); per device in admin.
DEVICE_OFFLINE_AFTER = env_int("DEVICE_OFFLINE_AFTER", 90, minimum=10)
# Signs of life write the device row at most this often, so a busy box is not a write storm.
DEVICE_SEEN_WRITE_INTERVAL = 5
# How often the scheduler sends the job that looks for boxes that went quiet.
DEVICE_WATCH_INTERVAL = env_int("DEVICE_WATCH_INTERVAL", 5, minimum=1)
# A web process answers a box's repeat of a report it saw stored within this long (and among this many)
# from memory rather than the database: retries are most of the traffic in a storm.
REPORT_REPEATS_REMEMBERED = 20_000
REPORT_REPEATS_REMEMBERED_SECONDS = 600
# Device keys record their last use at most this often.
DEVICE_KEY_TOUCH_INTERVAL = 60
# Report, resolve and heartbeat need a device key (Authorization: Bearer / X-Device-Key).
# Off is the seed's open ingest, for fleets that cannot send a key.
EDGE_AUTH_REQUIRED = env_bool("EDGE_AUTH_REQUIRED", not DEBUG)
# Ingest rate limits, fixed windows in the shared cache. A box sends a heartbeat every
# ~30 s and alarms in bursts of a few per second at most; a site behind one NAT address
# may hold dozens of boxes.
EDGE_RATE_PER_DEVICE = env_str("EDGE_RATE_PER_DEVICE", "600/m")
EDGE_RATE_PER_IP = env_str("EDGE_RATE_PER_IP", "3000/m")

# The MQTT bridge (`manage.py mqtt_bridge`): mqtt://user:password@host:1883, or mqtts://.
MQTT_URL = env_str("MQTT_URL")
MQTT_CLIENT_ID = env_str("MQTT_CLIENT_ID", "vsp-bridge")
MQTT_TOPIC_ALERT = env_str("MQTT_TOPIC_ALERT", "edge/alert/#")
MQTT_TOPIC_RESOLVE = env_str("MQTT_TOPIC_RESOLVE", "edge/resolve/#")
MQTT_TOPIC_HEARTBEAT = env_str("MQTT_TOPIC_HEARTBEAT", "edge/heartbeat/#")

# The LLM second opinion (analysis/): any OpenAI-compatible chat-completions service with image input
# (Qwen-VL on DashScope's compatible mode, OpenAI, vLLM, Ollama, LM Studio). Off unless AI_MODEL_NAME is set.
AI_MODEL_URL = env_str("AI_MODEL_URL", "https://dashscope.aliyuncs.com/compatible-mode/v1").rstrip("/")
AI_MODEL_KEY = env_str("AI_MODEL_KEY")
AI_MODEL_NAME = env_str("AI_MODEL_NAME")
AI_MODEL_TIMEOUT = env_int("AI_MODEL_TIMEOUT", 60, minimum=1, maximum=300)
AI_MODEL_MAX_TOKENS = env_int("AI_MODEL_MAX_TOKENS", 800, minimum=64, maximum=8192)
AI_MODEL_LANGUAGE = env_str("AI_MODEL_LANGUAGE", "zh-CN")
# How the snapshot reaches the model: inline as a data URL (links to a private bucket may not open
# for it), or as a link it fetches itself.
AI_MODEL_IMAGE = env_choice("AI_MODEL_IMAGE", "inline", ("inline", "url"))
# Requests to the model per window, shared by every worker (the provider's quota).
AI_MODEL_RATE = env_str("AI_MODEL_RATE", "60/m")
# Prices per million tokens, in the currency of the bill, for each analysis's cost.
AI_MODEL_PRICE_INPUT = env_decimal("AI_MODEL_PRICE_INPUT", "0")
AI_MODEL_PRICE_OUTPUT = env_decimal("AI_MODEL_PRICE_OUTPUT", "0")
# The sentence about the site every prompt carries, unless the type's rule has its own.
AI_SITE_CONTEXT = env_str("AI_SITE_CONTEXT")
# Attempts before an analysis is FAILED, and the backoff between them: base × 2^(attempt − 1), at most
# the cap (below the broker's visibility timeout, which would deliver a waiting retry twice).
AI_MAX_ATTEMPTS = env_int("AI_MAX_ATTEMPTS", 5, minimum=1, maximum=20)
AI_RETRY_BASE = env_int("AI_RETRY_BASE", 5, minimum=1, maximum=600)
AI_RETRY_CAP = env_int("AI_RETRY_CAP", 300, minimum=1, maximum=3600)
# How often the dispatch job sends the requests (reports only write them), and how late a sent one
# must be before it is sent again (its message lost at the broker, its worker dead). Longer than a
# storm's queue takes to drain, or every waiting request would be queued again behind itself; the
# copies are harmless (the first run claims the row) but cost the queue.
AI_DISPATCH_INTERVAL = env_int("AI_DISPATCH_INTERVAL", 1, minimum=1)
AI_SWEEP_GRACE = env_int("AI_SWEEP_GRACE", 300, minimum=1)

# Notifications (notifications/): alarms sent to webhooks, WeCom and DingTalk group robots and email,
# by the rules in admin. The robots' base URLs are settings so that a private relay (or a test's local
# server) can stand in for the public services.
NOTIFY_WECOM_BASE_URL = env_str("NOTIFY_WECOM_BASE_URL", "https://qyapi.weixin.qq.com").rstrip("/")
NOTIFY_DINGTALK_BASE_URL = env_str("NOTIFY_DINGTALK_BASE_URL", "https://oapi.dingtalk.com").rstrip("/")
# One try at a channel waits this long for it (connect, then the answer), in seconds; a robot answers
# in well under a second, and a worker thread is held meanwhile.
NOTIFY_TIMEOUT = env_int("NOTIFY_TIMEOUT", 10, minimum=1, maximum=120)
# Attempts before a delivery is FAILED, and the backoff between them: base × 2^(attempt − 1), at most
# the cap (below the broker's visibility timeout, which would deliver a waiting retry twice).
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 5, minimum=1, maximum=20)
NOTIFY_RETRY_BASE = env_int("NOTIFY_RETRY_BASE", 5, minimum=1, maximum=600)
NOTIFY_RETRY_CAP = env_int("NOTIFY_RETRY_CAP", 300, minimum=1, maximum=3600)
# How often the dispatch job reads new alarms and sends the deliveries' jobs. It reads again the
# alarms stored up to NOTIFY_REREAD_SECONDS before the last one it read: an alarm's stored time is
# taken before its report commits, so a slow commit lands behind the cursor.
NOTIFY_DISPATCH_INTERVAL = env_int("NOTIFY_DISPATCH_INTERVAL", 1, minimum=1)
NOTIFY_REREAD_SECONDS = env_int("NOTIFY_REREAD_SECONDS", 10, minimum=1, maximum=600)
# Alarms one dispatch reads at most (in pages of a tenth); a storm past it is read by the next runs.
NOTIFY_DISPATCH_BATCH = env_int("NOTIFY_DISPATCH_BATCH", 5000, minimum=100)
# How late a sent delivery's job must be before it is sent again (its message lost at the broker, its
# worker dead): longer than a storm's queue takes to drain.
NOTIFY_SWEEP_GRACE = env_int("NOTIFY_SWEEP_GRACE", 120, minimum=1)
# Email goes through Django's mail API: an SMTP server and the sender's address.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = NOTIFY_TIMEOUT
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "vsp@localhost")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: STARTTLS (587) or TLS (465)")

# Password guessing (staff mistype; scripts do not stop). Attempts are counted per account from one
# address, per address, and per account from everywhere. The account's own ceiling is looser, so
# that a guesser elsewhere, held to the first limit, cannot lock the real user out by themselves.
LOGIN_RATE_PER_USER_AND_IP = "10/m"
LOGIN_RATE_PER_IP = "30/m"
LOGIN_RATE_PER_USER = "60/m"
# How long /health waits for each dependency before calling it down.
HEALTH_CHECK_TIMEOUT = 3.0
# How long storing an alarm may wait on Redis to announce it; past this the event is counted as
# failed, and the edge still gets its answer. After a failure a process does not try again for
# EVENT_PUBLISH_RETRY_AFTER seconds, so an outage costs each write nothing; while it lasts the
# log says so every EVENT_PUBLISH_LOG_EVERY seconds. Dashboards catch up by seq.
EVENT_PUBLISH_TIMEOUT = 0.5
EVENT_PUBLISH_RETRY_AFTER = 1.0
EVENT_PUBLISH_LOG_EVERY = 10.0
# Every event is kept this long for dashboards to catch up from (`manage.py prune_events`).
DASHBOARD_EVENT_RETENTION_HOURS = env_int("DASHBOARD_EVENT_RETENTION_HOURS", 24, minimum=1)
# A socket may fall this many frames behind; then it is closed (1013) and its client catches up.
# A frame is ~1 KB: at most ~1 MB per socket, and minutes of a storm for a client that keeps up.
WEBSOCKET_SEND_QUEUE = env_int("WEBSOCKET_SEND_QUEUE", 1000, minimum=10)
# A socket is accepted once its process is subscribed to events; this long at most.
WEBSOCKET_SUBSCRIBE_TIMEOUT = 5.0
# A reconnecting dashboard gets at most this many missed alarms in its first
# frame; beyond that it is told to reload the list over the API.
WEBSOCKET_CATCHUP_LIMIT = 200
# The live page opens with this many recent alarms and keeps at most LIVE_MAX_ROWS on screen.
LIVE_INITIAL_ALARMS = 50
LIVE_MAX_ROWS = 500
# Events commit out of order by a few milliseconds; a number still missing after this is asked for.
LIVE_GAP_WAIT_MS = 1500
# A handling remark is a note, not a report.
HANDLE_REMARK_MAX_LENGTH = 2000
# Bulk triage (alarms.services.bulk_handle): the ids one call may name. Their rows are locked together in one
# transaction, which holds up reports and resolves of those alarms meanwhile; a thousand is a screenful of
# selections many times over, and commits in well under a second. Filter jobs go through in batches of it.
BULK_HANDLE_MAX_IDS = env_int("BULK_HANDLE_MAX_IDS", 1000, minimum=1, maximum=10_000)
# A bulk handling job that has not moved for this long is sent again (its message lost, or its worker dead);
# a batch takes well under a second, so two minutes is long past any job at work.
BULK_JOB_RESEND_AFTER = env_int("BULK_JOB_RESEND_AFTER", 120, minimum=10)
# Storm grouping (alarms.models.Incident): an alarm joins the incident of its (device, scene, type) when it
# comes at most this many seconds after that incident's last alarm. Ten minutes spans a camera flapping
# through a shift change; a quieter gap than that is a new event worth its own row. 0 turns grouping off.
INCIDENT_WINDOW = env_int("INCIDENT_WINDOW", 600, minimum=0, maximum=7 * 24 * 3600)

# ---------------------------------------------------------------------------
# REST framework and OpenAPI
# ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Token first, so an anonymous caller gets 401 with WWW-Authenticate rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["vsp.permissions.StaffModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "vsp.pagination.PageNumberPagination",
    # JSON bodies only (ext_data is an object, which a form cannot carry); the token view also takes forms.
    "DEFAULT_PARSER_CLASSES": ["vsp.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "vsp.exceptions.native_exception_handler",
    "PAGE_SIZE": API_PAGE_SIZE,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "VSP alarm platform API",
    "DESCRIPTION": "Edge ingest and the native staff API. The Yudao-compatible API lives under /admin-api/.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The plain Django views (edge ingest, /health) are added by hooks; error answers and summaries
    # are filled in after generation (vsp/openapi.py).
    "PREPROCESSING_HOOKS": ["edge.schema.add_edge_operations", "vsp.openapi.add_health_operation"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "vsp.openapi.document_errors_and_summaries",
        "edge.schema.refine_edge_schemas",
    ],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "deviceBearer": {"type": "http", "scheme": "bearer", "description": "A device key from admin"},
            "deviceKey": {"type": "apiKey", "in": "header", "name": "X-Device-Key"},
        }
    },
    "ENUM_NAME_OVERRIDES": {
        "AlarmLevelEnum": "alarms.models.AlarmLevel",
        "AlarmStatusEnum": "alarms.models.AlarmStatus",
        "HandleStatusEnum": "alarms.models.HandleStatus",
        "DeviceStatusEnum": "devices.models.EdgeDevice.Status",
    },
}

# ---------------------------------------------------------------------------
# Yudao-compatible API (/admin-api/) and its authentication
# ---------------------------------------------------------------------------

# local: this service issues Yudao-style tokens; gateway: trust Yudao's gateway
# header from GATEWAY_TRUSTED_PROXIES; dev: no check, a fixed admin (DEBUG only, vsp.E002).
AUTH_MODE = env_choice("AUTH_MODE", "local", ("local", "gateway", "dev"))
# Yudao's defaults for its "default" OAuth2 client: 30 minutes and 30 days.
ACCESS_TOKEN_TTL = env_int("ACCESS_TOKEN_TTL", 30 * 60, minimum=60)
REFRESH_TOKEN_TTL = env_int("REFRESH_TOKEN_TTL", 30 * 24 * 3600, minimum=3600)
# Addresses (or networks) the gateway's requests come from; the login-user header is ignored from any other.
GATEWAY_TRUSTED_PROXIES = env_networks("GATEWAY_TRUSTED_PROXIES", ["127.0.0.1", "::1"])
# Django group whose permissions users arriving through the gateway get (besides their own).
GATEWAY_USER_GROUP = env_str("GATEWAY_USER_GROUP", "gateway-users")
# Single tenant: the login page's tenant look-ups answer with this id and name.
TENANT_ID = 1
TENANT_NAME = env_str("TENANT_NAME", "VSP")
# Yudao's PageParam bounds.
COMPAT_PAGE_SIZE = 10
COMPAT_MAX_PAGE_SIZE = 200
# One export is built in memory; beyond this many rows staff are asked to narrow the filters.
EXPORT_MAX_ROWS = 50_000

# CORS for a frontend served from another origin (the Yudao admin UI in development, say).
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/(admin-api|api)/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "tenant-id",
    "visit-tenant-id",
    "cache-control",
    "pragma",
    "x-requested-with",
    "x-device-key",
)
CORS_EXPOSE_HEADERS = ("content-disposition",)

# ---------------------------------------------------------------------------
# Jobs (Celery, vsp/celery.py)
# ---------------------------------------------------------------------------

# The broker: REDIS_URL unless set apart. Without one (the embedded default) jobs run in threads of
# the server process on Celery's in-memory transport (JOBS_IN_PROCESS, vsp.jobs).
JOB_BROKER_URL = redis_url("JOB_BROKER_URL") or REDIS_URL
JOBS_IN_PROCESS = env_bool("JOBS_IN_PROCESS", not JOB_BROKER_URL)
CELERY_BROKER_URL = JOB_BROKER_URL or "memory://localhost/"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "vsp"
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# What a job did is written to the database by the job itself: no result backend.
CELERY_TASK_IGNORE_RESULT = True
# A job is acknowledged when it has finished, not when it starts: one whose worker died is delivered
# again (after JOB_VISIBILITY_TIMEOUT on Redis), and each worker thread takes one job at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
JOB_VISIBILITY_TIMEOUT = env_int("JOB_VISIBILITY_TIMEOUT", 600, minimum=30)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": JOB_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long sending a job may try to reach the broker (a web request sends jobs after its commit; a
# job not sent is a row the sweep sends later).
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
# Worker threads per worker process (jobs wait on the network and the database, not the CPU).
JOB_CONCURRENCY = env_int("JOB_CONCURRENCY", 4, minimum=1, maximum=64)
CELERY_WORKER_CONCURRENCY = JOB_CONCURRENCY
CELERY_WORKER_POOL = "threads"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# On SIGTERM (remapped to Celery's cold shutdown by scripts/serve/worker) running jobs get this long,
# then are handed back to the broker unacknowledged.
JOB_SHUTDOWN_GRACE = env_int("JOB_SHUTDOWN_GRACE", 8, minimum=0, maximum=60)
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = float(JOB_SHUTDOWN_GRACE)
CELERY_WORKER_ENABLE_SOFT_SHUTDOWN_ON_IDLE = True
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# How often the snapshot uploads the store refused are tried again, and the count changes folded.
SNAPSHOT_RETRY_INTERVAL = env_int("SNAPSHOT_RETRY_INTERVAL", 60, minimum=5)
COUNTS_FOLD_INTERVAL = env_int("COUNTS_FOLD_INTERVAL", 10, minimum=1)
# How often the past days the ops metrics' rollups lack or hold stale are rolled up.
TIMING_ROLLUP_INTERVAL = env_int("TIMING_ROLLUP_INTERVAL", 300, minimum=10)


def _every(seconds: int, task: str) -> dict[str, Any]:
    """A job sent every ``seconds``; one not started by the next is dropped, not stacked up."""
    return {"task": task, "schedule": float(seconds), "options": {"expires": float(seconds)}}


# The periodic jobs, sent by the scheduler process (Celery beat); times of day are in TIME_ZONE.
CELERY_BEAT_SCHEDULE = {
    "watch-devices": _every(DEVICE_WATCH_INTERVAL, "devices.tasks.mark_quiet_devices_offline"),
    "retry-snapshots": _every(SNAPSHOT_RETRY_INTERVAL, "alarms.tasks.retry_snapshots"),
    "fold-counts": _every(COUNTS_FOLD_INTERVAL, "alarms.tasks.fold_counts"),
    "reconcile-recent-counts": {
        "task": "alarms.tasks.reconcile_counts",
        "schedule": crontab(minute=17),
        "kwargs": {"days": 2},
    },
    "reconcile-counts": {
        "task": "alarms.tasks.reconcile_counts",
        "schedule": crontab(minute=37, hour=3, day_of_week=0),
    },
    "roll-up-timings": _every(TIMING_ROLLUP_INTERVAL, "alarms.tasks.roll_up_timings"),
    "roll-up-every-timing": {
        "task": "alarms.tasks.roll_up_timings",
        "schedule": crontab(minute=57, hour=3, day_of_week=0),
        "kwargs": {"every": True},
    },
    "dispatch-analyses": _every(AI_DISPATCH_INTERVAL, "analysis.tasks.dispatch"),
    "dispatch-notifications": _every(NOTIFY_DISPATCH_INTERVAL, "notifications.tasks.dispatch"),
    "prune-events": {"task": "vsp.tasks.prune_events", "schedule": crontab(minute=7)},
    "purge-pending-resolves": {"task": "alarms.tasks.purge_pending_resolves", "schedule": crontab(minute=27, hour=3)},
    "prune-alarms": {"task": "alarms.tasks.prune_alarms", "schedule": crontab(minute=47, hour=3)},
    "resend-bulk-jobs": _every(60, "alarms.tasks.resend_bulk_handle_jobs"),
}

# ---------------------------------------------------------------------------
# Demo account, logging
# ---------------------------------------------------------------------------

# Created by `manage.py ensure_demo_user` (run by `make run`) when no user exists yet.
DEMO_USERNAME = "admin"
DEMO_PASSWORD = "admin123"

LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "level": LOG_LEVEL}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # The COS SDK logs every request (full URL) at INFO and every missing object at WARNING.
        "qcloud_cos": {"level": "ERROR"},
        # Celery logs every job sent, received and finished at INFO: the watcher alone, every 5 s.
        # Failures and retries are warnings and errors.
        "celery.beat": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.request": {"level": "WARNING"},  # a periodic job dropped for being late, at INFO
        # The model's client (openai, on httpx) logs every call at INFO; analyses log their own failures.
        "httpx": {"level": "WARNING"},
    },
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
