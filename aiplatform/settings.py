"""Settings for AI Platform, read from the environment (12-factor).

Every variable is listed with its default in docs/platform.md ("Configuration").
A `.env` file next to `manage.py` is read when present; real environment
variables win over it.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The test script turns this off so that a developer's .env cannot change
# what the suite tests.
if env.bool("DJANGO_READ_DOTENV", default=True):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off. "
            "scripts/run writes a random one into .env for local use."
        )
    SECRET_KEY = "insecure-debug-only-key-" + "x" * 40

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
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
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "aiplatform.apps.TasksDatabaseConfig",  # django_tasks_db, with a translated name
    "django_rq",
    "django_tasks_rq",
    "aiplatform",
    "conversations",
    "modeltrainer",
    "pathology",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "aiplatform.urls"
WSGI_APPLICATION = "aiplatform.wsgi.application"
ASGI_APPLICATION = "aiplatform.asgi.application"

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
                "django.template.context_processors.i18n",
                "aiplatform.site.context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
# ASGI runs each request in its own thread: Django advises against
# persistent connections there, so the default is 0.
_db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
_db["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
_db["ATOMIC_REQUESTS"] = False
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the server and the task worker read while the other writes;
    # IMMEDIATE transactions take the write lock up front instead of failing
    # with "database is locked" when two writers upgrade at once.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file (not :memory:) so that a worker process started by a test sees
    # the same test database; one per test process, so that two test runs on
    # one checkout do not share it.
    _db["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3")}
elif _db["ENGINE"] in ("django.db.backends.mysql",):
    _db["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
        "isolation_level": "read committed",
        "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=5),
    }
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "aiplatform.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Cache (throttling counters) -------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache("CACHE_URL")}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background tasks -----------------------------------------------------

TASKS_BACKEND = env.str("TASKS_BACKEND", default="db")
# RQ is configured whether or not it is the active backend, so that a
# deployment (or a test) can switch with TASKS_BACKEND alone.
RQ_QUEUES = {"default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 3600}}
TASK_BACKENDS_AVAILABLE = {
    "db": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]},
    "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]},
    "immediate": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]},
}
if TASKS_BACKEND not in TASK_BACKENDS_AVAILABLE:
    raise ImproperlyConfigured(
        f"TASKS_BACKEND must be one of {', '.join(TASK_BACKENDS_AVAILABLE)}, not {TASKS_BACKEND!r}."
    )
if TASKS_BACKEND == "rq" and not REDIS_URL:
    raise ImproperlyConfigured("TASKS_BACKEND=rq needs REDIS_URL.")
TASKS = {"default": TASK_BACKENDS_AVAILABLE[TASKS_BACKEND]}

# --- Internationalisation ---------------------------------------------------

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="ko")
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Seoul")
USE_I18N = True
USE_TZ = True
# The language chosen with the site's switch is remembered for a year.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Site pages ---------------------------------------------------------------

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Password checks per address per period, on the login page and on
# /api/auth/token/ (each costs about 0.3 s of CPU).
LOGIN_THROTTLE_RATE = env.str("LOGIN_THROTTLE_RATE", default="30/min")

# --- Static files -----------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "media/"

# --- Security ---------------------------------------------------------------

# One switch for deployments behind TLS. Off by default so that the local
# http://127.0.0.1 set-up can log in; `manage.py check --deploy` explains
# what it turns on.
HTTPS = env.bool("DJANGO_HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
# Preloading is a commitment for the whole domain and its subdomains that is
# slow to undo, so it is the operator's explicit choice (DJANGO_HSTS_PRELOAD),
# and check --deploy's reminder about it is silenced until then.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if env.bool("DJANGO_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- REST API ---------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "aiplatform.api.authentication.APIKeyAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["aiplatform.api.permissions.ScopedAccess"],
    "DEFAULT_THROTTLE_CLASSES": [
        "aiplatform.api.throttling.PrincipalRateThrottle",
        "aiplatform.api.throttling.AnonymousRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "principal": env.str("API_THROTTLE_RATE", default="6000/min"),
        "anonymous": env.str("API_ANON_THROTTLE_RATE", default="120/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "aiplatform.api.pagination.StandardLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "aiplatform.api.filters.StrictDjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "aiplatform.api.errors.exception_handler",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AI Platform API",
    "DESCRIPTION": (
        "Conversations (RAG chat and logs), stories, model training, monitoring "
        "and pathology analysis. Authenticate with a session, a JWT "
        "(`Authorization: Bearer <token>` from /api/auth/token/) or an API key "
        "(`Authorization: Api-Key <key>` or `X-API-Key: <key>`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several apps have a `status`; name each app's choices explicitly.
    "ENUM_NAME_OVERRIDES": {
        "LogStatusEnum": "conversations.choices.LogStatus",
        "DocumentStatusEnum": "conversations.choices.DocumentStatus",
        "DocumentSourceEnum": "conversations.choices.DocumentSource",
        "ExampleSourceEnum": "modeltrainer.choices.ExampleSource",
        "ImportRatingEnum": "modeltrainer.choices.ImportRating",
        "ActivationRequestEnum": "modeltrainer.choices.ActivationRequest",
        "FeedbackRatingEnum": "conversations.choices.Rating",
    },
}

# Scopes an API key may carry; see aiplatform.api.permissions.
API_KEY_SCOPES = ["service", "worker", "monitoring:control", "model:train"]

# --- AI layer (aiplatform.llm, aiplatform.embeddings, aiplatform.vectors) ----

# Chat provider: "local" answers offline from the context it is given;
# "openai" talks to OpenAI or any OpenAI-compatible server (vLLM, Ollama).
LLM_PROVIDER = env.str("LLM_PROVIDER", default="local")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="") or None
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=60.0)
OPENAI_CONNECT_TIMEOUT = env.float("OPENAI_CONNECT_TIMEOUT", default=5.0)
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=2)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=1024)

# Sentence embeddings: "use" (multilingual USE v3, ships its weights, offline)
# or "openai" (OPENAI_EMBEDDING_MODEL through the same client settings).
EMBEDDINGS_PROVIDER = env.str("EMBEDDINGS_PROVIDER", default="use")
OPENAI_EMBEDDING_MODEL = env.str("OPENAI_EMBEDDING_MODEL", default="text-embedding-3-small")
EMBEDDINGS_BATCH_SIZE = env.int("EMBEDDINGS_BATCH_SIZE", default=256)
EMBEDDINGS_THREADS = env.int("EMBEDDINGS_THREADS", default=2)
# BLAS threads to embed a few texts at once (a question): one, since a second
# saves about 1.5 ms on an idle 2-core box but costs tens of milliseconds once
# other requests or processes hold the cores (bench/RESULTS.md).
EMBEDDINGS_QUERY_THREADS = env.int("EMBEDDINGS_QUERY_THREADS", default=1)

# FAISS indexes, one folder per collection. Below the threshold the index is
# exact (flat inner product); above it an approximate index is built.
VECTOR_INDEX_DIR = Path(env.str("VECTOR_INDEX_DIR", default=str(BASE_DIR / "var" / "vectors")))
VECTOR_EXACT_MAX = env.int("VECTOR_EXACT_MAX", default=50_000)
VECTOR_APPROXIMATE_KIND = env.str("VECTOR_APPROXIMATE_KIND", default="hnsw")
# OpenMP threads for a search of a few queries (a question): one, likewise.
VECTOR_QUERY_THREADS = env.int("VECTOR_QUERY_THREADS", default=1)

# --- Conversations (RAG chat) ---------------------------------------------

RAG_QUESTION_MAX_CHARS = env.int("RAG_QUESTION_MAX_CHARS", default=4000)
RAG_TOP_K = env.int("RAG_TOP_K", default=4)
RAG_TOP_K_MAX = env.int("RAG_TOP_K_MAX", default=20)
# Retrieved chunks scoring below this cosine similarity are not given to the model.
RAG_MIN_SCORE = env.float("RAG_MIN_SCORE", default=0.05)
RAG_CHUNK_CHARS = env.int("RAG_CHUNK_CHARS", default=800)
RAG_DOCUMENT_MAX_BYTES = env.int("RAG_DOCUMENT_MAX_BYTES", default=5 * 1024 * 1024)

# --- Model trainer (text classifiers) ---------------------------------------

# Model files (joblib), one per version; their SHA-256 is checked before loading.
MODEL_STORAGE_DIR = Path(env.str("MODEL_STORAGE_DIR", default=str(BASE_DIR / "var" / "models")))
# How often a server process asks the database which version is active: a
# newly activated version serves everywhere within this many seconds plus
# the time to load its file (1.17 s at worst with 1.0 on the benchmark).
MODEL_RELOAD_SECONDS = env.float("MODEL_RELOAD_SECONDS", default=1.0)
MODEL_TEXT_MAX_CHARS = env.int("MODEL_TEXT_MAX_CHARS", default=10_000)
MODEL_PREDICT_MAX_TEXTS = env.int("MODEL_PREDICT_MAX_TEXTS", default=100)
MODEL_UPLOAD_MAX_BYTES = env.int("MODEL_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
MODEL_MIN_EXAMPLES = env.int("MODEL_MIN_EXAMPLES", default=10)
# Share of each label's examples held out to measure a version.
MODEL_TEST_SHARE = env.float("MODEL_TEST_SHARE", default=0.2)
# A training whose worker has not reported for this long is given up, so a
# new one can start.
MODEL_TRAINING_STALE_SECONDS = env.int("MODEL_TRAINING_STALE_SECONDS", default=1800)
# A newly trained version asked to activate "if not worse" (the default)
# replaces the active one only when its held-out macro F1 is at most this
# much lower; otherwise it stays inactive until activated by hand.
MODEL_ACTIVATE_TOLERANCE = env.float("MODEL_ACTIVATE_TOLERANCE", default=0.01)
# Predictions whose best probability is below this answer "unknown" (the
# scores still given): chosen on in-domain and out-of-domain texts
# (bench/model_abstention.py, bench/RESULTS.md "Model abstention").
MODEL_MIN_CONFIDENCE = env.float("MODEL_MIN_CONFIDENCE", default=0.5)

# --- Pathology (analysis requests and the worker protocol) ----------------

# true: requests wait for remote workers (the seed's setting); false: this
# server runs the pipeline itself in a task.
USE_LOCAL_INFERENCE = env.bool("USE_LOCAL_INFERENCE", default=True)
# The analysis the server runs when USE_LOCAL_INFERENCE is false: the
# inference_worker package's pipeline (it needs torch).
PATHOLOGY_PIPELINE = env.str("PATHOLOGY_PIPELINE", default="inference_worker.pipeline.analyse")
PATHOLOGY_SERVER_WORKER = env.str("PATHOLOGY_SERVER_WORKER", default="server")
# A claim holds a request this long; every report from the holder renews it.
PATHOLOGY_LEASE_SECONDS = env.int("PATHOLOGY_LEASE_SECONDS", default=300)
PATHOLOGY_MAX_ATTEMPTS = env.int("PATHOLOGY_MAX_ATTEMPTS", default=3)
# Longest `wait` of pending-requests, and how often a waiting poll asks again.
PATHOLOGY_LONG_POLL_MAX_SECONDS = env.int("PATHOLOGY_LONG_POLL_MAX_SECONDS", default=30)
PATHOLOGY_POLL_SECONDS = env.float("PATHOLOGY_POLL_SECONDS", default=0.2)
# Expired leases are looked for at most this often per process.
PATHOLOGY_REAP_SECONDS = env.float("PATHOLOGY_REAP_SECONDS", default=1.0)
PATHOLOGY_HEATMAP_MAX_BYTES = env.int("PATHOLOGY_HEATMAP_MAX_BYTES", default=5 * 1024 * 1024)
PATHOLOGY_RESULT_MAX_BYTES = env.int("PATHOLOGY_RESULT_MAX_BYTES", default=256 * 1024)

# --- Logging ----------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
    },
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # faiss reports at INFO which CPU build it loaded, on every start.
        "faiss.loader": {"level": "WARNING"},
    },
}
