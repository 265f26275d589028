"""dockerweb settings. Everything deployment-specific comes from environment variables:

DOCKERWEB_STATE_ROOT   state root (default /var/lib/dockerweb)
DATABASE_URL           e.g. postgres://user:pw@host/db (default: SQLite in WAL mode under the root)
DOCKERWEB_REDIS_URL    channel layer (default unix://<root>/run/redis.sock)
DOCKERWEB_BIND         web address (default 127.0.0.1:8000; read by bin/run)
DOCKERWEB_CGROUP_PARENT  parent cgroup of containers (default dockerweb)
DOCKERWEB_SECRET_KEY   Django secret (default: generated once into <root>/secret.key)
DOCKERWEB_DEBUG, DOCKERWEB_ALLOWED_HOSTS
DOCKERWEB_DEFAULT_REGISTRY     registry of a name without a host (default docker.io)
DOCKERWEB_INSECURE_REGISTRIES  comma list of host[:port] spoken to over plain http (loopback
                               registries always are, as Docker does)
DOCKERWEB_PIDS_LIMIT   default pids limit of a container (default 4096; -1: unlimited)
DOCKERWEB_LOG_MAX_SIZE, DOCKERWEB_LOG_MAX_FILE  default log rotation of a container (json-file
                       max-size / max-file; default 100m and 5, so at most 500 MiB of log;
                       max-size -1: unlimited, as Docker's default)
DOCKERWEB_EVENTS_MAX_AGE    events older than this many seconds are pruned (default 604800,
                            7 days; 0: no age bound)
DOCKERWEB_EVENTS_MAX_COUNT  at most this many events are kept, the newest (default 100000;
                            0: no count bound)
DOCKERWEB_BUILD_CONTEXT_MAX  bytes of (uncompressed) build context a build accepts (default
                             1073741824, 1 GiB)
DOCKERWEB_STATS_INTERVAL  seconds between two history samples of each running container,
                          taken by its host's worker (default 10)
DOCKERWEB_STATS_KEEP      seconds of stats history kept (default 3600, the last hour)
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import dj_database_url

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_ROOT = env_str("DOCKERWEB_STATE_ROOT", "/var/lib/dockerweb")
RUN_DIR = os.path.join(STATE_ROOT, "run")


def _secret_key() -> str:
    key = os.environ.get("DOCKERWEB_SECRET_KEY")
    if key:
        return key
    path = os.path.join(STATE_ROOT, "secret.key")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(STATE_ROOT, mode=0o700, exist_ok=True)  # root's only (containers.engine.layout)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DOCKERWEB_DEBUG", False)
# api.moby.localhost: the Host header the docker CLI sends on a unix socket
ALLOWED_HOSTS = env_list("DOCKERWEB_ALLOWED_HOSTS",
                         ["127.0.0.1", "localhost", "[::1]", "api.moby.localhost"])

INSTALLED_APPS = [
    "containers",  # first: its runworker extends Channels' one
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "knox",  # API tokens, stored as SHA-512 digests (containers/tokens.py)
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "containers.dockerapi.middleware.DockerUrlconfMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "containers.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dockerweb.urls"
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
ASGI_APPLICATION = "dockerweb.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{os.path.join(STATE_ROOT, 'db.sqlite3')}"),
        conn_max_age=env_int("DOCKERWEB_DB_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "dockerweb.sqlite"  # one writer per process (its module)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("DOCKERWEB_REDIS_URL", f"unix://{os.path.join(RUN_DIR, 'redis.sock')}")
CHANNEL_LAYERS = {
    "default": {
        # channels_redis's, with one-round-trip sends and RPC reply reads
        "BACKEND": "containers.channellayer.RedisLayer",
        "CONFIG": {
            # socket_timeout None: redis-py 8's 5 s default kills an idle runworker.
            # max_connections: each RPC in flight holds a connection for its reply's
            # BZPOPMIN, so 100 concurrent starts took redis-py's default pool of 100 and one
            # more send failed with MaxConnectionsError, a ConnectionError ("Redis
            # unreachable") although Redis was up (bench_burst; Redis allows 10000 clients)
            "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 1000}],
            "expiry": 60,
            "capacity": 1000,
        },
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # the dashboard's terminal: xterm.js from package.json (npm ci in `make deps`), UMD builds
    ("vendor/xterm/lib", BASE_DIR / "node_modules" / "@xterm" / "xterm" / "lib"),
    ("vendor/xterm/css", BASE_DIR / "node_modules" / "@xterm" / "xterm" / "css"),
    ("vendor/xterm-addon-fit", BASE_DIR / "node_modules" / "@xterm" / "addon-fit" / "lib"),
]
STATIC_ROOT = os.path.join(STATE_ROOT, "static")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "containers"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "containers.tokens.KeyAuthentication",  # knox's, in one query
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "containers.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "URL_FORMAT_OVERRIDE": None,  # ?format= is ours (image archives: docker or oci)
}
REST_KNOX = {
    "TOKEN_TTL": None,  # tokens live until revoked unless created with an expiry
    "AUTH_HEADER_PREFIX": "Token",  # what our clients send: Authorization: Token <key>
}
SPECTACULAR_SETTINGS = {
    "TITLE": "dockerweb API",
    "DESCRIPTION": "Lightweight Linux application containers on LXC.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# dockerweb's own settings
DOCKERWEB_CGROUP_PARENT = env_str("DOCKERWEB_CGROUP_PARENT", "dockerweb")
DOCKERWEB_HOST = env_str("DOCKERWEB_HOST", socket.gethostname())
DOCKERWEB_ENGINE_CHANNEL = "dockerweb.engine"  # + "." + the host: each worker's own channel
# many hosts (issue 16): a worker refreshes its Host row every BEAT_S s; one not seen for
# STALE_S s is down
DOCKERWEB_HOST_BEAT_S = float(env_str("DOCKERWEB_HOST_BEAT_S", "5"))
DOCKERWEB_HOST_STALE_S = float(env_str("DOCKERWEB_HOST_STALE_S", "20"))
# how other hosts reach this one's web server and Docker API (TCP) to relay streams of its
# containers; the relay is signed with DOCKERWEB_RELAY_SECRET (all hosts share it and the
# SECRET_KEY: set DOCKERWEB_SECRET_KEY and DOCKERWEB_RELAY_SECRET alike on every host)
DOCKERWEB_WEB_URL = env_str("DOCKERWEB_WEB_URL",
                            f"http://{env_str('DOCKERWEB_BIND', '127.0.0.1:8000')}")
DOCKERWEB_DOCKER_TCP = env_str("DOCKERWEB_DOCKER_TCP", "")
DOCKERWEB_RELAY_SECRET = env_str("DOCKERWEB_RELAY_SECRET", SECRET_KEY)
DOCKERWEB_PIDS_LIMIT = env_int("DOCKERWEB_PIDS_LIMIT", 4096)
DOCKERWEB_LOG_MAX_SIZE = env_str("DOCKERWEB_LOG_MAX_SIZE", "100m")
DOCKERWEB_LOG_MAX_FILE = env_str("DOCKERWEB_LOG_MAX_FILE", "5")
# networking: the default bridge network (subnet: first free private /24 when unset)
DOCKERWEB_BRIDGE = env_str("DOCKERWEB_BRIDGE", "dw0")
DOCKERWEB_SUBNET = env_str("DOCKERWEB_SUBNET", "")
DOCKERWEB_NFT_TABLE = env_str("DOCKERWEB_NFT_TABLE", "dockerweb")
# user-defined networks (docs/ARCHITECTURE.md "User networks and DNS"): subnets of
# POOL_SIZE cut from POOL, bridges named PREFIX + the network id; their DNS forwards other
# names to DNS_UPSTREAMS ("ip[:port],..."; empty: the host's /etc/resolv.conf nameservers)
DOCKERWEB_NETWORK_POOL = env_str("DOCKERWEB_NETWORK_POOL", "10.89.0.0/16")
DOCKERWEB_NETWORK_POOL_SIZE = env_int("DOCKERWEB_NETWORK_POOL_SIZE", 24)
DOCKERWEB_NETWORK_BRIDGE_PREFIX = env_str("DOCKERWEB_NETWORK_BRIDGE_PREFIX", "dwb-")
DOCKERWEB_DNS_UPSTREAMS = env_str("DOCKERWEB_DNS_UPSTREAMS", "")
DOCKERWEB_RECONCILE_INTERVAL = 10.0
# event retention, pruned by the worker after each reconcile (0: no such bound)
DOCKERWEB_EVENTS_MAX_AGE = env_int("DOCKERWEB_EVENTS_MAX_AGE", 7 * 24 * 3600)
DOCKERWEB_EVENTS_MAX_COUNT = env_int("DOCKERWEB_EVENTS_MAX_COUNT", 100_000)
# stats history (containers/stathistory.py): sampled by the worker, pruned past KEEP
DOCKERWEB_STATS_INTERVAL = env_int("DOCKERWEB_STATS_INTERVAL", 10)
DOCKERWEB_STATS_KEEP = env_int("DOCKERWEB_STATS_KEEP", 3600)
# registries: pull and push
DOCKERWEB_DEFAULT_REGISTRY = env_str("DOCKERWEB_DEFAULT_REGISTRY", "docker.io")
DOCKERWEB_INSECURE_REGISTRIES = env_list("DOCKERWEB_INSECURE_REGISTRIES", [])
# docker build: the largest context accepted (uncompressed tar bytes)
DOCKERWEB_BUILD_CONTEXT_MAX = env_int("DOCKERWEB_BUILD_CONTEXT_MAX", 1 << 30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DOCKERWEB_LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
